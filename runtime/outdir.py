"""A run's output folder (``--out``): staged, locked, replaced whole when the run ends.

Nodes write into a staging folder beside ``--out``; when the run ends the staging folder
replaces ``--out`` as a whole, so no file of an older run survives beside a newer one. A run
that fails keeps what it wrote, with ``FAILED.txt`` (the error and the frames completed); a run
stopped early keeps its (finished, partial-marked) outputs. A lock beside the folder refuses a
second run into the same ``--out`` while one is running. Problems with the folder itself (a file
in the way, no permission, no space) are one-line errors naming the path.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Optional

from .errors import GraphError


def os_error(exc: OSError, path) -> str:
    """An OSError in the system's words, naming the path: 'runs/x: Permission denied'."""
    return f"{path}: {exc.strerror or exc}"


class OutputFolder:
    """``--out`` for one run: ``open()`` gives the staging folder nodes write to; ``close()``
    puts it in place (also after a failure or an interruption) and releases the lock."""

    def __init__(self, path):
        self.path = Path(path)
        self.staging = self.path.parent / f".{self.path.name}.staging-{os.getpid()}"
        self._opened = False
        self._lock_fd: Optional[int] = None

    def open(self) -> str:
        """Lock ``--out`` and create the staging folder (leftovers of killed runs are removed)."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise GraphError(f"--out {p}: is a file, not a folder")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            for leftover in [*p.parent.glob(f".{p.name}.staging-*"), *p.parent.glob(f".{p.name}.old-*")]:
                shutil.rmtree(leftover, ignore_errors=True)
            self.staging.mkdir()
        except OSError as exc:
            self.release()
            raise GraphError(f"--out {os_error(exc, exc.filename or p)}") from None
        self._opened = True
        return str(self.staging)

    def _lock(self) -> None:
        lock = self.path.parent / f".{self.path.name}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise GraphError(f"--out {self.path}: another graphrun run (pid {owner}) is writing there; "
                             f"wait for it or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def note_failure(self, message: str) -> None:
        """Write FAILED.txt into the staging folder; a folder problem must not hide the run's error."""
        if not self._opened:
            return
        try:
            (self.staging / "FAILED.txt").write_text(message.rstrip() + "\n")
        except OSError:
            pass

    def close(self) -> None:
        """Replace ``--out`` with what this run wrote (if it was opened) and release the lock."""
        if not self._opened:
            return
        self._opened = False
        try:
            old = None
            if self.path.exists():
                old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
                self.path.rename(old)
            self.staging.rename(self.path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise GraphError(f"--out {os_error(exc, exc.filename or self.path)} "
                             f"(this run's outputs are in {self.staging})") from None
        finally:
            self.release()

    def release(self) -> None:
        if self._lock_fd is not None:
            try:
                os.unlink(self.path.parent / f".{self.path.name}.lock")
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None

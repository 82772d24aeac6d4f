"""A run's output folder (``--out``): checked, staged, locked, replaced whole when the run ends.

Nodes write into a staging folder beside ``--out``; when the run ends the staging folder
replaces ``--out`` as a whole, so no file of an older run survives beside a newer one. Where
``--out`` cannot be renamed (a mount point, the current folder or one above it, a folder in a
parent graphrun may not write) the staging folder is inside it, and the run's files replace the
older run's there. A run that fails keeps what it wrote, with ``FAILED.txt`` (the error and the
frames completed); a run stopped early keeps its (finished, partial-marked) outputs; a run ended
by a signal outside its own handlers still puts what it wrote in place, with ``FAILED.txt``
(:func:`rescue_open_folders`). A lock refuses a second run into the same ``--out`` while one is
running.

graphrun replaces only what it wrote: each output folder holds a ``.graphrun`` mark, and a folder
that is not empty and not marked (the user's own files) is refused, as is an ``--out`` that holds
one of the run's inputs. Problems with the folder itself (a file in the way, no permission, no
space, a read-only mount) are one-line errors naming the path, found before the run starts.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Iterable, Optional

from .errors import GraphError

MARK = ".graphrun"                     # in every folder a run wrote: a later run may replace it whole
MARK_TEXT = "written by graphrun: a later run into this folder replaces it whole; what it wrote:\n"
LEGACY_MARKS = ("FAILED.txt", "DONE.json", "metrics.json", "batch.json")   # outputs of older versions
_open_folders: list["OutputFolder"] = []


def os_error(exc: OSError, path) -> str:
    """An OSError in the system's words, naming the path: 'runs/x: Permission denied'."""
    return f"{path}: {exc.strerror or exc}"


def is_graphrun_output(folder) -> bool:
    """Whether ``folder`` was written by graphrun (a run's --out or a batch folder)."""
    folder = Path(folder)
    return any((folder / name).is_file() for name in (MARK, *LEGACY_MARKS))


def written_names(folder) -> Optional[set]:
    """The names a run wrote at the top of ``folder`` (its mark lists them); None: not marked."""
    try:
        lines = (Path(folder) / MARK).read_text().splitlines()
    except OSError:
        return None
    return {MARK, *lines[1:]}


def note_written(path) -> None:
    """``path`` was written by graphrun beside a run's outputs (``--stats runs/x/stats.json``):
    add it to the folder's mark, so a later run may replace it."""
    p = Path(path)
    names = written_names(p.parent)
    if names is not None and p.name not in names:
        try:
            with open(p.parent / MARK, "a") as f:
                f.write(p.name + "\n")
        except OSError:
            pass


def inside(path, folder) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (symbolic links resolved)."""
    try:
        Path(path).expanduser().resolve().relative_to(Path(folder).expanduser().resolve())
        return True
    except (ValueError, OSError):
        return False


def check_writable_file(path, what: str) -> None:
    """Refuse, before a run, a file it could not write at its end (``--trace``, ``--stats``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise GraphError(f"{what} {p}: is a folder, not a file")
    target = p if p.exists() else next((a for a in p.absolute().parents if a.exists()), Path("/"))
    if not target.is_dir() and target is not p:
        raise GraphError(f"{what} {p}: {target} is a file, not a folder")
    if not os.access(target, os.W_OK):
        reason = "Read-only file system" if _read_only(target) else "Permission denied"
        raise GraphError(f"{what} {p}: {reason}")


def write_file(path, text: str, what: str) -> None:
    """Write a file the run was asked for; a failure is one line naming it."""
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise GraphError(f"{what} {os_error(exc, path)}") from None
    note_written(path)


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _in_place(p: Path) -> bool:
    """``--out`` that must not be renamed: a mount point, the current folder or one above it, or
    one whose parent graphrun may not write."""
    if not p.is_dir():
        return False
    cwd = Path.cwd()
    return os.path.ismount(p) or p == cwd or p in cwd.parents or not os.access(p.parent, os.W_OK)


class OutputFolder:
    """``--out`` for one run: ``open()`` checks it and gives the staging folder nodes write to;
    ``close()`` puts it in place (also after a failure or an interruption) and releases the lock."""

    def __init__(self, path, inputs: Iterable = ()):
        self.path = Path(os.path.abspath(Path(path).expanduser()))
        self.inputs = [str(i) for i in inputs]
        self.in_place = _in_place(self.path)
        home = self.path if self.in_place else self.path.parent
        prefix = ".graphrun" if self.in_place else f".{self.path.name}"
        self._home, self._prefix = home, prefix
        self.staging = home / f"{prefix}.staging-{os.getpid()}"
        self._lock_path = home / f"{prefix}.lock"
        self._opened = False
        self._closing = False
        self._lock_fd: Optional[int] = None

    def open(self) -> str:
        """Check ``--out``, lock it and create the staging folder (leftovers of killed runs are removed)."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise GraphError(f"--out {p}: is a file, not a folder")
        self._check_not_users_folder()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            for leftover in [*self._home.glob(f"{self._prefix}.staging-*"), *self._home.glob(f"{self._prefix}.old-*")]:
                shutil.rmtree(leftover, ignore_errors=True)
            self.staging.mkdir()
            (self.staging / MARK).write_text(MARK_TEXT)
        except OSError as exc:
            self.release()
            shutil.rmtree(self.staging, ignore_errors=True)
            where = exc.filename if exc.filename and Path(exc.filename).parent != self._home else p
            raise GraphError(f"--out {os_error(exc, where)}") from None
        self._opened = True
        _open_folders.append(self)
        return str(self.staging)

    def _check_not_users_folder(self) -> None:
        p = self.path
        for item in self.inputs:
            if Path(item).expanduser().exists() and inside(item, p):
                raise GraphError(f"--out {p}: holds the input {item}, and a run replaces --out whole: "
                                 f"choose another --out")
        if not p.is_dir():
            return
        names = written_names(p)
        if names is None and is_graphrun_output(p):
            return                          # written by an older graphrun, before the mark
        own = [e.name for e in p.iterdir() if not e.name.startswith(f"{self._prefix}.") and e.name not in (names or ())]
        if not own:
            return
        shown = ", ".join(sorted(own)[:3]) + (f" and {len(own) - 3} more" if len(own) > 3 else "")
        if names is None:
            raise GraphError(f"--out {p}: not a graphrun output folder and not empty ({shown}); a run replaces "
                             f"--out whole: choose a new or empty folder")
        raise GraphError(f"--out {p}: holds files graphrun did not write ({shown}); a run replaces --out whole: "
                         f"move them away or choose another --out")

    def _lock(self) -> None:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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

    def note_failure(self, message: str, keep: bool = False) -> None:
        """Write FAILED.txt into the staging folder (``keep``: only if none is there yet); a folder
        problem must not hide the run's error."""
        if not self._opened:
            return
        path = self.staging / "FAILED.txt"
        if keep and path.exists():
            return
        try:
            path.write_text(message.rstrip() + "\n")
        except OSError:
            pass

    def close(self) -> None:
        """Replace ``--out`` with what this run wrote (if it was opened) and release the lock."""
        if not self._opened:
            return
        self._opened, self._closing = False, True
        try:
            self._list_written()
            if self.in_place:
                self._replace_contents()
            else:
                self._replace_folder()
        except OSError as exc:
            raise GraphError(f"--out {os_error(exc, exc.filename or self.path)} "
                             f"(this run's outputs are in {self.staging})") from None
        finally:
            self.release()
            self._closing = False
            if self in _open_folders:
                _open_folders.remove(self)

    def _list_written(self) -> None:
        try:
            names = sorted(e.name for e in self.staging.iterdir() if e.name != MARK)
            (self.staging / MARK).write_text(MARK_TEXT + "".join(f"{n}\n" for n in names))
        except OSError:
            pass

    def _replace_folder(self) -> None:
        old = None
        if self.path.exists():
            old = self.path.parent / f"{self._prefix}.old-{os.getpid()}"
            self.path.rename(old)
        self.staging.rename(self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _replace_contents(self) -> None:
        """In place: the older run's files move aside, this run's move in, the older ones go."""
        ours = {self.staging.name, self._lock_path.name}
        old = self.path / f"{self._prefix}.old-{os.getpid()}"
        old.mkdir()
        for entry in list(self.path.iterdir()):
            if entry.name not in ours and entry != old:
                entry.rename(old / entry.name)
        for entry in list(self.staging.iterdir()):
            entry.rename(self.path / entry.name)
        self.staging.rmdir()
        shutil.rmtree(old, ignore_errors=True)

    def release(self) -> None:
        if self._lock_fd is not None:
            try:
                os.unlink(self._lock_path)
            except OSError:
                pass
            os.close(self._lock_fd)
            self._lock_fd = None


def rescue_open_folders(reason: str) -> None:
    """Put every open output folder in place with ``FAILED.txt`` (``reason``): the process is about
    to end on a signal (a second Ctrl-C while outputs are finished or closed). A folder being put
    in place already is left to finish."""
    for folder in list(_open_folders):
        if folder._closing:
            continue
        folder.note_failure(reason, keep=True)
        try:
            folder.close()
        except GraphError:
            pass


def closing_any() -> bool:
    """Whether an output folder is being put in place right now (a signal should let it finish)."""
    return any(f._closing for f in _open_folders)

"""Start-up lines that native libraries write straight to file descriptor 2 (TFLite, absl, glog).

They bypass Python's ``sys.stderr`` and so break into a progress bar. ``native_stderr_filtered``
points fd 2 at a temporary file for the duration of a call (building a model, its first
inference), then drops the lines that match the given patterns and writes everything else back
to stderr: a real error printed meanwhile (by the library or another thread) is delayed, never lost.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterable

_LOCK = threading.Lock()      # fd 2 is one per process: one redirection at a time


@contextmanager
def native_stderr_filtered(drop: Iterable[str]):
    """Within the block, lines written to fd 2 that match a regex of ``drop`` are discarded."""
    patterns = [re.compile(p) for p in drop]
    with _LOCK, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True)
                    if not any(p.search(line) for p in patterns)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()

"""What long waits outside the graph's threads need to end with the run: whether a stop was
asked, and which temporary files to remove when the process ends at once.

A run registers its stop events while it runs (:func:`watch`); a wait that cannot see the run,
such as a download inside a node's ``setup``, polls :func:`requested` and gives up. A file that
must not outlive an abrupt end (a download's ``.partial``) is registered with
:func:`remove_at_abrupt_exit`; the ``graphrun`` command removes them before it leaves at once
(also asked for with :func:`leave_at_once`).
"""
from __future__ import annotations

import os
import threading

_events: list = []
_files: set = set()
_leave_at_once = threading.Event()
_lock = threading.Lock()


def watch(*events: threading.Event):
    """Register a run's stop events; returns the undo."""
    with _lock:
        _events.append(events)

    def unwatch() -> None:
        with _lock:
            if events in _events:
                _events.remove(events)
    return unwatch


def requested() -> bool:
    """Whether a run in progress was asked to stop (a Ctrl-C, SIGTERM, or a failed node)."""
    with _lock:
        return any(e.is_set() for events in _events for e in events)


def remove_at_abrupt_exit(path) -> None:
    with _lock:
        _files.add(str(path))


def forget(path) -> None:
    with _lock:
        _files.discard(str(path))


def remove_registered() -> None:
    """Remove the registered temporary files (the process is about to end at once)."""
    with _lock:
        files = list(_files)
        _files.clear()
    for path in files:
        try:
            os.unlink(path)
        except OSError:
            pass


def leave_at_once() -> None:
    """Ask the ``graphrun`` command to end without the interpreter's teardown: a native library
    was left mid-call (an abandoned connection attempt) and would crash or hang at exit."""
    _leave_at_once.set()


def leaving_at_once() -> bool:
    return _leave_at_once.is_set()

"""Batch helper processes die with the driver, however it ends (kill -9 included).

The fork server and the worker processes are not the driver's to clean up when it is killed, so
each one watches it: on Linux the kernel sends SIGKILL when the parent dies
(``prctl(PR_SET_PDEATHSIG)``, set in the fork server at its import of this module and in each
worker); everywhere, each worker also runs a watchdog thread that ends it within a second of the
driver's end. The driver names itself in ``GRAPHRUN_BATCH_DRIVER`` while it starts them.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

DRIVER_ENV = "GRAPHRUN_BATCH_DRIVER"
WATCH_S = 0.5
_PR_SET_PDEATHSIG = 1


@contextmanager
def driver_named():
    """While the driver starts helper processes: they inherit its pid in the environment."""
    old = os.environ.get(DRIVER_ENV)
    os.environ[DRIVER_ENV] = str(os.getpid())
    try:
        yield os.getpid()
    finally:
        if old is None:
            os.environ.pop(DRIVER_ENV, None)
        else:
            os.environ[DRIVER_ENV] = old


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent ends (Linux); if the parent ``parent`` is already
    gone, end now."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_driver(driver: int) -> None:
    """A daemon thread that kills this process once ``driver`` has ended (or this process was
    handed to another parent)."""
    parent = os.getppid()

    def watch() -> None:
        while _alive(driver) and os.getppid() == parent:
            time.sleep(WATCH_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="graphrun:driver-watchdog", daemon=True).start()


def _guard_fork_server() -> None:
    """At import in the fork server (a preload module): die with the driver that started it."""
    driver = os.environ.get(DRIVER_ENV)
    in_fork_server = "multiprocessing.forkserver" in sys.modules and sys.argv[:1] == ["-c"]
    if in_fork_server and driver and driver.isdigit() and int(driver) == os.getppid():
        die_with_parent(int(driver))


_guard_fork_server()

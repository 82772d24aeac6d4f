"""Connecting to Ray within a bounded time, with Ctrl-C and SIGTERM still heard.

``ray.init(address=...)`` waits in native code for a cluster that may never answer (a wrong port,
a firewall), and the main thread then hears no signal. So the address is tried with a plain TCP
connection first (a refused or unreachable port is one line at once), and ``ray.init`` runs on a
helper thread while the main thread waits in short steps, at most ``RAY_CONNECT_S`` seconds
(``GRAPHRUN_RAY_CONNECT_TIMEOUT`` to change it).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Optional

from ... import interrupts
from ...errors import UserInputError

RAY_CONNECT_S = float(os.environ.get("GRAPHRUN_RAY_CONNECT_TIMEOUT", "15"))
PROBE_S = 5.0


def host_port(address: str) -> Optional[tuple[str, int]]:
    """(host, port) of ``host:port`` or ``ray://host:port``; None for ``auto`` and the like."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = PROBE_S) -> None:
    """Refuse an address no TCP connection reaches (one line naming it)."""
    target = host_port(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        raise UserInputError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def bounded_init(ray, where: str, timeout: float = RAY_CONNECT_S, **kwargs) -> None:
    """``ray.init(**kwargs)`` on a helper thread, waited for at most ``timeout`` seconds; signals
    reach the main thread meanwhile. Raises UserInputError naming ``where`` on failure."""
    outcome: dict = {}

    def connect() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=connect, name="graphrun:ray-connect", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.2)
    if thread.is_alive():
        interrupts.leave_at_once()          # Ray, left mid-connect, would crash the interpreter's exit
        raise UserInputError(f"cannot reach {where}: no answer within {timeout:.0f} s "
                             f"(GRAPHRUN_RAY_CONNECT_TIMEOUT to wait longer)")
    if "error" in outcome:
        from .job import one_line
        raise UserInputError(f"cannot start or reach {where}: {one_line(outcome['error'])}") from None

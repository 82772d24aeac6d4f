"""Watching a run from outside: the values of the nodes' declared taps and the run's per-frame figures.

A node declares what a viewer may show of it (``Node.taps``: output port -> ``image``,
``segmentation`` or ``scalars``); the runtime knows nothing more of what those values mean. When a
run is observed, an :class:`Observer` gets, on the thread that produced them:

- each tapped output value of each step (``on_step``, with the node's time for that step),
- each completed frame's end-to-end latency, the drops so far and every queue's fill (``on_frame``),
- every line the run logs (``on_log``).

It only appends a small tuple to a bounded deque (no lock, no I/O); one writer thread hands the
events in batches to a sink (``sink.write(events)``, e.g. graphrun.view's Rerun recorder). When
the writer falls behind, new events are dropped and counted (``dropped``) instead of stalling
the graph. Events (tuples, first item the kind):

    ("step", node, index, pts, seconds, {port: (how, value)})   how: a TAP_KINDS name
    ("frame", index, latency_s, drops, {node: queue depth})
    ("log", index, text)
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Optional

from .node import TAP_KINDS

__all__ = ["Observer", "TAP_KINDS"]

EVENTS_KEPT = 1024      # events waiting for the writer before new ones are dropped (~50 frames: ~20 per frame)
WRITE_EVERY = 0.05      # seconds the writer sleeps when there is nothing to write
CLOSE_WAIT = 30.0       # seconds ``close`` waits for the writer to empty the queue


class Observer:
    """Taps of one run, handed to ``sink`` off the hot path (see the module docstring)."""

    def __init__(self, sink, capacity: int = EVENTS_KEPT):
        self.sink = sink
        self.capacity = capacity
        self.dropped = 0
        self.written = 0
        self.error: Optional[BaseException] = None
        self.cpu_seconds = 0.0          # CPU time of the writer thread (what recording costs off the hot path)
        self._events: deque = deque()
        self._taps: dict = {}
        self._last_index = -1
        self._session = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write_loop, name="graphrun:observe", daemon=True)

    # -- wiring ------------------------------------------------------------------------------
    def attach(self, session) -> None:
        """Called by the run's session: learn each node's taps, follow frame completions, start writing."""
        self._session = session
        self._taps = {name: {port: how for port, how in b.cls.taps.items()}
                      for name, b in session.graph.nodes.items() if b.cls.taps}
        session.tracker.on_latency = self.on_frame
        if hasattr(self.sink, "start"):
            self.sink.start(session.graph)
        self._thread.start()

    # -- what graph threads call (keep these cheap) --------------------------------------------
    def _put(self, event: tuple) -> None:
        if len(self._events) >= self.capacity:
            self.dropped += 1
            return
        self._events.append(event)

    def on_step(self, node: str, index: int, pts: float, seconds: float, outputs: Optional[dict]) -> None:
        taps = self._taps.get(node)
        values = None
        if taps and outputs:
            values = {port: (how, outputs[port]) for port, how in taps.items() if outputs.get(port) is not None}
        self._put(("step", node, index, pts, seconds, values))

    def on_frame(self, index: int, latency: float) -> None:
        s = self._session
        if index > self._last_index:
            self._last_index = index
        queues = {name: st.queue_now for name, st in s.stats.items() if st.queue_samples}
        self._put(("frame", index, latency, s.tracker.dropped + s.source_drops, queues))

    def on_log(self, text: str) -> None:
        self._put(("log", self._last_index, text))

    # -- the writer ----------------------------------------------------------------------------
    def _drain(self) -> int:
        events = self._events
        batch = []
        while events:
            batch.append(events.popleft())
        if batch:
            self.sink.write(batch)
            self.written += len(batch)
        return len(batch)

    def _write_loop(self) -> None:
        t0 = time.thread_time()
        try:
            while not self._stop.is_set():
                if not self._drain():
                    self._stop.wait(WRITE_EVERY)
                self.cpu_seconds = time.thread_time() - t0
            self._drain()
            self.cpu_seconds = time.thread_time() - t0
        except BaseException as exc:  # noqa: BLE001 - reported by close(); the graph goes on
            self.error = exc
            self._events.clear()
            self.capacity = 0              # nothing more is queued

    def close(self, log=None) -> None:
        """Write what is queued (at most ``CLOSE_WAIT`` s), then close the sink. ``log`` gets a
        warning line when events were dropped or the sink failed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_WAIT)
        try:
            if hasattr(self.sink, "close"):
                self.sink.close()
        finally:
            say = log or print
            if self.dropped:
                say(f"graphrun: warning: the recorder fell behind and dropped {self.dropped} of "
                    f"{self.dropped + self.written} events")
            if self.error is not None:
                say(f"graphrun: warning: recording stopped: {type(self.error).__name__}: {self.error}")

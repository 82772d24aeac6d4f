"""The input side of a node: bounded queues per input, back-edge slots, alignment by frame index.

Every node emits exactly one packet per frame index on each output (``NOTHING`` when it produced
nothing), so ``Inbox.take`` can hand the node one aligned set of inputs per index. Packets of an
index that another branch dropped are discarded here (MediaPipe's timestamp bound, by index).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .scheduler import NodeRunner

END = object()        # end of stream, travels as a packet
NOTHING = object()    # "this node produced nothing for this index"
_WAIT = 0.25          # seconds between checks of the stop flag while waiting


class Packet:
    __slots__ = ("index", "pts", "value", "event", "t0")

    def __init__(self, index, pts, value, event, t0):
        self.index, self.pts, self.value, self.event, self.t0 = index, pts, value, event, t0


class Inbox:
    """The input side of one node: a bounded queue per forward input and a slot per back edge."""

    def __init__(self, runner: "NodeRunner", queues: dict, back_ports: list):
        self.runner = runner
        self.lock = threading.Lock()
        self.has_data = threading.Condition(self.lock)
        self.has_space = threading.Condition(self.lock)
        self.queues = {p: deque() for p in queues}
        self.limits = queues                     # port -> (capacity, policy)
        self.back = {p: None for p in back_ports}
        self.last_index: Optional[int] = None
        self.seq = 0
        ms = runner.sched.rt.get("deadline_ms") if runner.sched.mode == "realtime" else None
        self.deadline = ms / 1e3 if ms else None   # realtime: drop a frame older than this on arrival

    def put(self, port: str, pkt) -> None:
        stop = self.runner.sched.stop
        with self.lock:
            q = self.queues[port]
            cap, policy = self.limits[port]
            if pkt is not END and len(q) >= cap:
                if policy == "block":
                    while len(q) >= cap and not stop.is_set():
                        self.has_space.wait(_WAIT)
                    if stop.is_set():
                        return
                elif policy == "drop_oldest":
                    self._drop(q.popleft())
                else:
                    self._drop(pkt)
                    return
            q.append(pkt)
            if pkt is not END:           # the end marker is not a frame: keep it out of the occupancy
                self.runner.stats.sample_queue(len(q))
            self.has_data.notify()

    def put_back(self, port: str, pkt) -> None:
        with self.lock:
            self.back[port] = pkt
            self.has_data.notify_all()

    def _drop(self, pkt) -> None:
        if pkt is END:
            return
        self.runner.stats.drops += 1
        self.runner.sched.tracker.drop(pkt.index)

    def wake(self) -> None:
        with self.lock:
            self.has_data.notify_all()
            self.has_space.notify_all()

    def take(self):
        """Block until one aligned set of inputs is ready. Returns (seq, pkts, back, skipped) or None at END."""
        stop = self.runner.sched.stop
        qs = self.queues
        with self.lock:
            while not stop.is_set():
                if all(qs.values()):
                    heads = [q[0] for q in qs.values()]
                    if any(h is END for h in heads):
                        if all(h is END for h in heads):
                            return None
                        for q in qs.values():          # a stream ended: the rest can never align
                            if q[0] is not END:
                                self._drop(q.popleft())
                        self.has_space.notify_all()
                        continue
                    top = max(h.index for h in heads)
                    if any(h.index != top for h in heads):
                        for q in qs.values():          # dropped upstream on another branch
                            while q and q[0] is not END and q[0].index < top:
                                self._drop(q.popleft())
                        self.has_space.notify_all()
                        continue
                    if self.back and self.last_index is not None and any(
                            b is None or b.index < self.last_index for b in self.back.values()):
                        self.has_data.wait(_WAIT)      # the loop has not closed on the previous frame yet
                        continue
                    pkts = {p: q.popleft() for p, q in qs.items()}
                    if self.deadline and time.perf_counter() - heads[0].t0 > self.deadline:
                        self.runner.stats.drops += 1       # too late to be useful: drop here
                        self.runner.sched.tracker.drop(top)
                        self.has_space.notify_all()
                        continue
                    back = {p: (None if self.last_index is None or b is None else b) for p, b in self.back.items()}
                    skipped = 0 if self.last_index is None else max(0, top - self.last_index - 1)
                    self.last_index = top
                    seq = self.seq
                    self.seq += 1
                    self.has_space.notify_all()
                    return seq, pkts, back, skipped
                self.has_data.wait(_WAIT)
        return None

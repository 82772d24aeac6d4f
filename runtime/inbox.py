"""The input side of a thread: bounded queues per input, back-edge slots, alignment by frame index.

Every node emits exactly one packet per frame index on each output (``NOTHING`` when it produced
nothing), so ``Inbox.take`` can hand its consumer one aligned set of inputs per index. Packets of
an index that another branch dropped are discarded here (MediaPipe's timestamp bound, by index).
An Inbox knows nothing of nodes or schedulers: its keys are opaque, and what a drop or a queue
depth means is left to the callbacks it is given.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable, Optional

END = object()        # end of stream, travels as a packet
NOTHING = object()    # "this node produced nothing for this index"
WOULD_BLOCK = object()  # take(block=False): no aligned set is ready yet
WAIT = 0.25           # seconds between checks of the stop flag while waiting


class Packet:
    """One value on an edge: frame index, pts, the value, the producer's CUDA event, admission time,
    and the value's size in bytes (what a queue's byte bound counts)."""

    __slots__ = ("index", "pts", "value", "event", "t0", "size")

    def __init__(self, index, pts, value, event, t0, size=0):
        self.index, self.pts, self.value, self.event, self.t0, self.size = index, pts, value, event, t0, size


@dataclass(slots=True)
class Aligned:
    """One aligned set of inputs taken from an Inbox: ``seq`` counts the sets taken, ``index`` is
    their frame index, ``packets`` maps each forward key to its packet, ``back`` each back-edge key
    to the producer's packet of the previous set (None at the first)."""

    seq: int
    index: int
    packets: dict
    back: dict


_NO_BYTES = (int, float, bool, str, type(None))


def payload_bytes(value) -> int:
    """Bytes held by a packet's value: arrays and tensors, video frames, and dicts, lists or
    detections of them (one level deep); 0 for anything else."""
    if value.__class__ in _NO_BYTES or value is NOTHING:
        return 0
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, dict):
        return sum(payload_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(payload_bytes(v) for v in value[:256])
    inner = getattr(value, "image", None) if hasattr(value, "image") else getattr(value, "masks", None)
    return payload_bytes(inner) if inner is not None else 0


def _ignore(*_):
    return None


class Inbox:
    """Bounded queues (one per forward input key) and latest-value slots (one per back-edge key).

    Args:
        queues: key -> (capacity, policy), policy ``block`` | ``drop_oldest`` | ``drop_newest``.
        max_bytes: a queue is also full when the packets it holds reach this many bytes (one
            packet always fits, however big).
        back_keys: keys of back edges (each holds the latest packet put there).
        stop: set when the run stops at once; every wait returns then.
        on_drop: ``on_drop(key, index)`` for each packet dropped here (leaky queue, misalignment,
            deadline).
        on_depth: ``on_depth(key, depth)`` after each packet queued (occupancy statistics).
        deadline: seconds; a set of inputs older than this (since admission) is dropped on take.
    """

    def __init__(self, queues: dict, back_keys=(), stop: Optional[threading.Event] = None,
                 on_drop: Callable = _ignore, on_depth: Callable = _ignore, deadline: Optional[float] = None,
                 max_bytes: Optional[int] = None):
        self.lock = threading.Lock()
        self.has_data = threading.Condition(self.lock)
        self.has_space = threading.Condition(self.lock)
        self.queues = {k: deque() for k in queues}
        self.limits = dict(queues)
        self.back = {k: None for k in back_keys}
        self.stop = stop or threading.Event()
        self.on_drop, self.on_depth, self.deadline = on_drop, on_depth, deadline
        self.max_bytes = max_bytes or float("inf")
        self.bytes = {k: 0 for k in queues}
        self.last_index: Optional[int] = None
        self.seq = 0
        self.poked = False

    def put(self, key: Hashable, pkt) -> None:
        """Queue a packet (or END); blocks while a ``block`` queue is full."""
        with self.lock:
            q = self.queues[key]
            cap, policy = self.limits[key]
            if pkt is not END and self._full(key, q, cap, pkt.size):
                if policy == "block":
                    while self._full(key, q, cap, pkt.size) and not self.stop.is_set():
                        self.has_space.wait(WAIT)
                    if self.stop.is_set():
                        return
                elif policy == "drop_oldest":
                    while q and self._full(key, q, cap, pkt.size):
                        self._drop(key, self._pop(key, q))
                else:
                    self._drop(key, pkt)
                    return
            q.append(pkt)
            if pkt is not END:           # the end marker is not a frame: keep it out of the occupancy
                self.bytes[key] += pkt.size
                self.on_depth(key, len(q))
            self.has_data.notify()

    def _full(self, key, q, cap: int, size: int) -> bool:
        return len(q) >= cap or (bool(q) and self.bytes[key] + size > self.max_bytes)

    def _pop(self, key, q):
        pkt = q.popleft()
        if pkt is not END:
            self.bytes[key] -= pkt.size
        return pkt

    def put_back(self, key: Hashable, pkt: Packet) -> None:
        """Replace a back edge's latest packet."""
        with self.lock:
            self.back[key] = pkt
            self.has_data.notify_all()

    def _drop(self, key, pkt) -> None:
        if pkt is not END:
            self.on_drop(key, pkt.index)

    def wake(self) -> None:
        """Wake every waiting thread (after ``stop`` was set)."""
        with self.lock:
            self.has_data.notify_all()
            self.has_space.notify_all()

    def poke(self) -> None:
        """Make a waiting ``take`` return WOULD_BLOCK (something the consumer waits for besides
        its inputs happened: a frame its look-ahead waits for was dropped)."""
        with self.lock:
            self.poked = True
            self.has_data.notify_all()

    def take(self, block: bool = True):
        """Block until one aligned set of inputs is ready (``block=False``: return WOULD_BLOCK
        instead of waiting; a ``poke`` makes a waiting call return WOULD_BLOCK too).

        Returns an :class:`Aligned` set, or None at the end of every stream or when stopped.
        """
        qs = self.queues
        with self.lock:
            while not self.stop.is_set():
                if all(qs.values()):
                    heads = [q[0] for q in qs.values()]
                    if any(h is END for h in heads):
                        if all(h is END for h in heads):
                            return None
                        for key, q in qs.items():      # a stream ended: the rest can never align
                            if q[0] is not END:
                                self._drop(key, self._pop(key, q))
                        self.has_space.notify_all()
                        continue
                    top = max(h.index for h in heads)
                    if any(h.index != top for h in heads):
                        for key, q in qs.items():      # dropped upstream on another branch
                            while q and q[0] is not END and q[0].index < top:
                                self._drop(key, self._pop(key, q))
                        self.has_space.notify_all()
                        continue
                    if self.back and self.last_index is not None and any(
                            b is None or b.index < self.last_index for b in self.back.values()):
                        if not block:
                            return WOULD_BLOCK
                        self.has_data.wait(WAIT)       # the loop has not closed on the previous frame yet
                        continue
                    pkts = {k: self._pop(k, q) for k, q in qs.items()}
                    self.has_space.notify_all()
                    if self.deadline and time.perf_counter() - heads[0].t0 > self.deadline:
                        for key in pkts:               # too late to be useful: drop here (counted once)
                            self.on_drop(key, top)
                            break
                        continue
                    back = {k: (None if self.last_index is None else b) for k, b in self.back.items()}
                    self.last_index = top
                    seq = self.seq
                    self.seq += 1
                    return Aligned(seq, top, pkts, back)
                if not block or self.poked:
                    self.poked = False
                    return WOULD_BLOCK
                self.has_data.wait(WAIT)
        return None

"""The execution plan: built once from a graph and its segments, read by the workers that run it.

Like a GStreamer bin's structure, computed before any frame flows. Values between a segment's
nodes live in a flat list of *slots*: slot 0 is always empty (an unconnected optional input), and
there is one slot per connected output of a member, per input fed from another segment and per
back edge. Each member is one :class:`NodeStep` (which slots it reads and writes); what leaves
the segment is an :class:`Export` (a slot and the inbox keys of its consumers); what enters it is
a :class:`QueuePlan` per input from another segment.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .graph import BuiltGraph

Key = tuple  # (node, input port): where a packet goes in the consumer segment's inbox


@dataclass(frozen=True, slots=True)
class InputSlot:
    """A member's input: the slot it reads; ``optional``: an empty slot does not skip the node."""

    port: str
    slot: int
    optional: bool


@dataclass(frozen=True, slots=True)
class OutputSlot:
    """A member's output and the slot it writes."""

    port: str
    slot: int


@dataclass(frozen=True, slots=True)
class AheadInput:
    """An input of a look-ahead member fed from another segment: shown ``window`` frames ahead."""

    port: str
    key: Key


@dataclass(frozen=True, slots=True)
class NodeStep:
    """One member of a segment, in the order the segment runs them.

    Args:
        reach: positions of the members a flush of this one runs (itself and what it feeds inside the segment).
        terminal: a sink (no forward output edge): a frame is done when every terminal has seen it.
    """

    name: str
    inputs: tuple[InputSlot, ...]
    outputs: tuple[OutputSlot, ...]
    terminal: bool
    ahead: tuple[AheadInput, ...]
    reach: frozenset


@dataclass(frozen=True, slots=True)
class Route:
    """One consumer of an exported slot: the segment, its inbox key, and whether it is a back edge."""

    segment: int
    key: Key
    back: bool


@dataclass(frozen=True, slots=True)
class Export:
    """A slot that leaves the segment, and where it goes."""

    slot: int
    routes: tuple[Route, ...]


@dataclass(frozen=True, slots=True)
class BackCopy:
    """A back edge inside one segment: after each frame, slot ``src`` is copied to ``dst``."""

    src: int
    dst: int


@dataclass(frozen=True, slots=True)
class QueuePlan:
    """One bounded queue of a segment's inbox (an input fed from another segment)."""

    key: Key
    slot: int
    capacity: float
    policy: str


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """The nodes one thread runs (``workers`` threads for a ``workers: N`` node alone).

    Args:
        nodes: member names, sources first.
        n_sources: how many of ``nodes`` are sources (a source segment pulls; the others take from an inbox).
        steps: one per member, aligned with ``nodes``.
        queues: the inbox's queues (inputs from other segments); ``back_inputs`` its back-edge slots (key -> slot).
        forward_slots: slots cleared before each frame (outputs and queued inputs; back-edge slots persist).
        window: the largest look-ahead of a member (frames held until their successors came).
        max_bytes: the inbox's byte bound per queue (None: unbounded).
    """

    index: int
    nodes: tuple[str, ...]
    n_sources: int
    workers: int
    n_slots: int
    steps: tuple[NodeStep, ...]
    queues: tuple[QueuePlan, ...]
    back_inputs: dict
    copies: tuple[BackCopy, ...]
    forward_slots: tuple[int, ...]
    exports: tuple[Export, ...]
    window: int
    max_bytes: Optional[int]

    @property
    def is_source(self) -> bool:
        return self.n_sources > 0

    @property
    def has_inbox(self) -> bool:
        return bool(self.queues or self.back_inputs)


@dataclass(frozen=True, slots=True)
class Plan:
    """Every segment of a run, and the queue deadline (realtime) shared by their inboxes."""

    segments: tuple[SegmentPlan, ...]
    deadline_s: Optional[float]

    def segment_of(self, node: str) -> SegmentPlan:
        return next(s for s in self.segments if node in s.nodes)

    def thread_of(self) -> dict:
        """Node name -> segment index."""
        return {n: s.index for s in self.segments for n in s.nodes}


def build_plan(graph: BuiltGraph, groups: list, *, threaded: bool, mode: str, realtime: dict) -> Plan:
    """The plan of ``graph`` split into ``groups`` (lists of node names, each one segment).

    ``threaded``: each segment has its own thread(s); otherwise all run on one thread, so a
    ``block`` queue never bounds (it could never empty) and ``workers`` are ignored.
    ``mode``: in realtime an edge with no policy drops its oldest packet, except on a recurrent loop."""
    seg_of = {n: i for i, names in enumerate(groups) for n in names}
    loops = graph.loop_edges() if mode == "realtime" else set()
    terminals = set(graph.terminals())
    segments = []
    for i, names in enumerate(groups):
        segments.append(_segment(graph, i, names, seg_of, terminals, loops, threaded, mode))
    ms = realtime.get("deadline_ms") if mode == "realtime" else None
    return Plan(tuple(segments), ms / 1e3 if ms else None)


def _segment(graph: BuiltGraph, index: int, names: list, seg_of: dict, terminals: set, loops: set,
             threaded: bool, mode: str) -> SegmentPlan:
    heads = [n for n in names if graph.nodes[n].is_source]
    names = heads + [n for n in names if n not in heads]           # sources first
    members = set(names)
    alone = len(names) == 1 and threaded
    workers = graph.nodes[names[0]].spec.workers if alone else 1
    n_slots = 1
    out_slot: dict = {}
    for n in names:
        for port in graph.nodes[n].out_edges:
            out_slot[(n, port)] = n_slots
            n_slots += 1
    queues, back_inputs, copies, steps = [], {}, [], []
    for n in names:
        b = graph.nodes[n]
        inputs = []
        for port, inp in b.cls.inputs.items():
            e = b.in_edges.get(port)
            if e is None:
                slot = 0
            elif e.src in members and not e.back:
                slot = out_slot[(e.src, e.src_port)]
            else:
                slot, n_slots = n_slots, n_slots + 1
                if e.back and e.src in members:
                    copies.append(BackCopy(out_slot[(e.src, e.src_port)], slot))
                elif e.back:
                    back_inputs[(n, port)] = slot
                else:
                    queues.append(_queue(graph, e, (n, port), slot, loops, threaded, mode))
            inputs.append(InputSlot(port, slot, inp.optional or e is None or e.back))
        ahead = tuple(AheadInput(q.key[1], q.key) for q in queues if q.key[0] == n) if b.window else ()
        steps.append(NodeStep(n, tuple(inputs), tuple(OutputSlot(p, out_slot[(n, p)]) for p in b.out_edges),
                              n in terminals, ahead, frozenset()))
    steps = [_with_reach(graph, steps, j) for j in range(len(steps))]
    exports = []
    for n in names:
        for port, edges in graph.nodes[n].out_edges.items():
            routes = tuple(Route(seg_of[e.dst], (e.dst, e.dst_port), e.back) for e in edges
                           if seg_of[e.dst] != index)
            if routes:
                exports.append(Export(out_slot[(n, port)], routes))
    forward = tuple(s for step in steps for s in (o.slot for o in step.outputs)) + tuple(q.slot for q in queues)
    return SegmentPlan(index=index, nodes=tuple(names), n_sources=len(heads), workers=workers, n_slots=n_slots,
                       steps=tuple(steps), queues=tuple(queues), back_inputs=back_inputs, copies=tuple(copies),
                       forward_slots=forward, exports=tuple(exports),
                       window=max(graph.nodes[n].window for n in names),
                       max_bytes=int(graph.spec.queue_mb * 2**20) if threaded else None)


def _queue(graph: BuiltGraph, e, key: Key, slot: int, loops: set, threaded: bool, mode: str) -> QueuePlan:
    policy = e.policy
    if policy is None:
        policy = "drop_oldest" if mode == "realtime" and (e.src, e.dst) not in loops else "block"
    capacity = e.capacity or graph.spec.capacity
    if not threaded and policy == "block":
        capacity = float("inf")                 # one thread: a full queue would never empty
    return QueuePlan(key, slot, capacity, policy)


def _with_reach(graph: BuiltGraph, steps: list, i: int) -> NodeStep:
    """The step with the members its flush reaches: itself and, downstream in the segment, what
    a forward edge from a reached member feeds."""
    reach = {i}
    for j in range(i + 1, len(steps)):
        b = graph.nodes[steps[j].name]
        if any(not e.back and e.src in {steps[k].name for k in reach} for e in b.in_edges.values()):
            reach.add(j)
    s = steps[i]
    return NodeStep(s.name, s.inputs, s.outputs, s.terminal, s.ahead, frozenset(reach))

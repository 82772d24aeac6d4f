"""Where threads start: the graph's nodes grouped into segments that each run on one thread.

GStreamer's rule: a queue is the thread boundary; elements between two queues are plain calls on
the upstream thread. A new segment (thread) starts

* at a source,
* at an edge where the user asks for a queue (``queue: true``, a ``capacity`` or a leaky ``policy``),
* at a node with ``workers: N`` (N threads, the node alone),
* at a device boundary (CPU <-> CUDA), so that host work overlaps the device's,
* at nodes that name a thread (``thread: NAME``, MediaPipe's executor field): they share it,
* at a node that looks ahead (it holds frames until their successors have come).

Any other node runs on the thread of its input. A node fed by several threads (a join) runs on
the thread of the latest of them, which aligns the other inputs by frame index; only when that
thread is a source's (or a ``workers`` node's) does the join get a thread of its own. A recurrent
loop (the nodes between a back edge's consumer and its producer) is serial across frames anyway,
so it stays on one thread unless the user put a queue inside it.
:func:`per_node` gives every node its own thread. ``partition(graph, one_thread=True)`` is the
layout for the caller's thread: one segment, plus one per look-ahead node and what must wait for it.
"""
from __future__ import annotations

import networkx as nx

from .errors import GraphError
from .graph import BuiltGraph


def per_node(graph: BuiltGraph) -> list[list[str]]:
    """Every node a segment of its own (a thread per node)."""
    segments = [[n] for n in graph.nodes]
    _check_back_edges_and_lookahead(graph, segments)
    return segments


def partition(graph: BuiltGraph, one_thread: bool = False) -> list[list[str]]:
    """Segments of the graph, each a list of node names in topological order (``one_thread``:
    all of them run on one thread, so segments start only where look-ahead holds frames)."""
    order = list(graph.nodes)
    lookahead = any(b.window for b in graph.nodes.values())
    if one_thread and not lookahead:
        return [order]
    units = _units(graph)
    unit_of = {n: u for u, members in enumerate(units) for n in members}
    seg_of: dict[str, int] = {}
    segments: list[list[str]] = []
    fixed: set[int] = set()           # segments nothing else may join (a source's with fed nodes... workers)
    for members in _unit_order(graph, units, unit_of):
        producers, boundary = set(), False
        nodes = [graph.nodes[n] for n in members]
        for b in nodes:
            for e in b.in_edges.values():
                if e.back or e.src in members:
                    continue
                producers.add(seg_of[e.src])
                boundary = boundary or _is_boundary(graph, e)
        has_source = any(b.is_source for b in nodes)
        window = any(b.window for b in nodes)
        if one_thread:                # new segments only where look-ahead holds frames
            boundary = False
            nodes = [b if b.spec.thread is None else _without_thread(b) for b in nodes]
            if has_source and segments and graph.nodes[segments[0][0]].is_source:
                for name in members:
                    seg_of[name] = 0
                    segments[0].append(name)
                continue
        if has_source and len(members) > 1 and producers:
            raise GraphError(f"thread '{nodes[0].spec.thread}': a source's thread cannot also run nodes fed by "
                             f"other threads ({', '.join(b.name for b in nodes if not b.is_source)})")
        workers = not one_thread and any(b.spec.workers > 1 for b in nodes)
        own = has_source or workers or boundary or window or nodes[0].spec.thread is not None or not producers
        target = max(producers) if producers else None
        if not own and len(producers) > 1 and (target in fixed or segments[target] and
                                                graph.nodes[segments[target][0]].is_source):
            own = True                # a join whose latest input is a source's thread: a thread of its own
        if own or target in fixed:
            segments.append([])
            target = len(segments) - 1
            if workers:
                fixed.add(target)
        for name in members:
            seg_of[name] = target
            segments[target].append(name)
    position = {n: i for i, n in enumerate(order)}
    segments = [sorted(s, key=position.__getitem__) for s in segments]
    _check_back_edges_and_lookahead(graph, segments)
    return segments


def _without_thread(b):
    """The node as one thread sees it: named threads mean nothing there."""
    from dataclasses import replace
    return replace(b, spec=replace(b.spec, thread=None))


def _check_back_edges_and_lookahead(graph: BuiltGraph, segments: list) -> None:
    """A back edge between threads cannot leave a look-ahead's thread for an earlier one: its
    consumer would wait for a value that comes frames late."""
    seg_of = {n: i for i, s in enumerate(segments) for n in s}
    for e in graph.edges:
        if e.back and seg_of[e.src] != seg_of[e.dst]:
            delayed = any(graph.nodes[n].window for n in segments[seg_of[e.src]])
            if delayed:
                raise GraphError(f"{e.where}: back edge {e.label()} leaves a look-ahead node's thread: keep the "
                                 f"loop on one thread (no queue inside it) or move the look-ahead out of it")


def _is_boundary(graph: BuiltGraph, e) -> bool:
    src, dst = graph.nodes[e.src], graph.nodes[e.dst]
    if e.is_queue or src.spec.workers > 1:
        return True
    return src.device.split(":")[0] != dst.device.split(":")[0] or (
        src.device != dst.device and src.device.startswith("cuda"))


def _units(graph: BuiltGraph) -> list[list[str]]:
    """Nodes that must share a segment: each recurrent loop (unless a queue was asked for inside
    it) and the nodes naming one thread; every other node is a unit of its own."""
    together = nx.Graph()
    together.add_nodes_from(graph.nodes)
    for e in graph.edges:
        if not e.back:
            continue
        on_loop = {e.src, e.dst} | {n for path in _paths(graph, e.dst, e.src) for n in path}
        inner_queue = any(not f.back and f.is_queue and f.src in on_loop and f.dst in on_loop for f in graph.edges)
        workers = any(graph.nodes[n].spec.workers > 1 for n in on_loop)
        if not inner_queue and not workers:
            members = sorted(on_loop)
            together.add_edges_from(zip(members, members[1:]))
    named: dict = {}
    for n, b in graph.nodes.items():
        if b.spec.thread is not None:
            named.setdefault(b.spec.thread, []).append(n)
    for members in named.values():
        together.add_edges_from(zip(members, members[1:]))
    position = {n: i for i, n in enumerate(graph.nodes)}
    units = [sorted(c, key=position.__getitem__) for c in nx.connected_components(together)]
    for members in units:
        threads = {graph.nodes[n].spec.thread for n in members} - {None}
        if len(threads) > 1:
            raise GraphError(f"threads {', '.join(sorted(threads))} share a recurrent loop, which runs on one thread")
    return units


def _paths(graph: BuiltGraph, src: str, dst: str):
    try:
        return list(nx.all_simple_paths(graph.dag, src, dst))
    except nx.NodeNotFound:
        return []


def _unit_order(graph: BuiltGraph, units: list, unit_of: dict) -> list[list[str]]:
    """Units in a topological order of the graph with each unit contracted to one vertex."""
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(units)))
    for e in graph.edges:
        if not e.back and unit_of[e.src] != unit_of[e.dst]:
            dag.add_edge(unit_of[e.src], unit_of[e.dst])
    if not nx.is_directed_acyclic_graph(dag):
        cycle = [units[a] for a, _ in nx.find_cycle(dag)]
        named = next((graph.nodes[m[0]].spec.thread for m in cycle if graph.nodes[m[0]].spec.thread), "?")
        raise GraphError(f"thread '{named}': its nodes depend on each other through nodes of another thread "
                         f"({' -> '.join(m[0] for m in cycle)}); one thread must run a contiguous part of the graph")
    position = {n: i for i, n in enumerate(graph.nodes)}
    first = {u: min(position[n] for n in members) for u, members in enumerate(units)}
    return [units[u] for u in nx.lexicographical_topological_sort(dag, key=first.__getitem__)]

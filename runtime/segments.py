"""Where threads start: the graph's nodes grouped into segments that each run on one thread.

GStreamer's rule: a queue is the thread boundary; elements between two queues are plain calls on
the upstream thread. A new segment (thread) starts

* at a source,
* at an edge where the user asks for a queue (``queue: true``, a ``capacity`` or a leaky ``policy``),
* at a node with ``workers: N`` (N threads, the node alone),
* at a device boundary (CPU <-> CUDA), so that host work overlaps the device's,
* at nodes that name a thread (``thread: NAME``, MediaPipe's executor field): they share it.

Any other node runs on the thread of its input. A node fed by several threads (a join) runs on
the thread of the latest of them, which aligns the other inputs by frame index; only when that
thread is a source's (or a ``workers`` node's) does the join get a thread of its own. A recurrent
loop (the nodes between a back edge's consumer and its producer) is serial across frames anyway,
so it stays on one thread unless the user put a queue inside it.
``per_node`` gives every node its own thread; ``inline`` puts the whole graph on the caller's.
"""
from __future__ import annotations

import networkx as nx

from .errors import GraphError
from .graph import BuiltGraph


def partition(graph: BuiltGraph, executor: str) -> list[list[str]]:
    """Segments of the graph, each a list of node names in topological order."""
    order = list(graph.nodes)
    if executor == "inline":
        return [order]
    if executor == "per_node":
        return [[n] for n in order]
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
        if has_source and len(members) > 1 and producers:
            raise GraphError(f"thread '{nodes[0].spec.thread}': a source's thread cannot also run nodes fed by "
                             f"other threads ({', '.join(b.name for b in nodes if not b.is_source)})")
        workers = any(b.spec.workers > 1 for b in nodes)
        own = has_source or workers or boundary or nodes[0].spec.thread is not None or not producers
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
    return [sorted(s, key=position.__getitem__) for s in segments]


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

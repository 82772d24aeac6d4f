"""Where threads start: the graph's nodes grouped into segments that each run on one thread.

GStreamer's rule: a queue is the thread boundary; elements between two queues are plain calls on
the upstream thread. A new segment (thread) starts

* at a source,
* at an edge where the user asks for a queue (``queue: true``, a ``capacity`` or a leaky ``policy``),
* at a node with ``workers: N`` (N threads, the node alone),
* at a device boundary (CPU <-> CUDA), so that the host work overlaps the device's,
* at a join of inputs coming from different segments (its own thread aligns them).

A recurrent loop (the nodes between a back edge's consumer and its producer) is serial across
frames anyway, so it is kept in one segment unless the user put a queue inside it.
``per_node`` gives every node its own segment (one thread per node); ``inline`` puts the whole
graph in one segment run on the caller's thread.
"""
from __future__ import annotations

import networkx as nx

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
    for members in _unit_order(graph, units, unit_of):
        producers, boundary = set(), False
        head = graph.nodes[members[0]]
        for name in members:
            for e in graph.nodes[name].in_edges.values():
                if e.back or e.src in members:
                    continue
                producers.add(seg_of[e.src])
                boundary = boundary or _is_boundary(graph, e)
        if head.is_source or head.spec.workers > 1 or boundary or len(producers) != 1:
            segments.append([])
            seg = len(segments) - 1
        else:
            seg = producers.pop()
        for name in members:
            seg_of[name] = seg
            segments[seg].append(name)
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
    it) is one unit, every other node a unit of its own."""
    loops = nx.Graph()
    loops.add_nodes_from(graph.nodes)
    for e in graph.edges:
        if not e.back:
            continue
        on_loop = {e.src, e.dst} | {n for path in _paths(graph, e.dst, e.src) for n in path}
        inner_queue = any(not f.back and f.is_queue and f.src in on_loop and f.dst in on_loop for f in graph.edges)
        workers = any(graph.nodes[n].spec.workers > 1 for n in on_loop)
        if not inner_queue and not workers:
            members = sorted(on_loop)
            loops.add_edges_from(zip(members, members[1:]))
    position = {n: i for i, n in enumerate(graph.nodes)}
    return [sorted(c, key=position.__getitem__) for c in nx.connected_components(loops)]


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
    first = {u: min(list(graph.nodes).index(n) for n in members) for u, members in enumerate(units)}
    return [units[u] for u in nx.lexicographical_topological_sort(dag, key=first.__getitem__)]

"""Human-readable views of nodes and graphs: ``graphrun inspect`` text and Graphviz DOT."""
from __future__ import annotations

import inspect as _inspect
from pathlib import Path
from typing import Optional

from pydantic_core import PydanticUndefined

from ..graph import BuiltGraph
from ..node import Node, Source


def _range(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def _type_name(ann) -> str:
    name = getattr(ann, "__name__", None)
    text = str(ann) if name is None or getattr(ann, "__args__", None) else name
    return text.replace("typing.", "")


def describe_node(cls: type[Node]) -> str:
    """gst-inspect-like description: what it does, ports, parameters with type/default/range/doc."""
    lines = [f"{cls.kind}  ({cls.__module__}.{cls.__qualname__})", ""]
    doc = _inspect.cleandoc(cls.__doc__ or "(no description)")
    lines += ["  " + ln for ln in doc.splitlines()] + [""]
    traits = [("source" + (", live: realtime only" if getattr(cls, "live", False) else "")) if issubclass(cls, Source)
              else "filter" if cls.outputs else "sink",
              f"devices: {', '.join(cls.devices)}",
              "stateless (workers: N allowed)" if cls.stateless else "stateful"]
    lines += ["  " + "; ".join(traits), ""]
    lines += _ports(cls.inputs, cls.outputs)
    lines += ["", "Parameters:"]
    fields = cls.Params.model_fields
    if not fields:
        lines.append("  (none)")
    for name, f in fields.items():
        default = "required" if f.default is PydanticUndefined else repr(f.default)
        rng = _range(f)
        lines.append(f"  {name:<18} {_type_name(f.annotation):<14} default {default}"
                     + (f"  range {rng}" if rng else ""))
        if f.description:
            lines.append(f"  {'':<18} {f.description}")
    return "\n".join(lines)


def _ports(inputs: dict, outputs: dict) -> list[str]:
    lines = ["Ports:"]
    if not inputs and not outputs:
        lines.append("  (none)")
    for direction, ports in (("in ", inputs), ("out", outputs)):
        for name, p in ports.items():
            opt = " (optional)" if getattr(p, "optional", False) else ""
            desc = p.doc or p.type.doc
            lines.append(f"  {direction} {name:<14} {str(p.type):<28}{opt} {desc}".rstrip())
    return lines


def describe_subgraph(kind: str, base_dir: Optional[Path] = None) -> str:
    """A subgraph: where it comes from, its ports (typed from the inner ports they map to), its
    nodes and every parameter reachable as ``NODE.INNER.PARAM``."""
    from .. import registry
    from ..subgraph import describe

    flat, ins, outs = describe(kind, base_dir)
    source = registry.find_subgraph(kind, base_dir)
    origin = str(source) if isinstance(source, Path) else f"{source.__module__}.{source.__qualname__}()"
    lines = [f"{kind}  (subgraph, {origin})", ""]
    if flat.description:
        lines += ["  " + flat.description, ""]
    lines += _ports(ins, outs)
    if flat.vars:
        lines += ["", "Variables (params: {NAME: value}):"]
        lines += [f"  {k:<18} default {v!r}" for k, v in flat.vars.items()]
    lines += ["", "Nodes (params: {NODE: {param: value}}, --set STAB.NODE.param=value):"]
    for name, ns in flat.nodes.items():
        cls = ns.cls or registry.get(ns.kind)
        set_params = ", ".join(f"{k}={v!r}" for k, v in ns.params.items())
        lines.append(f"  {name:<14} {ns.kind:<20} {cls.describe()}")
        if set_params:
            lines.append(f"  {'':<14} set here: {set_params}")
    lines += ["", "Edges:"] + [f"  {e}" + ("  (back edge)" if e.back else "") for e in flat.edges]
    return "\n".join(lines)


def thread_lines(graph: BuiltGraph) -> tuple[str, int, list[str]]:
    """The threads a built graph runs on: (executor name, thread count, a line per segment
    ``T0: source -> seg``); ``graphrun validate`` and ``inspect`` print them."""
    from ..executor import executor_class

    executor = executor_class(graph.spec.executor)
    plan = executor.plan_for(graph)
    lines = []
    for seg in plan.segments:
        names = sorted(seg.nodes, key=list(graph.nodes).index)
        lines.append(f"  T{seg.index}{f' (x{seg.workers} workers)' if seg.workers > 1 else ''}: {' -> '.join(names)}")
    return executor.name, executor.threads_of(plan), lines


def describe_graph(path: Path, written, graph: BuiltGraph) -> str:
    """A whole graph file (``graphrun inspect graphs/x.yaml``): its nodes as ``written`` (the file's
    spec: kind, what each does, the parameters the file sets), its variables, and the threads the
    built ``graph`` runs on."""
    from .. import registry

    spec = graph.spec
    lines = [f"{spec.name}  (graph, {path})", ""]
    if spec.description:
        lines += ["  " + spec.description, ""]
    lines.append(f"mode {spec.mode}, device {spec.device}, {spec.executor} executor")
    if spec.vars:
        lines += ["", "Variables (--set vars.NAME=value):"]
        lines += [f"  {k:<18} {v!r}" for k, v in spec.vars.items() if k != "graph_dir"]
    top = registry.find_subgraph
    lines += ["", "Nodes (--set NODE.param=value; a subgraph's: --set NODE.INNER.param=value):"]
    for name, ns in written.nodes.items():
        sub = ns.kind.endswith((".yaml", ".yml")) or top(ns.kind, path.parent) is not None
        what = f"subgraph: graphrun inspect {ns.kind}" if sub else registry.get(ns.kind).describe()
        lines.append(f"  {name:<14} {ns.kind:<20} {what}")
        if ns.params:
            lines.append(f"  {'':<14} set here: " + ", ".join(f"{k}={v!r}" for k, v in ns.params.items()))
    executor, n_threads, threads = thread_lines(graph)
    lines += ["", f"Threads ({executor} executor, {n_threads}; graphrun validate lists the same):", *threads]
    return "\n".join(lines)


def to_dot(graph: BuiltGraph) -> str:
    """The graph as Graphviz DOT: one box per node, each subgraph a cluster, edges labelled with
    ports and types."""
    out = [f'digraph "{graph.spec.name}" {{', "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];',
           '  edge [fontname="Helvetica", fontsize=10];']
    groups = sorted(graph.spec.groups, key=len, reverse=True)   # innermost first
    owner = {n: next((g for g in groups if n.startswith(g + ".")), None) for n in graph.nodes}
    _clusters(out, graph, owner, None, "  ")
    _edges(out, graph)
    out.append("}")
    return "\n".join(out)


def _clusters(out: list, graph: BuiltGraph, owner: dict, parent: Optional[str], pad: str) -> None:
    for name, b in graph.nodes.items():
        if owner[name] == parent:
            out.append(f'{pad}"{name}" [label="{name}\\n({b.spec.kind}, {b.device})"];')
    for prefix, group in graph.spec.groups.items():
        enclosing = next((g for g in sorted(graph.spec.groups, key=len, reverse=True)
                          if prefix.startswith(g + ".")), None)
        if enclosing != parent:
            continue
        cluster = prefix.replace(".", "__")
        out.append(f'{pad}subgraph "cluster_{cluster}" {{')
        out.append(f'{pad}  label="{prefix} ({group.kind})"; style=rounded; color=gray50;')
        _clusters(out, graph, owner, prefix, pad + "  ")
        out.append(f"{pad}}}")


def _edges(out: list, graph: BuiltGraph) -> None:
    for e in graph.edges:
        t = graph.nodes[e.src].cls.outputs[e.src_port].type
        style = ', style=dashed, constraint=false, label="' if e.back else \
            (', style=bold, label="' if e.is_queue else ', label="')
        label = f"{e.src_port} -> {e.dst_port}\\n{t}" + ("\\n(back edge, t-1)" if e.back else "") + \
            ("\\n(queue)" if e.is_queue else "")
        out.append(f'  "{e.src}" -> "{e.dst}" [{style[2:]}{label}"];')

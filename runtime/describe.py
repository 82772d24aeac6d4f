"""Human-readable views of nodes and graphs: ``graphrun inspect`` text and Graphviz DOT."""
from __future__ import annotations

import inspect as _inspect

from pydantic_core import PydanticUndefined

from .graph import BuiltGraph
from .node import Node, Source


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
    lines.append("Ports:")
    if not cls.inputs and not cls.outputs:
        lines.append("  (none)")
    for direction, ports in (("in ", cls.inputs), ("out", cls.outputs)):
        for name, p in ports.items():
            opt = " (optional)" if getattr(p, "optional", False) else ""
            desc = p.doc or p.type.doc
            lines.append(f"  {direction} {name:<14} {str(p.type):<28}{opt} {desc}".rstrip())
    lines += ["", "Parameters:"]
    fields = cls.Params.model_fields
    if not fields:
        lines.append("  (none)")
    for name, f in fields.items():
        default = "required" if f.default is PydanticUndefined else repr(f.default)
        rng = _range(f)
        lines.append(f"  {name:<18} {_type_name(f.annotation):<14} default {default}" + (f"  range {rng}" if rng else ""))
        if f.description:
            lines.append(f"  {'':<18} {f.description}")
    return "\n".join(lines)


def to_dot(graph: BuiltGraph) -> str:
    """The graph as Graphviz DOT: one box per node, edges labelled with ports and types."""
    out = [f'digraph "{graph.spec.name}" {{', "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];',
           '  edge [fontname="Helvetica", fontsize=10];']
    for name, b in graph.nodes.items():
        out.append(f'  "{name}" [label="{name}\\n({b.spec.kind}, {b.device})"];')
    for e in graph.edges:
        t = graph.nodes[e.src].cls.outputs[e.src_port].type
        style = ', style=dashed, constraint=false, label="' if e.back else ', label="'
        label = f"{e.src_port} -> {e.dst_port}\\n{t}" + ("\\n(back edge, t-1)" if e.back else "")
        out.append(f'  "{e.src}" -> "{e.dst}" [{style[2:]}{label}"];')
    out.append("}")
    return "\n".join(out)

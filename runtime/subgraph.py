"""Subgraphs (GStreamer's bins, Holoscan's Subgraph): a graph used as a node, through ghost ports.

A node whose kind names a subgraph — a ``.yaml`` path relative to the graph, a registered name
(the files in ``graphs/subgraphs/``, ``register_subgraph``) or a builder function (``@subgraph``)
— is replaced, before the graph is built, by the subgraph's own nodes, named ``<node>.<inner>``.
An edge into ``node.<input>`` goes to every inner port that input feeds; an edge from
``node.<output>`` leaves from the inner port it names. Every resulting link is type-checked like
any other, and messages show the edge as written. The node's ``params`` reach inside:
``{fuse: {beta_fill: 0.7}}`` (or ``--set stab.fuse.beta_fill=0.7``) sets an inner node's parameter
or field, ``{name: value}`` a variable of the subgraph (a builder function's keyword argument).
A subgraph file may hold only ``name, description, vars, plugins, nodes, edges, inputs, outputs``
and ``headline`` (the figures it publishes that runs are compared by, when the graph declares none):
how the graph runs (mode, device, threads, executor) is the using graph's choice.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from . import registry
from . import spec as spec_mod
from .errors import GraphError
from .node import Input, Output
from .spec import EdgeSpec, GraphSpec, NodeSpec

SUBGRAPH_KEYS = ("name", "description", "vars", "plugins", "nodes", "edges", "inputs", "outputs", "headline")
MAX_DEPTH = 16


@dataclass
class Group:
    """What a subgraph node was, kept after expansion for messages, ``dot`` clusters and stats."""

    kind: str
    where: str
    description: str = ""
    inputs: dict = field(default_factory=dict)     # ghost input -> [(flat node, port)]
    outputs: dict = field(default_factory=dict)    # ghost output -> (flat node, port)


def load_subgraph(kind: str, source, params: Optional[dict] = None, where: str = "") -> GraphSpec:
    """The subgraph ``kind`` (found as ``source``), with ``params`` applied and its variables filled.

    ``where`` names the using node for messages."""
    params = dict(params or {})
    label = f"{where}: " if where else ""
    if isinstance(source, Path):
        sub = spec_mod.load(source)
        extra = sorted(sub.set_keys - set(SUBGRAPH_KEYS))
        if extra:
            raise GraphError(f"{source}: a subgraph cannot set '{extra[0]}' (the graph that uses it does)")
    else:
        sub = _call_builder(kind, source, params, label)
    if not sub.inputs and not sub.outputs:
        raise GraphError(f"{label}'{kind}' declares no inputs or outputs, so it cannot be used as a node")
    for key, value in params.items():
        origin = f"{label}subgraph '{kind}' parameter '{key}'"
        if key == "vars" and isinstance(value, dict):
            for k, v in value.items():
                spec_mod.set_value(sub, f"vars.{k}", v, origin)
        elif key in sub.nodes and isinstance(value, dict):
            ordered = sorted(value.items(), key=lambda kv: kv[0] != "kind")   # a new kind first
            for k, v in ordered:
                spec_mod.set_value(sub, f"{key}.{k}", v, origin)
        elif key in sub.vars:
            sub.vars[key] = value
        else:
            raise GraphError(f"{label}subgraph '{kind}' has no node or variable '{key}'"
                             f"{registry.suggest(key, list(sub.nodes) + list(sub.vars))}; nodes: "
                             f"{', '.join(sub.nodes)}; variables: {', '.join(sub.vars) or 'none'}")
    for ref in sub.plugins:
        registry.load_plugin(ref, sub.base_dir)
    spec_mod.substitute_vars(sub)
    return sub


def _call_builder(kind: str, fn, params: dict, label: str) -> GraphSpec:
    """Call a builder function with the params it takes; the others stay for its inner nodes."""
    sig = inspect.signature(fn)
    kwargs = {k: params.pop(k) for k in list(params) if k in sig.parameters}
    try:
        graph = fn(**kwargs)
    except GraphError:
        raise
    except Exception as exc:
        raise GraphError(f"{label}subgraph '{kind}': {fn.__qualname__}() failed: {type(exc).__name__}: {exc}") from exc
    sub = getattr(graph, "spec", None)
    if not isinstance(sub, GraphSpec):
        raise GraphError(f"{label}subgraph '{kind}': {fn.__qualname__}() must return a graphrun.Graph")
    sub = sub.copy()
    if sub.path is None:                  # relative paths inside are relative to the function's file
        module = inspect.getmodule(fn)
        if module is not None and getattr(module, "__file__", None):
            sub.path = Path(module.__file__).resolve().parent / f"{kind}.yaml"
    return sub


def expand(spec: GraphSpec, depth: int = 0) -> GraphSpec:
    """Replace every subgraph node of ``spec`` by its nodes, rewiring edges through ghost ports.

    Returns a new flat spec (or ``spec`` itself when it uses no subgraph)."""
    sources = {}
    for name, ns in spec.nodes.items():
        if ns.cls is None and ns.enabled:
            try:
                found = registry.find_subgraph(ns.kind, spec.base_dir)
            except GraphError as exc:
                raise GraphError(f"{ns.where}: node '{name}': {exc}") from None
            if found is not None:
                sources[name] = found
    if not sources:
        return spec
    if depth >= MAX_DEPTH:
        raise GraphError(f"{spec.path or '<graph>'}: subgraphs nested more than {MAX_DEPTH} deep "
                         f"(does a subgraph use itself?)")
    flat = replace(spec, nodes={}, edges=[], groups=dict(spec.groups), plugins=list(spec.plugins))
    ghost_in: dict = {}
    ghost_out: dict = {}
    disabled = {n for n, ns in spec.nodes.items() if not ns.enabled and n not in sources and _is_subgraph(ns, spec)}
    for name, ns in spec.nodes.items():
        if name in disabled:
            continue
        if name not in sources:
            flat.nodes[name] = ns
            continue
        if ns.workers != 1:
            raise GraphError(f"{ns.where}: node '{name}' is a subgraph ({ns.kind}): set workers on its inner nodes")
        sub = expand(load_subgraph(ns.kind, sources[name], ns.params, f"{ns.where}: node '{name}'"), depth + 1)
        prefix = f"{name}."
        for iname, ins in sub.nodes.items():
            inner = replace(ins, name=prefix + iname, where=f"{ins.where} (in '{name}', {ns.where})")
            if inner.device is None:
                inner.device = ns.device
            inner.thread = f"{name}.{ins.thread}" if ins.thread else ns.thread    # names are per instance
            if ns.on_error != "stop" and inner.on_error == "stop":
                inner.on_error = ns.on_error
            flat.nodes[inner.name] = inner
        for e in sub.edges:
            flat.edges.append(replace(e, src=prefix + e.src, dst=prefix + e.dst,
                                      via=e.via and _prefixed_via(e.via, prefix)))
        flat.plugins += [str(_absolute(p, sub.base_dir)) for p in sub.plugins if p not in flat.plugins]
        ghost_in[name] = {g: [(prefix + n, p) for n, p in targets] for g, targets in sub.inputs.items()}
        ghost_out[name] = {g: (prefix + n, p) for g, (n, p) in sub.outputs.items()}
        flat.groups[name] = Group(ns.kind, ns.where, sub.description, ghost_in[name], ghost_out[name])
        if not flat.headline and sub.headline:   # the graph's own headline, else its first subgraph's
            flat.headline = dict(sub.headline)
        for inner_prefix, g in sub.groups.items():
            flat.groups[prefix + inner_prefix] = Group(
                g.kind, g.where, g.description,
                {k: [(prefix + n, p) for n, p in v] for k, v in g.inputs.items()},
                {k: (prefix + n, p) for k, (n, p) in g.outputs.items()})
    for e in spec.edges:
        if e.src in disabled or e.dst in disabled:
            continue
        srcs = [_ghost_output(spec, ghost_out, e)] if e.src in ghost_out else [(e.src, e.src_port)]
        dsts = _ghost_inputs(spec, ghost_in, e) if e.dst in ghost_in else [(e.dst, e.dst_port)]
        rewired = e.src in ghost_out or e.dst in ghost_in
        for sn, sp in srcs:
            for dn, dp in dsts:
                flat.edges.append(replace(e, src=sn, src_port=sp, dst=dn, dst_port=dp,
                                          via=str(e) if rewired else e.via))
    flat.inputs = {g: [t for n, p in targets for t in (ghost_in[n].get(p, [(n, p)]) if n in ghost_in else [(n, p)])]
                   for g, targets in spec.inputs.items()}
    flat.outputs = {g: (ghost_out[n].get(p, (n, p)) if n in ghost_out else (n, p))
                    for g, (n, p) in spec.outputs.items()}
    return flat


def _is_subgraph(ns: NodeSpec, spec: GraphSpec) -> bool:
    try:
        return ns.cls is None and registry.find_subgraph(ns.kind, spec.base_dir) is not None
    except GraphError:
        return False


def _prefixed_via(via: str, prefix: str) -> str:
    a, _, b = via.partition(" -> ")
    return f"{prefix}{a} -> {prefix}{b}"


def _absolute(ref: str, base: Optional[Path]) -> str:
    if (ref.endswith(".py") or "/" in ref) and base is not None and not Path(ref).is_absolute():
        return str((base / ref).resolve())
    return ref


def _ghost_output(spec: GraphSpec, ghost_out: dict, e: EdgeSpec) -> tuple:
    return ghost_target(ghost_out[e.src], e.src, spec.nodes[e.src].kind, e.src_port, "output", f"{e.where}: edge {e}: ")


def _ghost_inputs(spec: GraphSpec, ghost_in: dict, e: EdgeSpec) -> list:
    return ghost_target(ghost_in[e.dst], e.dst, spec.nodes[e.dst].kind, e.dst_port, "input", f"{e.where}: edge {e}: ")


def ghost_target(ports: dict, owner: str, kind: str, port: str, side: str, where: str = ""):
    """What the ghost port ``owner.port`` of a subgraph maps to (``side``: input or output); else a
    GraphError naming the subgraph, a near name and the ports it has. The one lookup of a ghost port."""
    if port not in ports:
        raise GraphError(f"{where}subgraph '{owner}' ({kind}) has no {side} '{port}'{registry.suggest(port, ports)}; "
                         f"{side}s: {', '.join(ports) or 'none'}")
    return ports[port]


def resolve_port(flat: GraphSpec, name: str, side: str, what: str):
    """A port of an expanded graph by the name a user gives it: a declared graph input/output,
    ``subgraph.ghost`` or ``node.port``. Inputs resolve to ``[(node, port), ...]``, outputs to
    ``(node, port)``."""
    declared = flat.inputs if side == "input" else flat.outputs
    if name in declared:
        return declared[name]
    node, _, port = name.rpartition(".")
    if node in flat.groups:
        group = flat.groups[node]
        return ghost_target(group.inputs if side == "input" else group.outputs, node, group.kind, port, side,
                            f"{what}: ")
    ns = flat.nodes.get(node)
    if ns is not None:
        ports = getattr(ns.cls or registry.get(ns.kind), f"{side}s")
        if port in ports:
            return [(node, port)] if side == "input" else (node, port)
        raise GraphError(f"{what}: node '{node}' ({ns.kind}) has no {side} '{port}'{registry.suggest(port, ports)}")
    known = list(declared) + list(flat.nodes)
    give = "a declared input, node.port or a source node to replace" if side == "input" else \
        "node.port or a declared output"
    raise GraphError(f"{what}: no {side} '{name}' (give {give}){registry.suggest(name, known)}")


def ghost_input_of(spec: GraphSpec, node: str, port: str) -> Optional[tuple]:
    """The subgraph input that feeds the inner port ``node.port``: ``(prefix, group, ghost)`` or None."""
    for prefix, group in spec.groups.items():
        for ghost, targets in group.inputs.items():
            if (node, port) in targets:
                return prefix, group, ghost
    return None


def ghost_ports(flat: GraphSpec) -> tuple[dict, dict]:
    """Typed ports of a flat spec's declared ``inputs``/``outputs``: ({name: Input}, {name: Output}).

    An input's type is that of the first inner port it feeds; it is optional when all are."""
    ins, outs = {}, {}
    for name, targets in flat.inputs.items():
        ports = [_port(flat, n, p, "inputs", f"input '{name}'") for n, p in targets]
        doc = "-> " + ", ".join(f"{n}.{p}" for n, p in targets)
        ins[name] = Input(ports[0].type, all(p.optional for p in ports), doc, name)
    for name, (n, p) in flat.outputs.items():
        outs[name] = Output(_port(flat, n, p, "outputs", f"output '{name}'").type, f"<- {n}.{p}", name)
    return ins, outs


def _port(flat: GraphSpec, node: str, port: str, side: str, what: str):
    where = flat.path or "<graph>"
    ns = flat.nodes.get(node)
    if ns is None:
        raise GraphError(f"{where}: {what} names node '{node}', which is not in the graph"
                         f"{registry.suggest(node, flat.nodes)}")
    ports = getattr(ns.cls or registry.get_at(ns.kind, ns.where, node), side)
    if port not in ports:
        raise GraphError(f"{where}: {what}: node '{node}' ({ns.kind}) has no {side[:-1]} '{port}'"
                         f"{registry.suggest(port, ports)}")
    return ports[port]


def describe(kind: str, base_dir: Optional[Path] = None) -> tuple[GraphSpec, dict, dict]:
    """A subgraph's flat spec and its typed ports, for ``graphrun inspect`` and the Python builder."""
    source = registry.find_subgraph(kind, base_dir)
    if source is None:
        raise GraphError(f"'{kind}' is not a subgraph")
    flat = expand(load_subgraph(kind, source))
    ins, outs = ghost_ports(flat)
    return flat, ins, outs

"""Build a graph from its spec: instantiate nodes, check every link's types, order the nodes.

Like GStreamer's caps negotiation, everything that can be checked before a frame flows is checked
here: unknown kinds and parameters, missing ports, type mismatches (naming both ``node.port`` and
both types), inputs fed twice, required inputs left open, cycles that are not marked as back edges.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
from pydantic import ValidationError

from . import registry
from .errors import GraphError
from .node import Node, Source
from .spec import EdgeSpec, GraphSpec, NodeSpec
from .subgraph import ghost_input_of


@dataclass
class BuiltNode:
    spec: NodeSpec
    cls: type[Node]
    params: object
    device: str
    in_edges: dict = field(default_factory=dict)    # input port -> EdgeSpec
    out_edges: dict = field(default_factory=dict)   # output port -> [EdgeSpec]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_source(self) -> bool:
        return issubclass(self.cls, Source)

    @property
    def window(self) -> int:
        """Future frames the node sees (look-ahead), 0 for most."""
        return self.cls.window(self.params)

    def make(self) -> Node:
        return self.cls(self.params)


@dataclass
class BuiltGraph:
    """A checked graph, ready to run: node classes and validated parameters, wired edges, order."""

    spec: GraphSpec
    nodes: dict                 # name -> BuiltNode, in topological order
    edges: list                 # EdgeSpec, forward and back
    dag: nx.DiGraph

    @property
    def order(self) -> list[str]:
        return list(self.nodes)

    def terminals(self) -> list[str]:
        """Nodes with no forward outgoing edge (sinks): a frame is done when all have seen it."""
        return [n for n in self.nodes if self.dag.out_degree(n) == 0]

    def sources(self) -> list[str]:
        return [n for n, b in self.nodes.items() if b.is_source]

    def lag(self) -> int:
        """Frames the deepest path is delayed by look-ahead nodes (the sum of their windows)."""
        delay: dict = {}
        for name, b in self.nodes.items():          # topological order
            upstream = [delay[e.src] for e in b.in_edges.values() if not e.back]
            delay[name] = max(upstream, default=0) + b.window
        return max(delay.values(), default=0)

    def declared_inputs(self) -> list[tuple[str, str, str, str]]:
        """The files and folders the graph reads: (node, parameter, ``file`` | ``folder``, value) of
        every set parameter marked ``json_schema_extra={"input": "file"}`` (or ``"folder"``)."""
        found = []
        for name, b in self.nodes.items():
            for param, info in b.cls.Params.model_fields.items():
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                value = getattr(b.params, param, None)
                if extra.get("input") in ("file", "folder") and isinstance(value, str) and value:
                    found.append((name, param, extra["input"], value))
        return found

    def loop_edges(self) -> set:
        """Forward edges on a recurrent loop (between a back edge's consumer and its producer)."""
        on_loop = set()
        for e in self.edges:
            if not e.back:
                continue
            try:
                paths = nx.all_simple_paths(self.dag, e.dst, e.src)
                for path in paths:
                    on_loop.update(zip(path, path[1:]))
            except nx.NodeNotFound:
                pass
        return on_loop


def resolve_device(requested: str) -> str:
    import torch
    if requested in ("auto", "", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise GraphError(f"device '{requested}' requested but CUDA is not available (use device: auto or cpu)")
    if requested != "cpu" and not requested.startswith("cuda"):
        raise GraphError(f"device must be auto, cpu, cuda or cuda:N, not '{requested}'")
    return requested


def build(spec: GraphSpec) -> BuiltGraph:
    """Check a flat spec (subgraphs already expanded) and build it."""
    disabled = {n for n, ns in spec.nodes.items() if not ns.enabled}
    if disabled:
        spec.nodes = {n: ns for n, ns in spec.nodes.items() if n not in disabled}
        spec.edges = [e for e in spec.edges if e.src not in disabled and e.dst not in disabled]
    for ref in spec.plugins:
        registry.load_plugin(ref, spec.base_dir)
    graph_device = resolve_device(spec.device)
    built: dict[str, BuiltNode] = {}
    for name, ns in spec.nodes.items():
        cls = ns.cls or registry.get_at(ns.kind, ns.where, name)
        params = validate_params(cls, ns)
        device = resolve_device(ns.device) if ns.device else graph_device
        if device.split(":")[0] not in cls.devices:
            device = "cpu"
        if ns.workers > 1 and cls.window(params) > 0:
            raise GraphError(f"{ns.where}: node '{name}' ({ns.kind}) looks ahead and cannot run with workers")
        if ns.workers > 1 and not cls.stateless:
            raise GraphError(f"{ns.where}: node '{name}' ({ns.kind}) keeps state between frames and cannot run "
                             f"with workers: {ns.workers}")
        built[name] = BuiltNode(ns, cls, params, device)
    _check_ghost_ports(spec, built, disabled)

    dag = nx.DiGraph()
    dag.add_nodes_from(built)
    spec.edges = [e for e in spec.edges if not _dangling_after_kind_change(e, built)]
    for e in spec.edges:
        _check_edge(e, built)
        dst = built[e.dst]
        if e.dst_port in dst.in_edges:
            first = dst.in_edges[e.dst_port]
            raise GraphError(f"{e.where}: input '{e.dst}.{e.dst_port}' is fed twice "
                             f"(by {first.src}.{first.src_port} and {e.src}.{e.src_port})")
        dst.in_edges[e.dst_port] = e
        built[e.src].out_edges.setdefault(e.src_port, []).append(e)
        if e.back:
            if not dst.cls.inputs[e.dst_port].optional:
                raise GraphError(f"{e.where}: back edge {e.label()} feeds '{e.dst}.{e.dst_port}', which must be an "
                                 f"optional input (it receives None at the first frame)")
            if dst.spec.workers > 1:
                raise GraphError(f"{e.where}: node '{e.dst}' receives a back edge and cannot run with several workers")
        else:
            dag.add_edge(e.src, e.dst)

    if not nx.is_directed_acyclic_graph(dag):
        cycle = nx.find_cycle(dag)
        names = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        raise GraphError(f"{spec.path or '<graph>'}: the graph has a cycle ({names}); mark the edge that closes a "
                         f"recurrent loop with 'back: true' (it then delivers frame t-1's value at frame t)")
    ghost_of = {t: name for name, targets in spec.inputs.items() for t in targets}
    for name, b in built.items():
        for port, inp in b.cls.inputs.items():
            if not inp.optional and port not in b.in_edges:
                ghost = ghost_of.get((name, port))
                hint = (f" (it is the graph's input '{ghost}': feed it with Graph.iterate(inputs=...))"
                        if ghost else _group_hint(spec, name, port))
                raise GraphError(f"{b.spec.where}: required input '{name}.{port}' ({inp.type}) is not connected{hint}")
        if b.is_source and b.cls.inputs:
            raise GraphError(f"{b.spec.where}: source node '{name}' cannot declare inputs")
        if not b.is_source and not any(not e.back for e in b.in_edges.values()):
            raise GraphError(f"{b.spec.where}: node '{name}' has no input connected (inputs: "
                             f"{', '.join(b.cls.inputs) or 'none'}); only sources produce frames on their own")
    if not any(b.is_source for b in built.values()):
        raise GraphError(f"{spec.path or '<graph>'}: the graph has no source node")
    position = {n: i for i, n in enumerate(built)}
    order = list(nx.lexicographical_topological_sort(dag, key=position.__getitem__))
    return BuiltGraph(spec, {n: built[n] for n in order}, list(spec.edges), dag)


def _group_hint(spec: GraphSpec, node: str, port: str) -> str:
    """Name the subgraph input a user should have connected, when that is the open port."""
    found = ghost_input_of(spec, node, port)
    if found is None:
        return ""
    prefix, group, ghost = found
    return f" (subgraph '{prefix}' ({group.kind}) input '{ghost}' needs a link: {prefix}.{ghost})"


def _check_ghost_ports(spec: GraphSpec, built: dict, disabled: set) -> None:
    """A subgraph's (or the graph's) declared ports name real inner ports, and an input that feeds
    several inner ports feeds ports of one type."""
    scopes = [(f"subgraph '{p}' ({g.kind}, {g.where})", g.inputs, g.outputs) for p, g in spec.groups.items()]
    scopes.append((f"{spec.path or '<graph>'}", spec.inputs, spec.outputs))
    for scope, inputs, outputs in scopes:
        for ghost, targets in inputs.items():
            types = []
            for node, port in targets:
                b = built.get(node)
                if node in disabled:
                    continue
                if b is None or port not in b.cls.inputs:
                    what = f"no node '{node}'" if b is None else \
                        f"node '{node}' ({b.spec.kind}) has no input '{port}'{registry.suggest(port, b.cls.inputs)}"
                    raise GraphError(f"{scope}: input '{ghost}' -> {node}.{port}: {what}")
                types.append((f"{node}.{port}", b.cls.inputs[port].type))
            for (a, ta), (c, tc) in zip(types, types[1:]):
                if not (ta.compatible_with(tc) or tc.compatible_with(ta)):
                    raise GraphError(f"{scope}: input '{ghost}' feeds {a} ({ta}) and {c} ({tc}), which accept "
                                     f"different types")
        for ghost, (node, port) in outputs.items():
            b = built.get(node)
            if node in disabled:
                continue
            if b is None or port not in b.cls.outputs:
                what = f"no node '{node}'" if b is None else \
                    f"node '{node}' ({b.spec.kind}) has no output '{port}'{registry.suggest(port, b.cls.outputs)}"
                raise GraphError(f"{scope}: output '{ghost}' <- {node}.{port}: {what}")


def validate_params(cls, ns: NodeSpec):
    """``ns.params`` checked against ``cls.Params``: a problem is one line naming the node and parameter."""
    try:
        return cls.Params(**ns.params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field_name = ".".join(str(p) for p in err.get("loc", ())) or "?"
        if err.get("type") == "extra_forbidden":
            known = list(cls.Params.model_fields)
            hint = registry.suggest(field_name, known) or _file_source_hint(cls, ns, field_name)
            raise GraphError(f"{ns.where}: node '{ns.name}' ({ns.kind}): unknown parameter '{field_name}'"
                             f"{hint}") from None
        value = ns.params.get(field_name, "<missing>")
        raise GraphError(f"{ns.where}: node '{ns.name}' ({ns.kind}): parameter '{field_name}' = {value!r}: "
                         f"{err.get('msg')}") from None
    except GraphError:
        raise
    except Exception as exc:  # a model_validator raising ValueError etc.
        raise GraphError(f"{ns.where}: node '{ns.name}' ({ns.kind}): {exc}") from None


def _file_source_hint(cls, ns: NodeSpec, param: str) -> str:
    """A source without a ``path`` given one (``--set source.path=my.mp4`` on the synthetic scene):
    name the kinds that read files."""
    if param != "path" or not issubclass(cls, Source):
        return ""
    return (f" ({ns.kind} reads no file: --set {ns.name}.kind=video_file {ns.name}.path=..., or "
            f"{ns.name}.kind=image_folder for a folder of images)")


def _dangling_after_kind_change(e: EdgeSpec, built: dict) -> bool:
    """An edge from a port that a node lost when ``--set node.kind=`` changed its kind, into an
    optional input: dropped (``--set source.kind=video_file`` has no ground-truth output)."""
    src, dst = built.get(e.src), built.get(e.dst)
    if src is None or dst is None or not src.spec.kind_changed or e.src_port in src.cls.outputs:
        return False
    port = dst.cls.inputs.get(e.dst_port)
    return port is not None and port.optional


def _check_edge(e: EdgeSpec, built: dict) -> None:
    for node in (e.src, e.dst):
        if node not in built:
            raise GraphError(f"{e.where}: edge {e.label()}: no node '{node}'{registry.suggest(node, built)}")
    src, dst = built[e.src], built[e.dst]
    if e.src_port not in src.cls.outputs:
        raise GraphError(f"{e.where}: edge {e.label()}: node '{e.src}' ({src.spec.kind}) has no output "
                         f"'{e.src_port}'{registry.suggest(e.src_port, src.cls.outputs)}; "
                         f"outputs: {', '.join(src.cls.outputs) or 'none'}")
    if e.dst_port not in dst.cls.inputs:
        raise GraphError(f"{e.where}: edge {e.label()}: node '{e.dst}' ({dst.spec.kind}) has no input "
                         f"'{e.dst_port}'{registry.suggest(e.dst_port, dst.cls.inputs)}; "
                         f"inputs: {', '.join(dst.cls.inputs) or 'none'}")
    t_out, t_in = src.cls.outputs[e.src_port].type, dst.cls.inputs[e.dst_port].type
    if not t_out.compatible_with(t_in):
        via = f" (edge {e.via})" if e.via else ""
        raise GraphError(f"{e.where}: type mismatch: {e.src}.{e.src_port} produces {t_out} but "
                         f"{e.dst}.{e.dst_port} accepts {t_in}{via}")

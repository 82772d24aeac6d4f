"""The Python API: load or build a graph, run it, or iterate over its outputs frame by frame.

    import graphrun
    result = graphrun.load("stabilize", set=["source.frames=60"]).run(out="runs/demo")
    result.results["metrics"]["stabilized"]["warp_iou"]

    g = graphrun.Graph("mine")                       # Holoscan's compose() / add_flow, in Python
    src = g.add("video_file", path="clip.mp4")
    seg = g.add("bg_subtract")
    stab = g.add("stabilizer", name="stab")          # a subgraph is added like any node
    g.connect(src.frame, seg.frame)
    g.connect(seg.prob, stab.current)
    g.connect(src.frame, stab.frame)
    for item in g.iterate(outputs=["stab.mask"]):     # torchdata-style: one dict per frame
        ...
    g.to_yaml("mine.yaml")                           # loads back to the same graph
"""
from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

from .. import registry
from .. import spec as spec_mod
from ..errors import GraphError
from ..graph import BuiltGraph, validate_params
from ..node import Emit, Input, Node, Output, Source
from ..options import RunOptions
from ..run import Run, RunResult, build_spec, prepare, read_spec
from ..spec import EdgeSpec, GraphSpec, NodeSpec
from ..subgraph import describe as describe_subgraph
from ..subgraph import resolve_port
from ..types import ANY
from .view import observing


@dataclass(frozen=True)
class PortRef:
    """``node.port`` as an object: what ``handle.port`` gives and ``Graph.connect`` takes."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


class NodeHandle:
    """A node of a :class:`Graph`; its ports are attributes (``src.frame``), its parameters ``params``."""

    def __init__(self, graph: "Graph", name: str):
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "name", name)

    @property
    def spec(self) -> NodeSpec:
        return self._graph.spec.nodes[self.name]

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def params(self) -> dict:
        """The node's parameters as set in the graph (defaults omitted); edit in place or use ``set``."""
        return self.spec.params

    def set(self, **params: Any) -> "NodeHandle":
        for key, value in params.items():
            spec_mod.set_value(self._graph.spec, f"{self.name}.{key}", value, f"node '{self.name}'")
        return self

    @property
    def inputs(self) -> dict:
        return self._graph._ports(self.name)[0]

    @property
    def outputs(self) -> dict:
        return self._graph._ports(self.name)[1]

    def __getattr__(self, port: str) -> PortRef:
        if port.startswith("_"):
            raise AttributeError(port)
        return self[port]

    def __getitem__(self, port: str) -> PortRef:
        ins, outs = self._graph._ports(self.name)
        if port not in ins and port not in outs:
            known = list(ins) + list(outs)
            raise AttributeError(f"node '{self.name}' ({self.kind}) has no port '{port}'"
                                 f"{registry.suggest(port, known)}; inputs: {', '.join(ins) or 'none'}; "
                                 f"outputs: {', '.join(outs) or 'none'}")
        return PortRef(self.name, port)

    def __repr__(self) -> str:
        ins, outs = self._graph._ports(self.name)
        return f"<node {self.name} ({self.kind}): in {', '.join(ins) or '-'}; out {', '.join(outs) or '-'}>"


Port = Union[PortRef, str]


class Graph:
    """A graph to build in Python, or loaded from YAML with :func:`load`.

    Args:
        name: the graph's name (summary, default output folder).
        mode: ``offline`` (every frame) or ``realtime`` (paced, late frames dropped).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        executor: ``fused`` (threads only at queues, sources, workers, device changes),
            ``per_node`` (a thread per node) or ``inline`` (the caller's thread).
        **settings: other graph-level keys of the YAML file (``threads``, ``realtime``, ``vars``, ``plugins``,
            ``resources``).
    """

    def __init__(self, name: str = "graph", *, mode: str = "offline", device: str = "auto",
                 executor: str = "fused", description: str = "", **settings: Any):
        data = {"name": name, "mode": mode, "device": device, "executor": executor, "description": description,
                "nodes": {}, "edges": [], **settings}
        self.spec = spec_mod.from_dict(data, allow_empty=True)
        self.last_result: Optional[RunResult] = None

    @classmethod
    def from_spec(cls, spec: GraphSpec) -> "Graph":
        g = cls.__new__(cls)
        g.spec, g.last_result = spec, None
        return g

    # -- building ------------------------------------------------------------------------------
    def add(self, kind: Union[str, type[Node]], name: Optional[str] = None, *, device: Optional[str] = None,
            workers: int = 1, on_error: str = "stop", enabled: bool = True, **params: Any) -> NodeHandle:
        """Add a node (a registered kind, a subgraph name or ``.yaml`` path, or a Node class)."""
        cls = kind if isinstance(kind, type) else None
        if cls is not None and not issubclass(cls, Node):
            raise GraphError(f"{kind!r} is not a graphrun Node class")
        kind_name = (cls.kind or cls.__name__) if cls is not None else str(kind)
        if name is None:
            base = Path(kind_name).stem if cls is None else kind_name
            name = base if base not in self.spec.nodes else next(
                f"{base}_{i}" for i in range(2, 10**6) if f"{base}_{i}" not in self.spec.nodes)
        if not name.isidentifier():
            raise GraphError(f"node name '{name}' must be an identifier (letters, digits, _)")
        if name in self.spec.nodes:
            raise GraphError(f"graph '{self.spec.name}' already has a node '{name}'")
        spec_mod.check_workers(workers, f"node '{name}' ({kind_name}): workers")
        ns = NodeSpec(name=name, kind=kind_name, params=dict(params), device=device, workers=workers,
                      on_error=spec_mod.check_choice(on_error, spec_mod.ON_ERROR, f"node '{name}': on_error"),
                      enabled=enabled, where=f"graph '{self.spec.name}'", cls=cls)
        self.spec.nodes[name] = ns
        try:
            self._ports(name)          # unknown kinds fail here, with a suggestion
            if cls is None and registry.find_subgraph(kind_name, self.spec.base_dir) is None:
                validate_params(registry.get(kind_name), ns)
            elif cls is not None:
                validate_params(cls, ns)
        except Exception as exc:
            del self.spec.nodes[name]
            if isinstance(exc, GraphError):
                raise
            raise GraphError(f"node '{name}' ({kind_name}): {exc}") from None
        return NodeHandle(self, name)

    def connect(self, src: Port, dst: Port, *, back: bool = False, capacity: Optional[int] = None,
                policy: Optional[str] = None, queue: bool = False) -> "Graph":
        """Link an output to an input (``back=True``: deliver the previous frame's value; ``queue``,
        ``capacity`` or ``policy``: a queue there, i.e. a thread boundary)."""
        s, d = _port_ref(src), _port_ref(dst)
        outs = self._ports(s.node)[1]
        ins = self._ports(d.node)[0]
        if s.port not in outs:
            raise GraphError(f"connect({s}, {d}): '{s.node}' has no output '{s.port}'{registry.suggest(s.port, outs)}; "
                             f"outputs: {', '.join(outs) or 'none'}")
        if d.port not in ins:
            raise GraphError(f"connect({s}, {d}): '{d.node}' has no input '{d.port}'{registry.suggest(d.port, ins)}; "
                             f"inputs: {', '.join(ins) or 'none'}")
        t_out, t_in = outs[s.port].type, ins[d.port].type
        if not t_out.compatible_with(t_in):
            raise GraphError(f"type mismatch: {s} produces {t_out} but {d} accepts {t_in}")
        if policy is not None:
            spec_mod.check_choice(policy, spec_mod.POLICIES, "policy")
        if capacity is not None:
            spec_mod.check_capacity(capacity, f"connect({s}, {d}): capacity")
        self.spec.edges.append(EdgeSpec(s.node, s.port, d.node, d.port, back, capacity, policy,
                                        f"graph '{self.spec.name}'", queue=queue))
        return self

    def input(self, name: str, *ports: Port) -> "Graph":
        """Declare a graph input (a ghost port) that feeds these inner inputs."""
        self.spec.inputs[name] = [(p.node, p.port) for p in map(_port_ref, ports)]
        return self

    def output(self, name: str, port: Port) -> "Graph":
        """Declare a graph output (a ghost port) taken from this inner output."""
        p = _port_ref(port)
        self.spec.outputs[name] = (p.node, p.port)
        return self

    def node(self, name: str) -> NodeHandle:
        if name not in self.spec.nodes:
            raise GraphError(f"graph '{self.spec.name}' has no node '{name}'{registry.suggest(name, self.spec.nodes)}")
        return NodeHandle(self, name)

    __getitem__ = node

    @property
    def nodes(self) -> list[str]:
        return list(self.spec.nodes)

    def set(self, *overrides: str) -> "Graph":
        """Apply ``--set`` overrides: ``g.set("stab.fuse.beta_fill=0.7", "vars.seq=kite-surf")``."""
        spec_mod.apply_overrides(self.spec, list(overrides))
        return self

    def _ports(self, name: str) -> tuple[dict, dict]:
        ns = self.spec.nodes[name]
        if ns.cls is not None:
            return ns.cls.inputs, ns.cls.outputs
        if registry.find_subgraph(ns.kind, self.spec.base_dir) is not None:
            _, ins, outs = describe_subgraph(ns.kind, self.spec.base_dir)
            return ins, outs
        cls = registry.get(ns.kind)
        return cls.inputs, cls.outputs

    # -- output --------------------------------------------------------------------------------
    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        """The graph as YAML (written to ``path`` if given); ``graphrun.load`` reads it back."""
        import yaml
        data = spec_mod.to_dict(self._relocated(Path(path).resolve().parent if path else None))
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)
        if path is not None:
            Path(path).write_text(text)
        return text

    def _relocated(self, target: Optional[Path]) -> GraphSpec:
        """The spec with paths that are relative to this graph's folder made absolute, when the
        YAML goes to another folder."""
        spec = self.spec.copy()
        base = spec.base_dir.resolve() if spec.base_dir else None
        if base is None or target is None or target == base:
            return spec
        spec.plugins = [str(base / p) if (p.endswith(".py") or "/" in p) and not Path(p).is_absolute() else p
                        for p in spec.plugins]
        for ns in spec.nodes.values():
            if ns.kind.endswith((".yaml", ".yml")) and not Path(ns.kind).is_absolute():
                ns.kind = str(base / ns.kind)
        def here(text):            # ${graph_dir} would name the new file's folder: write this one's
            return text.replace("${graph_dir}", str(base))
        spec.vars = spec_mod.map_strings(spec.vars, here)
        for ns in spec.nodes.values():
            ns.params = spec_mod.map_strings(ns.params, here)
        return spec

    def build(self, mode: Optional[str] = None, device: Optional[str] = None,
              executor: Optional[str] = None) -> BuiltGraph:
        """Check everything (types, ports, parameters) and build: raises GraphError."""
        return build_spec(self.spec, mode, device, executor)

    def validate(self) -> "Graph":
        self.build()
        return self

    def to_dot(self) -> str:
        from .describe import to_dot
        return to_dot(self.build())

    def __repr__(self) -> str:
        s = self.spec
        return (f"<graphrun.Graph {s.name!r}: {len(s.nodes)} nodes, {len(s.edges)} edges, {s.mode}, "
                f"executor {s.executor}>")

    # -- running -------------------------------------------------------------------------------
    def run(self, out: Union[str, Path, None] = None, *, mode: Optional[str] = None, device: Optional[str] = None,
            executor: Optional[str] = None, set: Optional[list] = None, progress: bool = False,
            trace: Optional[str] = None, stats: Optional[str] = None, profile: Optional[str] = None,
            log=None, record: Union[str, Path, None] = None, view: Union[bool, str, None] = None) -> RunResult:
        """Run the graph once. Returns a :class:`RunResult` (``.stats``, ``.results``, ``.summary``);
        raises GraphError (bad graph) or NodeError (a node failed: node and frame in the message).
        The keywords are those of :class:`~graphrun.runtime.options.RunOptions` (``run_with`` takes one);
        ``record``: write a Rerun recording (.rrd) of the nodes' taps; ``view``: stream them to a live
        Rerun viewer (True/``auto``, ``native`` or ``web``; the `view` extra)."""
        options = RunOptions(set=tuple(set or ()), mode=mode, device=device, executor=executor, out=out,
                             trace=trace, stats=stats, profile=profile, progress=progress, log=log)
        with observing(record and str(record), view, log=log or _quiet) as (observer, _):
            return self.run_with(options.but(observer=observer))

    def run_with(self, options: RunOptions) -> RunResult:
        """Run the graph once with ``options`` (its ``log`` defaults to warnings and errors only)."""
        options = options if options.log is not None else options.but(log=_quiet)
        with Run(self._built(options), options) as run:
            try:
                run.execute()
            finally:
                self.last_result = RunResult(run.stats or run.session.summary(), run.graph, options.out)
        self.last_result = run.result()
        return self.last_result

    def _built(self, options: RunOptions, extend=None) -> BuiltGraph:
        spec = self.spec.copy()
        if options.set:
            spec_mod.apply_overrides(spec, list(options.set))
        return build_spec(spec, options.mode, options.device, options.executor, extend)

    def iterate(self, outputs: Union[str, list], inputs: Optional[dict] = None, *, out: Union[str, Path, None] = None,
                mode: Optional[str] = None, device: Optional[str] = None, executor: Optional[str] = None,
                set: Optional[list] = None, fps: float = 30.0, buffer: int = 8, log=None,
                record: Union[str, Path, None] = None, view: Union[bool, str, None] = None) -> Iterator[dict]:
        """Run the graph and yield one dict per frame: ``{"index": i, name: value, ...}``.

        Args:
            outputs: what to collect: ``node.port`` (``ghost.mask``, ``stab.mask`` through a
                subgraph) or a declared graph output name. A value is None where the node
                produced nothing for that frame.
            inputs: values to feed from Python, by declared graph input name, by ``node.port``
                (an input port), or by the name of a source node it replaces (its frames then
                come from the iterable: a value for a one-output source, else a dict by port).
                numpy images become VideoFrames, numpy maps tensors, as the ports expect.
            fps: frame rate of the fed frames (their pts, realtime pacing).
            buffer: frames held before the graph waits for the consumer.
            record, view: as for :meth:`run` (a Rerun recording, a live viewer).

        Stopping early (``break``) stops the sources, drains the graph and closes every node;
        the run's stats are then in ``self.last_result``.
        """
        options = RunOptions(set=tuple(set or ()), mode=mode, device=device, executor=executor, out=out,
                             log=log or _quiet)
        with observing(record and str(record), view, log=log or _quiet) as (observer, _):
            yield from self.iterate_with(outputs, inputs, options.but(observer=observer), fps=fps, buffer=buffer)

    def iterate_with(self, outputs: Union[str, list], inputs: Optional[dict], options: RunOptions, *,
                     fps: float = 30.0, buffer: int = 8) -> Iterator[dict]:
        """:meth:`iterate` with the run's options as one value (its ``log`` defaults to warnings and errors only)."""
        options = options if options.log is not None else options.but(log=_quiet)
        names = [outputs] if isinstance(outputs, str) else list(outputs)
        items: queue.Queue = queue.Queue(maxsize=max(1, buffer))
        closed = threading.Event()

        def deliver(item) -> None:
            while not closed.is_set():
                try:
                    items.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        def extend(flat: GraphSpec) -> None:
            taps = [_resolve_output(flat, n) for n in names]
            _add_feeds(flat, dict(inputs or {}), fps)
            flat.nodes["_iterate"] = NodeSpec("_iterate", "_iterate", cls=_tap_class(names, deliver),
                                              where="Graph.iterate")
            for i, (node, port) in enumerate(taps):
                flat.edges.append(EdgeSpec(node, port, "_iterate", f"o{i}", where="Graph.iterate"))

        run = Run(self._built(options, extend), options)
        session = run.session
        done, outcome = object(), {}

        def target():
            try:
                run.execute()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
                outcome["error"] = exc
            finally:
                deliver(done)

        try:
            with run:
                thread = threading.Thread(target=target, name="graphrun:iterate", daemon=True)
                thread.start()
                try:
                    while True:
                        item = items.get()
                        if item is done:
                            break
                        yield item
                finally:
                    closed.set()
                    session.draining.set()          # stopped early: sources end, the graph drains
                    thread.join(5.0)
                    if thread.is_alive():
                        session.fail("<iterate>", -1, GraphError("the iteration was closed"))
                        thread.join(2.0)
        finally:
            self.last_result = RunResult(run.stats or session.summary(), run.graph, options.out)
        if "error" in outcome:
            raise outcome["error"]
        if session.errors:
            raise session.errors[0]


def load(ref: Union[str, Path], set: Optional[list] = None) -> Graph:
    """A graph from a YAML file or the name of a shipped graph (``"stabilize"``, ``"davis"``),
    with ``--set`` overrides (``["stab.fuse.beta_fill=0.7", "vars.seq=kite-surf"]``)."""
    return Graph.from_spec(prepare(read_spec(ref), set))


def _quiet(msg: str) -> None:
    """Default log of the Python API: warnings and errors only (nodes' info lines are dropped)."""
    if "warning" in msg or "error" in msg:
        import sys
        print(msg, file=sys.stderr)


def _port_ref(p: Port) -> PortRef:
    if isinstance(p, PortRef):
        return p
    if isinstance(p, str) and "." in p:
        node, _, port = p.rpartition(".")
        return PortRef(node, port)
    raise GraphError(f"{p!r} is not a port: use a node handle's attribute (src.frame) or 'node.port'")


def _resolve_output(flat: GraphSpec, name: str) -> tuple:
    return resolve_port(flat, name, "output", "iterate")


def _resolve_input(flat: GraphSpec, name: str) -> list:
    return resolve_port(flat, name, "input", "iterate")


def _add_feeds(flat: GraphSpec, inputs: dict, fps: float) -> None:
    """A Python source per fed input: it replaces a source node, or drives the ports it names."""
    for name, values in inputs.items():
        if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
            raise GraphError(f"Graph.iterate(inputs={{{name!r}: ...}}): give an iterable of items (a list, a "
                             f"generator, an NxHxWx3 array), not {type(values).__name__}")
        ns = flat.nodes.get(name)
        feed = f"_feed_{len([n for n in flat.nodes if n.startswith('_feed_')])}"
        where = f"Graph.iterate(inputs={name!r})"
        if ns is not None and issubclass(ns.cls or registry.get(ns.kind), Source):
            cls = ns.cls or registry.get(ns.kind)
            first, values = _peek(values)
            given = [p for p in first if p in cls.outputs] if isinstance(first, dict) else [next(iter(cls.outputs))]
            ports = {p: cls.outputs[p].type for p in given}
            kept = []
            for e in flat.edges:
                if e.src != name:
                    kept.append(e)
                elif e.src_port in ports:
                    kept.append(replace(e, src=feed))
                elif not _input_port(flat, e.dst, e.dst_port).optional:
                    raise GraphError(f"{where}: {e.dst}.{e.dst_port} needs '{name}.{e.src_port}', which the fed "
                                     f"items do not give (give dicts with the ports: {', '.join(cls.outputs)})")
            flat.edges = kept
            del flat.nodes[name]
            single = not isinstance(first, dict)
        else:
            targets = _resolve_input(flat, name)
            ports = {"value": _input_port(flat, *targets[0]).type}
            for node, port in targets:
                flat.edges = [e for e in flat.edges if not (e.dst == node and e.dst_port == port)]
                flat.edges.append(EdgeSpec(feed, "value", node, port, where=where))
            single = True
        flat.nodes[feed] = NodeSpec(feed, "_feed", cls=_feed_class(name, values, ports, single, fps), where=where)


def _peek(values: Iterable) -> tuple:
    """The first item of an iterable, and the iterable with it still in front."""
    if isinstance(values, (list, tuple)):
        return (values[0] if values else None), values
    it = iter(values)
    first = next(it, None)
    return first, itertools.chain([] if first is None else [first], it)


def _input_port(flat: GraphSpec, node: str, port: str) -> Input:
    ns = flat.nodes[node]
    return (ns.cls or registry.get(ns.kind)).inputs[port]


def _feed_class(name: str, values: Iterable, ports: dict, single: bool, fps: float) -> type[Source]:
    """A Source yielding ``values`` on ``ports`` (port -> type), converted to what the ports carry."""
    from ..convert import as_port_value

    def generate(self, ctx):
        for index, item in enumerate(values):
            if single:
                item = {next(iter(ports)): item}
            pts = index / fps
            yield Emit({p: as_port_value(v, ports[p], index, pts) for p, v in item.items()}, pts=pts)

    attrs = {f"out_{p}": Output(t, name=p) for p, t in ports.items()}
    attrs.update(generate=generate, fps=lambda self: fps,
                 length=lambda self: len(values) if hasattr(values, "__len__") else None,
                 __doc__=f"Frames fed from Python for '{name}'.")
    return type("Feed", (Source,), attrs)


def _tap_class(names: list, deliver) -> type[Node]:
    attrs = {f"in_{i}": Input(ANY, optional=True, name=f"o{i}") for i in range(len(names))}

    def process(self, ctx, **values):
        item = {"index": ctx.index}
        for i, name in enumerate(names):
            item[name] = values[f"o{i}"]
        deliver(item)

    attrs.update(process=process, __doc__="Hands each frame's collected outputs to Graph.iterate.")
    return type("IterateTap", (Node,), attrs)

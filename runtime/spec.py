"""The YAML graph file: parsed with ``yaml.safe_load`` semantics, validated, with line numbers in errors.

A graph file::

    name: demo
    mode: offline            # offline | realtime
    device: auto             # auto | cpu | cuda | cuda:N
    plugins: [my_pkg.nodes, ./extra_nodes.py]
    executor: fused          # fused | per_node | inline
    realtime: {max_in_flight: 1, deadline_ms: null, speed: 1.0}
    queue: {capacity: 8}     # default per-edge queue
    resources: {cpus: 1, gpus: 0}   # what one run reserves (graphrun batch --executor ray)
    nodes:
      src: {kind: synthetic_scene, params: {frames: 60}}
      seg: {kind: bg_subtract, workers: 1, on_error: stop, device: cpu}
      stab: {kind: stabilizer, params: {fuse: {beta_fill: 0.9}}}   # a subgraph
    edges:
      - src.frame -> seg.frame
      - {from: ema.prob, to: warp.prev, back: true}
      - {from: a.x, to: b.y, capacity: 4, policy: drop_oldest}     # a queue: a thread boundary
      - {from: seg.prob, to: stab.current, queue: true}
    inputs: {current: [fuse.current, ghost.raw]}   # ghost ports (subgraphs, graphs fed from Python)
    outputs: {mask: ghost.mask}
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .errors import GraphError
from .registry import suggest

MODES = ("offline", "realtime")
EXECUTORS = ("fused", "per_node", "inline")
POLICIES = ("block", "drop_oldest", "drop_newest")
ON_ERROR = ("stop", "skip")
GRAPH_KEYS = ("name", "mode", "device", "executor", "plugins", "vars", "threads", "nodes", "edges", "realtime",
              "queue", "description", "inputs", "outputs", "resources", "headline", "when")
THREAD_KEYS = ("torch", "opencv")
NODE_KEYS = ("kind", "params", "device", "workers", "on_error", "enabled", "thread")
EDGE_KEYS = ("from", "to", "back", "capacity", "policy", "queue")
REALTIME_KEYS = ("max_in_flight", "deadline_ms", "speed")
RESOURCE_KEYS = ("cpus", "gpus")
HEADLINE_KEYS = ("rank", "baseline", "objective", "show", "beside")
RESERVED_NODE_NAMES = ("vars", "realtime", "resources")


@dataclass
class NodeSpec:
    """One node of a graph file. ``kind`` names a registered node or a subgraph (a registered
    name or a ``.yaml`` path); ``cls`` is a Node class given directly from Python instead."""

    name: str
    kind: str
    params: dict = field(default_factory=dict)
    device: Optional[str] = None
    workers: int = 1
    on_error: str = "stop"
    enabled: bool = True
    kind_changed: bool = False   # by --set node.kind=...: edges from ports it lacks may be dropped
    where: str = ""
    cls: Optional[type] = None
    thread: Optional[str] = None     # nodes naming one thread share it (MediaPipe's executor field)


@dataclass
class EdgeSpec:
    src: str
    src_port: str
    dst: str
    dst_port: str
    back: bool = False
    capacity: Optional[int] = None
    policy: Optional[str] = None
    where: str = ""
    queue: bool = False          # an explicit queue: a thread boundary (also implied by capacity or policy)
    via: str = ""                # the subgraph ports this edge was wired through, for messages

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} -> {self.dst}.{self.dst_port}"

    @property
    def is_queue(self) -> bool:
        """The user asked for a queue here (GStreamer's ``queue``): the consumer runs on its own thread."""
        return self.queue or self.capacity is not None or self.policy is not None

    def label(self) -> str:
        """The edge as the user wrote it (through subgraph ports), for messages."""
        return self.via or str(self)


@dataclass
class GraphSpec:
    """A graph as written: settings, nodes, edges and ghost ports (``inputs``: name -> list of
    ``(node, port)`` it feeds; ``outputs``: name -> ``(node, port)``). ``groups`` is filled when
    subgraph nodes are expanded: node prefix -> what it was (for messages, ``dot`` and stats)."""

    name: str = "graph"
    mode: str = "offline"
    device: str = "auto"
    executor: str = "fused"
    description: str = ""
    plugins: list = field(default_factory=list)
    nodes: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    realtime: dict = field(default_factory=lambda: {"max_in_flight": 1, "deadline_ms": None, "speed": 1.0})
    capacity: int = 8
    queue_mb: float = 256.0                      # a queue is also full at this many MiB
    vars: dict = field(default_factory=dict)
    threads: dict = field(default_factory=dict)   # {"torch": N, "opencv": N} for the run
    resources: dict = field(default_factory=dict)  # {"cpus": N, "gpus": N} one run reserves (batch on Ray)
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    headline: dict = field(default_factory=dict)  # the figures runs are compared by (see read_headline)
    when: dict = field(default_factory=dict)      # variable -> --set items applied once it is not empty (read_when)
    when_applied: dict = field(default_factory=dict)   # variable -> the value its items were applied for
    when_before: dict = field(default_factory=dict)    # variable -> {node: its spec before the items}
    groups: dict = field(default_factory=dict)
    path: Optional[Path] = None
    set_keys: set = field(default_factory=set)    # graph-level keys the file set (a subgraph may set few)

    @property
    def base_dir(self) -> Optional[Path]:
        return self.path.parent if self.path else None

    def copy(self) -> "GraphSpec":
        """A deep copy (node classes given from Python are shared, not copied)."""
        memo = {id(ns.cls): ns.cls for ns in self.nodes.values() if ns.cls is not None}
        return copy.deepcopy(self, memo)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and remembers each mapping's line."""


def _construct_mapping(loader, node, deep=False):
    mapping = _Located()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise GraphError(f"{loader.name}:{key_node.start_mark.line + 1}: duplicate key '{key}'")
        mapping[key] = loader.construct_object(value_node, deep=deep)
        mapping.lines[key] = key_node.start_mark.line + 1
    return mapping


class _Located(dict):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.line = 0
        self.lines: dict = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(path: str | Path) -> GraphSpec:
    """Read and validate a graph file."""
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"graph file not found: {path}")
    text = path.read_text()
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise GraphError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    return from_dict(data, path=path)


def from_dict(data: Any, path: Optional[Path] = None, allow_empty: bool = False) -> GraphSpec:
    """Validate a graph given as a dict (the structure of the YAML file); ``allow_empty`` for a
    graph still being built in Python."""
    src = str(path) if path else "<graph>"

    def where(obj=None, key=None) -> str:
        line = 0
        if isinstance(obj, _Located):
            line = obj.lines.get(key, obj.line) if key is not None else obj.line
        return f"{src}:{line}" if line else src

    if not isinstance(data, dict):
        raise GraphError(f"{src}: a graph file must be a mapping with 'nodes' and 'edges'")
    for key in data:
        if key not in GRAPH_KEYS:
            raise GraphError(f"{where(data, key)}: unknown key '{key}'{suggest(str(key), GRAPH_KEYS)}")
    spec = GraphSpec(path=path, name=str(data.get("name") or (path.stem if path else "graph")))
    spec.set_keys = set(data)
    spec.mode = check_choice(data.get("mode", "offline"), MODES, f"{where(data, 'mode')}: mode")
    spec.device = str(data.get("device", "auto"))
    spec.executor = check_choice(data.get("executor", "fused"), EXECUTORS, f"{where(data, 'executor')}: executor")
    spec.description = str(data.get("description") or "")
    plugins = data.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise GraphError(f"{where(data, 'plugins')}: plugins must be a list of module names or .py paths")
    spec.plugins = plugins
    rt = data.get("realtime") or {}
    if not isinstance(rt, dict):
        raise GraphError(f"{where(data, 'realtime')}: realtime must be a mapping")
    for key in rt:
        if key not in REALTIME_KEYS:
            raise GraphError(f"{where(rt, key)}: unknown realtime option '{key}'{suggest(str(key), REALTIME_KEYS)}")
    spec.realtime.update(rt)
    check_realtime(spec.realtime, where(data, "realtime"))
    queue = data.get("queue") or {}
    if not isinstance(queue, dict) or set(queue) - {"capacity", "max_mb"}:
        raise GraphError(f"{where(data, 'queue')}: queue takes capacity (packets) and max_mb (MiB per queue)")
    spec.capacity = check_capacity(queue.get("capacity", 8), f"{where(data, 'queue')}: queue.capacity")
    max_mb = queue.get("max_mb", 256.0)
    if not isinstance(max_mb, (int, float)) or isinstance(max_mb, bool) or max_mb <= 0:
        raise GraphError(f"{where(data, 'queue')}: queue.max_mb must be a positive number, not {max_mb!r}")
    spec.queue_mb = float(max_mb)

    threads = data.get("threads") or {}
    if not isinstance(threads, dict):
        raise GraphError(f"{where(data, 'threads')}: threads must be a mapping like {{torch: 1, opencv: 1}}")
    for key, value in threads.items():
        spec.threads[key] = check_threads(key, value, where(threads, key))

    resources = data.get("resources") or {}
    if not isinstance(resources, dict):
        raise GraphError(f"{where(data, 'resources')}: resources must be a mapping like {{cpus: 1, gpus: 0}}")
    for key, value in resources.items():
        w = where(resources, key)
        if key not in RESOURCE_KEYS:
            raise GraphError(f"{w}: unknown resources key '{key}'{suggest(str(key), RESOURCE_KEYS)}")
        spec.resources[key] = check_resource(key, value, f"{w}: resources.{key}")

    spec.headline = read_headline(data.get("headline"), where(data, "headline"))

    variables = data.get("vars") or {}
    if not isinstance(variables, dict):
        raise GraphError(f"{where(data, 'vars')}: vars must be a mapping of name -> value")
    spec.vars = dict(variables)
    spec.when = read_when(data.get("when"), where(data, "when"), spec.vars)

    nodes = data.get("nodes")
    if allow_empty and nodes == {}:
        pass
    elif not isinstance(nodes, dict) or not nodes:
        raise GraphError(f"{where(data, 'nodes')}: 'nodes' must be a non-empty mapping of name -> {{kind, params}}")
    for name, body in nodes.items():
        w = where(nodes, name)
        if name in RESERVED_NODE_NAMES:
            raise GraphError(f"{w}: '{name}' is reserved for --set {name}.NAME=value")
        if not isinstance(name, str) or not name.isidentifier():
            raise GraphError(f"{w}: node name '{name}' must be an identifier (letters, digits, _)")
        if isinstance(body, str):
            body = {"kind": body}
        if not isinstance(body, dict) or "kind" not in body:
            raise GraphError(f"{w}: node '{name}' needs a 'kind'")
        for key in body:
            if key not in NODE_KEYS:
                raise GraphError(f"{where(body, key)}: node '{name}': unknown key '{key}'"
                                 f"{suggest(str(key), NODE_KEYS)}")
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise GraphError(f"{where(body, 'params')}: node '{name}': params must be a mapping")
        spec.nodes[name] = NodeSpec(
            name=name, kind=str(body["kind"]), params=dict(params),
            device=None if body.get("device") is None else str(body["device"]),
            workers=check_workers(body.get("workers", 1), f"{where(body, 'workers')}: node '{name}': workers"),
            on_error=check_choice(body.get("on_error", "stop"), ON_ERROR,
                                  f"{where(body, 'on_error')}: node '{name}': on_error"),
            enabled=_bool(body.get("enabled", True), f"{where(body, 'enabled')}: node '{name}': enabled"),
            thread=None if body.get("thread") is None else str(body["thread"]),
            where=w)

    edges = data.get("edges") or []
    if not isinstance(edges, list):
        raise GraphError(f"{where(data, 'edges')}: 'edges' must be a list")
    for i, item in enumerate(edges):
        w = where(item) if isinstance(item, _Located) else f"{where(data, 'edges')} (edge {i + 1})"
        spec.edges.append(_edge(item, w))
    spec.inputs, spec.outputs = _ghost_ports(data, where)
    return spec


def _ghost_ports(data: dict, where) -> tuple[dict, dict]:
    """``inputs: {name: node.port | [node.port, ...]}``, ``outputs: {name: node.port}``."""
    ins, outs = {}, {}
    for key, store in (("inputs", ins), ("outputs", outs)):
        ports = data.get(key) or {}
        if not isinstance(ports, dict):
            raise GraphError(f"{where(data, key)}: {key} must be a mapping of name -> node.port")
        for name, target in ports.items():
            w = where(ports, name)
            if not isinstance(name, str) or not name.isidentifier():
                raise GraphError(f"{w}: {key[:-1]} name '{name}' must be an identifier")
            if key == "inputs":
                targets = target if isinstance(target, list) else [target]
                if not targets:
                    raise GraphError(f"{w}: input '{name}' must name at least one node.port")
                store[name] = [_endpoint(t, w) for t in targets]
            else:
                store[name] = _endpoint(target, w)
    return ins, outs


def _edge(item: Any, w: str) -> EdgeSpec:
    if isinstance(item, str):
        if "->" not in item:
            raise GraphError(f"{w}: edge '{item}' must look like 'node.port -> node.port'")
        a, b = (s.strip() for s in item.split("->", 1))
        item = {"from": a, "to": b}
    if not isinstance(item, dict) or "from" not in item or "to" not in item:
        raise GraphError(f"{w}: an edge needs 'from: node.port' and 'to: node.port'")
    for key in item:
        if key not in EDGE_KEYS:
            raise GraphError(f"{w}: edge: unknown key '{key}'{suggest(str(key), EDGE_KEYS)}")
    src, sp = _endpoint(item["from"], w)
    dst, dp = _endpoint(item["to"], w)
    policy = item.get("policy")
    if policy is not None:
        policy = check_choice(policy, POLICIES, f"{w}: edge policy")
    cap = item.get("capacity")
    if cap is not None:
        cap = check_capacity(cap, f"{w}: edge capacity")
    back = _bool(item.get("back", False), f"{w}: edge back")
    queue = _bool(item.get("queue", False), f"{w}: edge queue")
    return EdgeSpec(src, sp, dst, dp, back, cap, policy, w, queue=queue)


def _endpoint(text: Any, w: str) -> tuple[str, str]:
    if not isinstance(text, str) or text.count(".") != 1:
        raise GraphError(f"{w}: edge endpoint '{text}' must be 'node.port'")
    node, port = text.split(".")
    return node.strip(), port.strip()


def check_choice(value: Any, choices, what: str) -> str:
    if value not in choices:
        raise GraphError(f"{what} must be one of {', '.join(choices)}, not '{value}'{suggest(str(value), choices)}")
    return value


def check_realtime(rt: dict, where: str) -> None:
    """max_in_flight: positive int; deadline_ms: null or > 0; speed: > 0."""
    _positive_int(rt.get("max_in_flight"), f"{where}: realtime.max_in_flight")
    for key, allow_none in (("deadline_ms", True), ("speed", False)):
        v = rt.get(key)
        if v is None and allow_none:
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise GraphError(f"{where}: realtime.{key} must be a positive number{' or null' if allow_none else ''}, "
                             f"not {v!r}")


def check_resource(key: str, value: Any, what: str) -> float:
    """``cpus``: a number > 0 (fractions allowed, as Ray allows them); ``gpus``: a number >= 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = number and (value > 0 if key == "cpus" else value >= 0)
    if not ok:
        raise GraphError(f"{what} must be a number {'> 0' if key == 'cpus' else '>= 0'}, not {value!r}")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise GraphError(f"{what} must be true or false, not {value!r}")
    return value


def check_capacity(value: Any, what: str) -> int:
    """A queue's capacity, the one check of every front-end (YAML, launch, ``Graph.connect``):
    a positive integer of packets (0 or less would never let a packet through)."""
    return _positive_int(value, what)


def check_threads(key: Any, value: Any, where: str) -> int:
    """One ``threads:`` entry (the file's or ``--set threads.KEY=``): a known library, a positive count."""
    if key not in THREAD_KEYS:
        raise GraphError(f"{where}: unknown threads key '{key}'{suggest(str(key), THREAD_KEYS)}")
    return _positive_int(value, f"{where}: threads.{key}")


def check_workers(value: Any, what: str) -> int:
    """A node's ``workers``: a positive integer of threads (0 would leave the node unrun)."""
    return _positive_int(value, what)


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GraphError(f"{what} must be a positive integer, not {value!r}")
    return value


def apply_overrides(spec: GraphSpec, overrides: list[str]) -> None:
    """Apply ``node.param=value`` overrides (value parsed as YAML: 0.7, true, [1,2], text).

    ``vars.NAME=`` sets a graph variable, ``realtime.max_in_flight=`` (or ``deadline_ms``, ``speed``) a
    realtime option, ``threads.torch=`` (or ``opencv``) the library threads of a run,
    ``resources.cpus=`` (or ``gpus``) what one run reserves (``graphrun batch`` on Ray).
    ``node.kind``, ``node.device``, ``node.workers``, ``node.on_error`` and ``node.enabled`` set the
    node's own fields (``--set report.enabled=false`` removes a node and its edges). A node whose
    kind is changed starts from that kind's defaults: ``--set source.kind=video_file source.path=a.mp4``.
    ``stab.fuse.beta_fill=0.7`` reaches inside the subgraph node ``stab``. The graph's ``when:``
    items of a variable that is (now) not empty come first (:func:`read_when`).
    """
    overrides = list(overrides or [])
    overrides = _when_items(spec, overrides) + overrides     # the graph's own when: first, the user's win
    declared = set(spec.vars)
    # a new kind starts from its own defaults: apply kind changes first, dropping the file's params
    kinds = [o for o in overrides if "=" in o and o.split("=", 1)[0].endswith(".kind")]
    for text in kinds + [o for o in overrides if o not in kinds]:
        if "=" not in text or "." not in text.split("=", 1)[0]:
            raise GraphError(f"--set '{text}' must look like node.param=value")
        key, raw = text.split("=", 1)
        if key.startswith("vars."):
            value = raw                    # variables are text, substituted into parameters
        else:
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
        set_value(spec, key, value, f"--set {key}")
    for key in (o.split("=", 1)[0] for o in overrides):
        if key.startswith("vars."):
            check_variable_used(spec, key[len("vars."):], declared, f"--set {key}")


def check_variable_used(spec: GraphSpec, name: str, declared, origin: str) -> None:
    """A variable set from outside must be one the graph declares or reads (``${name}``): a typo
    (``vars.inptu``) would otherwise run the default input without a word."""
    used = set(declared) | variables_read(spec)
    if name not in used:
        known = sorted(used - {"graph_dir"})
        raise GraphError(f"{origin}: graph '{spec.name}' has no variable '{name}'{suggest(name, known)}"
                         f" (its variables: {', '.join(known) or 'none'})")


def variables_read(spec: GraphSpec) -> set:
    """The names of the ``${name}`` a graph's parameters and variables read."""
    found: set = set()

    def scan(value):
        if isinstance(value, str):
            found.update(_VAR.findall(value))
        elif isinstance(value, (list, tuple)):
            for v in value:
                scan(v)
        elif isinstance(value, dict):
            for v in value.values():
                scan(v)

    scan(list(spec.vars.values()))
    for ns in spec.nodes.values():
        scan(ns.params)
    return found




def set_value(spec: GraphSpec, key: str, value: Any, origin: str) -> None:
    """Set one ``node.param`` (or ``vars.x``, ``realtime.x``, ``threads.x``, ``resources.x``, ``node.field``,
    ``sub.inner.param``)."""
    node, _, param = key.partition(".")
    if not param:
        raise GraphError(f"{origin}: '{key}' must look like node.param")
    if node == "vars":
        spec.vars[param] = value
        return
    if node == "realtime":
        if param not in REALTIME_KEYS:
            raise GraphError(f"{origin}: unknown realtime option '{param}'{suggest(param, REALTIME_KEYS)}")
        spec.realtime[param] = value
        check_realtime(spec.realtime, origin)
        return
    if node == "threads":
        spec.threads[param] = check_threads(param, value, origin)
        return
    if node == "resources":
        if param not in RESOURCE_KEYS:
            raise GraphError(f"{origin}: unknown resources key '{param}'{suggest(param, RESOURCE_KEYS)}")
        spec.resources[param] = check_resource(param, value, origin)
        return
    if node not in spec.nodes:
        hint = _inner_hint(spec, node) or suggest(node, spec.nodes)
        raise GraphError(f"{origin}: no node '{node}' in the graph{hint}")
    ns = spec.nodes[node]
    if param == "kind":
        if str(value) != ns.kind:
            ns.kind, ns.params, ns.kind_changed, ns.cls = str(value), {}, True, None
    elif param == "device":
        ns.device = str(value)
    elif param == "workers":
        ns.workers = check_workers(value, origin)
    elif param == "enabled":
        ns.enabled = _bool(value, origin)
    elif param == "on_error":
        ns.on_error = check_choice(value, ON_ERROR, origin)
    elif param == "thread":
        ns.thread = None if value in (None, "") else str(value)
    elif "." in param:                 # inside a subgraph: kept as {inner: {rest: value}} until expanded
        inner, _, rest = param.partition(".")
        nested = ns.params.setdefault(inner, {})
        if not isinstance(nested, dict):
            raise GraphError(f"{origin}: node '{node}' ({ns.kind}) has a parameter '{inner}', not a node of a subgraph")
        nested[rest] = value
    else:
        ns.params[param] = value


def _inner_hint(spec: GraphSpec, name: str) -> str:
    """' (did you mean 'out.overlay'?)' when ``name`` is a node inside one of the graph's subgraphs."""
    from .registry import find_subgraph

    for outer, ns in spec.nodes.items():
        try:
            source = find_subgraph(ns.kind, spec.base_dir) if ns.cls is None else None
            inner = load(source).nodes if isinstance(source, Path) else {}
        except GraphError:
            continue
        if name in inner:
            return f" (did you mean '{outer}.{name}', inside the subgraph '{outer}'?)"
    return ""


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variable_values(spec: GraphSpec) -> dict:
    """The graph's variables with ``${...}`` inside them filled (``graph_dir`` included)."""
    values = {"graph_dir": str(spec.base_dir.resolve()) if spec.base_dir else "."}
    for k, v in spec.vars.items():   # a variable may use the ones before it: root: ${graph_dir}/data
        values[k] = _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), str(v))
    return values


def substitute_vars(spec: GraphSpec) -> None:
    """Replace ``${name}`` in string parameters by graph variables (``vars:``, ``--set vars.x=``).

    Built-in: ``${graph_dir}``, the folder of the graph file, so paths can be relative to it.
    """
    values = variable_values(spec)

    def filled(node, param):
        def repl(m):
            if m.group(1) not in values:
                raise GraphError(f"{spec.nodes[node].where}: node '{node}': parameter '{param}' uses "
                                 f"${{{m.group(1)}}}, which is not a graph variable{suggest(m.group(1), values)}")
            return values[m.group(1)]
        return lambda text: _VAR.sub(repl, text)

    for name, ns in spec.nodes.items():
        ns.params = {k: map_strings(v, filled(name, k)) for k, v in ns.params.items()}


def map_strings(value, fn):
    """``value`` with ``fn`` applied to every string in it, inside nested dicts and lists (other
    values as they are)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value


def read_headline(data, where: str) -> dict:
    """A graph's ``headline:``: the published results its runs are compared by, each a dotted path
    into what nodes publish (``metrics.stabilized.warp_iou`` is ``results["metrics"]["stabilized"]
    ["warp_iou"]``). ``rank``: higher is better (batch ranks inputs by it, the lowest first);
    ``baseline``: the same figure without the graph's work (batch plots both and the gain);
    ``objective``: what ``graphrun tune`` maximizes (default: ``rank``); ``show``: the figures the
    batch index shows first, in order; ``beside``: the figures that say whether a gain can be
    trusted, shown beside every gain (the stabilizer's fidelity to its segmenter)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GraphError(f"{where}: headline must be a mapping like {{rank: node_result.figure, baseline: ...}}")
    out = {}
    for key, value in data.items():
        if key not in HEADLINE_KEYS:
            raise GraphError(f"{where}: unknown headline key '{key}'{suggest(str(key), HEADLINE_KEYS)}")
        if key in ("show", "beside"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise GraphError(f"{where}: headline.{key} must be a list of published result paths")
            out[key] = list(value)
        elif not isinstance(value, str) or not value:
            raise GraphError(f"{where}: headline.{key} must be a published result path (result.key...), "
                             f"not {value!r}")
        else:
            out[key] = value
    return out


def read_when(data, where: str, variables: dict) -> dict:
    """A graph's ``when:``: per graph variable, ``--set`` items applied once the variable is not
    empty, before the user's own (which win)::

        vars: {input: ""}                  # empty: the synthetic scene
        when:
          input: [source.kind=video_file, "source.path=${input}"]

    so ``--set vars.input=my.mp4`` (or ``graphrun batch GRAPH FOLDER``) swaps the source."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GraphError(f"{where}: when must be a mapping of variable -> [node.param=value, ...]")
    out = {}
    for var, items in data.items():
        if var not in variables:
            raise GraphError(f"{where}: when.{var}: '{var}' is not a graph variable (declare it under vars:)"
                             f"{suggest(str(var), variables)}")
        if not isinstance(items, list) or not all(isinstance(i, str) and "=" in i and "." in i.split("=", 1)[0]
                                                  for i in items):
            raise GraphError(f"{where}: when.{var} must be a list of --set items like source.kind=video_file")
        out[var] = list(items)
    return out


def _when_items(spec: GraphSpec, overrides: list) -> list:
    """The ``when:`` items due with these overrides: those of each variable that is not empty
    and whose items were not applied for its value yet."""
    given = dict(o.split("=", 1) for o in overrides if "=" in o and o.startswith("vars."))
    due = []
    for var, items in spec.when.items():
        value = str(given.get(f"vars.{var}", spec.vars.get(var)) or "")
        if value and spec.when_applied.get(var) != value:
            if var not in spec.when_before:         # the nodes as the file has them, to go back to
                touched = {i.split("=", 1)[0].split(".", 1)[0] for i in items}
                spec.when_before[var] = {n: copy.deepcopy(spec.nodes[n]) for n in touched if n in spec.nodes}
            spec.when_applied[var] = value
            due += items
        elif not value and var in spec.when_applied:  # set back to empty: the file's nodes again
            spec.nodes.update(copy.deepcopy(spec.when_before[var]))
            del spec.when_applied[var]
    return due


def plain(value):
    """A deep copy made of plain dicts, lists and scalars (what ``yaml.safe_dump`` writes): the
    loader's mappings remember their lines, a dict subclass the dumper refuses."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return copy.deepcopy(value)


def to_dict(spec: GraphSpec) -> dict:
    """The graph as the structure of its YAML file (defaults left out): ``from_dict`` reads it back."""
    out: dict = {"name": spec.name}
    if spec.description:
        out["description"] = spec.description
    defaults = GraphSpec()
    for key in ("mode", "device", "executor"):
        if getattr(spec, key) != getattr(defaults, key):
            out[key] = getattr(spec, key)
    for key in ("plugins", "vars", "threads", "resources", "headline", "when"):
        if getattr(spec, key):
            out[key] = plain(getattr(spec, key))
    if spec.realtime != defaults.realtime:
        out["realtime"] = dict(spec.realtime)
    queue = {k: v for k, v, d in (("capacity", spec.capacity, defaults.capacity),
                                   ("max_mb", spec.queue_mb, defaults.queue_mb)) if v != d}
    if queue:
        out["queue"] = queue
    nodes = {}
    for name, ns in spec.nodes.items():
        if ns.cls is not None and not ns.cls.kind:
            raise GraphError(f"node '{name}' is a Python class ({ns.cls.__qualname__}) that is not registered: "
                             f"register it (@register(\"kind\")) to write the graph as YAML")
        body: dict = {"kind": ns.cls.kind if ns.cls is not None else ns.kind}
        if ns.params:
            body["params"] = plain(ns.params)
        for key, default in (("device", None), ("workers", 1), ("on_error", "stop"), ("enabled", True),
                             ("thread", None)):
            if getattr(ns, key) != default:
                body[key] = getattr(ns, key)
        nodes[name] = body
    out["nodes"] = nodes
    edges = []
    for e in spec.edges:
        extra = {k: getattr(e, k) for k, default in (("back", False), ("capacity", None), ("policy", None),
                                                      ("queue", False)) if getattr(e, k) != default}
        edges.append({"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}", **extra} if extra else str(e))
    out["edges"] = edges
    if spec.inputs:
        out["inputs"] = {k: [f"{n}.{p}" for n, p in v] if len(v) > 1 else f"{v[0][0]}.{v[0][1]}"
                         for k, v in spec.inputs.items()}
    if spec.outputs:
        out["outputs"] = {k: f"{n}.{p}" for k, (n, p) in spec.outputs.items()}
    return out

"""The node API: declared ports, validated parameters, and a per-packet ``process`` method.

A node is a class with ports as class attributes and a ``Params`` model::

    @register("ema")
    class EMA(Node):
        '''Exponential moving average of probability maps.'''
        prob = Input(ProbMap)
        smoothed = Output(ProbMap)

        class Params(NodeParams):
            alpha: float = Field(0.6, ge=0, le=1, description="weight of the current frame")

        def process(self, ctx, prob):
            ...
            return {"smoothed": out}

The runtime calls ``setup(ctx)`` once, ``process(ctx, **inputs)`` once per aligned set of input
packets (one frame index), ``finish(ctx)`` at a clean end of stream and ``close()`` always.
``process`` returns a dict from output-port name to value, or None to emit nothing for this
index (downstream then sees an empty packet, so multi-input nodes stay aligned).
Nodes never touch threads, queues, clocks or CUDA streams: the runtime owns those.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Optional

from pydantic import BaseModel, ConfigDict

from .types import ANY, PortType

TAP_KINDS = ("image", "segmentation", "scalars")   # how a viewer shows a tapped output (``Node.taps``)


class NodeParams(BaseModel):
    """Base of every node's parameter model: unknown fields are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, arbitrary_types_allowed=True)


class NoParams(NodeParams):
    """A node without parameters."""


@dataclass(frozen=True)
class Input:
    """An input port, declared as a class attribute. ``optional`` ports may stay unconnected (the
    node then receives None). The port is named after the attribute unless ``name`` is given,
    which lets an input and an output share a name (``mask_in = Input(MASK, name="mask")``)."""

    type: PortType = ANY
    optional: bool = False
    doc: str = ""
    name: str = ""

    def named(self, name: str) -> "Input":
        return Input(self.type, self.optional, self.doc, name)


@dataclass(frozen=True)
class Output:
    """An output port, declared as a class attribute (``name`` as for :class:`Input`)."""

    type: PortType = ANY
    doc: str = ""
    name: str = ""

    def named(self, name: str) -> "Output":
        return Output(self.type, self.doc, name)


@dataclass
class Emit:
    """What a source yields: output values by port name, with an optional pts in seconds."""

    outputs: dict
    pts: Optional[float] = None


@dataclass
class Context:
    """What a node may know about its run. The runtime updates ``index``, ``pts`` and ``skipped``
    before each ``process`` call.

    Attributes:
        name: the node's name in the graph.
        device: the torch.device the node runs on.
        mode: ``offline`` or ``realtime``.
        out_dir: the run's output directory (``--out``), or None.
        index: frame index of the packets being processed.
        pts: presentation time (seconds) of that frame.
        skipped: frames dropped upstream since this node's previous call (realtime), so stateful
            nodes can compensate.
        graph: graph-level settings (name, mode, device) as a dict.
        log: prints a line without breaking the progress bar.
        results: the run's published results, shared by all nodes (see ``publish``).
        ahead: for a node that declares look-ahead, the values of its inputs (those fed from
            outside its thread's loop) for the next frames, nearest first: a list of
            ``{port: value}``, ``window`` long except near the end of the stream.
        expected_frames: frames the source announced (None when unknown or several sources).
        interrupted: set before ``finish`` when the run was stopped early (Ctrl-C, an iteration
            closed early): what a sink writes then is partial and should say so.
        run_stats: set before ``finish``: the run's figures once every frame is processed (``frames``,
            ``seconds``, ``fps``, ``setup_s``, ``stream_fps`` (after setup), per node ``nodes[name]``
            {kind, mean_ms, total_s, ...}: the ``--stats`` summary without ``results``); empty outside
            a graph run.
    """

    name: str
    device: Any = "cpu"
    mode: str = "offline"
    out_dir: Optional[str] = None
    index: int = -1
    pts: float = 0.0
    skipped: int = 0
    graph: dict = field(default_factory=dict)
    log: Callable[[str], None] = print
    results: dict = field(default_factory=dict)
    expected_frames: Optional[int] = None
    interrupted: bool = False
    ahead: list = field(default_factory=list)
    run_stats: dict = field(default_factory=dict)

    def publish(self, key: str, value: Any) -> None:
        """Make a result of the run public (in the run's stats under ``results``; ``graphrun tune``
        maximizes ``results["objective"]`` unless told another key)."""
        self.results[key] = value


class Node:
    """Base class of all nodes. Subclasses declare ports and ``Params`` and implement ``process``.

    Class attributes:
        Params: the pydantic model of the node's parameters.
        stateless: True if ``process`` keeps no state between frames (the node may then run
            with ``workers: N``; outputs are re-ordered by frame index).
        devices: devices the node can run on; a node placed on a CUDA graph that lists only
            ``cpu`` runs on the CPU and the runtime moves tensors for it.
        lookahead: future frames the node needs to decide on a frame (a parameter named
            ``lookahead`` overrides it per node). The runtime then calls ``process`` for frame t
            once frames t+1..t+k have arrived, with their inputs in ``ctx.ahead``; everything after
            the node runs k frames later (realtime: a lag of k frames, in the latency figures).
        taps: what a viewer shows of the node (``--record``/``--view``): output port -> ``image``
            (a frame), ``segmentation`` (a mask or probability map, drawn over the frames) or
            ``scalars`` (a number, or a record whose numbers become time series). The runtime
            hands the values already on those ports to the recorder; nothing else is special-cased.
    """

    Params: ClassVar[type[NodeParams]] = NoParams
    stateless: ClassVar[bool] = False
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    lookahead: ClassVar[int] = 0
    inputs: ClassVar[dict[str, Input]] = {}
    outputs: ClassVar[dict[str, Output]] = {}
    kind: ClassVar[str] = ""
    taps: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        ins, outs = {}, {}
        for base in reversed(cls.__mro__):
            for attr, value in vars(base).items():
                if isinstance(value, Input):
                    port = value.name or attr
                    ins[port] = value.named(port)
                elif isinstance(value, Output):
                    port = value.name or attr
                    outs[port] = value.named(port)
        cls.inputs, cls.outputs = ins, outs
        for port, how in cls.taps.items():
            if port not in outs or how not in TAP_KINDS:
                raise TypeError(f"{cls.__name__}.taps: {port!r}: {how!r} needs an output port of the node "
                                f"and one of {', '.join(TAP_KINDS)}")

    def __init__(self, params: Optional[NodeParams] = None, **kwargs):
        self.params = params if params is not None else self.Params(**kwargs)

    # -- lifecycle, all optional but process --------------------------------------------------
    def setup(self, ctx: Context) -> None:
        """Called once before the first packet, on the node's worker thread."""

    def process(self, ctx: Context, **inputs) -> Optional[dict]:
        """Handle one aligned set of input packets; return {output_name: value} or None."""
        raise NotImplementedError(f"{type(self).__name__}.process")

    def flush(self, ctx: Context) -> Optional[dict]:
        """End of stream, before the end is passed on: return what the node still holds (e.g. a
        partial batch) as ``{output: value}``; it is emitted as one more packet, numbered after
        the last frame. Branches joined later cannot align with it."""
        return None

    def finish(self, ctx: Context) -> None:
        """Called once at a clean end of stream: sinks write their final files here."""

    def close(self) -> None:
        """Called always, after finish or after an error: release files and devices."""

    @classmethod
    def window(cls, params: NodeParams) -> int:
        """How many future frames this node (with these parameters) sees: see ``lookahead``."""
        return int(getattr(params, "lookahead", cls.lookahead) or 0)

    @classmethod
    def describe(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")


class Source(Node):
    """A node without inputs that produces a stream. Implement ``generate``.

    Class attributes:
        live: True for sources that only make sense paced by their own clock (a camera, a URL).
    """

    live: ClassVar[bool] = False

    def generate(self, ctx: Context) -> Iterator[dict | Emit]:
        """Yield one dict (or :class:`Emit` with a pts) per frame; return at end of stream."""
        raise NotImplementedError(f"{type(self).__name__}.generate")

    def fps(self) -> Optional[float]:
        """Nominal frame rate, used to pace realtime runs and to make pts when none is given."""
        return None

    def length(self) -> Optional[int]:
        """Number of frames if known (for the progress bar)."""
        return None


def function_node(fn: Callable, outputs: Optional[dict[str, PortType]] = None,
                  stateless: bool = True) -> type[Node]:
    """Make a Node class from a plain function.

    Arguments annotated with a :class:`PortType` become input ports; the others (with defaults)
    become parameters. The return annotation (a PortType) becomes the single output ``out``,
    unless ``outputs`` names several, in which case the function returns a dict.
    """
    from pydantic import create_model

    sig = inspect.signature(fn)
    ins: dict[str, Input] = {}
    fields: dict[str, Any] = {}
    for pname, p in sig.parameters.items():
        if isinstance(p.annotation, PortType):
            optional = p.default is None
            ins[pname] = Input(p.annotation, optional=optional)
        else:
            if p.default is inspect.Parameter.empty:
                raise TypeError(f"function node {fn.__name__}: parameter '{pname}' needs a PortType "
                                f"annotation (an input) or a default (a parameter)")
            ann = p.annotation if p.annotation is not inspect.Parameter.empty else type(p.default)
            fields[pname] = (ann, p.default)
    if outputs is None:
        ret = sig.return_annotation
        outputs = {"out": ret if isinstance(ret, PortType) else ANY}
        single = "out"
    else:
        single = None
    params_model = create_model(f"{fn.__name__}_Params", __base__=NodeParams, **fields)
    param_names = list(fields)

    def process(self, ctx, **inputs):
        kwargs = {k: getattr(self.params, k) for k in param_names}
        result = fn(**inputs, **kwargs)
        if single is not None:
            return {single: result}
        return result

    attrs = {"Params": params_model, "stateless": stateless, "process": process,
             "__doc__": fn.__doc__ or f"Function node {fn.__name__}.", "__module__": fn.__module__}
    for port, inp in ins.items():
        attrs[f"in_{port}"] = Input(inp.type, inp.optional, name=port)
    for port, t in outputs.items():
        attrs[f"out_{port}"] = Output(t, name=port)
    return type(fn.__name__, (Node,), attrs)

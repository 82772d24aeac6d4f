"""Test one node without a graph (gst-check's Harness): set it up, push inputs, read its outputs.

    with Harness("ema", alpha=0.5) as h:
        out = h.push(prob=torch.ones(4, 4))       # {"prob": tensor}
        h.skip(2)                                # two frames dropped upstream: ctx.skipped == 2 next
        out = h.push(prob=torch.zeros(4, 4))

    frames = Harness("synthetic_scene", frames=3).pull()   # a source: every output dict

The node runs through the same runner as in a graph: parameters are validated, outputs are
checked against the declared port types, and ``on_error``-free errors propagate as they are.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from . import registry
from .errors import GraphError
from .node import Context, Emit, Node, Source



class Harness:
    """One node, driven by hand.

    Args:
        kind: a registered kind or a Node class.
        out_dir: the run's output folder (``ctx.out_dir``).
        device: where the node runs (``ctx.device``).
        mode: ``offline`` or ``realtime`` (``ctx.mode``).
        **params: the node's parameters, validated like a graph's.

    Attributes:
        ctx: the node's Context; ``logs``: lines it logged; ``results``: what it published;
        ``index``: the frame index of the next push.
    """

    def __init__(self, kind: Union[str, type[Node]], *, out_dir: Optional[str] = None, device: str = "cpu",
                 mode: str = "offline", **params: Any):
        import torch

        cls = registry.get(kind) if isinstance(kind, str) else kind
        name = cls.kind or cls.__name__
        try:
            self.node = cls(cls.Params(**params))
        except Exception as exc:  # noqa: BLE001 - pydantic's message, on one line
            raise GraphError(f"node '{name}': bad parameters: {exc}") from None
        self.logs: list[str] = []
        self.results: dict = {}
        self.ctx = Context(name=name, device=torch.device(device), mode=mode, out_dir=out_dir,
                           graph={"name": "harness", "mode": mode, "device": device},
                           log=self.logs.append, results=self.results)
        self.index = 0
        self._skipped = 0
        self._set_up = False
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------
    def setup(self) -> "Harness":
        if not self._set_up:
            self._set_up = True
            self.node.setup(self.ctx)
        return self

    def __enter__(self) -> "Harness":
        return self.setup()

    def __exit__(self, *exc) -> None:
        self.close()

    def finish(self) -> None:
        """End of stream: the node's ``finish`` (sinks write their files)."""
        self.setup()
        self.node.finish(self.ctx)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.node.close()

    # -- frames -------------------------------------------------------------------------------
    def skip(self, n: int = 1) -> None:
        """Pretend ``n`` frames were dropped upstream: the next push sees ``ctx.skipped == n``."""
        self.index += n
        self._skipped += n

    def push(self, pts: Optional[float] = None, **inputs: Any) -> dict:
        """Process one frame. Every required input must be given; passing None for one is an
        empty packet (the runtime then does not call the node: the result is ``{}``)."""
        cls = type(self.node)
        unknown = set(inputs) - set(cls.inputs)
        if unknown:
            raise TypeError(f"{cls.kind}: no input {sorted(unknown)}; inputs: {', '.join(cls.inputs) or 'none'}")
        missing = [p for p, port in cls.inputs.items() if not port.optional and p not in inputs]
        if missing:
            raise TypeError(f"{cls.kind}: required input(s) {missing} not given")
        self.setup()
        self.ctx.index, self.ctx.skipped = self.index, self._skipped
        self.ctx.pts = float(self.index) if pts is None else pts
        self.index += 1
        self._skipped = 0
        if any(inputs.get(p) is None for p, port in cls.inputs.items() if not port.optional):
            return {}
        args = {p: inputs.get(p) for p in cls.inputs}
        return self._checked(self.node.process(self.ctx, **args))

    def flush(self) -> dict:
        """End of stream for a node that holds frames: what its ``flush`` emits."""
        self.setup()
        return self._checked(self.node.flush(self.ctx))

    def pull(self, limit: Optional[int] = None) -> list[dict]:
        """A source's frames (at most ``limit``), each a dict of outputs; ``pts`` per frame in
        ``self.pts``."""
        if not isinstance(self.node, Source):
            raise TypeError(f"{type(self.node).kind} is not a source: use push()")
        self.setup()
        frames, self.pts = [], []
        for item in self.node.generate(self.ctx):
            outputs, pts = (item.outputs, item.pts) if isinstance(item, Emit) else (item, None)
            frames.append(self._checked(outputs))
            self.pts.append(pts)
            self.ctx.index = self.index = self.index + 1
            if limit is not None and len(frames) >= limit:
                break
        return frames

    def _checked(self, outputs) -> dict:
        cls = type(self.node)
        if outputs is None:
            return {}
        if not isinstance(outputs, dict):
            raise TypeError(f"{cls.kind}: must return a dict of output ports or None, got {type(outputs).__name__}")
        for port, value in outputs.items():
            if port not in cls.outputs:
                raise TypeError(f"{cls.kind}: returned unknown output '{port}' (outputs: {', '.join(cls.outputs)})")
            if value is not None and not cls.outputs[port].type.accepts_value(value):
                raise TypeError(f"{cls.kind}: output '{port}' is declared {cls.outputs[port].type} but the node "
                                f"produced {type(value).__name__}")
        return {k: v for k, v in outputs.items() if v is not None}

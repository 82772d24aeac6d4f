"""Test one node without a graph (gst-check's Harness): set it up, push inputs, read its outputs.

    with Harness("ema", alpha=0.5) as h:
        out = h.push(prob=torch.ones(4, 4))       # {"prob": tensor}
        h.skip(2)                                # two frames dropped upstream: ctx.skipped == 2 next
        out = h.push(prob=torch.zeros(4, 4))

    frames = Harness("synthetic_scene", frames=3).pull()   # a source: every output dict

The node runs through the same NodeRunner as in a graph: parameters are validated, outputs are
checked against the declared port types, ``ctx.skipped`` and ``flush`` behave as in a run.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from . import registry
from .errors import GraphError
from .graph import BuiltNode
from .node import Node, Source
from .runner import NodeRunner, RunEnv
from .spec import NodeSpec
from .stats import NodeStats


class Harness:
    """One node, driven by hand.

    Args:
        kind: a registered kind or a Node class.
        out_dir: the run's output folder (``ctx.out_dir``).
        device: where the node runs (``ctx.device``).
        mode: ``offline`` or ``realtime`` (``ctx.mode``).
        **params: the node's parameters, validated like a graph's.

    Attributes:
        node, ctx: the node and its Context; ``logs``: lines it logged; ``results``: what it
        published; ``stats``: its NodeStats; ``index``: the frame index of the next push.
    """

    def __init__(self, kind: Union[str, type[Node]], *, out_dir: Optional[str] = None, device: str = "cpu",
                 mode: str = "offline", **params: Any):
        cls = registry.get(kind) if isinstance(kind, str) else kind
        name = cls.kind or cls.__name__
        try:
            validated = cls.Params(**params)
        except Exception as exc:  # noqa: BLE001 - pydantic's message, on one line
            raise GraphError(f"node '{name}': bad parameters: {exc}") from None
        self.logs: list[str] = []
        env = RunEnv(mode=mode, out_dir=out_dir, graph_info={"name": "harness", "mode": mode, "device": device},
                     log=self.logs.append)
        self.results = env.results
        self.stats = NodeStats(name)
        self.runner = NodeRunner(BuiltNode(NodeSpec(name, name), cls, validated, device), env, self.stats)
        self.node, self.ctx = self.runner.node, self.runner.ctx
        self.index = 0
        self.pts: list = []
        self._set_up = False
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------
    def setup(self) -> "Harness":
        if not self._set_up:
            self._set_up = True
            self.runner.setup()
        return self

    def __enter__(self) -> "Harness":
        return self.setup()

    def __exit__(self, *exc) -> None:
        self.close()

    def finish(self) -> None:
        """End of stream: the node's ``finish`` (sinks write their files)."""
        self.setup()
        self.runner.finish()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.runner.close()

    # -- frames -------------------------------------------------------------------------------
    def skip(self, n: int = 1) -> None:
        """Pretend ``n`` frames were dropped upstream: the next push sees ``ctx.skipped == n``."""
        self.index += n

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
        index, self.index = self.index, self.index + 1
        if any(inputs.get(p) is None for p, port in cls.inputs.items() if not port.optional):
            self.runner.skip(index)
            return {}
        out, _ = self.runner.step(index, float(index) if pts is None else pts, {p: inputs.get(p) for p in cls.inputs})
        return _present(out)

    def flush(self) -> dict:
        """End of stream for a node that holds frames: what its ``flush`` emits."""
        self.setup()
        return _present(self.runner.flush()[0])

    def pull(self, limit: Optional[int] = None) -> list[dict]:
        """A source's frames (at most ``limit``), each a dict of outputs; their pts in ``self.pts``."""
        if not isinstance(self.node, Source):
            raise TypeError(f"{type(self.node).kind} is not a source: use push()")
        self.setup()
        frames = []
        while limit is None or len(frames) < limit:
            try:
                outputs, pts = self.runner.pull()
            except StopIteration:
                break
            self.runner.check(outputs)
            frames.append(_present(outputs))
            self.pts.append(pts)
            self.ctx.index = self.index
            self.index += 1
        return frames


def _present(outputs: Optional[dict]) -> dict:
    return {k: v for k, v in (outputs or {}).items() if v is not None}

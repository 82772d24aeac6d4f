"""The ``passthrough`` node: forward the input unchanged."""
from __future__ import annotations

from graphrun.runtime import Input, Node, Output, register
from graphrun.runtime.types import ANY


@register("passthrough")
class Passthrough(Node):
    """Forward the input unchanged (a placeholder stage, or a tap point for a branch)."""

    x = Input(ANY, doc="anything")
    out = Output(ANY, doc="the same value")
    stateless = True
    devices = ("cpu", "cuda")

    def process(self, ctx, x):
        return {"out": x}

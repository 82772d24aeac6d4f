"""The ``flow_warp`` node: the previous frame's map moved into the current frame along the optical flow."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, PROB_MAP

from .ops import warp


@register("flow_warp")
class FlowWarp(Node):
    """Warp the previous frame's probability map into the current frame along the optical flow.

    ``prev`` usually comes through a back edge (the stabilized map of frame t-1) and is None at
    the first frame, or when its size differs from the flow's: ``warped`` is then None."""

    prev = Input(PROB_MAP, optional=True, doc="map of frame t-1 (back edge); None at the first frame")
    flow = Input(FLOW, doc="backward flow t -> t-1 (optical_flow.flow)")
    warped = Output(PROB_MAP, doc="prev moved to where its pixels are in frame t (None without prev)")
    stateless = True
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        padding: Literal["zeros", "border"] = Field(
            "zeros", description="what enters from outside the frame: zeros (object can leave) or border")

    def process(self, ctx, prev=None, flow=None):
        if prev is None or flow is None or tuple(prev.shape) != tuple(flow.shape[:2]):
            return {"warped": None}
        dev = ctx.device
        return {"warped": warp(prev.to(dev), flow.to(dev), self.params.padding).clamp_(0.0, 1.0)}

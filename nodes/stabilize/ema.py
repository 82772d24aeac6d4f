"""The ``ema`` node: an exponential moving average of probability maps."""
from __future__ import annotations

from typing import Optional

import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import PROB_MAP

from ..common.size import SizeWatch


@register("ema")
class EMA(Node):
    """Exponential moving average of probability maps (not motion-compensated).

    ``out = alpha * prob + (1 - alpha) * previous out``. Without motion compensation it lags
    behind moving objects: use it for static scenes, or after motion_fusion with alpha >= 0.7.
    Resets when the map size changes or after ``ctx.skipped`` > reset_after dropped frames."""

    prob_in = Input(PROB_MAP, doc="probability map", name="prob")
    prob_out = Output(PROB_MAP, doc="averaged probability map", name="prob")
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        alpha: float = Field(0.7, ge=0.0, le=1.0, description="weight of the current frame (1 = no smoothing)")
        reset_after: int = Field(10, ge=0, le=1000, description="restart after this many dropped frames")

    def setup(self, ctx):
        self._state: Optional[torch.Tensor] = None
        self._sizes = SizeWatch("average restarted")

    def process(self, ctx, prob):
        x = prob.to(ctx.device).float()
        s = self._state
        if self._sizes.changed(ctx, x.shape):
            s = None
        if s is None or s.shape != x.shape or ctx.skipped > self.params.reset_after:
            s = x
        else:
            # a frame dropped upstream counts as a step without observation: weight the new one more
            a = 1.0 - (1.0 - self.params.alpha) ** (1 + max(0, ctx.skipped))
            s = torch.lerp(s.to(x.device), x, a)
        self._state = s
        return {"prob": s}

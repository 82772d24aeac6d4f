"""The ``motion_fusion`` node: the segmenter's current map fused with the warped previous stabilized map."""
from __future__ import annotations

import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, PROB_MAP, SCALAR, TENSOR

from .ops import decisive_changes, fuse, fusion_weight


@register("motion_fusion")
class MotionFusion(Node):
    """Fuse the segmenter's current map with the warped previous stabilized map.

    ``fused = (1 - b) * current + b * warped`` with a per-pixel ``b`` that is ``beta_fill`` where
    the warped map fills a miss of the current one and ``beta_remove`` where it would erase a new
    detection, lowered where the flow is unreliable (forward/backward error), where motion is fast
    and where the current prediction is confident. With b < 0.5 a binary prediction wins at once;
    with b > 0.5 a change must persist ~2 frames (b = 0.7) before the binarized result follows.
    Where the segmenter changes its mind at once (``decisive_changes``): a region it drops that is
    larger than ``max_fill`` x what it still shows takes ``beta_remove`` instead of ``beta_fill``
    (the fusion fills misses, not a large false region just corrected), and a region it adds that
    is larger than ``max_fill`` x the previous object takes its current values (an object found
    again after near-empty frames is not held back)."""

    current = Input(PROB_MAP, doc="segmenter probability map of frame t")
    warped = Input(PROB_MAP, optional=True, doc="flow_warp.warped: previous stabilized map in frame t")
    fb_error = Input(TENSOR(dtype="float32", shape="H,W"), optional=True,
                     doc="optical_flow.fb_error: flow disagreement in pixels")
    flow = Input(FLOW, optional=True, doc="the flow (only used when motion_sigma > 0)")
    score = Input(SCALAR, optional=True, doc="the segmenter's confidence in this frame (0-1)")
    fused = Output(PROB_MAP, doc="fused probability map")
    stateless = True
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        beta_fill: float = Field(0.6, ge=0.0, le=1.0,
                                 description="weight of the warped map where it adds object (0.5-0.8)")
        beta_remove: float = Field(0.3, ge=0.0, le=1.0,
                                   description="weight of the warped map where it removes object (0.2-0.6)")
        fb_sigma: float = Field(2.0, gt=0.0, le=100.0,
                                description="px of forward/backward error that divide trust by e (0.3-4)")
        motion_sigma: float = Field(0.0, ge=0.0, le=1000.0,
                                    description="px of motion that divide trust by e; 0 = off (10-100)")
        conf_gamma: float = Field(0.0, ge=0.0, le=1.0,
                                  description="how much a confident current prediction (|2p-1|) cuts trust")
        max_fill: float = Field(1.0, ge=0.0, le=100.0,
                                description="a region dropped (added) that is larger than this x the current "
                                            "(previous) object is followed at once (0 = never)")
        miss_frac: float = Field(0.1, ge=0.0, le=1.0,
                                 description="... but a drop to below this fraction of the previous object is a "
                                             "miss, filled")
        score_ref: float = Field(0.6, ge=0.0, le=1.0,
                                 description="a frame whose score is below this counts less: the current "
                                             "map's weight is scaled by score/score_ref (0 = ignore score)")

    def process(self, ctx, current, warped=None, fb_error=None, flow=None, score=None):
        dev = ctx.device
        cur = current.to(dev).float()
        if warped is None or tuple(warped.shape) != tuple(cur.shape):
            return {"fused": cur}
        w = warped.to(dev)
        p = self.params
        beta = fusion_weight(cur, w, fb_error, flow, p.beta_fill, p.beta_remove, p.fb_sigma,
                             p.motion_sigma, p.conf_gamma)
        drops, additions = decisive_changes(cur, w, p.max_fill, p.miss_frac)
        if drops is not None:
            beta = torch.where(drops, torch.clamp(beta, max=p.beta_remove), beta)
        if additions is not None:
            beta = torch.where(additions, torch.zeros_like(beta), beta)
        if score is not None and p.score_ref > 0:
            trust = min(1.0, max(0.0, float(score)) / p.score_ref)
            beta = 1.0 - (1.0 - beta) * trust
        return {"fused": fuse(cur, w, beta)}

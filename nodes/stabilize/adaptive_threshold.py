"""The ``adaptive_threshold`` node: binarize a probability map, keeping the area near the expected one."""
from __future__ import annotations

from collections import deque

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import MASK, PROB_MAP, RECORD

from ..common.size import SizeWatch
from .ops import area, at_least, gaussian_blur, pick_threshold


@register("adaptive_threshold")
class AdaptiveThreshold(Node):
    """Binarize a probability map with a threshold that keeps the area near an expected area.

    The expected area is the median of ``target_window`` areas: the warped previous stabilized
    map's (``warped`` input, >= 0.5), which follows the object's motion, the segmenter's current
    map's (``current``, when connected) and the masks' of frames t-2, t-3, ...: one blown-up frame
    does not become the next frame's target (which would pull the threshold down and keep the stale
    region), one missed frame does not shrink it. Without ``warped``: the median area of the
    last ``window`` masks. The target holds only while the segmenter's current area is within
    ``follow_ratio`` of it: when the segmenter changes its mind at once (drops a large region,
    finds the object again after near-empty frames) the threshold is ``base``, so it neither
    drops to keep the old area nor rises to hold the regrowth back.
    The threshold is searched in [lo, hi] (steps of 0.05) to minimize the relative area error plus
    ``penalty`` x |threshold - base|. The map is blurred by ``smooth_sigma`` px first, which removes
    boundary jitter. ``info`` = {threshold, area, target_area}."""

    prob = Input(PROB_MAP, doc="fused probability map")
    warped = Input(PROB_MAP, optional=True, doc="flow_warp.warped, for the expected area")
    current = Input(PROB_MAP, optional=True, doc="the segmenter's map of frame t, for the expected area")
    mask = Output(MASK, doc="binary mask")
    info = Output(RECORD, doc="{threshold, area, target_area}")
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        base: float = Field(0.5, gt=0.0, lt=1.0, description="threshold without an area target")
        lo: float = Field(0.4, gt=0.0, lt=1.0, description="lowest threshold allowed (0.25-0.5)")
        hi: float = Field(0.6, gt=0.0, lt=1.0, description="highest threshold allowed (0.5-0.75)")
        penalty: float = Field(1.0, ge=0.0, le=10.0, description="cost per unit of distance from base")
        window: int = Field(5, ge=1, le=100, description="frames of area history when warped is absent")
        smooth_sigma: float = Field(1.5, ge=0.0, le=20.0, description="Gaussian blur (px) before (0-4)")
        follow_ratio: float = Field(2.0, ge=0.0, le=1000.0,
                                    description="the area target holds while the current map's area is within "
                                                "this ratio of it; beyond: base threshold (0 = always)")
        target_window: int = Field(3, ge=1, le=100, description="areas in the target's median: warped, current, "
                                                                 "masks of t-2, t-3, ... (1 = warped alone)")

    def setup(self, ctx):
        self._areas: deque = deque(maxlen=max(self.params.window, self.params.target_window))
        self._sizes = SizeWatch("area history reset")

    def process(self, ctx, prob, warped=None, current=None):
        p = self.params
        if self._sizes.changed(ctx, prob.shape):
            self._areas.clear()
        x = gaussian_blur(prob.to(ctx.device).float(), p.smooth_sigma)
        if warped is not None and tuple(warped.shape) == tuple(x.shape):
            has_current = current is not None and tuple(current.shape) == tuple(x.shape)
            a_cur = float(area(current)) if has_current else None
            areas = [float(area(warped))]
            if p.target_window > 1 and has_current:
                areas.append(a_cur)
            # the warped map stands for frame t-1: the history adds t-2, t-3, ... (not t-1 twice)
            history = list(self._areas)[:-1][::-1]
            areas += history[:max(0, p.target_window - len(areas))]
            target = float(np.median(areas))
            if p.follow_ratio > 0 and has_current:
                if a_cur * p.follow_ratio < target or a_cur > p.follow_ratio * max(target, 1.0):
                    target = None               # the segmenter changed its mind at once: follow it
        elif self._areas:
            target = float(np.median(self._areas))
        else:
            target = None
        th, _ = pick_threshold(x, target, p.base, min(p.lo, p.base), max(p.hi, p.base), 0.05, p.penalty)
        mask = at_least(x, th)
        n_px = area(mask)
        self._areas.append(n_px)
        return {"mask": mask, "info": {"threshold": round(th, 3), "area": n_px,
                                       "target_area": None if target is None else int(target)}}

"""The ``anti_ghost`` node: clear what the segmenter no longer sees, so no ghost lingers after an object left."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import MASK, PROB_MAP, RECORD, SCALAR

from ..common import to_numpy
from ..common.size import SizeWatch
from .ops import component_support


@register("anti_ghost")
class AntiGhost(Node):
    """Clear what the segmenter no longer sees: no ghost lingers after the object has gone.

    Evidence per connected component of the stabilized mask = mean of the segmenter's current
    ``raw`` map over it (times ``score`` when connected; ``score`` alone without ``raw``). A
    component with evidence < ``miss_level`` is on a miss streak; its feedback probability fades
    by ``fade`` per missed frame and it is removed once the streak exceeds ``max_miss`` frames.
    ``prob`` (to feed back into flow_warp.prev) is the fused map, faded/zeroed on those components
    and kept as is elsewhere (below threshold too), so evidence for a new region accumulates.
    ``info`` = {confidence: EWMA of the evidence, miss_streak: longest current streak}."""

    mask_in = Input(MASK, doc="stabilized binary mask", name="mask")
    prob_in = Input(PROB_MAP, doc="fused probability map (motion_fusion.fused)", name="prob")
    raw = Input(PROB_MAP, optional=True, doc="the segmenter's own map of frame t")
    score = Input(SCALAR, optional=True, doc="the segmenter's confidence that an object is present (0-1)")
    mask_out = Output(MASK, doc="mask without ghosts", name="mask")
    prob_out = Output(PROB_MAP, doc="stabilized probability map (feed it back through a back edge)", name="prob")
    info = Output(RECORD, doc="{confidence, miss_streak}")
    taps = {"mask": "segmentation"}  # what --record/--view show
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        miss_level: float = Field(0.2, ge=0.0, le=1.0, description="evidence below this is a miss (0.1-0.5)")
        max_miss: int = Field(1, ge=0, le=100, description="missed frames tolerated before clearing (0-5)")
        fade: float = Field(0.5, ge=0.0, le=1.0, description="feedback multiplier per missed frame")
        alpha: float = Field(0.5, gt=0.0, le=1.0, description="EWMA rate of the confidence")

    def setup(self, ctx):
        self._streak: Optional[np.ndarray] = None
        self._confidence = 1.0
        self._sizes = SizeWatch("miss streaks reset")

    def process(self, ctx, mask, prob, raw=None, score=None):
        p = self.params
        dev = ctx.device
        m = to_numpy(mask).astype(bool)
        if self._sizes.changed(ctx, m.shape):
            self._streak = None
        if raw is None and score is None:
            evidence_global = 1.0
            lab, support = None, None
        else:
            r = to_numpy(raw).astype(np.float32, copy=False) if raw is not None and tuple(raw.shape) == m.shape \
                else None
            s = float(np.clip(score, 0.0, 1.0)) if score is not None else 1.0
            if r is None:
                r = np.full(m.shape, s, np.float32)
            elif score is not None:
                r = r * s
            lab, support = component_support(m, r)
            n_px = np.count_nonzero(m)
            evidence_global = float((r * m).sum() / np.int64(n_px)) if n_px else s
        self._confidence += p.alpha * (evidence_global - self._confidence)
        streak, factor = None, None              # None: no component on a miss streak (all 0 / all 1)
        max_streak = 0
        missed = [] if lab is None or not m.any() else \
            [i for i in range(1, len(support)) if support[i] < p.miss_level]
        if missed:
            prev = self._streak if self._streak is not None and self._streak.shape == m.shape else None
            streak = np.zeros(m.shape, np.int32)
            factor = np.ones(m.shape, np.float32)
            keep = np.ones(len(support), bool)
            for i in missed:
                comp = lab == i
                k = (int(prev[comp].max()) if prev is not None else 0) + 1
                streak[comp] = k
                max_streak = max(max_streak, k)
                if k > p.max_miss:
                    keep[i] = False
                    factor[comp] = 0.0
                else:
                    factor[comp] = p.fade ** k
            keep[0] = False
            m = keep[lab]
        self._streak = streak
        out_mask = torch.from_numpy(m).to(dev)
        out_prob = prob.to(dev).float()
        out_prob = out_prob * torch.from_numpy(factor).to(dev) if factor is not None else out_prob.clone()
        return {"mask": out_mask, "prob": out_prob,
                "info": {"confidence": round(float(self._confidence), 4), "miss_streak": int(max_streak)}}

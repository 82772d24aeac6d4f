"""Guards of the stabilizer: reject implausible new regions (area_guard), clear ghosts (anti_ghost).

Pure helpers :func:`gate_components` and :func:`component_support` are exposed for tests.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, MASK, PROB_MAP, RECORD, SCALAR

from .metrics import to_numpy
from .stabilize import warp


def gate_components(mask: np.ndarray, prev: Optional[np.ndarray], counter: Optional[np.ndarray] = None,
                    near_frac: float = 0.2, near_px: float = 5.0, dominant_ratio: float = 1.0,
                    confirm_frames: int = 30) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keep the connected components of ``mask`` that continue the previous object.

    A component is kept when it lies within ``max(near_px, near_frac * bounding-box diagonal)``
    of a component of ``prev`` (the previous mask warped to this frame), when it is at least
    ``dominant_ratio`` times the area of all near components together (the object re-appears
    elsewhere, e.g. after an occluder), or when it has been seen (and rejected) for
    ``confirm_frames`` consecutive frames (``counter``: per-pixel count, warped from the previous
    frame). Without a previous object everything is kept.
    Returns (kept mask, new counter, info)."""
    import cv2

    mask = np.asarray(mask, bool)
    new_counter = np.zeros(mask.shape, np.float32)
    if prev is None or not prev.any() or not mask.any():
        return mask, new_counter, {"rejected_px": 0}
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    # distance to the nearest previous pixel, and which previous component that pixel belongs to
    dist, plab = cv2.distanceTransformWithLabels((~prev).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_CCOMP)
    # each previous component's reach: near_frac of its own bounding-box diagonal (at least near_px)
    np_, plabels, pstats, _ = cv2.connectedComponentsWithStats(prev.astype(np.uint8), connectivity=8)
    reach_of_comp = np.maximum(near_px, near_frac * np.hypot(pstats[:, cv2.CC_STAT_WIDTH],
                                                             pstats[:, cv2.CC_STAT_HEIGHT]))
    # distanceTransformWithLabels numbers the zero-pixel components in its own order: map them
    first = np.zeros(int(plab.max()) + 1, np.int64)
    first[plab[prev]] = plabels[prev]
    slack = (dist[mask] - reach_of_comp[first[plab[mask]]]).astype(np.float32)
    minslack = np.full(n, np.inf, np.float32)
    np.minimum.at(minslack, lab[mask], slack)
    areas = stats[:, cv2.CC_STAT_AREA]
    near = minslack <= 0
    near[0] = False
    keep = near.copy()
    near_area = int(areas[near].sum())
    for i in np.nonzero(~near)[0]:
        if i == 0:
            continue
        if areas[i] >= dominant_ratio * near_area:
            keep[i] = True
            continue
        comp = lab == i
        count = (counter[comp] if counter is not None else 0) + 1
        new_counter[comp] = count
        if np.max(count) >= confirm_frames:
            keep[i] = True
    kept = keep[lab]
    return kept, new_counter, {"rejected_px": int(np.count_nonzero(mask & ~kept))}


@register("area_guard")
class AreaGuard(Node):
    """Reject sudden, unconfirmed growth of the mask: distractor blobs and area jumps.

    Per connected component (see ``gate_components``): a region far from the previous object
    (this node's previous output, moved along the flow) is not trusted until seen for
    ``confirm_frames`` frames, unless it dominates (it is where the object went). Optionally
    (``jump_ratio`` > 0): when the kept area jumps by more than that ratio against the previous
    object's area, the previous object (warped) is shown instead, for at most ``confirm_frames``. ``info`` =
    {rejected_px, held}."""

    mask_in = Input(MASK, doc="binary mask of frame t", name="mask")
    flow = Input(FLOW, optional=True, doc="backward flow, to move the previous output and the counters to frame t")
    mask_out = Output(MASK, doc="guarded mask", name="mask")
    info = Output(RECORD, doc="{rejected_px, held}")

    class Params(NodeParams):
        near_frac: float = Field(0.2, ge=0.0, le=2.0,
                                 description="near = within this fraction of the bounding-box diagonal "
                                             "of the nearest previous part (0.05-0.3)")
        near_px: float = Field(5.0, ge=0.0, le=1000.0, description="near = at least within this many pixels")
        dominant_ratio: float = Field(1.0, ge=0.0, le=100.0,
                                      description="a far region this many times the near area is accepted (0.3-2)")
        confirm_frames: int = Field(30, ge=1, le=100000,
                                    description="frames a far region must persist to be accepted (5-60)")
        jump_ratio: float = Field(0.0, ge=0.0, le=100.0,
                                  description="area ratio vs the previous object counted as a jump; 0 = off (1.5-4)")

    def setup(self, ctx):
        self._counter: Optional[np.ndarray] = None
        self._prev: Optional[np.ndarray] = None
        self._held = 0

    def process(self, ctx, mask, flow=None):
        p = self.params
        m = to_numpy(mask).astype(bool)
        prev = counter = None
        if self._prev is not None and self._prev.shape == m.shape:
            prev, counter = self._prev, self._counter
            if flow is not None and tuple(flow.shape[:2]) == m.shape:
                both = warp(torch.from_numpy(np.stack([prev.astype(np.float32), counter], -1)), to_cpu(flow))
                prev, counter = both[..., 0].numpy() >= 0.5, both[..., 1].numpy()
        kept, self._counter, info = gate_components(m, prev, counter, p.near_frac, p.near_px,
                                                    p.dominant_ratio, p.confirm_frames)
        held = False
        if p.jump_ratio > 0 and prev is not None and prev.any():
            a_prev, a_now = float(prev.sum()), float(kept.sum())
            jump = a_now > p.jump_ratio * a_prev or a_now * p.jump_ratio < a_prev
            if jump and self._held < p.confirm_frames:
                kept, held = prev, True
                self._held += 1
            else:
                self._held = 0
        info["held"] = held
        self._prev = kept
        return {"mask": torch.from_numpy(kept), "info": info}


def to_cpu(x) -> torch.Tensor:
    return x.detach().to("cpu", torch.float32) if hasattr(x, "detach") else torch.from_numpy(np.asarray(x, np.float32))


def component_support(mask: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of ``mask``; return (labels, mean of ``raw`` per label)."""
    import cv2

    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    sums = np.bincount(lab.ravel(), weights=raw.ravel().astype(np.float64), minlength=n)
    counts = np.maximum(np.bincount(lab.ravel(), minlength=n), 1)
    return lab, sums / counts


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
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        miss_level: float = Field(0.2, ge=0.0, le=1.0, description="evidence below this is a miss (0.1-0.5)")
        max_miss: int = Field(1, ge=0, le=100, description="missed frames tolerated before clearing (0-5)")
        fade: float = Field(0.5, ge=0.0, le=1.0, description="feedback multiplier per missed frame")
        alpha: float = Field(0.5, gt=0.0, le=1.0, description="EWMA rate of the confidence")

    def setup(self, ctx):
        self._streak: Optional[np.ndarray] = None
        self._confidence = 1.0

    def process(self, ctx, mask, prob, raw=None, score=None):
        p = self.params
        dev = ctx.device
        m = to_numpy(mask).astype(bool)
        if raw is None and score is None:
            evidence_global = 1.0
            lab, support = None, None
        else:
            r = to_numpy(raw).astype(np.float32) if raw is not None and tuple(raw.shape) == m.shape else None
            s = float(np.clip(score, 0.0, 1.0)) if score is not None else 1.0
            if r is None:
                r = np.full(m.shape, s, np.float32)
            elif score is not None:
                r = r * s
            lab, support = component_support(m, r)
            evidence_global = float((r * m).sum() / m.sum()) if m.any() else s
        self._confidence += p.alpha * (evidence_global - self._confidence)
        streak = np.zeros(m.shape, np.int32)
        factor = np.ones(m.shape, np.float32)
        max_streak = 0
        if lab is not None and m.any():
            prev = self._streak if self._streak is not None and self._streak.shape == m.shape else None
            keep = np.ones(len(support), bool)
            for i in range(1, len(support)):
                if support[i] >= p.miss_level:
                    continue
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
        out_prob = prob.to(dev).float() * torch.from_numpy(factor).to(dev)
        return {"mask": out_mask, "prob": out_prob,
                "info": {"confidence": round(float(self._confidence), 4), "miss_streak": int(max_streak)}}

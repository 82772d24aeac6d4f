"""Temporal stabilization of per-frame segmentation, without retraining: warp, fuse, smooth, binarize.

The recurrent loop of the stabilizer (see graphs/stabilize.yaml)::

    optical_flow --flow--> flow_warp <--(back edge: previous stabilized prob)-- anti_ghost.prob
    segmenter.prob --> motion_fusion <-- flow_warp.warped, optical_flow.fb_error
    motion_fusion.fused --> adaptive_threshold --> area_guard --> anti_ghost --> mask

Pure functions (torch, any device) are exposed for tests and benches: :func:`warp`,
:func:`gaussian_blur`, :func:`fusion_weight`, :func:`fuse`, :func:`pick_threshold`.
Guards (area_guard, anti_ghost) live in ``stabilize_guard.py``.
"""
from __future__ import annotations

from collections import deque
from typing import Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, MASK, PROB_MAP, RECORD, SCALAR, TENSOR

# --------------------------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------------------------

_GRIDS: dict = {}


def _base_grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (h, w, str(device))
    g = _GRIDS.get(key)
    if g is None:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        g = _GRIDS[key] = (xs, ys)
    return g


def warp(prev: torch.Tensor, flow: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """Warp frame t-1's map (H,W) or (H,W,C) into frame t with a backward flow (H,W,2).

    ``out(x, y) = prev(x + dx, y + dy)``, bilinear; outside the frame: 0 (``zeros``) or the
    nearest edge value (``border``)."""
    h, w = flow.shape[:2]
    flow = flow.to(prev.device, torch.float32)
    xs, ys = _base_grid(h, w, prev.device)
    gx = (xs + flow[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), -1)[None]
    x = prev.float()
    inp = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    out = F.grid_sample(inp, grid, mode="bilinear", padding_mode=padding, align_corners=True)[0]
    return out[0] if x.dim() == 2 else out.permute(1, 2, 0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an (H,W) map (reflect padding); sigma <= 0 returns x."""
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    y = x.float()[None, None]
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return y[0, 0]


def fusion_weight(current: torch.Tensor, warped: torch.Tensor, fb_error: Optional[torch.Tensor] = None,
                  flow: Optional[torch.Tensor] = None, beta_fill: float = 0.6, beta_remove: float = 0.3,
                  fb_sigma: float = 2.0, motion_sigma: float = 0.0, conf_gamma: float = 0.0) -> torch.Tensor:
    """Per-pixel weight of the warped previous map in the fusion, in [0, 1].

    ``beta_fill`` where the warped map says more object than the current prediction (it fills a
    miss), ``beta_remove`` where it says less (it removes a new detection), times
    ``exp(-fb_error / fb_sigma)`` (unreliable flow), ``exp(-|flow| / motion_sigma)`` (fast motion,
    off when 0) and ``1 - conf_gamma * |2p - 1|`` (a confident current prediction wins)."""
    beta = torch.where(warped > current, torch.full_like(current, beta_fill), torch.full_like(current, beta_remove))
    if fb_error is not None:
        beta = beta * torch.exp(-fb_error.to(beta.device) / max(fb_sigma, 1e-6))
    if flow is not None and motion_sigma > 0:
        beta = beta * torch.exp(-torch.linalg.norm(flow.to(beta.device), dim=-1) / motion_sigma)
    if conf_gamma > 0:
        beta = beta * (1.0 - conf_gamma * (2.0 * current - 1.0).abs())
    return beta.clamp_(0.0, 1.0)


def fuse(current: torch.Tensor, warped: Optional[torch.Tensor], beta: Optional[torch.Tensor]) -> torch.Tensor:
    """``(1 - beta) * current + beta * warped`` (current alone where there is no warped map)."""
    if warped is None or beta is None:
        return current.float()
    return torch.lerp(current.float(), warped.float(), beta)


def pick_threshold(prob: torch.Tensor, target_area: Optional[float], base: float = 0.5, lo: float = 0.4,
                   hi: float = 0.6, step: float = 0.05, penalty: float = 0.1) -> tuple[float, int]:
    """Threshold in [lo, hi] whose area is closest to ``target_area`` (relative error), with a
    ``penalty`` per unit distance from ``base``. No target: ``base``. Returns (threshold, area)."""
    if target_area is None or lo >= hi:
        th = float(base)
        return th, int((prob >= th).sum())
    n = int(round((hi - lo) / step)) + 1
    ths = torch.linspace(lo, hi, n, device=prob.device)
    areas = (prob.reshape(1, -1) >= ths[:, None]).sum(1).float()
    cost = (areas - target_area).abs() / max(float(target_area), 1.0) + penalty * (ths - base).abs()
    i = int(torch.argmin(cost))
    return float(ths[i]), int(areas[i])


# --------------------------------------------------------------------------------------------
# nodes
# --------------------------------------------------------------------------------------------


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


@register("motion_fusion")
class MotionFusion(Node):
    """Fuse the segmenter's current map with the warped previous stabilized map.

    ``fused = (1 - b) * current + b * warped`` with a per-pixel ``b`` that is ``beta_fill`` where
    the warped map fills a miss of the current one and ``beta_remove`` where it would erase a new
    detection, lowered where the flow is unreliable (forward/backward error), where motion is fast
    and where the current prediction is confident. With b < 0.5 a binary prediction wins at once;
    with b > 0.5 a change must persist ~2 frames (b = 0.7) before the binarized result follows."""

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
        if score is not None and p.score_ref > 0:
            trust = min(1.0, max(0.0, float(score)) / p.score_ref)
            beta = 1.0 - (1.0 - beta) * trust
        return {"fused": fuse(cur, w, beta)}


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

    def process(self, ctx, prob):
        x = prob.to(ctx.device).float()
        s = self._state
        if s is None or s.shape != x.shape or ctx.skipped > self.params.reset_after:
            s = x
        else:
            # a frame dropped upstream counts as a step without observation: weight the new one more
            a = 1.0 - (1.0 - self.params.alpha) ** (1 + max(0, ctx.skipped))
            s = torch.lerp(s.to(x.device), x, a)
        self._state = s
        return {"prob": s}


@register("adaptive_threshold")
class AdaptiveThreshold(Node):
    """Binarize a probability map with a threshold that keeps the area near an expected area.

    The expected area is that of the warped previous stabilized map (``warped`` input, >= 0.5),
    which follows the object's motion; without it, the median area of the last ``window`` masks.
    The threshold is searched in [lo, hi] (steps of 0.05) to minimize the relative area error plus
    ``penalty`` x |threshold - base|. The map is blurred by ``smooth_sigma`` px first, which removes
    boundary jitter. ``info`` = {threshold, area, target_area}."""

    prob = Input(PROB_MAP, doc="fused probability map")
    warped = Input(PROB_MAP, optional=True, doc="flow_warp.warped, for the expected area")
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

    def setup(self, ctx):
        self._areas: deque = deque(maxlen=self.params.window)

    def process(self, ctx, prob, warped=None):
        p = self.params
        x = gaussian_blur(prob.to(ctx.device).float(), p.smooth_sigma)
        if warped is not None and tuple(warped.shape) == tuple(x.shape):
            target = float((warped >= 0.5).sum())
        elif self._areas:
            target = float(np.median(self._areas))
        else:
            target = None
        th, _ = pick_threshold(x, target, p.base, min(p.lo, p.base), max(p.hi, p.base), 0.05, p.penalty)
        mask = x >= th
        area = int(mask.sum())
        self._areas.append(area)
        return {"mask": mask, "info": {"threshold": round(th, 3), "area": area,
                                       "target_area": None if target is None else int(target)}}

"""The stabilizer's pure functions (torch or numpy, any device), apart from the nodes that wrap them.

:func:`warp`, :func:`gaussian_blur`, :func:`fusion_weight`, :func:`fuse` and :func:`pick_threshold`
serve flow_warp, motion_fusion and adaptive_threshold; :func:`gate_components` and
:func:`component_support` serve the guards (area_guard, anti_ghost).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

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


def component_support(mask: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of ``mask``; return (labels, mean of ``raw`` per label)."""
    import cv2

    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    sums = np.bincount(lab.ravel(), weights=raw.ravel().astype(np.float64), minlength=n)
    counts = np.maximum(np.bincount(lab.ravel(), minlength=n), 1)
    return lab, sums / counts

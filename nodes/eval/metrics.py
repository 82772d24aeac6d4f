"""Temporal-stability and accuracy metrics for segmentation masks, as pure numpy functions.

Usable from tests and benches; the ``metrics`` node (metrics_node.py) wraps them:

* :func:`iou` (from ``nodes/common``) — intersection over union (both empty = 1, the DAVIS convention).
* :func:`boundary_f` — DAVIS boundary F-measure (``bound_th`` = 0.008 of the image diagonal).
* :func:`warp_mask` / :func:`warp_iou` — IoU between the flow-warped mask of frame t-1 and mask t.
* :func:`dis_flow` — backward DIS optical flow (frame t -> t-1) when no flow is given.
* :func:`ghost_runs` — frames a mask survives after the object has left.
* :func:`worse_than_raw` — whether a stabilized frame is much less accurate than the raw one.
* :class:`StreamSummary` — the per-sequence summary (consecutive IoU, L1, area CV, warp-IoU, J, F,
  ghosts) accumulated frame by frame in constant memory; :func:`summarize` on a list.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ..common import DIS_PRESETS, iou, remap_flow, remap_mask, resize_flow, resize_gray, sample_points, to_gray


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary mask (DAVIS ``_seg2bmap`` at native size)."""
    seg = np.asarray(seg, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def _disk(radius: int) -> np.ndarray:
    """skimage.morphology.disk: pixels with x^2 + y^2 <= r^2."""
    r = int(radius)
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def boundary_f(mask: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure between a predicted mask and the ground truth.

    Boundaries match within ``bound_th`` of the image diagonal (pixels if >= 1). Both empty = 1."""
    import cv2

    mask, gt = np.asarray(mask, bool), np.asarray(gt, bool)
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * np.linalg.norm(mask.shape))
    fg_b = seg2bmap(mask)
    gt_b = seg2bmap(gt)
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0  # precision or recall is 0 (DAVIS: P=1,R=0 or P=0,R=1 -> F=0)
    k = _disk(bound_pix)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), k).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), k).astype(bool)
    precision = np.count_nonzero(fg_b & gt_dil) / n_fg
    recall = np.count_nonzero(gt_b & fg_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def dis_flow(cur_rgb: np.ndarray, prev_rgb: np.ndarray, preset: str = "medium",
             scale: float = 1.0, dis=None, size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Backward DIS optical flow: for each pixel of ``cur`` the (dx, dy) to its place in ``prev``.

    ``scale`` < 1 computes on a downscaled frame; the flow comes back at the frame's size, or at
    ``size`` (h, w), in pixels of that size."""
    import cv2

    if dis is None:
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
    h, w = size or cur_rgb.shape[:2]
    a = resize_gray(to_gray(cur_rgb), scale, min_size=8)
    b = resize_gray(to_gray(prev_rgb), scale, min_size=8)
    return resize_flow(dis.calc(a, b, None), h, w).astype(np.float32)


def warp_mask(prev: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp frame t-1's mask (or prob map) into frame t with a backward flow (bilinear, zeros outside).

    Returns float32 in [0, 1]."""
    return remap_flow(np.asarray(prev, np.float32), flow, border="zeros")


def warp_masks(masks: Sequence[np.ndarray], flow: np.ndarray) -> list[np.ndarray]:
    """Several masks of frame t-1 warped into frame t by one flow (each as :func:`warp_mask` >= 0.5),
    the sampling points computed once."""
    points = sample_points(flow)
    return [remap_mask(m, points) for m in masks]


def warp_iou(prev_mask: np.ndarray, mask: np.ndarray, flow: np.ndarray) -> float:
    """IoU between frame t-1's mask warped to frame t by ``flow`` (threshold 0.5) and mask t."""
    return iou(warp_mask(prev_mask, flow) >= 0.5, mask)


class GhostTracker:
    """Counts ghosts: mask pixels left where an object has just disappeared.

    A *departure* happens at frame t when a connected component of the ground truth of frame t-1
    has no pixel within ``margin`` px of the ground truth of frame t (the object left the frame
    or was fully occluded); when the whole ground truth becomes empty the region is the whole
    frame. From then on, the ghost pixels of that departure are the mask pixels inside its region
    (the component dilated by ``radius`` px) that are farther than ``margin`` from the ground
    truth. Its run is the number of consecutive frames, from the departure on, with more than
    ``min_pixels`` such pixels; the departure ends at the first frame without, or when the ground
    truth re-appears in its region. ``margin`` defaults to 1% and ``radius`` to 5% of the diagonal.
    """

    def __init__(self, margin: Optional[int] = None, radius: Optional[int] = None, min_pixels: int = 0):
        self.margin, self.radius, self.min_pixels = margin, radius, min_pixels
        self.prev_gt: Optional[np.ndarray] = None
        self.active: list[list] = []   # [region (bool array or None = whole frame), run]
        self.runs: list[int] = []      # one per departure, final or running

    def reset(self) -> None:
        """Forget the previous frame and the departures being followed (the frame size changed);
        the runs counted so far are kept."""
        self.prev_gt = None
        self.active = []

    def _sizes(self, shape) -> tuple[int, int]:
        diag = float(np.hypot(*shape))
        m = self.margin if self.margin is not None else max(2, int(math.ceil(0.01 * diag)))
        r = self.radius if self.radius is not None else max(4, int(math.ceil(0.05 * diag)))
        return m, r

    def update(self, masks: dict, gt: np.ndarray) -> dict:
        """Feed one frame: ``masks`` {stream name: bool mask}. Returns {stream: ghost pixels}.

        Runs are tracked for the first stream given (call one tracker per stream for several)."""
        import cv2

        gt = np.asarray(gt, bool)
        margin, radius = self._sizes(gt.shape)
        near_gt = cv2.dilate(gt.astype(np.uint8), _disk(margin)).astype(bool) if gt.any() else gt
        if self.prev_gt is not None and self.prev_gt.any():
            if not gt.any():
                self.active.append([None, 0])
                self.runs.append(0)
            else:
                n, lab = cv2.connectedComponents(self.prev_gt.astype(np.uint8), connectivity=8)
                hit = np.bincount(lab[near_gt], minlength=n)
                for i in range(1, n):
                    if hit[i] == 0:
                        region = cv2.dilate((lab == i).astype(np.uint8), _disk(radius)).astype(bool)
                        self.active.append([region, 0])
                        self.runs.append(0)
        self.prev_gt = gt
        if not self.active:
            return {k: 0 for k in masks}
        union = np.zeros(gt.shape, bool)
        for region, _ in self.active:
            union |= True if region is None else region
        out = {}
        for k, m in masks.items():
            out[k] = int(np.count_nonzero(np.asarray(m, bool) & union & ~near_gt))
        first = np.asarray(next(iter(masks.values())), bool) & ~near_gt
        still = []
        for j, (region, run) in enumerate(self.active):
            idx = len(self.runs) - len(self.active) + j
            if region is not None and np.any(gt & region):
                continue  # the object is back
            count = np.count_nonzero(first if region is None else first & region)
            if count > self.min_pixels:
                self.runs[idx] = run + 1
                still.append([region, run + 1])
        self.active = still
        return out


def ghost_runs(masks: Sequence[np.ndarray], gts: Sequence[np.ndarray], min_pixels: int = 0) -> list[int]:
    """Ghost run length (frames) for each departure of an object (see :class:`GhostTracker`)."""
    tracker = GhostTracker(min_pixels=min_pixels)
    for m, g in zip(masks, gts):
        tracker.update({"m": m}, g)
    return list(tracker.runs)


def frame_stats(mask: np.ndarray, prev_mask: Optional[np.ndarray], flow: Optional[np.ndarray],
                gt: Optional[np.ndarray], bound_th: float = 0.008) -> dict:
    """Per-frame numbers for one mask stream (see the metrics.json schema)."""
    d = {"area": int(np.count_nonzero(mask)), "iou_prev": None, "l1_prev": None, "warp_iou": None,
         "J": None, "F": None, "ghost_px": None}
    if prev_mask is not None:
        d["iou_prev"] = iou(mask, prev_mask)
        d["l1_prev"] = float(np.count_nonzero(mask != prev_mask) / mask.size)
        if flow is not None:
            d["warp_iou"] = warp_iou(prev_mask, mask, flow)
    if gt is not None:
        d["J"] = iou(mask, gt)
        d["F"] = boundary_f(mask, gt, bound_th)
    return d


WORSE_MARGIN = 0.2   # a stabilized frame whose J is this far below the raw frame's is a defect


def worse_than_raw(j_stabilized: Optional[float], j_raw: Optional[float], margin: float = WORSE_MARGIN
                   ) -> Optional[bool]:
    """Whether the stabilized mask's J is more than ``margin`` below the raw mask's on one frame
    (the stabilizer made that frame much worse than the segmenter); None without ground truth."""
    if j_stabilized is None or j_raw is None:
        return None
    return bool(j_raw - j_stabilized > margin)


def mean_defined(values) -> Optional[float]:
    """The mean of the values that are not None; None if there are none."""
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


class StreamSummary:
    """The summary of one mask stream, accumulated one :func:`frame_stats` dict at a time in
    constant memory (running sums; the area's variance by Welford's method)."""

    MEANS = {"consecutive_iou": "iou_prev", "l1": "l1_prev", "warp_iou": "warp_iou", "J": "J", "F": "F"}

    def __init__(self):
        self.sums = {k: 0.0 for k in self.MEANS}
        self.counts = {k: 0 for k in self.MEANS}
        self.n = 0
        self.area_mean = 0.0
        self.area_m2 = 0.0
        self.ghost_px = 0
        self.has_gt = False

    def add(self, d: dict) -> None:
        for key, field in self.MEANS.items():
            v = d.get(field)
            if v is not None:
                self.sums[key] += float(v)
                self.counts[key] += 1
        self.n += 1
        delta = float(d["area"]) - self.area_mean
        self.area_mean += delta / self.n
        self.area_m2 += delta * (float(d["area"]) - self.area_mean)
        self.has_gt = self.has_gt or d.get("J") is not None
        self.ghost_px += int(d.get("ghost_px") or 0)

    def summary(self, runs: Optional[list[int]] = None) -> dict:
        out = {k: (self.sums[k] / self.counts[k] if self.counts[k] else None) for k in self.MEANS}
        std = math.sqrt(max(self.area_m2, 0.0) / self.n) if self.n else 0.0
        gt = self.has_gt
        return {
            "consecutive_iou": out["consecutive_iou"],
            "l1": out["l1"],
            "area_cv": float(std / self.area_mean) if self.area_mean > 0 else None,
            "warp_iou": out["warp_iou"],
            "J": out["J"],
            "F": out["F"],
            "ghost_frames": (max(runs) if runs else 0) if gt and runs is not None else None,
            "ghost_pixels": self.ghost_px if gt else None,
        }


def summarize(frames: list[dict], runs: Optional[list[int]] = None) -> dict:
    """Summary of a list of :func:`frame_stats` dicts (one stream)."""
    acc = StreamSummary()
    for f in frames:
        acc.add(f)
    return acc.summary(runs)


def sequence_metrics(masks: Sequence[np.ndarray], gts: Optional[Sequence[np.ndarray]] = None,
                     flows: Optional[Sequence[np.ndarray]] = None, bound_th: float = 0.008,
                     ghost_min_pixels: int = 0) -> tuple[dict, list[dict]]:
    """Summary and per-frame stats of a whole mask sequence. ``flows[t]`` is the backward flow t -> t-1."""
    frames = []
    tracker = GhostTracker(min_pixels=ghost_min_pixels)
    for t, m in enumerate(masks):
        d = frame_stats(m, masks[t - 1] if t else None, flows[t] if (flows is not None and t) else None,
                        gts[t] if gts is not None else None, bound_th)
        if gts is not None:
            d["ghost_px"] = tracker.update({"m": m}, gts[t])["m"]
        frames.append(d)
    return summarize(frames, tracker.runs if gts is not None else None), frames


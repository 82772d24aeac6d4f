"""Temporal-stability and accuracy metrics for segmentation masks, and the ``metrics`` sink node.

Pure functions (numpy, usable from tests and benches):

* :func:`iou` — intersection over union (both empty = 1, the DAVIS convention).
* :func:`boundary_f` — DAVIS boundary F-measure (``bound_th`` = 0.008 of the image diagonal).
* :func:`warp_mask` / :func:`warp_iou` — IoU between the flow-warped mask of frame t-1 and mask t.
* :func:`dis_flow` — backward DIS optical flow (frame t -> t-1) when no flow is given.
* :func:`ghost_runs` — frames a mask survives after the object has left.
* :func:`summarize` — per-sequence summary (consecutive IoU, L1, area CV, warp-IoU, J, F, ghosts).
"""
from __future__ import annotations

import json
import math
import os
from typing import Optional, Sequence

import numpy as np

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, FRAME, MASK, RECORD, TENSOR
from pydantic import Field

# --------------------------------------------------------------------------------------------
# pure functions
# --------------------------------------------------------------------------------------------


def to_numpy(x) -> Optional[np.ndarray]:
    """A tensor or array to a numpy array on the CPU (None stays None)."""
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach()
        if x.is_floating_point():
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def binarize(x, threshold: float = 0.5) -> np.ndarray:
    """A mask (bool) as is; a probability map (float) is foreground where >= ``threshold``.

    Integer arrays (8-bit maps) are scaled by 255 when their maximum exceeds 1."""
    a = to_numpy(x)
    if a.dtype == bool:
        return a
    if np.issubdtype(a.dtype, np.integer):
        return (a.astype(np.float32) / (255.0 if a.max(initial=0) > 1 else 1.0)) >= threshold
    return a >= threshold


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)


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


_DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def dis_flow(cur_rgb: np.ndarray, prev_rgb: np.ndarray, preset: str = "medium",
             scale: float = 1.0, dis=None) -> np.ndarray:
    """Backward DIS optical flow: for each pixel of ``cur`` the (dx, dy) to its place in ``prev``.

    ``scale`` < 1 computes on a downscaled frame (the flow is resized and rescaled back)."""
    import cv2

    if dis is None:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
    h, w = cur_rgb.shape[:2]
    a = cur_rgb if cur_rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(cur_rgb), cv2.COLOR_RGB2GRAY)
    b = prev_rgb if prev_rgb.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(prev_rgb), cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
        a = cv2.resize(a, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, size, interpolation=cv2.INTER_AREA)
    f = dis.calc(a, b, None)
    if scale != 1.0:
        sx, sy = w / f.shape[1], h / f.shape[0]
        f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
        f[..., 0] *= sx
        f[..., 1] *= sy
    return f.astype(np.float32)


def warp_mask(prev: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Warp frame t-1's mask (or prob map) into frame t with a backward flow (bilinear, zeros outside).

    Returns float32 in [0, 1]."""
    import cv2

    h, w = prev.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx = gx + flow[..., 0]
    my = gy + flow[..., 1]
    return cv2.remap(np.asarray(prev, np.float32), mx, my, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


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


def _mean(values) -> Optional[float]:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def summarize(frames: list[dict], runs: Optional[list[int]] = None) -> dict:
    """Summary of a list of :func:`frame_stats` dicts (one stream)."""
    areas = np.array([f["area"] for f in frames], np.float64)
    mean_area = areas.mean() if len(areas) else 0.0
    has_gt = any(f["J"] is not None for f in frames)
    return {
        "consecutive_iou": _mean(f["iou_prev"] for f in frames),
        "l1": _mean(f["l1_prev"] for f in frames),
        "area_cv": float(areas.std() / mean_area) if mean_area > 0 else None,
        "warp_iou": _mean(f["warp_iou"] for f in frames),
        "J": _mean(f["J"] for f in frames),
        "F": _mean(f["F"] for f in frames),
        "ghost_frames": (max(runs) if runs else 0) if has_gt and runs is not None else None,
        "ghost_pixels": int(sum(f["ghost_px"] or 0 for f in frames)) if has_gt else None,
    }


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


# --------------------------------------------------------------------------------------------
# the node
# --------------------------------------------------------------------------------------------

STREAMS = ("raw", "stabilized", "gt")
SUMMARY_KEYS = ("consecutive_iou", "l1", "area_cv", "warp_iou", "J", "F", "ghost_frames", "ghost_pixels", "fidelity")


def _jsonable(v):
    """Plain JSON value of a number, tensor scalar, numpy value, list or dict (else its str)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return _jsonable(v.item())
    if hasattr(v, "detach") and getattr(v, "numel", lambda: 2)() == 1:
        return _jsonable(v.detach().cpu().item())
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def _round(d: dict) -> dict:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in d.items()}


def format_table(summary: dict, frames: int) -> str:
    """The compact text table printed at the end of a run."""
    cols = [c for c in STREAMS if c in summary]
    lines = [f"metrics over {frames} frames".ljust(18) + "".join(f"{c:>12}" for c in cols)]
    for k in SUMMARY_KEYS:
        vals = [summary[c].get(k) for c in cols]
        if all(v is None for v in vals):
            continue
        cells = "".join(f"{'-':>12}" if v is None else (f"{v:>12d}" if isinstance(v, int) else f"{v:>12.4f}")
                        for v in vals)
        lines.append(f"  {k:<16}{cells}")
    return "\n".join(lines)


@register("metrics")
class Metrics(Node):
    """Measure temporal stability and accuracy of raw vs stabilized masks; write metrics.json.

    Per stream (raw, stabilized, and the ground truth itself when connected): IoU and mean L1
    between consecutive masks, area coefficient of variation, flow-compensated IoU (IoU of the
    flow-warped mask t-1 with mask t: stability that does not punish motion), and with ground
    truth J (IoU; both empty = 1), the DAVIS boundary F-measure and ghosts (mask pixels left where
    an object just disappeared; ``ghost_frames`` = longest run after a departure). Probability
    maps are binarized at ``threshold``. Without a ``flow`` input the node computes DIS flow on the
    frames itself (independent of the stabilizer's own flow, which would flatter it).
    At finish: ``<out>/metrics.json`` {summary: {raw, stabilized, gt}, frames: [...]} and a table
    in the log. ``record`` (one per frame) can feed ``report.metrics`` so the report runs after."""

    frame = Input(FRAME, doc="the video frame (name, and flow when none is connected)")
    raw = Input(TENSOR, doc="raw segmenter probability map or mask (H,W)")
    stabilized = Input(TENSOR, doc="stabilized mask or probability map (H,W)")
    gt = Input(MASK, optional=True, doc="ground-truth mask")
    flow = Input(FLOW, optional=True, doc="backward flow t -> t-1 for the warp IoU (default: own DIS flow)")
    info = Input(RECORD, optional=True, doc="per-frame values to store (threshold, confidence, ...)")
    info2 = Input(RECORD, optional=True, doc="more per-frame values to store")
    record = Output(RECORD, doc="this frame's metrics record (as in metrics.json)")
    stateless = False

    class Params(NodeParams):
        threshold: float = Field(0.5, gt=0.0, lt=1.0, description="binarize probability maps at this value")
        bound_th: float = Field(0.008, gt=0.0, le=100.0,
                                description="F-measure boundary tolerance: fraction of the diagonal (<1) or px")
        flow_preset: str = Field("medium", pattern="^(ultrafast|fast|medium)$",
                                 description="DIS preset of the own flow (when no flow input)")
        flow_scale: float = Field(1.0, gt=0.05, le=1.0, description="own flow computed at this scale")
        ghost_min_pixels: int = Field(0, ge=0, description="a ghost frame has more than this many pixels")
        min_fidelity: float = Field(0.8, ge=0.0, le=1.0,
                                    description="without ground truth, the tuning objective (stabilized warp-IoU) "
                                                "is penalized when mean IoU(stabilized, raw) falls below this")
        filename: str = Field("metrics.json", description="file written in the output directory")

    def setup(self, ctx):
        self._frames: list[dict] = []
        self._prev: dict = {}
        self._prev_gray = None
        self._dis = None
        self._ghosts = {s: GhostTracker(min_pixels=self.params.ghost_min_pixels) for s in STREAMS}
        self._has_gt = False

    def _own_flow(self, frame) -> Optional[np.ndarray]:
        import cv2

        from .flow import to_gray

        gray = to_gray(frame.image)
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape:
            return None
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.params.flow_preset])
        return dis_flow(gray, prev, scale=self.params.flow_scale, dis=self._dis)

    def process(self, ctx, frame, raw, stabilized, gt=None, flow=None, info=None, info2=None):
        p = self.params
        masks = {"raw": binarize(raw, p.threshold), "stabilized": binarize(stabilized, p.threshold)}
        g = None
        if gt is not None:
            g = binarize(gt, p.threshold)
            masks["gt"] = g
            self._has_gt = True
        fl = to_numpy(flow) if flow is not None else self._own_flow(frame)
        rec = {"index": int(ctx.index if ctx.index >= 0 else frame.index),
               "name": frame.name or f"{frame.index:05d}"}
        ghosts = {}
        if g is not None:
            for s, m in masks.items():
                ghosts[s] = self._ghosts[s].update({s: m}, g)[s]
        for s, m in masks.items():
            prev = self._prev.get(s)
            if prev is not None and prev.shape != m.shape:
                prev = None
            f = fl if (fl is not None and prev is not None and fl.shape[:2] == m.shape) else None
            d = frame_stats(m, prev, f, g if s != "gt" else None, p.bound_th)
            d["ghost_px"] = ghosts.get(s) if s != "gt" else None
            rec[s] = _round(d)
            self._prev[s] = m
        merged = {}
        for extra in (info, info2):
            if isinstance(extra, dict):
                merged.update(_jsonable(extra))
        rec["info"] = merged
        rec["fidelity"] = round(iou(masks["stabilized"], masks["raw"]), 5)
        self._frames.append(rec)
        return {"record": rec}

    def summary(self) -> dict:
        out = {}
        for s in STREAMS:
            rows = [f[s] for f in self._frames if s in f]
            if not rows:
                continue
            runs = self._ghosts[s].runs if (self._has_gt and s != "gt") else None
            sm = summarize(rows, runs)
            if s == "gt":
                sm["ghost_frames"] = sm["ghost_pixels"] = None
            out[s] = _round(sm)
        return out

    def objective(self, summary: dict) -> Optional[float]:
        """What ``graphrun tune`` maximizes: stabilized J with ground truth; otherwise stabilized
        warp-IoU, minus twice the shortfall of fidelity (mean IoU with the raw masks) below
        ``min_fidelity``, so a tuner cannot buy stability by ignoring the segmenter."""
        stab = summary.get("stabilized", {})
        if self._has_gt and stab.get("J") is not None:
            return stab["J"]
        fid = stab.get("fidelity")
        if stab.get("warp_iou") is None or fid is None:
            return None
        return stab["warp_iou"] - 2.0 * max(0.0, self.params.min_fidelity - fid)

    def finish(self, ctx):
        summary = self.summary()
        if "stabilized" in summary:
            summary["stabilized"]["fidelity"] = _mean([f["fidelity"] for f in self._frames])
        ctx.publish("metrics", summary)
        objective = self.objective(summary)
        if objective is not None:
            ctx.publish("objective", objective)
        ctx.log(format_table(summary, len(self._frames)))
        if ctx.out_dir:
            os.makedirs(ctx.out_dir, exist_ok=True)
            path = os.path.join(ctx.out_dir, self.params.filename)
            tmp = path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump({"summary": summary, "frames": self._frames}, fh, indent=1)
            os.replace(tmp, path)

    def close(self):
        self._prev = {}
        self._prev_gray = None

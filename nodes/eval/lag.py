"""Lag of a stabilized mask: what it shows that neither the segmenter nor the object's motion explains.

A stabilizer that trails the object — a fill that keeps a region the segmenter has already
dropped, an average that is not motion-compensated, a hold after a real disappearance — shows,
at frame t, pixels that the raw mask of frame t does not have and that the raw masks of the
neighbouring frames, moved into frame t along the flow, do not both confirm. Those pixels are
*unsupported*; a frame whose unsupported area exceeds a fraction of the object's area is a *lag
frame*. A one-frame miss that the stabilizer fills is supported (the segmenter has the object
before and after it); the stale region after a one-frame blow-up is not (only one neighbour has
it). With ground truth the unsupported pixels outside it are the harmful part (a long miss that
the stabilizer rightly bridges is unsupported but inside the ground truth).

Pure numpy functions (the ``metrics`` node wraps them):

* :func:`invert_flow` — the forward flow t-1 -> t from the backward flow t -> t-1.
* :func:`support` — raw mask of t, plus what both neighbours' raw masks (moved into t) agree on.
* :func:`frame_lag` — one frame's unsupported pixels, lag flag (and outside the ground truth).
* :class:`LagTracker` — the same, streamed one frame behind (frame t needs frame t+1).
* :func:`sequence_lag` / :func:`summarize_lag` — a whole sequence: per-frame records and a summary.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from ..common import remap_flow, remap_mask, sample_points
from ..common.size import every_nth, every_nth_flow, sample_step


def invert_flow(backward: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Forward flow t-1 -> t (on frame t-1's pixels) from the backward flow t -> t-1 (on frame t's).

    Fixed point of ``F(y) = -B(y + F(y))``, started from ``-B(y)``; wrong only where the motion
    is not one-to-one (occlusions)."""
    b = np.asarray(backward, np.float32)
    f = -b
    for _ in range(iterations):
        f = -remap_flow(b, f, border="replicate")
    return f


def _moved(mask: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``mask`` of a neighbouring frame moved into this frame by ``flow`` (sampling at x + flow(x))."""
    return remap_mask(mask, sample_points(flow))


def support(raw: np.ndarray, raw_prev: Optional[np.ndarray] = None, raw_next: Optional[np.ndarray] = None,
            flow_back: Optional[np.ndarray] = None, flow_fwd: Optional[np.ndarray] = None,
            tolerance_px: int = 0) -> np.ndarray:
    """Pixels of frame t the segmenter explains: its raw mask, plus where the raw masks of t-1
    (moved by ``flow_back``, t -> t-1) and of t+1 (moved by ``flow_fwd``, t -> t+1) agree; with
    one neighbour, what it has. Dilated by ``tolerance_px`` (boundary jitter is not lag)."""
    import cv2

    s = np.asarray(raw, bool).copy()
    sides = []
    if raw_prev is not None and flow_back is not None:
        sides.append(_moved(raw_prev, flow_back))
    if raw_next is not None and flow_fwd is not None:
        sides.append(_moved(raw_next, flow_fwd))
    if sides:
        s |= np.logical_and.reduce(sides)
    if tolerance_px > 0 and s.any():
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance_px + 1, 2 * tolerance_px + 1))
        s = cv2.dilate(s.astype(np.uint8), k).astype(bool)
    return s


def default_tolerance(shape) -> int:
    """Boundary tolerance in pixels: 0.4% of the image diagonal, at least 1 (4 px at 854x480)."""
    return max(1, int(math.ceil(0.004 * math.hypot(*shape[:2]))))


def frame_lag(stab: np.ndarray, raw: np.ndarray, raw_prev: Optional[np.ndarray] = None,
              raw_next: Optional[np.ndarray] = None, flow_back: Optional[np.ndarray] = None,
              flow_fwd: Optional[np.ndarray] = None, gt: Optional[np.ndarray] = None, frac: float = 0.05,
              tolerance_px: Optional[int] = None) -> dict:
    """One frame's lag: ``lag_px`` = stabilized pixels outside :func:`support`, ``lag_frac`` = that
    over the object's area (the ground truth's when given, else the larger of the raw and the
    support), ``lag`` = ``lag_frac > frac``; with ``gt``, ``lag_outside_gt_px`` (the harmful part)."""
    stab = np.asarray(stab, bool)
    tol = default_tolerance(stab.shape) if tolerance_px is None else tolerance_px
    sup = support(raw, raw_prev, raw_next, flow_back, flow_fwd, tol)
    extra = stab & ~sup
    n = int(np.count_nonzero(extra))
    if gt is not None and np.any(gt):
        ref = int(np.count_nonzero(gt))
    else:
        raw_area = int(np.count_nonzero(raw))
        ref = raw_area if raw_area else int(np.count_nonzero(stab))
    f = n / ref if ref else 0.0
    return {"lag_px": n, "lag_frac": round(f, 5), "lag": bool(f > frac),
            "lag_outside_gt_px": None if gt is None else int(np.count_nonzero(extra & ~np.asarray(gt, bool)))}


class LagTracker:
    """:func:`frame_lag` streamed: feed each frame's masks and backward flow (t -> t-1); the record
    of frame t comes out when frame t+1 is fed (it needs the next raw mask), the last at ``finish``."""

    def __init__(self, frac: float = 0.05, tolerance_px: Optional[int] = None, keep_records: bool = True,
                 max_width: int = 0):
        self.frac, self.tolerance_px = frac, tolerance_px
        self.max_width = max_width           # judge on every n-th pixel so that at most this wide (0 = all)
        self._prev: Optional[dict] = None    # frame t-1: raw, flow into it
        self._cur: Optional[dict] = None     # frame t, waiting for t+1
        self.keep_records = keep_records
        self.records: list[dict] = []        # every record (keep_records), else only the running sums
        self._sums = _LagSums()

    def update(self, stab, raw, flow: Optional[np.ndarray] = None, gt=None, index: Optional[int] = None,
               step: int = 1) -> Optional[dict]:
        """Feed frame t+1 (``flow``: its backward flow, None at a restart); returns frame t's record
        (with its ``index`` when given). ``step``: the inputs are already every step-th pixel of the
        frame (the records still count the frame's pixels)."""
        stab, raw = np.asarray(stab, bool), np.asarray(raw, bool)
        n = sample_step(raw.shape[1], self.max_width)
        stab, raw, flow = every_nth(stab, n), every_nth(raw, n), every_nth_flow(flow, n)
        gt = every_nth(None if gt is None else np.asarray(gt, bool), n)
        new = {"stab": stab, "raw": raw, "gt": gt, "index": index, "step": n * step,
               "flow": None if flow is None else np.asarray(flow, np.float32)}
        done = None
        if self._cur is not None:
            fwd = None
            if new["flow"] is not None and new["flow"].shape[:2] == new["raw"].shape:
                fwd = invert_flow(new["flow"])
            done = self._record(new["raw"] if fwd is not None else None, fwd)
        self._prev, self._cur = self._cur, new
        return done

    def finish(self) -> Optional[dict]:
        """The last frame's record (judged on its previous frame alone)."""
        done = self._record(None, None) if self._cur is not None else None
        self._prev = self._cur = None
        return done

    def _record(self, raw_next, flow_fwd) -> dict:
        c, p = self._cur, self._prev
        shape_ok = p is not None and c["flow"] is not None and p["raw"].shape == c["raw"].shape
        tol = self.tolerance_px if self.tolerance_px is not None else default_tolerance(
            (c["raw"].shape[0] * c["step"], c["raw"].shape[1] * c["step"]))
        rec = frame_lag(c["stab"], c["raw"], p["raw"] if shape_ok else None, raw_next,
                        c["flow"] if shape_ok else None, flow_fwd, c["gt"], self.frac, -(-tol // c["step"]))
        if c["step"] > 1:                     # pixels of the full frame
            rec["lag_px"] *= c["step"] ** 2
            if rec["lag_outside_gt_px"] is not None:
                rec["lag_outside_gt_px"] *= c["step"] ** 2
        if c["index"] is not None:
            rec["index"] = c["index"]
        self._sums.add(rec)
        if self.keep_records:
            self.records.append(rec)
        return rec

    def summary(self) -> dict:
        """:func:`summarize_lag` of the frames so far (from running sums: constant memory)."""
        return self._sums.summary()


class _LagSums:
    """The running sums behind :func:`summarize_lag`."""

    def __init__(self):
        self.n = self.px = self.outside_n = 0
        self.frac = self.outside = 0.0
        self.lagged: list[int] = []
        self.n_lagged = 0

    def add(self, rec: dict) -> None:
        if rec["lag"]:
            self.n_lagged += 1
            if len(self.lagged) < 50:
                self.lagged.append(rec.get("index", self.n))
        self.n += 1
        self.px += rec["lag_px"]
        self.frac += rec["lag_frac"]
        if rec["lag_outside_gt_px"] is not None:
            self.outside_n += 1
            self.outside += rec["lag_outside_gt_px"]

    def summary(self) -> dict:
        if not self.n:
            return {"lag_frames": 0, "lag_frame_ratio": None, "lag_px": None, "lag_frac": None,
                    "lag_outside_gt_px": None, "lag_frame_indices": []}
        return {"lag_frames": self.n_lagged, "lag_frame_ratio": round(self.n_lagged / self.n, 5),
                "lag_px": round(self.px / self.n, 2), "lag_frac": round(self.frac / self.n, 5),
                "lag_outside_gt_px": round(self.outside / self.outside_n, 2) if self.outside_n else None,
                "lag_frame_indices": list(self.lagged)}


def summarize_lag(records: Sequence[dict]) -> dict:
    """``lag_frames`` (count), ``lag_frame_ratio``, mean ``lag_px`` and ``lag_frac``, mean
    ``lag_outside_gt_px`` (None without ground truth) and the first lag frames' indices."""
    sums = _LagSums()
    for i, r in enumerate(records):
        sums.add({**r, "index": r.get("index", i)})
    return sums.summary()


def sequence_lag(stabs: Sequence[np.ndarray], raws: Sequence[np.ndarray], flows: Sequence[Optional[np.ndarray]],
                 gts: Optional[Sequence[np.ndarray]] = None, frac: float = 0.05,
                 tolerance_px: Optional[int] = None) -> tuple[dict, list[dict]]:
    """Summary and per-frame records of a whole sequence. ``flows[t]`` is the backward flow
    t -> t-1 (``flows[0]`` is ignored)."""
    tracker = LagTracker(frac, tolerance_px)
    for t in range(len(stabs)):
        tracker.update(stabs[t], raws[t], flows[t] if t else None, gts[t] if gts is not None else None)
    tracker.finish()
    return tracker.summary(), tracker.records

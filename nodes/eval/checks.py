"""Whether a run's stabilized masks can be trusted: counters kept per frame, warnings at the end.

The one place where a run's figures become warnings. The metrics node calls :func:`judge` at the
end of a run and logs what it returns (``graphrun: warning: ...``); the same alerts go into
metrics.json (``run.alerts``, structured, and ``run.warnings``, the lines), the report's verdict
and batch. A stabilizer that ignores its segmenter can look perfectly stable (an empty mask never
flickers), so the stabilized masks are compared with the raw masks of the same frames:

* ``low_fidelity``: mean IoU(stabilized, raw) below ``min_fidelity``;
* ``empty_stabilized``: the stabilized mask empty on more than ``max_empty`` of the frames where
  the raw mask is not;
* ``area_inflated`` / ``area_shrunk``: the stabilized masks more than ``max_area_ratio`` times,
  or less than ``min_area_ratio`` times, the raw masks' area (summed over the frames where the
  raw mask is not empty);
* ``lag_share``: lag (stabilized mask that neither the segmenter nor the motion explains, see
  lag.py) on more than ``max_lag_share`` of the frames judged;
* ``stability_worse``: a flicker figure more than ``max_stability_loss`` (relative) worse than the
  raw masks' (flipped pixels higher, flow-warped IoU lower), or the area CV more than
  ``max_area_cv_rise`` (relative) higher;
* ``frames_worse_than_raw``: frames whose stabilized J is far below the raw J (counted by the
  metrics node when it has ground truth and the figure).

With ground truth, J is the direct measure: low fidelity, a high lag share and a worse stability
figure then only warn when the stabilized J did not rise (a stabilizer that fixes the segmenter's
misses agrees less with it, bridges them and lets the area follow the object, and J shows
whether that was right).

Thresholds, from the runs on ../shared/data where stabilization works (bench/README.md
"Warnings", ``bench/warning_thresholds.py``): fidelity there is >= 0.79, lag on <= 16% of the
frames (42% on one run where J rose), the stabilized area >= 0.83 of the raw one, the area CV
up to 19% higher (where J rose); the static traffic video of issue 18 had fidelity 0.586 and lag
on 29% of its frames, traffic.avi 0.67, 34% and a stabilized area of 0.28 of the raw one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common import iou

MIN_FRAMES = 5   # fewer frames than this with a raw mask: too few to judge

CODES = {  # code: what it means (the stable part of a warning: batch and scripts key on it)
    "low_fidelity": "the stabilized masks agree little with the raw ones (mean IoU with the raw mask)",
    "empty_stabilized": "the stabilized mask is empty on many frames where the raw mask is not",
    "area_inflated": "the stabilized masks are much larger than the raw ones",
    "area_shrunk": "the stabilized masks keep a small part of the raw masks' area",
    "lag_share": "many frames show stabilized mask that neither the segmenter nor the motion explains (lag)",
    "stability_worse": "a stability figure (flipped pixels, warp-IoU, area CV) is worse than the raw masks'",
    "frames_worse_than_raw": "frames where the stabilized J with ground truth is far below the raw J",
    "frames_skipped": "frames that never reached the metrics (skipped upstream or dropped)",
    "decoding": "the input could not be decoded completely",
    "camera_moves": "background subtraction on a moving camera",
    "no_timestamps": "the frames carry no timestamps; the overlay video's rate is a default",
    "stream_ended": "a live stream ended early",
    "node_warning": "another warning of a node (see its message)",
}


@dataclass(frozen=True)
class Limits:
    """The thresholds of :func:`judge` (the metrics node's ``warn_*`` parameters)."""

    min_fidelity: float = 0.7
    max_empty: float = 0.25
    max_area_ratio: float = 2.0
    min_area_ratio: float = 0.5
    max_lag_share: float = 0.2
    max_stability_loss: float = 0.02
    max_area_cv_rise: float = 0.25


@dataclass(frozen=True)
class Alert:
    """One warning: a stable ``code`` (see CODES), the words, and the figure against its limit."""

    code: str
    message: str
    value: Optional[float] = None
    limit: Optional[float] = None


class Agreement:
    """Running counts of how the stabilized masks compare with the raw ones (constant memory)."""

    def __init__(self):
        self.frames = 0
        self.fidelity_sum = 0.0
        self.raw_frames = 0          # frames where the raw mask is not empty
        self.stab_missing = 0        # ... and the stabilized one is
        self.raw_area = 0
        self.stab_area = 0

    def add(self, raw: np.ndarray, stabilized: np.ndarray, fidelity=None) -> float:
        """One frame's bool masks; returns the fidelity IoU(stabilized, raw) (computed if not given)."""
        f = iou(stabilized, raw) if fidelity is None else float(fidelity)
        self.frames += 1
        self.fidelity_sum += f
        a_raw, a_stab = int(np.count_nonzero(raw)), int(np.count_nonzero(stabilized))
        if a_raw:
            self.raw_frames += 1
            self.stab_missing += a_stab == 0
            self.raw_area += a_raw
            self.stab_area += a_stab
        return f

    @property
    def fidelity(self):
        return self.fidelity_sum / self.frames if self.frames else None

    @property
    def empty_share(self):
        """The share of the frames with a raw mask where the stabilized mask is empty."""
        return self.stab_missing / self.raw_frames if self.raw_frames else None

    def warnings(self, min_fidelity: float = Limits.min_fidelity, max_empty: float = Limits.max_empty,
                 max_area_ratio: float = Limits.max_area_ratio) -> list[str]:
        """The messages of :func:`judge` on these counts alone (no summary, no lag)."""
        limits = Limits(min_fidelity=min_fidelity, max_empty=max_empty, max_area_ratio=max_area_ratio)
        return [a.message for a in judge({}, self, limits=limits)]


def _num(v) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None


def j_rose(summary: dict) -> bool:
    """Whether, with ground truth, the stabilized J is above the raw J."""
    j_raw = _num((summary.get("raw") or {}).get("J"))
    j_stab = _num((summary.get("stabilized") or {}).get("J"))
    return j_raw is not None and j_stab is not None and j_stab > j_raw


def worse_frames(summary: dict):
    """``frames_worse_than_raw`` of the summary (stabilized J more than 0.2 below the raw J), where the
    metrics put it (the stabilized column, else the top level); None without it."""
    v = (summary.get("stabilized") or {}).get("frames_worse_than_raw", summary.get("frames_worse_than_raw"))
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None


def _stability(raw: dict, stab: dict, limits: Limits) -> list[str]:
    """The stability figures where the stabilized masks are worse than the raw ones."""
    worse = []
    for key, label, lower_better in (("l1", "flipped pixels per frame", True), ("warp_iou", "warp-IoU", False),
                                     ("area_cv", "area CV", True)):
        r, s = _num(raw.get(key)), _num(stab.get(key))
        if r is None or s is None:
            continue
        loss = limits.max_area_cv_rise if key == "area_cv" else limits.max_stability_loss
        if lower_better and s > r * (1 + loss) and s - r > 1e-4:
            worse.append(f"{label} {r:.3f} -> {s:.3f} (+{(s - r) / r:.0%})" if r > 0 else f"{label} 0 -> {s:.3f}")
        elif not lower_better and s < r * (1 - loss):
            worse.append(f"{label} {r:.3f} -> {s:.3f} ({(s - r) / r:.0%})")
    return worse


def judge(summary: dict, agreement: Optional[Agreement] = None, lag: Optional[dict] = None,
          limits: Limits = Limits()) -> list[Alert]:
    """The warnings of a run (none on fewer than MIN_FRAMES frames with a raw mask).

    Args:
        summary: the metrics summary ({raw: {...}, stabilized: {...}}, as in metrics.json); may be empty.
        agreement: the counts of the stabilized masks against the raw ones (fidelity, empty, area).
        lag: the lag tracker's summary (``lag_frames``, ``lag_frame_ratio``).
    """
    out: list[Alert] = []
    if agreement is not None and agreement.raw_frames < MIN_FRAMES:
        return out
    raw, stab = summary.get("raw") or {}, summary.get("stabilized") or {}
    fixed = j_rose(summary)
    fid = agreement.fidelity if agreement is not None else _num(stab.get("fidelity"))
    if fid is not None and fid < limits.min_fidelity and not fixed:
        out.append(Alert("low_fidelity", f"the stabilized masks agree little with the raw ones: mean fidelity "
                                         f"(IoU with the raw mask) {fid:.2f}, below {limits.min_fidelity:g}",
                         fid, limits.min_fidelity))
    if agreement is not None:
        share = agreement.stab_missing / agreement.raw_frames
        if share > limits.max_empty:
            out.append(Alert("empty_stabilized", f"the stabilized mask is empty on {agreement.stab_missing} of the "
                                                 f"{agreement.raw_frames} frames where the raw mask is not "
                                                 f"({share:.0%})", share, limits.max_empty))
        if agreement.raw_area and agreement.stab_area > limits.max_area_ratio * agreement.raw_area:
            ratio = agreement.stab_area / agreement.raw_area
            out.append(Alert("area_inflated", f"the stabilized masks are {ratio:.1f}x the raw masks' area on "
                                              f"average (more than {limits.max_area_ratio:g}x)",
                             ratio, limits.max_area_ratio))
        elif agreement.raw_area and agreement.stab_area < limits.min_area_ratio * agreement.raw_area and not fixed:
            ratio = agreement.stab_area / agreement.raw_area
            out.append(Alert("area_shrunk", f"the stabilized masks keep {ratio:.0%} of the raw masks' area on "
                                            f"average (less than {limits.min_area_ratio:.0%}): they drop much of "
                                            f"what the segmenter finds", ratio, limits.min_area_ratio))
    share = _num((lag or {}).get("lag_frame_ratio"))
    if share is not None and share > limits.max_lag_share and not fixed:
        n = (lag or {}).get("lag_frames")
        judged = round(n / share) if n and share else None
        count = f"{n} of {judged} frames ({share:.0%})" if judged else f"{share:.0%} of the frames"
        out.append(Alert("lag_share", f"lag on {count}: the stabilized mask shows what neither the segmenter nor "
                                      f"the motion explains (limit {limits.max_lag_share:.0%}); it trails the "
                                      f"objects or keeps stale regions", share, limits.max_lag_share))
    worse = [] if fixed else _stability(raw, stab, limits)
    if worse:
        out.append(Alert("stability_worse", "stabilization made the masks less stable than the raw ones: "
                                            + "; ".join(worse), None, limits.max_stability_loss))
    bad = worse_frames(summary)
    if isinstance(bad, int) and not isinstance(bad, bool) and bad > 0:
        out.append(Alert("frames_worse_than_raw", f"{bad} frame(s) where the stabilized J is more than 0.2 below "
                                                  f"the raw J", bad, 0))
    return out

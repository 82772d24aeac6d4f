"""Whether the stabilized masks have left the raw ones far behind: counters kept per frame, warnings at the end.

A stabilizer that ignores its segmenter can look perfectly stable (an empty mask never flickers),
so every run checks three things against the raw masks of the same frames: the mean fidelity
(IoU of the stabilized mask with the raw one), how often the stabilized mask is empty where the
raw one is not, and how much larger the stabilized masks are on average.
"""
from __future__ import annotations

import numpy as np

from ..common import iou

MIN_FRAMES = 5   # fewer frames than this with a raw mask: too few to judge


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

    def warnings(self, min_fidelity: float = 0.5, max_empty: float = 0.25, max_area_ratio: float = 2.0) -> list[str]:
        """One line per check that fails (none on fewer than MIN_FRAMES frames with a raw mask)."""
        out = []
        if self.raw_frames < MIN_FRAMES:
            return out
        fid = self.fidelity
        if fid is not None and fid < min_fidelity:
            out.append(f"the stabilized masks agree little with the raw ones: mean fidelity (IoU with the raw "
                       f"mask) {fid:.2f}, below {min_fidelity:g}")
        share = self.stab_missing / self.raw_frames
        if share > max_empty:
            out.append(f"the stabilized mask is empty on {self.stab_missing} of the {self.raw_frames} frames "
                       f"where the raw mask is not ({share:.0%})")
        if self.raw_area and self.stab_area > max_area_ratio * self.raw_area:
            out.append(f"the stabilized masks are {self.stab_area / self.raw_area:.1f}x the raw masks' area "
                       f"on average (more than {max_area_ratio:g}x)")
        return out

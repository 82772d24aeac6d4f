"""Does the camera move? Global motion at the start of a stream, for segmenters that need a static one.

Phase correlation (OpenCV, Hanning window) between grey frames shrunk to 160 px wide, ``STEP``
frames apart, gives the shift of the whole picture; its median over the first frames, per frame
and as a fraction of the width, is the camera's motion. Moving objects on a static background
hardly shift the whole picture. Over the first 30 frames of this project's data a static camera
measures <= 0.13% of the width per frame (synthetic scenes of seeds 0-4: 0.105-0.127%,
traffic.avi 0.003%), a moving one >= 0.45% (dancer.mp4 0.79%, the five DAVIS sequences
0.45-2.98%); hand-held pancake.mkv, which hardly pans, 0.11%. bg_subtract's limit: 0.25%.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..common import announced_inputs

STEP = 4      # frames between the two compared (a pan adds up over them, noise does not)
WIDTH = 160   # px: the frames are compared at this width


class CameraMotion:
    """Feed frames with :meth:`update`; after ``frames`` frames it returns the median global shift
    per frame as a fraction of the frame width (once), before that None."""

    def __init__(self, frames: int = 30):
        self.frames = frames
        self.small: list[np.ndarray] = []
        self.shifts: list[float] = []
        self.window = None
        self.done = frames <= STEP

    def update(self, image: np.ndarray) -> Optional[float]:
        """``image``: HxWx3 uint8 RGB. The measure when the first ``frames`` frames are in, else None."""
        if self.done:
            return None
        import cv2
        h, w = image.shape[:2]
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        size = (WIDTH, max(8, round(h * WIDTH / w)))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        if self.small and self.small[-1].shape != small.shape:   # a size change: start again
            self.small, self.shifts = [], []
        if self.window is None or self.window.shape != small.shape:
            self.window = cv2.createHanningWindow(size, cv2.CV_32F)
        self.small.append(small)
        if len(self.small) > STEP:
            (dx, dy), _ = cv2.phaseCorrelate(self.small[-1 - STEP], small, self.window)
            self.shifts.append(float(np.hypot(dx, dy)) / STEP / WIDTH)
            self.small.pop(0)
        if len(self.shifts) >= self.frames - STEP:
            self.done = True
            self.small = []
            return float(np.median(self.shifts))
        return None


def input_name(ctx, first: str, last: str) -> str:
    """The run's input file when a source announced it (``ctx.results["inputs"]``), else the frames."""
    paths = [i["path"] for i in announced_inputs(ctx) if i.get("path")]
    return str(paths[0]) if paths else f"frames {first}-{last}"

"""A stream's frame rate, read from its frames' timestamps (pts) as they come."""
from __future__ import annotations

import math
from typing import Optional

# rates a camera or an encoder uses; an estimate within 0.5% of one of them is taken as it
STANDARD_RATES = (8.0, 10.0, 12.0, 12.5, 15.0, 20.0, 24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0,
                  60000 / 1001, 60.0, 90.0, 100.0, 120000 / 1001, 120.0, 144.0, 240.0)


def usable_pts(pts) -> Optional[float]:
    """``pts`` as a float if it is a finite number, else None."""
    try:
        v = float(pts)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def snap_rate(fps: float) -> float:
    """``fps``, or the standard rate within 0.5% of it (29.96 -> 29.97, 25.02 -> 25)."""
    best = min(STANDARD_RATES, key=lambda r: abs(r - fps))
    return best if abs(best - fps) <= 0.005 * best else fps


class FrameClock:
    """Frame rate of a stream from the pts of its first ``window`` frames: the mean period of the
    steps within 25% of the median one (millisecond-rounded timestamps, frames dropped in realtime
    and a first frame out of place still give the true rate). ``fps`` is None until two frames with
    increasing pts were seen; ``vfr`` tells whether their spacing varied by more than 10%."""

    def __init__(self, window: int = 32):
        self.window = window
        self.first: Optional[tuple[int, float]] = None
        self.last: Optional[tuple[int, float]] = None
        self.seen = 0
        self.steps: list[float] = []   # seconds per frame, between consecutive frames of the window

    def add(self, index: int, pts) -> None:
        """One frame (its index in the stream and its pts in seconds; None or non-finite: ignored)."""
        t = usable_pts(pts)
        if t is None or self.seen >= self.window:
            return
        if self.last is not None:
            di, dt = index - self.last[0], t - self.last[1]
            if di <= 0 or dt <= 0:
                return                       # out of order or repeated: not a step of the clock
            self.steps.append(dt / di)
        else:
            self.first = (index, t)
        self.last = (index, t)
        self.seen += 1

    @property
    def fps(self) -> Optional[float]:
        if not self.steps:
            return None
        mid = sorted(self.steps)[len(self.steps) // 2]
        kept = [s for s in self.steps if abs(s - mid) <= 0.25 * mid]
        return snap_rate(len(kept) / sum(kept))

    @property
    def vfr(self) -> bool:
        if len(self.steps) < 2:
            return False
        mid = sorted(self.steps)[len(self.steps) // 2]
        off = [s for s in self.steps if abs(s - mid) > 0.1 * mid + 0.002]   # 2 ms: rounded to ms is not VFR
        return len(off) > max(1, len(self.steps) // 10)

"""When a source's next frame enters the graph: realtime pacing and the flow limiter.

offline: every frame, as fast as the graph takes them. realtime: a file is paced at its fps
(times ``speed``); a frame is admitted only while fewer than ``max_in_flight`` frames are inside
the graph (MediaPipe's FlowLimiterCalculator), otherwise it is dropped at the source, the earliest
and cheapest place.

When the source shares its thread with the nodes after it (a fused segment, the inline
executor) it cannot produce while they work, so the limiter keeps the source's own clock: the
time each frame would have been emitted by a source running alone (due at its pts, not before
the previous one plus its decoding time). A frame that would have arrived while the thread was
still busy with an earlier one is dropped, as the limiter would have dropped it; a decoder slower
than real time is never the reason of a drop.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

from .stats import FrameTracker


class Admission:
    def __init__(self, mode: str, realtime: dict, tracker: FrameTracker, stop: threading.Event,
                 live: bool, shares_thread: bool = False, extra: int = 0):
        self.realtime = mode == "realtime"
        self.pace = self.realtime and not live
        self.limit = int(realtime.get("max_in_flight") or 1) + extra    # + frames held by look-ahead
        self.speed = float(realtime.get("speed") or 1.0)
        self.tracker, self.stop, self.shares_thread = tracker, stop, shares_thread
        self._start: Optional[float] = None
        self._pts0 = 0.0
        self._emit: Optional[float] = None     # when a source alone would have emitted the last frame
        self._busy_until = 0.0

    def admit(self, pts: float, pull_seconds: float = 0.0) -> bool:
        """Wait until the frame of ``pts`` is due (realtime), then say whether it enters the graph."""
        if not self.realtime:
            return True
        now = time.perf_counter()
        if self._start is None:
            self._start, self._pts0 = now - pull_seconds, pts
        due = self._start + (pts - self._pts0) / self.speed if self.pace else now
        emit = due if self._emit is None else max(due, self._emit + pull_seconds)
        self._emit = emit
        if self.shares_thread and emit < self._busy_until and self.tracker.in_flight() >= self.limit - 1:
            return False
        if emit > now:
            self.stop.wait(emit - now)
        return self.tracker.in_flight() < self.limit

    def done(self) -> None:
        """The thread finished the frame it admitted last."""
        self._busy_until = time.perf_counter()

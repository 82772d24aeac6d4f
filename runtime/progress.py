"""The progress line's live figures in realtime mode: drops and p99 latency as the run goes."""
from __future__ import annotations

import time

import numpy as np

REFRESH_S = 0.5          # figures recomputed at most this often
RECENT = 2048            # the p99 is over the latest frames (a live figure; the summary has the whole run's)


class LiveFigures:
    """Sets ``bar``'s postfix to ``drops N, p99 X ms`` from the run's FrameTracker, at most every ``REFRESH_S``."""

    def __init__(self, bar, tracker, source_drops):
        self.bar, self.tracker, self.source_drops = bar, tracker, source_drops
        self._next = 0.0

    def update(self) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + REFRESH_S
        lat = np.frombuffer(self.tracker.latencies, dtype=np.float64)[-RECENT:]
        p99 = f"{np.percentile(lat, 99) * 1e3:.0f} ms" if len(lat) else "-"
        drops = self.tracker.dropped + self.source_drops()
        self.bar.set_postfix_str(f"drops {drops}, p99 {p99}", refresh=False)

"""Per-frame curves in bounded memory: consecutive frames merge into buckets (mean, min, max) as a run grows."""
from __future__ import annotations

import math

import numpy as np


class Series:
    """One curve over frames, kept in at most ``2 * max_points`` buckets.

    Each bucket holds ``width`` consecutive values (their first x, sum, count, min and max); when
    the buckets fill, neighbours merge and ``width`` doubles. A run of any length costs the same
    memory; ``width == 1`` means every frame is still there. None and NaN values are skipped but
    count as frames."""

    def __init__(self, max_points: int = 1000):
        self.max_points = max(1, int(max_points))
        self.width = 1
        self.buckets: list[list] = []   # [x, sum, n, lo, hi]
        self._cur = None                # the bucket being filled, and how many frames it holds
        self._members = 0

    def add(self, x: float, y) -> None:
        try:
            v = float(y)
        except (TypeError, ValueError):
            v = math.nan
        if self._cur is None:
            self._cur = [float(x), 0.0, 0, math.inf, -math.inf]
            self._members = 0
        cur = self._cur
        if math.isfinite(v):
            cur[1] += v
            cur[2] += 1
            cur[3] = min(cur[3], v)
            cur[4] = max(cur[4], v)
        self._members += 1
        if self._members >= self.width:
            self.buckets.append(cur)
            self._cur = None
            if len(self.buckets) >= 2 * self.max_points:
                self._merge()

    def _merge(self) -> None:
        b = self.buckets
        merged = []
        for i in range(0, len(b) - 1, 2):
            p, q = b[i], b[i + 1]
            merged.append([p[0], p[1] + q[1], p[2] + q[2], min(p[3], q[3]), max(p[4], q[4])])
        if len(b) % 2:
            merged.append(b[-1])
        self.buckets = merged
        self.width *= 2

    def __len__(self) -> int:
        return len(self.buckets) + (self._cur is not None)

    @property
    def has_values(self) -> bool:
        return any(b[2] for b in self.buckets) or bool(self._cur and self._cur[2])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """x, mean, min, max of every bucket (NaN where a bucket had no value)."""
        rows = self.buckets + ([self._cur] if self._cur is not None else [])
        x = np.array([r[0] for r in rows], np.float64)
        mean = np.array([r[1] / r[2] if r[2] else math.nan for r in rows], np.float64)
        lo = np.array([r[3] if r[2] else math.nan for r in rows], np.float64)
        hi = np.array([r[4] if r[2] else math.nan for r in rows], np.float64)
        return x, mean, lo, hi


class SeriesSet:
    """Named curves (``(group, key)``), created on first use, at most ``max_series`` of them."""

    def __init__(self, max_points: int = 1000, max_series: int = 48):
        self.max_points, self.max_series = max_points, max_series
        self.curves: dict[tuple[str, str], Series] = {}

    def add(self, group: str, key: str, x: float, y) -> None:
        s = self.curves.get((group, key))
        if s is None:
            if len(self.curves) >= self.max_series:
                return
            s = self.curves[(group, key)] = Series(self.max_points)
        s.add(x, y)

    def add_record(self, rec: dict) -> None:
        """A metrics record (one line of metrics.jsonl): every number of its groups, and its fidelity."""
        x = rec.get("index", 0)
        for group in ("raw", "stabilized", "gt", "info"):
            g = rec.get(group)
            if isinstance(g, dict):
                for key, val in g.items():
                    if val is None or (isinstance(val, (int, float)) and not isinstance(val, bool)):
                        self.add(group, key, x, val)
        if "fidelity" in rec:
            self.add("stabilized", "fidelity", x, rec.get("fidelity"))

    def get(self, group: str, key: str):
        s = self.curves.get((group, key))
        return s if s is not None and s.has_values else None

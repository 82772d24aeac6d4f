"""Helpers shared by the bench scripts."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, reps: int, sync, warmup: int = 1) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` calls after ``warmup`` calls; ``sync()`` (a CUDA
    synchronize, or a no-op) ends each timed call so that device work is counted."""
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3

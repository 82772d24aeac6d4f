"""Helpers shared by the bench scripts."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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


def run_checkout(repo: Path, graph: str, overrides: list[str], device: str = "cpu") -> dict:
    """A graph of a checkout (this one or an older one) with that checkout's own code, every output
    written: ``python -m graphrun`` in a subprocess, ``graphrun`` importing from ``repo``; its stats."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "shim").mkdir()
        (Path(tmp) / "shim" / "graphrun").symlink_to(Path(repo).resolve())
        stats = Path(tmp) / "stats.json"
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "shim")}
        cmd = [sys.executable, "-m", "graphrun", str(Path(repo) / "graphs" / graph), "-q", "--out",
               str(Path(tmp) / "out"), "--stats", str(stats), "--device", device]
        if overrides:
            cmd += ["--set", *overrides]
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=900)
        return json.loads(stats.read_text())

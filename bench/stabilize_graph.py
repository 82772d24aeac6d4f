"""Throughput of graphs/stabilize.yaml run by the runtime, end to end (all sinks included).

    python bench/stabilize_graph.py [--reps 3] [--device cpu|cuda]

Runs the graph on its embedded synthetic scene and, when ../shared/data is beside the repository,
on videos/dancer.mp4 (`--set source.kind=video_file`, the same weight-free bg_subtract segmenter).
Prints frames/s (median of --reps runs) and the five most expensive nodes of the median run.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from graphrun.runtime.run import run_graph

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "stabilize.yaml"
DANCER = ROOT.parent / "shared" / "data" / "videos" / "dancer.mp4"


def measure(overrides: list[str], reps: int, device: str):
    runs = []
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as out:
            runs.append(run_graph(GRAPH, overrides=overrides, out_dir=out, device=device, log=lambda m: None).stats)
    runs.sort(key=lambda s: s["fps"])
    return runs[len(runs) // 2], [s["fps"] for s in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    inputs = [("synthetic 320x240 (default)", [])]
    if DANCER.exists():
        inputs.append(("dancer.mp4 640x480", ["source.kind=video_file", f"source.path={DANCER}"]))
    print(f"graphs/stabilize.yaml, device {a.device}, median of {a.reps} runs (all outputs written)")
    print(f"{'input':<28} {'frames':>6} {'fps':>7} {'min-max fps':>13}  slowest nodes (mean ms/frame)")
    for name, overrides in inputs:
        stats, all_fps = measure(overrides, a.reps, a.device)
        top = sorted(stats["nodes"].items(), key=lambda kv: -(kv[1]["mean_ms"] or 0))[:5]
        slow = ", ".join(f"{k} {v['mean_ms']:.1f}" for k, v in top)
        print(f"{name:<28} {stats['frames']:>6} {statistics.median(all_fps):>7.1f} "
              f"{min(all_fps):>6.1f}-{max(all_fps):<6.1f}  {slow}")


if __name__ == "__main__":
    main()

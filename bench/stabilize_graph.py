"""Throughput of graphs/stabilize.yaml run by the runtime, end to end (all outputs written).

    python bench/stabilize_graph.py [--reps 3] [--device cpu|cuda] [--baseline-repo DIR]

Runs the graph on its embedded synthetic scene and, when ../shared/data is beside the repository,
on videos/dancer.mp4 (`--set source.kind=video_file`, the same weight-free bg_subtract segmenter),
in two settings, interleaved (before, after, before, after, ...) so that a shared machine's load
falls on both alike:

* ``after``: the graph as shipped;
* ``before``: the settings it had before the 640x480 work (the stabilizer at the frame's size, its
  flow DIS medium 480 px wide with the forward/backward check at the same preset, the metrics' own
  DIS flow at the medium preset on full frames and the warp-IoU on every pixel, the overlay on the
  outputs' thread at 1280 px with x264 veryfast and its own threads, the threshold searching
  0.4-0.6, bg_subtract on the full frame, no lag metric (it did not exist), no look-ahead), with
  today's node code;
* with ``--per-node``: the shipped graph on the ``per_node`` executor (a thread per node, the
  layout before the fused executor), so both executors are measured in one run;
* with ``--baseline-repo DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/v0
  8d0aeb3``) also ``v0``: that checkout's own graph and code, run as a subprocess.

Prints frames/s (median of --reps, min-max), the machine's load average, and per node the mean
ms per frame of each setting's median run (wall time on the node's thread: on a loaded machine it
includes time waiting for a core).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from graphrun.runtime.run import run_graph

from common import run_checkout  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "stabilize.yaml"
DANCER = ROOT.parent / "shared" / "data" / "videos" / "dancer.mp4"
BEFORE = ["stab.lookahead=0", "stab.work_width=0", "stab.flow.fb_preset=null", "stab.flow.patch_stride=null",
          "stab.flow.iterations=null", "stab.flow.max_width=480", "stab.thresh.lo=0.4", "stab.thresh.hi=0.6",
          "stab.thresh.penalty=10.0", "out.metrics.flow_preset=medium", "out.metrics.flow_scale=1.0",
          "out.overlay.max_width=1280", "out.overlay.thread=null", "out.overlay.preset=veryfast",
          "out.overlay.threads=0", "seg.max_width=0", "out.metrics.lag_frac=0", "out.metrics.warp_max_width=0"]


def run_here(overrides: list[str], device: str, executor: str = "fused") -> dict:
    with tempfile.TemporaryDirectory() as out:
        return run_graph(GRAPH, overrides=overrides, out_dir=out, device=device, log=lambda m: None,
                         executor=executor).stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--baseline-repo", type=Path, default=None, help="an older checkout to run as 'v0'")
    ap.add_argument("--inputs", default="synthetic,dancer", help="synthetic, dancer or both")
    ap.add_argument("--per-node", action="store_true",
                    help="also the shipped graph with a thread per node (the per_node executor)")
    a = ap.parse_args()
    inputs = []
    if "synthetic" in a.inputs:
        inputs.append(("synthetic 320x240", []))
    if "dancer" in a.inputs and DANCER.exists():
        inputs.append(("dancer.mp4 640x480", ["source.kind=video_file", f"source.path={DANCER}"]))
    settings = [("before", lambda o: run_here(o + BEFORE, a.device)), ("after", lambda o: run_here(o, a.device))]
    if a.per_node:
        settings.append(("per_node", lambda o: run_here(o, a.device, "per_node")))
    if a.baseline_repo is not None:
        settings.insert(0, ("v0", lambda o: run_checkout(a.baseline_repo, "stabilize.yaml", o, a.device)))
    runs = {(i, s): [] for i, _ in inputs for s, _ in settings}
    loads = [os.getloadavg()[0]]
    for rep in range(a.reps):
        for name, overrides in inputs:
            for setting, fn in settings:
                runs[(name, setting)].append(fn(overrides))
                print(f"  rep {rep + 1}/{a.reps} {name} {setting}: {runs[(name, setting)][-1]['fps']:.1f} fps",
                      file=sys.stderr)
        loads.append(os.getloadavg()[0])
    print(f"graphs/stabilize.yaml, device {a.device}, median of {a.reps} interleaved runs (all outputs written); "
          f"load average (1 min) during the runs {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print(f"{'input':<20} {'setting':<8} {'frames':>6} {'fps':>7} {'min-max fps':>13}")
    medians = {}
    for name, _ in inputs:
        for setting, _ in settings:
            rs = sorted(runs[(name, setting)], key=lambda s: s["fps"])
            med = medians[(name, setting)] = rs[len(rs) // 2]
            print(f"{name:<20} {setting:<8} {med['frames']:>6} {statistics.median(s['fps'] for s in rs):>7.1f} "
                  f"{rs[0]['fps']:>6.1f}-{rs[-1]['fps']:<6.1f}")
    for name, _ in inputs:
        names = []
        for setting, _ in settings:
            names += [n for n in medians[(name, setting)]["nodes"] if n not in names]
        print(f"\n{name}: mean ms per frame per node (median run of each setting)")
        print(f"{'node':<16}" + "".join(f"{s:>9}" for s, _ in settings) + "   thread (after)")
        for n in names:
            cells = []
            for setting, _ in settings:
                d = medians[(name, setting)]["nodes"].get(n)
                cells.append(f"{d['mean_ms']:>9.1f}" if d and d.get("mean_ms") is not None else f"{'-':>9}")
            thread = medians[(name, "after")]["nodes"].get(n, {}).get("thread", "")
            print(f"{n:<16}" + "".join(cells) + f"   {thread}")


if __name__ == "__main__":
    main()

"""Many short clips: N sequential `graphrun` command lines vs `graphrun batch` (local pool, Ray).

    python bench/batch.py [--clips 8] [--frames 30] [--jobs 2] [--reps 3] [--graphs light,maskrcnn] [--no-ray]

Cuts N short clips (320 px wide) from ../shared/data/videos (dancer, pancake, traffic, in turn)
into bench/out/batch/clips/, then times, for each graph, ``--reps`` runs of each of these modes,
taking turns (so that a busy machine slows them alike), and reports the median:

* ``sequential``: N ``graphrun GRAPH --set vars.input=CLIP`` command lines, one after the other
  (what a user's shell loop does: Python, torch and the model are loaded N times);
* ``local``: ``graphrun batch GRAPH CLIP... --jobs J`` (J warm worker processes);
* ``ray (starts Ray)``: ``graphrun batch ... --executor ray``, which starts a local Ray and stops it;
* ``ray (running cluster)``: the same with ``--address`` of a Ray this script started beforehand
  (as on a cluster, where Ray is already up).

Graphs: ``light`` = video_file -> bg_subtract -> stabilizer -> stabilizer_outputs (metrics, masks,
overlay.mp4, report.html): no model, so the batch saves Python/torch start-up per clip;
``maskrcnn`` = graphs/stabilize_maskrcnn.yaml with random weights (``seg.weights=none``: the same
build cost as the COCO weights, none to download), small images (``seg.min_size=128``), the first
``--maskrcnn-frames`` frames of the first ``--maskrcnn-clips`` clips: the model build is paid once
per worker (``runtime.cache``), which the ``setup_s`` of each worker's first and later inputs shows.
Prints wall seconds, speedups, the median seconds per input inside the workers and setup times.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
SOURCES = ("dancer.mp4", "pancake.mkv", "traffic.avi")
OUT = ROOT / "bench" / "out" / "batch"
LIGHT = """name: light
vars: {input: clip.mp4}
nodes:
  source: {kind: video_file, params: {path: "${input}"}}
  seg:    bg_subtract
  stab:   stabilizer
  out:    {kind: stabilizer_outputs, thread: outputs}
edges:
  - source.frame -> seg.frame
  - {from: source.frame, to: stab.frame, queue: true}
  - seg.prob -> stab.current
  - seg.score -> stab.score
  - source.frame -> out.frame
  - seg.prob -> out.raw
  - stab.mask -> out.stabilized
  - stab.threshold_info -> out.info
  - stab.ghost_info -> out.info2
"""


def make_clips(n: int, frames: int, width: int = 320) -> list[Path]:
    """N clips of ``frames`` frames cut from the shared videos in turn, at later offsets each round."""
    import av

    folder = OUT / "clips"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    clips = []
    for i in range(n):
        name = SOURCES[i % len(SOURCES)]
        start = (i // len(SOURCES)) * frames
        path = folder / f"clip{i:02d}_{Path(name).stem}.mp4"
        with av.open(str(VIDEOS / name)) as src, av.open(str(path), "w") as dst:
            stream = src.streams.video[0]
            height = round(stream.height * width / stream.width / 2) * 2
            out = dst.add_stream("libx264", rate=round(stream.average_rate or 25))
            out.width, out.height, out.pix_fmt = width, height, "yuv420p"
            kept = 0
            for k, frame in enumerate(src.decode(stream)):
                if k < start:
                    continue
                for p in out.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                    dst.mux(p)
                kept += 1
                if kept == frames:
                    break
            for p in out.encode():
                dst.mux(p)
        clips.append(path)
    return clips


def graphrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "graphrun", *args]


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    return time.perf_counter() - t, proc


def sequential(graph: str, sets: list[str], clips: list[Path], out: Path) -> dict:
    """One command line per clip, one after the other."""
    walls = []
    for clip in clips:
        cmd = graphrun(graph, "-q", "--out", str(out / clip.stem), "--set", f"vars.input={clip}", *sets)
        wall, proc = timed(cmd)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
        walls.append(wall)
    return {"wall": sum(walls), "ok": len(walls), "per_input": statistics.median(walls), "setup": None}


def batched(graph: str, sets: list[str], clips: list[Path], out: Path, *extra: str) -> dict:
    """One ``graphrun batch`` command line over the clips."""
    cmd = graphrun("batch", graph, *map(str, clips), "--out", str(out), "-q", *extra)
    if sets:
        cmd += ["--set", *sets]
    wall, proc = timed(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    rows = json.loads((out / "summary.json").read_text())["rows"]
    first, later, seen = [], [], set()
    for r in sorted(rows, key=lambda r: r["finished"]):
        (later if r["worker"] in seen else first).append(r["setup_s"])
        seen.add(r["worker"])
    return {"wall": wall, "ok": sum(r["status"] == "ok" for r in rows),
            "per_input": statistics.median(r["wall_s"] for r in rows),
            "setup": (statistics.median(first), statistics.median(later) if later else None)}


def bench_graph(label: str, graph: str, sets: list[str], clips: list[Path], jobs: int, ray_address, reps: int):
    """Each mode ``reps`` times, the modes taking turns (a busy machine slows them alike); the run of
    median wall time per mode."""
    out = OUT / label
    modes = [("sequential command lines", lambda o: sequential(graph, sets, clips, o)),
             (f"batch --executor local --jobs {jobs}", lambda o: batched(graph, sets, clips, o, "--jobs", str(jobs)))]
    if ray_address is not None:
        modes.append(("batch --executor ray (starts Ray)",
                      lambda o: batched(graph, sets, clips, o, "--executor", "ray")))
        modes.append(("batch --executor ray --address (running)",
                      lambda o: batched(graph, sets, clips, o, "--executor", "ray", "--address", ray_address)))
    runs: dict = {mode: [] for mode, _ in modes}
    for _ in range(reps):
        for i, (mode, run) in enumerate(modes):
            if out.exists():
                shutil.rmtree(out)
            runs[mode].append(run(out / str(i)))
    results = []
    for mode, rs in runs.items():
        rs.sort(key=lambda r: r["wall"])
        results.append((mode, {**rs[len(rs) // 2], "range": (rs[0]["wall"], rs[-1]["wall"])}))
    return results


def report(label: str, n: int, reps: int, results: list) -> None:
    base = results[0][1]["wall"]
    local = results[1][1]["wall"]
    print(f"\n{label}: {n} clips, median of {reps} runs per mode (modes taking turns)")
    print(f"{'mode':<42} {'wall s':>7} {'min-max':>12} {'speedup':>8} {'vs local':>9} {'ok':>3} {'s/input':>8} "
          f"{'setup s first/later':>20}")
    for mode, r in results:
        setup = "" if r["setup"] is None else (f"{r['setup'][0]:.2f} / " +
                                                ("-" if r["setup"][1] is None else f"{r['setup'][1]:.2f}"))
        lo, hi = r["range"]
        print(f"{mode:<42} {r['wall']:>7.1f} {f'{lo:.0f}-{hi:.0f}':>12} {base / r['wall']:>7.2f}x "
              f"{r['wall'] / local:>8.2f}x {r['ok']:>3} {r['per_input']:>8.2f} {setup:>20}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=30, help="frames per clip")
    ap.add_argument("--maskrcnn-frames", type=int, default=3, help="frames per clip for the maskrcnn graph")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--maskrcnn-clips", type=int, default=4, help="clips for the maskrcnn graph (the first N)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each mode (the median is reported)")
    ap.add_argument("--graphs", default="light,maskrcnn")
    ap.add_argument("--no-ray", action="store_true", help="time the local executor only")
    a = ap.parse_args()
    if not VIDEOS.is_dir():
        raise SystemExit(f"needs the shared videos: {VIDEOS} is absent")
    clips = make_clips(a.clips, a.frames)
    (OUT / "light.yaml").write_text(LIGHT)
    graphs = {"light": (str(OUT / "light.yaml"), []),
              "maskrcnn": (str(ROOT / "graphs" / "stabilize_maskrcnn.yaml"),
                           ["seg.weights=none", "seg.min_size=128", "seg.max_size=240",
                            f"source.max_frames={a.maskrcnn_frames}"])}
    ray = None
    if not a.no_ray:
        import ray
        ray.init(num_cpus=a.jobs, include_dashboard=False)      # the "running cluster" for --address
    address = ray.get_runtime_context().gcs_address if ray else None
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; clips of {a.frames} frames (maskrcnn: "
          f"first {a.maskrcnn_frames}), 320 px wide, from {', '.join(SOURCES)}")
    try:
        for label in a.graphs.split(","):
            graph, sets = graphs[label]
            chosen = clips[:a.maskrcnn_clips] if label == "maskrcnn" else clips
            report(label, len(chosen), a.reps, bench_graph(label, graph, sets, chosen, a.jobs, address, a.reps))
    finally:
        if ray is not None:
            ray.shutdown()


if __name__ == "__main__":
    main()

"""What recording costs: graphs/stabilize.yaml with and without ``--record`` (Rerun), in one run.

    python bench/record.py [--reps 3] [--inputs synthetic,dancer]

Per input (the embedded synthetic scene; ../shared/data/videos/dancer.mp4 640x480 when present,
through the same weight-free bg_subtract segmenter) the two settings run interleaved (plain,
recorded, plain, recorded, ...) so that a shared machine's load falls on both alike. Prints the
median frames/s of each (min-max), their ratio, the process's CPU time per frame (every thread:
load-independent, and on a CPU-bound machine fps falls by the same ratio) and the recorder's
writer thread's share of it, the recording's size and its size per minute of
video (from the recording's own media-time timeline), and the events the recorder dropped.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import graphrun
from graphrun.runtime.frontends.view.rerun_sink import RerunSink, open_streams
from graphrun.runtime.observe import Observer
from graphrun.runtime.options import RunOptions
from graphrun.runtime.run import load_graph, run_built

ROOT = Path(__file__).resolve().parents[1]
DANCER = ROOT.parent / "shared" / "data" / "videos" / "dancer.mp4"


def run_once(overrides: list, record: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        graph = load_graph(ROOT / "graphs" / "stabilize.yaml", overrides)
        observer = Observer(RerunSink(open_streams(f"{tmp}/run.rrd", None))) if record else None
        cpu = time.process_time()
        stats = run_built(graph, RunOptions(out=f"{tmp}/out", observer=observer, log=lambda line: None)).stats
        if observer is not None:
            observer.close(lambda line: None)
        cpu_ms = (time.process_time() - cpu) / stats["frames"] * 1e3       # every thread of the process
        if observer is None:
            return {"fps": stats["fps"], "cpu_ms": cpu_ms}
        size = os.path.getsize(f"{tmp}/run.rrd")
        return {"fps": stats["fps"], "cpu_ms": cpu_ms, "writer_ms": observer.cpu_seconds / stats["frames"] * 1e3,
                "bytes": size, "media_s": media_seconds(f"{tmp}/run.rrd"), "dropped": observer.dropped}


def media_seconds(path: str) -> float:
    import rerun.dataframe as rd
    table = rd.load_recording(path).view(index="media_time", contents="/video/**").select().read_all()
    import pyarrow as pa
    column = table.column("media_time").cast(pa.int64())        # nanoseconds
    times = [t / 1e9 for t in column.to_pylist() if t is not None]
    frames = len(times)
    return max(times) * frames / max(1, frames - 1) if frames > 1 else 0.0   # the last frame lasts a period too


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--inputs", default="synthetic,dancer")
    a = ap.parse_args()
    inputs = []
    if "synthetic" in a.inputs:
        inputs.append(("synthetic 640x480, 120 frames", []))
    if "dancer" in a.inputs and DANCER.exists():
        inputs.append(("dancer.mp4 640x480", ["source.kind=video_file", f"source.path={DANCER}"]))
    print(f"graphrun {graphrun.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| input | plain fps | --record fps | fps ratio | CPU ms/frame plain | --record | CPU ratio "
          "| writer thread ms/frame | recording | per minute of video | dropped |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, overrides in inputs:
        runs = {False: [], True: []}
        for _ in range(a.reps):
            for record in (False, True):
                runs[record].append(run_once(overrides, record))
        plain = [r["fps"] for r in runs[False]]
        rec = [r["fps"] for r in runs[True]]
        last = runs[True][-1]
        per_min = last["bytes"] / last["media_s"] * 60 / 2**20 if last["media_s"] else float("nan")
        cpu_plain = statistics.median(r["cpu_ms"] for r in runs[False])
        cpu_rec = statistics.median(r["cpu_ms"] for r in runs[True])
        print(f"| {name} | {statistics.median(plain):.1f} ({min(plain):.1f}-{max(plain):.1f}) "
              f"| {statistics.median(rec):.1f} ({min(rec):.1f}-{max(rec):.1f}) "
              f"| {statistics.median(rec) / statistics.median(plain):.2f} "
              f"| {cpu_plain:.1f} | {cpu_rec:.1f} | {cpu_plain / cpu_rec:.2f} "
              f"| {statistics.median(r['writer_ms'] for r in runs[True]):.1f} "
              f"| {last['bytes'] / 2**20:.2f} MB for {last['media_s']:.1f} s | {per_min:.1f} MB "
              f"| {max(r['dropped'] for r in runs[True])} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

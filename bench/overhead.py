"""Scheduler overhead: microseconds per packet per hop on a chain of pass-through nodes.

    python bench/overhead.py [--packets 20000] [--hops 10] [--reps 5] [--capacity 8 64]

A source emits N integers into a chain of ``--hops`` ``passthrough`` nodes ending in a
``null_sink``, run offline (every node on its own thread, bounded queues). The same
``process`` calls made by a plain Python loop give the floor: the difference is what the
runtime costs per hop (queues, wake-ups, alignment, timing, stats). With gst-launch-1.0
installed, the same chain of GStreamer ``queue ! identity`` elements is timed as a yardstick.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time

from graphrun.runtime import Context, Output, Source, register
from graphrun.runtime.registry import get
from graphrun.runtime.run import run_graph
from graphrun.runtime.types import ANY


@register("bench_counter")
class Counter(Source):
    """Emit 0..n-1 as fast as the graph takes them."""
    out = Output(ANY)

    N = 0

    def generate(self, ctx):
        return ({"out": i} for i in range(Counter.N))


def chain_graph(hops: int, capacity: int) -> dict:
    nodes = {"src": "bench_counter"}
    edges, prev = [], "src.out"
    for i in range(hops):
        nodes[f"p{i}"] = "passthrough"
        edges.append(f"{prev} -> p{i}.x")
        prev = f"p{i}.out"
    nodes["sink"] = "null_sink"
    edges.append(f"{prev} -> sink.x")
    return {"name": "overhead", "nodes": nodes, "edges": edges, "queue": {"capacity": capacity}}


def plain_loop(packets: int, hops: int) -> float:
    """The same process() calls in one thread: the floor with no scheduling at all."""
    stages = [get("passthrough")() for _ in range(hops)]
    sink = get("null_sink")()
    ctx = Context(name="loop")
    sink.setup(ctx)
    t = time.perf_counter()
    for i in range(packets):
        ctx.index = i
        x = i
        for s in stages:
            x = s.process(ctx, x=x)["out"]
        sink.process(ctx, x=x)
    return time.perf_counter() - t


def graphrun_run(packets: int, hops: int, capacity: int) -> float:
    Counter.N = packets
    stats = run_graph(chain_graph(hops, capacity)).stats
    assert stats["frames"] == packets, stats
    return stats["seconds"]


def gstreamer(packets: int, hops: int):
    if not shutil.which("gst-launch-1.0"):
        return None
    pipe = (f"fakesrc num-buffers={packets} sizetype=empty ! " + " ! ".join(["queue ! identity"] * hops)
            + " ! fakesink")
    t = time.perf_counter()
    r = subprocess.run(["gst-launch-1.0", "-q"] + pipe.split(), capture_output=True)
    if r.returncode != 0:
        return None
    elapsed = time.perf_counter() - t
    base = time.perf_counter()
    subprocess.run(["gst-launch-1.0", "-q", "fakesrc", "num-buffers=1", "!", "fakesink"], capture_output=True)
    startup = time.perf_counter() - base
    return max(elapsed - startup, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--hops", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--capacity", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--device", default="cpu", help="accepted for symmetry with the other benches (CPU work only)")
    a = ap.parse_args()
    per_hop = lambda s: s / a.packets / (a.hops + 1) * 1e6  # noqa: E731 - hops + the sink
    rows = []
    loop = [plain_loop(a.packets, a.hops) for _ in range(a.reps)]
    rows.append(("plain Python loop (same calls)", statistics.median(loop)))
    for cap in a.capacity:
        times = [graphrun_run(a.packets, a.hops, cap) for _ in range(a.reps)]
        rows.append((f"graphrun offline, queue capacity {cap}", statistics.median(times)))
    gst = [gstreamer(a.packets, a.hops) for _ in range(a.reps)]
    if all(g is not None for g in gst):
        rows.append(("gst-launch-1.0 queue ! identity chain", statistics.median(gst)))
    floor = per_hop(rows[0][1])
    print(f"{a.packets} packets through {a.hops} pass-through nodes + sink; median of {a.reps} runs")
    print(f"{'pipeline':<42} {'total s':>8} {'us/hop':>8} {'us/hop over loop':>17}")
    for name, s in rows:
        print(f"{name:<42} {s:8.3f} {per_hop(s):8.2f} {per_hop(s) - floor:17.2f}")


if __name__ == "__main__":
    main()

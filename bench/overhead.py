"""Runtime overhead: microseconds per packet per hop on a chain of pass-through nodes.

    python bench/overhead.py [--packets 20000] [--hops 10] [--reps 5] [--capacity 8 64]

A source emits N integers into a chain of ``--hops`` ``passthrough`` nodes ending in a
``null_sink``, run offline. A *fused hop* is one node called directly after the previous one on
the same thread (the default ``fused`` executor, no queue in the chain; ``inline`` on the
caller's thread); a *thread hop* crosses a bounded queue into another thread (``per_node``,
queue capacity 8 or 64). The same ``process`` calls made by a plain Python loop give the floor:
the difference is what the runtime costs per hop (slots, timing, stats; plus queues and
wake-ups across threads). With gst-launch-1.0 installed, the same chains of GStreamer
``identity`` (one streaming thread) and ``queue ! identity`` (a thread per queue) elements are
timed as yardsticks. Goals: <= 1 us per fused hop, <= 5 us per thread hop (capacity 8).
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


def graphrun_run(packets: int, hops: int, capacity: int, executor: str) -> float:
    Counter.N = packets
    stats = run_graph(chain_graph(hops, capacity), executor=executor).stats
    assert stats["frames"] == packets, stats
    return stats["seconds"]


def gstreamer(packets: int, hops: int, element: str):
    if not shutil.which("gst-launch-1.0"):
        return None
    pipe = (f"fakesrc num-buffers={packets} sizetype=empty ! " + " ! ".join([element] * hops)
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
    configs = [("plain Python loop (same calls)", lambda: plain_loop(a.packets, a.hops)),
               ("graphrun fused (one thread, direct calls)", lambda: graphrun_run(a.packets, a.hops, 8, "fused")),
               ("graphrun inline (caller's thread)", lambda: graphrun_run(a.packets, a.hops, 8, "inline"))]
    configs += [(f"graphrun per_node, queue capacity {cap}", lambda cap=cap: graphrun_run(a.packets, a.hops, cap,
                                                                                          "per_node"))
                for cap in a.capacity]
    configs += [("gst-launch-1.0 identity chain (fused)", lambda: gstreamer(a.packets, a.hops, "identity")),
                ("gst-launch-1.0 queue ! identity chain", lambda: gstreamer(a.packets, a.hops, "queue ! identity"))]
    times: dict = {name: [] for name, _ in configs}
    for _ in range(a.reps):                       # interleaved, so drift hits every row alike
        for name, fn in configs:
            times[name].append(fn())
    rows = [(name, statistics.median(t)) for name, t in times.items() if all(x is not None for x in t)]
    floor = per_hop(rows[0][1])
    print(f"{a.packets} packets through {a.hops} pass-through nodes + sink; median of {a.reps} runs")
    print(f"{'pipeline':<44} {'total s':>8} {'us/hop':>8} {'us/hop over loop':>17}")
    for name, s in rows:
        print(f"{name:<44} {s:8.3f} {per_hop(s):8.2f} {per_hop(s) - floor:17.2f}")
    got = dict(rows)
    fused = per_hop(got["graphrun fused (one thread, direct calls)"])
    thread = per_hop(got[f"graphrun per_node, queue capacity {a.capacity[0]}"])
    print(f"goals: fused hop <= 1 us: {'MET' if fused <= 1 else 'MISSED'} ({fused:.2f} us); thread hop <= 5 us "
          f"(capacity {a.capacity[0]}): {'MET' if thread <= 5 else 'MISSED'} ({thread:.2f} us)")


if __name__ == "__main__":
    main()

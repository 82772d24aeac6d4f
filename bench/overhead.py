"""Runtime overhead: microseconds per packet per hop on a chain of pass-through nodes.

    python bench/overhead.py [--packets 20000] [--hops 10] [--reps 5] [--capacity 8 64]
    python bench/overhead.py --before /tmp/pkg-main    # + the same rows for another checkout, in one table

A source emits N integers into a chain of ``--hops`` ``passthrough`` nodes ending in a
``null_sink``, run offline. A *fused hop* is one node called directly after the previous one on
the same thread (the default ``fused`` executor, no queue in the chain; ``inline`` on the
caller's thread); a *thread hop* crosses a bounded queue into another thread (``per_node``,
queue capacity 8 or 64). The same ``process`` calls made by a plain Python loop give the floor:
the difference is what the runtime costs per hop (slots, timing, stats; plus queues and
wake-ups across threads). With gst-launch-1.0 installed, the same chains of GStreamer
``identity`` (one streaming thread) and ``queue ! identity`` (a thread per queue) elements are
timed as yardsticks. Goals: <= 1 us per fused hop, <= 5 us per thread hop (capacity 8).

``--before DIR`` (DIR holds a ``graphrun`` package: e.g. a symlink to a worktree of the main
branch) times the graphrun rows of that code too, in a child process per repetition, interleaved
with this one's, so both columns see the same load.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
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
    t, c = time.perf_counter(), time.process_time()
    for i in range(packets):
        ctx.index = i
        x = i
        for s in stages:
            x = s.process(ctx, x=x)["out"]
        sink.process(ctx, x=x)
    return time.perf_counter() - t, time.process_time() - c


def thread_chain(packets: int, hops: int, capacity: int) -> tuple[float, float]:
    """The same process() calls on one Python thread per stage, linked by ``queue.Queue(capacity)``:
    what a thread hop costs in CPython before any runtime (GIL hand-over, a lock and a wake-up)."""
    import queue
    import threading

    stages = [get("passthrough")() for _ in range(hops)]
    sink = get("null_sink")()
    ctx = Context(name="threads")
    sink.setup(ctx)
    qs = [queue.Queue(capacity) for _ in range(hops + 1)]
    end = object()

    def stage(node, q_in, q_out):
        while (x := q_in.get()) is not end:
            q_out.put(node.process(ctx, x=x)["out"])
        q_out.put(end)

    def last(q_in):
        while (x := q_in.get()) is not end:
            sink.process(ctx, x=x)

    threads = [threading.Thread(target=stage, args=(n, qs[i], qs[i + 1])) for i, n in enumerate(stages)]
    threads.append(threading.Thread(target=last, args=(qs[-1],)))
    t, c = time.perf_counter(), time.process_time()
    for th in threads:
        th.start()
    for i in range(packets):
        qs[0].put(i)
    qs[0].put(end)
    for th in threads:
        th.join()
    return time.perf_counter() - t, time.process_time() - c


def graphrun_run(packets: int, hops: int, capacity: int, executor: str) -> tuple[float, float]:
    """(wall seconds of the run, CPU seconds of this process meanwhile: every thread, graph build included)."""
    Counter.N = packets
    c = time.process_time()
    stats = run_graph(chain_graph(hops, capacity), executor=executor).stats
    cpu = time.process_time() - c
    assert stats["frames"] == packets, stats
    return stats["seconds"], cpu


def gstreamer(packets: int, hops: int, element: str):
    """(wall, CPU) seconds of a gst-launch-1.0 chain, less those of an empty pipeline (start-up)."""
    if not shutil.which("gst-launch-1.0"):
        return None

    def launch(args: list) -> tuple:
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(["gst-launch-1.0", "-q"] + args, capture_output=True)
        wall = time.perf_counter() - t
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.returncode, wall, (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)

    pipe = (f"fakesrc num-buffers={packets} sizetype=empty ! " + " ! ".join([element] * hops) + " ! fakesink")
    code, wall, cpu = launch(pipe.split())
    if code != 0:
        return None
    _, wall0, cpu0 = launch(["fakesrc", "num-buffers=1", "!", "fakesink"])
    return max(wall - wall0, 1e-9), max(cpu - cpu0, 1e-9)


def graphrun_configs(a) -> list:
    rows = [("graphrun fused (one thread, direct calls)", lambda: graphrun_run(a.packets, a.hops, 8, "fused")),
            ("graphrun inline (caller's thread)", lambda: graphrun_run(a.packets, a.hops, 8, "inline"))]
    rows += [(f"graphrun per_node, queue capacity {cap}", lambda cap=cap: graphrun_run(a.packets, a.hops, cap,
                                                                                       "per_node"))
             for cap in a.capacity]
    return rows


def before_rep(a) -> dict:
    """One repetition of the graphrun rows with the code in ``a.before``, in a child process."""
    env = {**os.environ, "PYTHONPATH": a.before}
    cmd = [sys.executable, __file__, "--child", "--packets", str(a.packets), "--hops", str(a.hops),
           "--capacity", *map(str, a.capacity)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"--before {a.before}: the child run failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--hops", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--capacity", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--before", metavar="DIR", help="a folder holding the graphrun package to compare with")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)   # one rep of the rows, as JSON
    ap.add_argument("--device", default="cpu", help="accepted for symmetry with the other benches (CPU work only)")
    a = ap.parse_args()
    for executor in ("fused", "per_node"):        # warm-up: imports, library pools (not timed)
        graphrun_run(50, 1, 8, executor)
    if a.child:
        print(json.dumps({name: fn() for name, fn in graphrun_configs(a)}))
        return
    per_hop = lambda s: s / a.packets / (a.hops + 1) * 1e6  # noqa: E731 - hops + the sink
    configs = [("plain Python loop (same calls)", lambda: plain_loop(a.packets, a.hops)),
               (f"Python threads + queue.Queue({a.capacity[0]}) chain", lambda: thread_chain(a.packets, a.hops,
                                                                                           a.capacity[0]))]
    configs += graphrun_configs(a)
    configs += [("gst-launch-1.0 identity chain (fused)", lambda: gstreamer(a.packets, a.hops, "identity")),
                ("gst-launch-1.0 queue ! identity chain", lambda: gstreamer(a.packets, a.hops, "queue ! identity"))]
    times: dict = {name: [] for name, _ in configs}
    before: dict = {}
    for _ in range(a.reps):                       # interleaved, so drift hits every row alike
        for name, fn in configs:
            times[name].append(fn())
        if a.before:
            for name, t in before_rep(a).items():
                before.setdefault(name, []).append(t)
    med = lambda ts, i: statistics.median(t[i] for t in ts)  # noqa: E731 - 0: wall, 1: CPU
    rows = [(name, med(t, 0), med(t, 1)) for name, t in times.items() if all(x is not None for x in t)]
    floor, cpu_floor = per_hop(rows[0][1]), per_hop(rows[0][2])
    print(f"{a.packets} packets through {a.hops} pass-through nodes + sink; median of {a.reps} runs; us per hop "
          f"(wall time, and CPU time of all the run's threads), each also over the plain loop")
    head = f"{'pipeline':<44} {'wall':>7} {'over':>7} {'CPU':>7} {'over':>7}"
    print(head + (f"   {'before: wall':>12} {'over':>7} {'CPU':>7} {'over':>7}" if before else ""))
    for name, wall, cpu in rows:
        line = f"{name:<44} {per_hop(wall):7.2f} {per_hop(wall) - floor:7.2f} {per_hop(cpu):7.2f} " \
               f"{per_hop(cpu) - cpu_floor:7.2f}"
        if name in before:
            bw, bc = per_hop(med(before[name], 0)), per_hop(med(before[name], 1))
            line += f"   {bw:12.2f} {bw - floor:7.2f} {bc:7.2f} {bc - cpu_floor:7.2f}"
        print(line)
    got = {name: (wall, cpu) for name, wall, cpu in rows}
    fused = per_hop(got["graphrun fused (one thread, direct calls)"][1]) - cpu_floor
    thread = per_hop(got[f"graphrun per_node, queue capacity {a.capacity[0]}"][0]) - floor
    print(f"goals: fused hop <= 1 us (CPU over the loop): {'MET' if fused <= 1 else 'MISSED'} ({fused:.2f} us); "
          f"thread hop <= 5 us (capacity {a.capacity[0]}, wall over the loop): {'MET' if thread <= 5 else 'MISSED'} "
          f"({thread:.2f} us)")
    if a.before:
        print(f"before: {a.before}")


if __name__ == "__main__":
    main()

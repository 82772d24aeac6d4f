"""Pipeline overlap: decode -> preprocess -> model -> sink, a serial loop vs graphrun offline.

    python bench/overlap.py [--device cuda] [--frames 150] [--reps 3] [--ratios 0.5 1 2]

Input: a 1280x720 H.264 clip made once (bench/out/clip720.mp4) from the real DAVIS
``dance-twirl`` frames (upscaled; synthetic frames when ../shared/data is absent), decoded with
the library's decoder (``graphrun.nodes.io.decode``, OpenCV backend, 1 decoder thread) and looped
to ``--frames``. Preprocess: resize 256 + crop 224 + normalize (``preprocess``). Model: a
ResNet-18 with random weights (``torchvision_model``) whose ``input_size`` is calibrated at start
so that one call costs ``ratio`` x (decode + preprocess) — ratio 1 is "two stages of similar
cost". Sink: a recording null sink (a frame counts when its logits are on the host).

Compared, for each ratio (medians of ``--reps``, frames/s in steady state = (N-1) / time from the
first to the last finished frame, so one-off setup such as building the model is left out):

* ``serial-1t``: a plain Python loop calling the same node code, torch/OpenCV 1 thread.
* ``serial-2t``: the same loop with torch/OpenCV/decoder on 2 threads (intra-op parallelism:
  what a loop can get from the second core without a pipeline).
* ``graphrun``: the graph offline with the default ``fused`` executor and a queue before the
  model (2 threads: decode + preprocess, model + sink), torch and OpenCV 1 thread each (the
  stages overlap across the 2 cores instead of splitting each op across them).
* ``per_node``: the same graph with a thread per node (4 threads), for comparison.
* ``slowest stage``: the standalone throughput of the slowest stage (1 thread), and the 2-core
  bound min(1/max stage, 2/sum of stages).

Goals: graphrun >= 0.85 x slowest stage, and >= 1.5 x serial-1t at ratio 1.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Context, Emit, Input, Node, NodeParams, Output, Source, register
from graphrun.runtime.types import ANY, FRAME, VideoFrame

from common import median_ms  # noqa: E402 - bench/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out"


# ----------------------------------------------------------------------------- input clip
def make_clip(width: int = 1280, height: int = 720, fps: int = 30, name: str = "clip720.mp4") -> Path:
    """A H.264 clip of real footage (DAVIS dance-twirl, upscaled), made once and cached."""
    path = OUT / name
    if path.is_file():
        return path
    import av
    import cv2
    OUT.mkdir(exist_ok=True)
    seq = DATA / "davis" / "JPEGImages" / "480p" / "dance-twirl"
    files = sorted(seq.glob("*.jpg")) if seq.is_dir() else []
    if files:
        frames = (cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files)
    else:
        from graphrun.nodes.io.synthetic import render_scene
        frames = iter(render_scene(frames=60, width=426, height=240)[0])
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "20", "preset": "veryfast"}
        for img in frames:
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.rename(path)
    return path


# ----------------------------------------------------------------------------- bench nodes
@register("bench_video")
class BenchVideo(Source):
    """Decode a video file (graphrun.nodes.io.decode), looped to ``frames`` frames; records yield times."""

    frame = Output(FRAME)
    yielded: dict = {}  # index -> perf_counter when the frame was decoded (class level, read by the bench)

    class Params(NodeParams):
        path: str = Field(..., description="video file")
        frames: int = Field(150, ge=1, description="frames to emit (the file is looped)")
        backend: str = Field("opencv", description="decoder backend")
        threads: int = Field(1, ge=0, description="decoder threads")
        fps: float = Field(30.0, gt=0, description="nominal rate (pts = index / fps)")

    def generate(self, ctx):
        from graphrun.nodes.io.decode import open_decoder
        p = self.params
        n = 0
        while n < p.frames:
            with open_decoder(p.path, p.backend, p.threads) as dec:
                for rgb, _, _ in dec.frames():
                    BenchVideo.yielded[n] = time.perf_counter()
                    yield Emit({"frame": VideoFrame(rgb, n, n / p.fps, f"{n:05d}")}, pts=n / p.fps)
                    n += 1
                    if n >= p.frames:
                        return

    def fps(self):
        return self.params.fps

    def length(self):
        return self.params.frames


@register("bench_record")
class BenchRecord(Node):
    """Null sink that records (index, pts, perf_counter) of every packet (class level)."""

    x = Input(ANY)
    records: list = []

    def process(self, ctx, x):
        BenchRecord.records.append((ctx.index, ctx.pts, time.perf_counter()))
        return None


def steady_fps(done_times) -> float:
    """Frames per second between the first and the last finished frame."""
    t = sorted(done_times)
    return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else float("nan")


# ----------------------------------------------------------------------------- threads
def set_threads(n: int) -> None:
    """torch intra-op threads and OpenCV threads. graphrun's worker threads created after this call
    adopt the torch setting (torch initialises a thread's pool size from the global value)."""
    import cv2
    import torch
    torch.set_num_threads(n)
    cv2.setNumThreads(n)


def sync_fn(device):
    import torch
    dev = torch.device(device)
    return (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)


# ----------------------------------------------------------------------------- stages alone
def make_nodes(device: str, clip: Path, frames: int, model_size: Optional[int], dec_threads: int = 1):
    from graphrun.nodes.models.preprocess import Preprocess
    from graphrun.nodes.models.torchvision_model import TorchvisionModel
    ctx = Context(name="bench", device=__import__("torch").device(device))
    src = BenchVideo(BenchVideo.Params(path=str(clip), frames=frames, threads=dec_threads))
    pre = Preprocess(Preprocess.Params(resize=256, crop=224))
    model = TorchvisionModel(TorchvisionModel.Params(model="resnet18", input_size=model_size))
    for n in (src, pre, model):
        n.setup(ctx)
    return ctx, src, pre, model


def stage_costs(device: str, clip: Path, frames: int, model_size: int, reps: int = 15) -> dict:
    """ms per frame of each stage alone (1 thread): decode, preprocess, model."""
    ctx, src, pre, model = make_nodes(device, clip, frames, model_size)
    sync = sync_fn(device)
    t = time.perf_counter()
    imgs = [e.outputs["frame"] for e in src.generate(ctx)]
    decode = (time.perf_counter() - t) / len(imgs) * 1e3
    it = iter(range(10**9))
    p = median_ms(lambda: pre.process(ctx, frame=imgs[next(it) % len(imgs)]), reps, sync)
    x = pre.process(ctx, frame=imgs[0])["tensor"]
    m = median_ms(lambda: model.process(ctx, x=x), reps, sync)
    return {"decode": decode, "preprocess": p, "model": m}


def model_ms(device: str, size: int, reps: int = 7) -> float:
    import torch

    from graphrun.nodes.models.torchvision_model import TorchvisionModel
    ctx = Context(name="cal", device=torch.device(device))
    node = TorchvisionModel(TorchvisionModel.Params(model="resnet18", input_size=size))
    node.setup(ctx)
    x = torch.randn(3, 224, 224, device=device)
    return median_ms(lambda: node.process(ctx, x=x), reps, sync_fn(device))


def calibrate_size(device: str, target_ms: float, lo: int = 32, hi: int = 4096) -> tuple[int, float]:
    """ResNet-18 input size (multiple of 8) whose call costs about ``target_ms`` (cost ~ size^2)."""
    size = 160
    best = None
    for _ in range(6):
        ms = model_ms(device, size)
        if best is None or abs(ms - target_ms) < abs(best[1] - target_ms):
            best = (size, ms)
        if abs(ms - target_ms) < 0.07 * target_ms:
            break
        new = int(round(size * (target_ms / ms) ** 0.5 / 8)) * 8
        new = max(lo, min(hi, new))
        if new == size:
            break
        size = new
    return best


# ----------------------------------------------------------------------------- the two ways
def run_serial(device: str, clip: Path, frames: int, model_size: int, threads: int) -> float:
    """The plain loop: decode, preprocess, model, result to host, one frame after the other."""
    set_threads(threads)
    try:
        ctx, src, pre, model = make_nodes(device, clip, frames, model_size, dec_threads=threads)
        done = []
        for i, e in enumerate(src.generate(ctx)):
            ctx.index = i
            x = pre.process(ctx, frame=e.outputs["frame"])["tensor"]
            y = model.process(ctx, x=x)["logits"]
            y.cpu()  # what the CPU sink of the graph does (waits for the device)
            done.append(time.perf_counter())
        return steady_fps(done)
    finally:
        set_threads(1)


def graph_spec(clip: Path, frames: int, model_size: int, device: str, mode: str = "offline",
               max_in_flight: int = 1) -> dict:
    return {
        "name": "overlap", "mode": mode, "device": device,
        "realtime": {"max_in_flight": max_in_flight},
        "nodes": {
            "src": {"kind": "bench_video", "params": {"path": str(clip), "frames": frames, "threads": 1}},
            "pre": {"kind": "preprocess", "params": {"resize": 256, "crop": 224}},
            "model": {"kind": "torchvision_model", "params": {"model": "resnet18", "input_size": model_size}},
            "sink": {"kind": "bench_record"},
        },
        # a queue before the model: decode + preprocess on one thread, model + sink on the other
        "edges": ["src.frame -> pre.frame", {"from": "pre.tensor", "to": "model.x", "queue": True},
                  "model.logits -> sink.x"],
    }


def run_graphrun(device: str, clip: Path, frames: int, model_size: int, executor: str = "fused") -> tuple[float, dict]:
    from graphrun.runtime.run import run_graph
    set_threads(1)
    BenchRecord.records = []
    res = run_graph(graph_spec(clip, frames, model_size, device), progress=False, executor=executor)
    return steady_fps([r[2] for r in BenchRecord.records]), res.stats


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0, 2.0],
                    help="model cost / (decode + preprocess) cost")
    args = ap.parse_args(argv)
    import torch
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but CUDA is not available")
    set_threads(1)
    t_start = time.perf_counter()
    clip = make_clip()
    base = stage_costs(args.device, clip, min(args.frames, 90), 112)
    front = base["decode"] + base["preprocess"]
    print(f"clip {clip.name}; decode {base['decode']:.2f} ms + preprocess {base['preprocess']:.2f} ms "
          f"= {front:.2f} ms per frame (1 thread each), device {args.device}")

    rows = []
    for ratio in args.ratios:
        size, cal_ms = calibrate_size(args.device, ratio * front)
        costs = stage_costs(args.device, clip, min(args.frames, 90), size)
        per = [costs["decode"], costs["preprocess"], costs["model"]]
        slowest = 1e3 / max(per)
        bound = min(1e3 / max(per), 2e3 / sum(per))
        runs = {"serial-1t": [], "serial-2t": [], "graphrun": [], "per_node": []}
        stats = None
        for _ in range(args.reps):
            runs["serial-1t"].append(run_serial(args.device, clip, args.frames, size, 1))
            runs["serial-2t"].append(run_serial(args.device, clip, args.frames, size, 2))
            fps, stats = run_graphrun(args.device, clip, args.frames, size)
            runs["graphrun"].append(fps)
            runs["per_node"].append(run_graphrun(args.device, clip, args.frames, size, "per_node")[0])
        med = {k: statistics.median(v) for k, v in runs.items()}
        rows.append(dict(ratio=ratio, size=size, costs=costs, slowest=slowest, bound=bound, med=med,
                         in_graph={n: stats["nodes"][n]["mean_ms"] for n in ("src", "pre", "model")}))

    hdr = (f"{'ratio':>5s} {'size':>4s} {'dec ms':>7s} {'pre ms':>7s} {'model ms':>8s} | {'serial-1t':>9s} "
           f"{'serial-2t':>9s} {'graphrun':>9s} {'per_node':>9s} {'slowest':>8s} {'2-core':>7s} | {'g/serial1':>9s} "
           f"{'g/serial2':>9s} {'g/slowest':>9s}")
    print(f"\nframes/s (median of {args.reps}, {args.frames} frames, steady state); "
          f"ratio = model cost / (decode + preprocess); graphrun = the default fused executor (2 threads: "
          f"a queue before the model), per_node = a thread per node")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        c, m = r["costs"], r["med"]
        print(f"{r['ratio']:5.2f} {r['size']:4d} {c['decode']:7.2f} {c['preprocess']:7.2f} {c['model']:8.2f} | "
              f"{m['serial-1t']:9.1f} {m['serial-2t']:9.1f} {m['graphrun']:9.1f} {m['per_node']:9.1f} "
              f"{r['slowest']:8.1f} "
              f"{r['bound']:7.1f} | {m['graphrun'] / m['serial-1t']:8.2f}x {m['graphrun'] / m['serial-2t']:8.2f}x "
              f"{m['graphrun'] / r['slowest']:8.2f}x")
    print("\nstage cost inside graphrun (mean ms per call, last rep) vs alone:")
    for r in rows:
        g, c = r["in_graph"], r["costs"]
        print(f"  ratio {r['ratio']:.2f}: decode {g['src']:.2f} (alone {c['decode']:.2f}), preprocess {g['pre']:.2f} "
              f"(alone {c['preprocess']:.2f}), model {g['model']:.2f} (alone {c['model']:.2f})")
    one = min(rows, key=lambda r: abs(r["ratio"] - 1.0))
    ok1 = one["med"]["graphrun"] >= 0.85 * one["slowest"]
    ok2 = one["med"]["graphrun"] >= 1.5 * one["med"]["serial-1t"]
    print(f"\ngoals at ratio {one['ratio']:.2f}: graphrun >= 0.85 x slowest stage: {'MET' if ok1 else 'NOT MET'} "
          f"({one['med']['graphrun'] / one['slowest']:.2f}x); graphrun >= 1.5 x serial loop: "
          f"{'MET' if ok2 else 'NOT MET'} ({one['med']['graphrun'] / one['med']['serial-1t']:.2f}x)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = np.arange(len(rows))
    names = ["serial-1t", "serial-2t", "graphrun"]
    w = 0.2
    for i, n in enumerate(names):
        ax.bar(x + i * w, [r["med"][n] for r in rows], w, label=n)
    ax.bar(x + 3 * w, [r["slowest"] for r in rows], w, label="slowest stage alone", color="0.7")
    ax.plot(x + 1.5 * w, [r["bound"] for r in rows], "k_", markersize=40, label="2-core bound")
    ax.set_xticks(x + 1.5 * w, [f"model = {r['ratio']:g} x front\n(input {r['size']}px)" for r in rows])
    ax.set_ylabel("frames / s")
    ax.set_title(f"decode 720p -> preprocess -> ResNet-18 -> sink ({args.device}, 2 cores)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = OUT / "overlap.png"
    fig.savefig(path, dpi=100)
    print(f"plot: {path}; total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()

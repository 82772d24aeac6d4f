"""Clip loading throughput: ClipDataset through a torch DataLoader, clips/s by loader settings.

    python bench/loader.py [--reps 3] [--clip-len 8] [--batch-size 4] [--device cpu|cuda]

Dataset: every back-to-back clip of ``--clip-len`` frames of ../shared/data/videos/{dancer.mp4,
pancake.mkv, traffic.avi} (98 clips of 8 frames; synthetic clips made into bench/out/ when the
shared data is absent), each centre-cropped to 224x224 so clips of different videos share a batch.
Grid: ``num_workers`` 0/1/2/4 x ``pin_memory`` x ``prefetch_factor`` 2/4 (prefetch needs workers).
One epoch per measurement, worker start-up included ("epoch" clips/s), and the rate after the
first batch arrived ("steady"). With ``--device cuda`` every batch is copied to the GPU
(``non_blocking=True``), which is where ``pin_memory`` matters; without CUDA the DataLoader
ignores ``pin_memory`` and those rows repeat the unpinned ones. The last row runs the
``dataloader_source`` node (2 workers) into a ``null_sink`` through the graph runtime.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHARED = ROOT.parent / "shared" / "data" / "videos"


class CenterCrop:
    """Crop (T,H,W,3) clips to (T,S,S,3) around the centre (picklable, for worker processes)."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, clip):
        t, h, w, _ = clip.shape
        s = self.size
        y, x = max((h - s) // 2, 0), max((w - s) // 2, 0)
        return clip[:, y:y + s, x:x + s].contiguous()


def synthetic_videos() -> list[Path]:
    import av

    paths = []
    for k, (w, h, n) in enumerate([(640, 480, 120), (426, 240, 300), (640, 360, 360)]):
        p = OUT / f"loader_synth{k}.mp4"
        paths.append(p)
        if p.exists():
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(p), "w") as out:
            s = out.add_stream("libx264", rate=30)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for i in range(n):
                img = np.full((h, w, 3), (i * 3) % 256, np.uint8)
                img[40:120, (4 * i) % (w - 80):(4 * i) % (w - 80) + 80] = 255
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(pkt)
            for pkt in s.encode():
                out.mux(pkt)
    return paths


def one_epoch(ds, device, **loader_kw) -> tuple[float, float, int]:
    """(seconds for the epoch, seconds after the first batch, clips)."""
    import torch

    from graphrun.nodes.io.dataloader import make_loader

    t0 = time.perf_counter()
    loader = make_loader(ds, **loader_kw)
    t_first = None
    clips = 0
    for batch in loader:
        if device != "cpu":
            batch = batch.to(device, non_blocking=True)
        clips += batch.shape[0]
        if t_first is None:
            t_first = time.perf_counter()
    if device != "cpu":
        torch.cuda.synchronize()
    t_end = time.perf_counter()
    return t_end - t0, t_end - t_first, clips


def graph_epoch(paths, clip_len, batch_size, device) -> tuple[float, int]:
    from graphrun.runtime.run import run_graph

    g = {"name": "loader", "device": device,
         "nodes": {"src": {"kind": "dataloader_source",
                           "params": {"paths": [str(p) for p in paths], "clip_len": clip_len, "batch_size": 1,
                                      "num_workers": 2, "pin_memory": device != "cpu"}},
                   "sink": {"kind": "null_sink"}},
         "edges": ["src.batch -> sink.x"]}
    t = time.perf_counter()
    n = run_graph(g).stats["frames"]
    return time.perf_counter() - t, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--clip-len", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda asked but CUDA is not available", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    import warnings
    warnings.filterwarnings("ignore", message="This DataLoader will create")  # 4 workers on 2 cores: on purpose

    from graphrun.nodes.io.dataloader import ClipDataset

    paths = [SHARED / n for n in ("dancer.mp4", "pancake.mkv", "traffic.avi")]
    if not all(p.exists() for p in paths):
        print("shared videos absent: using synthetic clips in bench/out/")
        paths = synthetic_videos()
    ds = ClipDataset(paths, clip_len=args.clip_len, transform=CenterCrop(224))
    print(f"{len(ds)} clips of {args.clip_len} frames from {', '.join(p.name for p in paths)} "
          f"(frames {ds.frame_counts}), batch {args.batch_size}, device {args.device}")

    configs = []
    for w in args.workers:
        for pin in (False, True):
            for pf in ((None,) if w == 0 else (2, 4)):
                configs.append({"num_workers": w, "pin_memory": pin, "prefetch_factor": pf})
    res = {i: {"epoch": [], "steady": []} for i in range(len(configs))}
    graph_times = []
    t_all = time.perf_counter()
    one_epoch(ds, args.device, batch_size=args.batch_size)  # warm-up: file cache, imports
    for _ in range(args.reps):
        for i, cfg in enumerate(configs):
            total, steady, clips = one_epoch(ds, args.device, batch_size=args.batch_size, **cfg)
            assert clips == len(ds), (clips, len(ds))
            res[i]["epoch"].append(clips / total)
            # rate after the first batch: the batches that came after it
            res[i]["steady"].append((clips - args.batch_size) / steady if steady > 0 else float("nan"))
        graph_times.append(graph_epoch(paths, args.clip_len, args.batch_size, args.device))
    wall = time.perf_counter() - t_all

    print(f"\nclips/s (clip = {args.clip_len} frames; x{args.clip_len} for frames/s), median of {args.reps}")
    print(f"{'workers':>7} {'pin':>5} {'prefetch':>8} {'epoch':>8} {'steady':>8}")
    rows = []
    for i, cfg in enumerate(configs):
        e, s = statistics.median(res[i]["epoch"]), statistics.median(res[i]["steady"])
        rows.append({**cfg, "epoch_clips_s": e, "steady_clips_s": s})
        print(f"{cfg['num_workers']:>7} {str(cfg['pin_memory']):>5} {str(cfg['prefetch_factor'] or '-'):>8} "
              f"{e:8.1f} {s:8.1f}")
    g_t = statistics.median(t for t, _ in graph_times)
    g_n = graph_times[0][1]
    print(f"graph dataloader_source(2 workers, batch 1) -> null_sink: {g_n / g_t:.1f} clips/s (epoch)")
    print(f"\nbench wall time {wall:.0f} s")

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "loader.json").write_text(json.dumps({"clips": len(ds), "clip_len": args.clip_len,
                                                 "batch_size": args.batch_size, "device": args.device,
                                                 "rows": rows, "graph_clips_s": g_n / g_t}, indent=1))
    plot(rows, args, OUT / "loader.png")
    print(f"wrote {OUT / 'loader.png'} and {OUT / 'loader.json'}")
    return 0


def plot(rows, args, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"w{r['num_workers']}\n{'pin' if r['pin_memory'] else 'nopin'}\npf{r['prefetch_factor'] or '-'}"
              for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["epoch_clips_s"] for r in rows], 0.4, label="epoch (worker start-up included)")
    ax.bar(x + 0.2, [r["steady_clips_s"] for r in rows], 0.4, label="after the first batch")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel(f"clips/s ({args.clip_len} frames each)")
    ax.set_title(f"ClipDataset + DataLoader, batch {args.batch_size}, device {args.device}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

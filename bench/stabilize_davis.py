"""Stabilization on DAVIS-2016 (OSVOS, RVOS, MediaPipe predictions) and on the synthetic scene.

Runs the stabilizer chain (the nodes of graphs/davis.yaml, called directly: same code, same
wiring, see graphrun.nodes.stabilize_chain) on each sequence and prints, per sequence, J and F
(accuracy against ground truth) next to the flow-compensated IoU between consecutive masks
(warp-IoU; the ground truth's own warp-IoU shows how much change is real motion). The metric's
flow is DIS medium at full resolution, computed here independently of the stabilizer's flow.

    python bench/stabilize_davis.py                      # OSVOS + RVOS + MediaPipe, ~3 min on 2 cores
    python bench/stabilize_davis.py --preds osvos --loo  # + leave-one-sequence-out tuning check
    python bench/stabilize_davis.py --synthetic          # + the synthetic scene (graphs/stabilize.yaml)
    python bench/stabilize_davis.py --device cuda

Writes bench/out/stabilize_davis_<preds>.png.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"

# the parameters of graphs/stabilize.yaml (synthetic static-camera scene)
SYNTHETIC_PARAMS = {"flow": {"preset": "medium"}, "fuse": {"beta_fill": 0.95, "beta_remove": 0.6, "fb_sigma": 10.0},
                    "thresh": {"smooth_sigma": 2.5, "penalty": 10.0}, "guard": {"near_frac": 0.2}}
# a small grid for the leave-one-out check (the node defaults are one of its points)
LOO_GRID = {"fuse.beta_fill": [0.5, 0.6, 0.7], "fuse.beta_remove": [0.2, 0.3, 0.45],
            "guard.near_frac": [0.1, 0.2], "thresh.smooth_sigma": [1.0, 1.5, 2.5]}


def metric_flows(frames):
    import cv2

    from graphrun.nodes.eval.metrics import dis_flow

    dis = cv2.DISOpticalFlow_create(2)
    return [None] + [dis_flow(frames[t], frames[t - 1], dis=dis) for t in range(1, len(frames))]


def evaluate(masks, gts, flows, with_f=True):
    from graphrun.nodes.eval.metrics import sequence_metrics

    s, _ = sequence_metrics(list(masks), list(gts), flows)
    if not with_f:
        s["F"] = None
    return s


def run_sequence(frames, preds, params, device, scores=None):
    from graphrun.nodes.stabilize_chain import stabilize_sequence

    t0 = time.perf_counter()
    masks, _ = stabilize_sequence(frames, preds, params, scores=scores, device=device)
    return masks, (time.perf_counter() - t0) / len(frames) * 1000.0


def bench_predictions(method, seqs, args, cache):
    from graphrun.nodes.io.davis import load_davis

    rows = []
    for seq in seqs:
        pred_dir = DATA / "davis" / "predictions" / method / seq
        if not pred_dir.is_dir():
            continue
        if seq not in cache:
            _, frames, _, gts = load_davis(DATA / "davis", seq, "osvos")
            cache[seq] = (frames, gts, metric_flows(frames))
        frames, gts, flows = cache[seq]
        _, _, preds, _ = load_davis(DATA / "davis", seq, method)
        times = []
        for _ in range(max(1, args.reps)):
            masks, ms = run_sequence(frames, preds, None, args.device)
            times.append(ms)
        raw = evaluate(preds >= 0.5, gts, flows)
        stab = evaluate(masks, gts, flows)
        gt = evaluate(gts, gts, flows, with_f=False)
        rows.append({"seq": seq, "raw": raw, "stab": stab, "gt": gt, "ms": statistics.median(times),
                     "frames": len(frames)})
    return rows


def print_table(method, rows):
    print(f"\n### {method} ({len(rows)} sequences; J/F vs ground truth, warp-IoU = flow-compensated "
          f"consecutive IoU)\n")
    print("| sequence | J raw | J stab | dJ | F raw | F stab | warp-IoU raw | warp-IoU stab | warp-IoU GT "
          "| cons. IoU raw | cons. IoU stab | cons. IoU GT | ms/frame |")
    print("|---|" + "---|" * 12)
    for r in rows:
        a, b, g = r["raw"], r["stab"], r["gt"]
        print(f"| {r['seq']} | {a['J']:.3f} | {b['J']:.3f} | {b['J'] - a['J']:+.3f} | {a['F']:.3f} | {b['F']:.3f} "
              f"| {a['warp_iou']:.3f} | {b['warp_iou']:.3f} | {g['warp_iou']:.3f} | {a['consecutive_iou']:.3f} "
              f"| {b['consecutive_iou']:.3f} | {g['consecutive_iou']:.3f} | {r['ms']:.1f} |")
    m = lambda k, s: float(np.mean([r[s][k] for r in rows]))  # noqa: E731
    dj = m('J', 'stab') - m('J', 'raw')
    print(f"| **mean** | **{m('J', 'raw'):.3f}** | **{m('J', 'stab'):.3f}** | **{dj:+.3f}** "
          f"| {m('F', 'raw'):.3f} | {m('F', 'stab'):.3f} | **{m('warp_iou', 'raw'):.3f}** | "
          f"**{m('warp_iou', 'stab'):.3f}** | {m('warp_iou', 'gt'):.3f} | {m('consecutive_iou', 'raw'):.3f} | "
          f"{m('consecutive_iou', 'stab'):.3f} | {m('consecutive_iou', 'gt'):.3f} | "
          f"{np.median([r['ms'] for r in rows]):.1f} |")


def plot(method, rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(rows))
    for ax, key, title in ((axes[0], "J", "J (IoU with ground truth)"),
                           (axes[1], "warp_iou", "warp-IoU (consecutive, flow-compensated)")):
        ax.bar(x - 0.27, [r["raw"][key] for r in rows], 0.27, label="raw")
        ax.bar(x, [r["stab"][key] for r in rows], 0.27, label="stabilized")
        if key == "warp_iou":
            ax.bar(x + 0.27, [r["gt"][key] for r in rows], 0.27, label="ground truth")
        ax.set_xticks(x, [r["seq"] for r in rows], rotation=20)
        ax.set_ylim(0, 1)
        ax.set_title(f"{method}: {title}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / f"stabilize_davis_{method}.png", dpi=110)
    plt.close(fig)


def leave_one_out(seqs, args, cache):
    """Pick the grid point with the best mean J gain on 4 sequences, score it on the 5th."""
    from graphrun.nodes.eval.metrics import iou
    from graphrun.nodes.io.davis import load_davis

    keys = list(LOO_GRID)
    points = list(itertools.product(*LOO_GRID.values()))
    gains = np.zeros((len(points), len(seqs)))
    preds = {s: load_davis(DATA / "davis", s, "osvos")[2] for s in seqs}
    for i, vals in enumerate(points):
        params: dict = {}
        for k, v in zip(keys, vals):
            node, name = k.split(".")
            params.setdefault(node, {})[name] = v
        for j, seq in enumerate(seqs):
            frames, gts, _ = cache[seq]
            masks, _ = run_sequence(frames, preds[seq], params, args.device)
            gains[i, j] = (np.mean([iou(m, g) for m, g in zip(masks, gts)])
                           - np.mean([iou(p >= 0.5, g) for p, g in zip(preds[seq], gts)]))
        print(f"  grid {i + 1}/{len(points)}", end="\r", file=sys.stderr)
    print("\n### leave-one-sequence-out (OSVOS): parameters chosen on the other four\n")
    print("| held-out sequence | chosen (" + ", ".join(keys) + ") | dJ held-out | dJ with the defaults |")
    print("|---|---|---|---|")
    default = tuple([0.6, 0.3, 0.2, 1.5])
    d_idx = points.index(default) if default in points else None
    held = []
    for j, seq in enumerate(seqs):
        others = [k for k in range(len(seqs)) if k != j]
        best = int(np.argmax(gains[:, others].mean(1)))
        held.append(gains[best, j])
        dflt = f"{gains[d_idx, j]:+.3f}" if d_idx is not None else "-"
        print(f"| {seq} | {points[best]} | {gains[best, j]:+.3f} | {dflt} |")
    print(f"| **mean** | | **{np.mean(held):+.3f}** | "
          f"{gains[d_idx].mean():+.3f} |" if d_idx is not None else "")


def synthetic(args):
    from graphrun.nodes.io.synthetic import Scene, SyntheticScene, render_scene
    from graphrun.nodes.models.bg_subtract import BgSubtract
    from graphrun.runtime import Context
    from graphrun.runtime.types import VideoFrame

    print("\n### synthetic scene (graphs/stabilize.yaml: bg_subtract + the stabilizer), 120 frames\n")
    print("| seed | stream | cons. IoU | mean L1 | area CV | warp-IoU | J | F | ghost frames | ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        frames, gts = render_scene(seed=seed)
        plate = VideoFrame(Scene(SyntheticScene.Params(seed=seed)).plate(), 0, 0.0, "background")
        seg = BgSubtract()
        ctx = Context(name="seg")
        seg.setup(ctx)
        probs, scores = [], []
        for i, f in enumerate(frames):
            ctx.index = i
            o = seg.process(ctx, frame=VideoFrame(f, i, i / 30, f"{i:05d}"), background=plate)
            probs.append(o["prob"].numpy())
            scores.append(o["score"])
        flows = metric_flows(frames)
        times = []
        for _ in range(max(1, args.reps)):
            masks, ms = run_sequence(frames, probs, SYNTHETIC_PARAMS, args.device, scores=scores)
            times.append(ms)
        rows = {"raw": evaluate([p >= 0.5 for p in probs], gts, flows), "stabilized": evaluate(masks, gts, flows),
                "ground truth": evaluate(gts, gts, flows, with_f=False)}
        for name, s in rows.items():
            f = "-" if s["F"] is None else f"{s['F']:.3f}"
            gf = "-" if name == "ground truth" else s["ghost_frames"]
            t = f"{statistics.median(times):.1f}" if name == "stabilized" else ""
            print(f"| {seed} | {name} | {s['consecutive_iou']:.4f} | {s['l1']:.5f} | {s['area_cv']:.3f} | "
                  f"{s['warp_iou']:.4f} | {s['J']:.4f} | {f} | {gf} | {t} |")
        print(f"| {seed} | raw L1 / stabilized L1 | | **{rows['raw']['l1'] / rows['stabilized']['l1']:.2f}x** "
              f"| | | | | | |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preds", default="all", help="osvos, rvos, mediapipe_pose or all")
    ap.add_argument("--seqs", default="all", help="comma-separated sequence names (default: the five)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for the ms/frame median")
    ap.add_argument("--loo", action="store_true", help="also run the leave-one-out check (~54 configs)")
    ap.add_argument("--synthetic", action="store_true", help="also run the synthetic scene")
    ap.add_argument("--seeds", default="0,1,2", help="synthetic seeds")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    import torch

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    from graphrun.nodes.io.davis import DAVIS_SEQUENCES

    seqs = list(DAVIS_SEQUENCES) if args.seqs == "all" else args.seqs.split(",")
    # warm-up (imports, OpenCV/torch first calls) so that the first timed sequence is not penalized
    rng = np.random.default_rng(0)
    run_sequence(rng.integers(0, 255, (3, 64, 64, 3), dtype=np.uint8), np.zeros((3, 64, 64), np.float32),
                 None, args.device)
    methods = ["osvos", "rvos", "mediapipe_pose"] if args.preds == "all" else args.preds.split(",")
    if not (DATA / "davis").is_dir():
        print(f"DAVIS data not found in {DATA / 'davis'}", file=sys.stderr)
    else:
        cache: dict = {}
        for method in methods:
            rows = bench_predictions(method, seqs, args, cache)
            if rows:
                print_table(method, rows)
                plot(method, rows)
        if args.loo:
            for s in seqs:
                if s not in cache:
                    from graphrun.nodes.io.davis import load_davis
                    _, frames, _, gts = load_davis(DATA / "davis", s, "osvos")
                    cache[s] = (frames, gts, None)
            leave_one_out(seqs, args, cache)
    if args.synthetic:
        synthetic(args)


if __name__ == "__main__":
    main()

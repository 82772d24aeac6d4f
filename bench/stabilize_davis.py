"""Stabilization on DAVIS-2016 (OSVOS, RVOS, MediaPipe predictions) and on the synthetic scene.

Runs the shipped graphs through the Python API — graphs/davis.yaml per sequence and prediction
set, graphs/stabilize.yaml per synthetic seed — so every number is the graph's number by
construction. Prints, per sequence, J and F (accuracy against ground truth) next to the
flow-compensated IoU between consecutive masks (warp-IoU; the ground truth's own warp-IoU shows
how much change is real motion), as measured by the graphs' own `metrics` node (DIS medium at
full resolution, independent of the stabilizer's flow). Outputs other than metrics are off.

    python bench/stabilize_davis.py                      # OSVOS + RVOS + MediaPipe, ~4 min on 2 cores
    python bench/stabilize_davis.py --preds none --loo  # leave-one-sequence-out over OSVOS, RVOS, MediaPipe (~45 min)
    python bench/stabilize_davis.py --synthetic          # + the synthetic scene (graphs/stabilize.yaml)
    python bench/stabilize_davis.py --device cuda

Writes bench/out/stabilize_davis_<preds>.png.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from pathlib import Path

import numpy as np

import graphrun

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
SEQUENCES = ("blackswan", "bmx-trees", "car-shadow", "dance-twirl", "kite-surf")
METRICS_ONLY = ["out.raw_masks.enabled=false", "out.stab_masks.enabled=false", "out.overlay.enabled=false",
                "out.report.enabled=false"]
# the leave-one-out grid: each axis maps a label to its settings (every axis explicit, so that the
# graph's own values do not leak in); the point graphs/davis.yaml ships is SHIPPED
LOO_AXES = {
    "look-ahead": {"causal": ["stab.lookahead=0", "stab.glitch.min_frac=0.1"],
                   **{f"{k} frame{'s' if k > 1 else ''}, min_frac 0.05":
                      [f"stab.lookahead={k}", "stab.glitch.min_frac=0.05"] for k in (1, 2, 3, 4, 5)}},
    "fuse.fb_sigma": {"3 px": ["stab.fuse.fb_sigma=3"]},
}
SHIPPED = ("3 frames, min_frac 0.05", "3 px")


def run(graph: str, sets: list, device: str) -> tuple[dict, float]:
    """One run of a shipped graph (inline executor): its metrics summary and the stabilizer's ms/frame."""
    result = graphrun.load(graph, set=sets + METRICS_ONLY).run(executor="inline", device=device)
    stab_s = sum(n["total_s"] for name, n in result.stats["nodes"].items() if name.startswith("stab."))
    return result.results["metrics"], stab_s / max(1, result.stats["frames"]) * 1000.0


def davis_sets(seq: str, method: str) -> list:
    return [f"vars.root={DATA / 'davis'}", f"vars.seq={seq}", f"vars.pred={method}"]


def bench_predictions(method, seqs, args):
    rows = []
    for seq in seqs:
        if not (DATA / "davis" / "predictions" / method / seq).is_dir():
            continue
        runs = [run("davis", davis_sets(seq, method), args.device) for _ in range(max(1, args.reps))]
        m = runs[0][0]
        rows.append({"seq": seq, "raw": m["raw"], "stab": m["stabilized"], "gt": m["gt"],
                     "ms": statistics.median(ms for _, ms in runs)})
        print(f"  {method} {seq} done", file=sys.stderr)
    return rows


def print_table(method, rows):
    print(f"\n### {method} ({len(rows)} sequences; J/F vs ground truth, warp-IoU = flow-compensated "
          f"consecutive IoU)\n")
    print("| sequence | J raw | J stab | dJ | much-worse frames | F raw | F stab | warp-IoU raw | warp-IoU stab "
          "| warp-IoU GT | cons. IoU raw | cons. IoU stab | cons. IoU GT | lag frames stab | ms/frame |")
    print("|---|" + "---|" * 14)
    for r in rows:
        a, b, g = r["raw"], r["stab"], r["gt"]
        print(f"| {r['seq']} | {a['J']:.3f} | {b['J']:.3f} | {b['J'] - a['J']:+.3f} | {b['frames_worse_than_raw']} "
              f"| {a['F']:.3f} | {b['F']:.3f} "
              f"| {a['warp_iou']:.3f} | {b['warp_iou']:.3f} | {g['warp_iou']:.3f} | {a['consecutive_iou']:.3f} "
              f"| {b['consecutive_iou']:.3f} | {g['consecutive_iou']:.3f} | {b.get('lag_frames', '-')} "
              f"| {r['ms']:.1f} |")
    m = lambda k, s: float(np.mean([r[s][k] for r in rows]))  # noqa: E731
    dj = m('J', 'stab') - m('J', 'raw')
    print(f"| **mean** | **{m('J', 'raw'):.3f}** | **{m('J', 'stab'):.3f}** | **{dj:+.3f}** "
          f"| **{sum(r['stab']['frames_worse_than_raw'] for r in rows)}** "
          f"| {m('F', 'raw'):.3f} | {m('F', 'stab'):.3f} | **{m('warp_iou', 'raw'):.3f}** | "
          f"**{m('warp_iou', 'stab'):.3f}** | {m('warp_iou', 'gt'):.3f} | {m('consecutive_iou', 'raw'):.3f} | "
          f"{m('consecutive_iou', 'stab'):.3f} | {m('consecutive_iou', 'gt'):.3f} | "
          f"{sum(r['stab'].get('lag_frames') or 0 for r in rows)} | {np.median([r['ms'] for r in rows]):.1f} |")


def plot(method, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def _gain(job):
    seq, method, sets, device = job
    m, _ = run("davis", davis_sets(seq, method) + sets + ["out.metrics.flow_preset=off", "out.metrics.lag_frac=0"],
               device)
    return m["stabilized"]["J"] - m["raw"]["J"], m["stabilized"]["frames_worse_than_raw"]


def leave_one_out(seqs, args):
    """Per held-out sequence: the grid point with the best mean J gain on the other sequences (every
    prediction set in --loo-preds), scored on the held-out one (each prediction set)."""
    from concurrent.futures import ProcessPoolExecutor

    methods = [m for m in args.loo_preds.split(",") if m]
    points = list(itertools.product(*(axis.keys() for axis in LOO_AXES.values())))
    cols = [(seq, m) for seq in seqs for m in methods if (DATA / "davis" / "predictions" / m / seq).is_dir()]
    jobs = [(seq, m, [x for axis, label in zip(LOO_AXES.values(), pt) for x in axis[label]], args.device)
            for pt in points for seq, m in cols]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        flat = list(pool.map(_gain, jobs))
    gains = np.array([g for g, _ in flat]).reshape(len(points), len(cols))
    worse = np.array([w for _, w in flat]).reshape(len(points), len(cols))
    print(f"\n### leave-one-sequence-out ({', '.join(methods)}; {len(points)} points): chosen on the other "
          f"sequences, scored on the held-out one\n")
    print("| held-out | chosen (" + "; ".join(LOO_AXES) + ") | " + " | ".join(f"dJ held-out {m}" for m in methods)
          + " | " + " | ".join(f"dJ shipped {m}" for m in methods) + " | much-worse frames held-out | shipped |")
    print("|---|---|" + "---|" * (2 * len(methods) + 2))
    shipped = points.index(SHIPPED)
    held = {m: [] for m in methods}
    held_worse = shipped_worse = 0
    for seq in seqs:
        mine = [j for j, c in enumerate(cols) if c[0] == seq]
        if not mine:
            continue
        others = [j for j, c in enumerate(cols) if c[0] != seq]
        best = int(np.argmax(gains[:, others].mean(1)))
        cells, dflt = [], []
        for m in methods:
            j = next((j for j in mine if cols[j][1] == m), None)
            cells.append("-" if j is None else f"{gains[best, j]:+.3f}")
            dflt.append("-" if j is None else f"{gains[shipped, j]:+.3f}")
            if j is not None:
                held[m].append((gains[best, j], gains[shipped, j]))
        bad, bad_shipped = int(worse[best, mine].sum()), int(worse[shipped, mine].sum())
        held_worse, shipped_worse = held_worse + bad, shipped_worse + bad_shipped
        print(f"| {seq} | {'; '.join(points[best])} | " + " | ".join(cells) + " | " + " | ".join(dflt)
              + f" | {bad} | {bad_shipped} |")
    means = [f"**{np.mean([h for h, _ in held[m]]):+.3f}** (worst {min(h for h, _ in held[m]):+.3f})" for m in methods]
    ship = [f"{np.mean([d for _, d in held[m]]):+.3f} (worst {min(d for _, d in held[m]):+.3f})" for m in methods]
    print("| **mean** | | " + " | ".join(means) + " | " + " | ".join(ship)
          + f" | **{held_worse}** (total) | {shipped_worse} |")
    print("\nEvery point, mean dJ per prediction set:")
    for i, pt in enumerate(points):
        per = [f"{m} {np.mean([gains[i, j] for j, c in enumerate(cols) if c[1] == m]):+.4f}" for m in methods]
        print(f"  {'; '.join(pt)}: " + ", ".join(per) + f", much-worse frames {int(worse[i].sum())}"
              + ("   <- shipped" if i == shipped else ""))


def synthetic(args):
    print("\n### synthetic scene (graphs/stabilize.yaml: bg_subtract + the stabilizer), 120 frames\n")
    print("| seed | stream | cons. IoU | mean L1 | area CV | warp-IoU | J | F | ghost frames | ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        runs = [run("stabilize", [f"source.seed={seed}"], args.device) for _ in range(max(1, args.reps))]
        m = runs[0][0]
        rows = {"raw": m["raw"], "stabilized": m["stabilized"], "ground truth": m["gt"]}
        for name, s in rows.items():
            f = "-" if s.get("F") is None else f"{s['F']:.3f}"
            gf = "-" if name == "ground truth" else s["ghost_frames"]
            j = "-" if s.get("J") is None else f"{s['J']:.4f}"
            t = f"{statistics.median(ms for _, ms in runs):.1f}" if name == "stabilized" else ""
            print(f"| {seed} | {name} | {s['consecutive_iou']:.4f} | {s['l1']:.5f} | {s['area_cv']:.3f} | "
                  f"{s['warp_iou']:.4f} | {j} | {f} | {gf} | {t} |")
        print(f"| {seed} | raw L1 / stabilized L1 | | **{rows['raw']['l1'] / rows['stabilized']['l1']:.2f}x** "
              f"| | | | | | |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preds", default="all", help="osvos, rvos, mediapipe_pose or all")
    ap.add_argument("--seqs", default="all", help="comma-separated sequence names (default: the five)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--reps", type=int, default=1, help="repetitions for the ms/frame median")
    ap.add_argument("--loo", action="store_true", help="also run the leave-one-out check (6 grid points)")
    ap.add_argument("--loo-preds", default="osvos,rvos,mediapipe_pose", help="prediction sets the leave-one-out scores")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel for the leave-one-out grid")
    ap.add_argument("--synthetic", action="store_true", help="also run the synthetic scene")
    ap.add_argument("--seeds", default="0,1,2", help="synthetic seeds")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    seqs = list(SEQUENCES) if args.seqs == "all" else args.seqs.split(",")
    methods = ["osvos", "rvos", "mediapipe_pose"] if args.preds == "all" else args.preds.split(",")
    if not (DATA / "davis").is_dir():
        print(f"DAVIS data not found in {DATA / 'davis'}", file=sys.stderr)
    else:
        for method in methods:
            rows = bench_predictions(method, seqs, args)
            if rows:
                print_table(method, rows)
                plot(method, rows)
        if args.loo:
            leave_one_out(seqs, args)
    if args.synthetic:
        synthetic(args)


if __name__ == "__main__":
    main()

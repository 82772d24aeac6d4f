"""The person graph (graphs/stabilize_person.yaml): mediapipe_person's cost, and what the stabilizer
does to its masks on a moving camera (dancer.mp4, no ground truth) and on the DAVIS person
sequences with ground truth (dance-twirl, kite-surf, bmx-trees).

Every run is graphs/stabilize_person.yaml itself through the Python API (inline executor, outputs
other than metrics off), with ``--set`` overrides: DAVIS frames come from ``image_folder`` and a
``mask_folder`` of ground truth is added. The node's predictions are computed once per model and
replayed (``person_replay``, a bench plugin emitting the same prob and score) so that the
parameter search does not rerun MediaPipe; the saved MediaPipe Pose maps of dancer.mp4
(../shared/data/videos/dancer_mediapipe_pose) run through ``mask_folder``.

    python bench/person.py                       # ms/frame per model + tables, ~5 min on 2 cores
    python bench/person.py --loo --no-tables     # leave-one-sequence-out choice of the stabilizer's parameters
    python bench/person.py --fps --baseline-repo /tmp/person-base --reps 3 --no-tables
        # frames/s of the whole graph, every output written, on dancer.mp4: this checkout vs an older
        # one (``git worktree add --detach /tmp/person-base main``), taking turns
    python bench/person.py --stab-ms --baseline-repo /tmp/person-base --reps 3 --no-tables
        # ms per frame of each stabilizer node at 640x480, one thread, beside the older checkout's

Writes its prediction cache to bench/out/person/.
"""
from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import graphrun
from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FRAME, PROB_MAP, SCALAR

from common import run_checkout  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out" / "person"
DAVIS = ("dance-twirl", "kite-surf", "bmx-trees")
DANCER = DATA / "videos" / "dancer.mp4"
SAVED_POSE = DATA / "videos" / "dancer_mediapipe_pose"
MODELS = ("selfie", "selfie_landscape", "pose")
METRICS_ONLY = ["out.raw_masks.enabled=false", "out.stab_masks.enabled=false", "out.overlay.enabled=false",
                "out.report.enabled=false"]
J_ONLY = ["out.metrics.flow_preset='off'"]
# the yardstick of warp-IoU here: the metrics' own flow DIS medium on every pixel (the subgraph's
# default, DIS fast at half size, is for real time), so that figures of older checkouts compare
YARDSTICK = ["out.metrics.flow_preset=medium", "out.metrics.flow_scale=1.0", "out.metrics.warp_max_width=0"]
# the search: the fusion weights and the boundary blur (one person: the distractor guard matters little)
# (the node defaults, 0.6 / 1.5, are one of its points; each point costs ~5 min on 2 busy cores)
GRID = {"stab.fuse.beta_fill": [0.6, 0.8], "stab.thresh.smooth_sigma": [1.5, 2.5]}
DEFAULTS = (0.6, 1.5)


@register("person_replay")
class PersonReplay(Node):
    """Bench plugin: mediapipe_person's saved outputs (prob, score) for the frame of the same name."""

    frame = Input(FRAME)
    prob = Output(PROB_MAP)
    score = Output(SCALAR)

    class Params(NodeParams):
        cache: str = ""

    def setup(self, ctx):
        z = np.load(self.params.cache)
        self.index = {str(n): i for i, n in enumerate(z["names"])}
        self.probs, self.scores = z["probs"], z["scores"]

    def process(self, ctx, frame):
        import torch
        i = self.index[frame.name]
        return {"prob": torch.from_numpy(self.probs[i].astype(np.float32) / 255.0), "score": float(self.scores[i])}


def source_sets(seq: str) -> list:
    if seq == "dancer":
        return [f"vars.input={DANCER}"]
    return ["source.kind=image_folder", f"source.path={DATA / 'davis' / 'JPEGImages' / '480p' / seq}",
            "source.fps=24"]


def person_graph(seq: str, sets: list):
    """graphs/stabilize_person.yaml on ``seq`` (dancer or a DAVIS sequence, then with ground truth)."""
    g = graphrun.load("stabilize_person", set=source_sets(seq) + YARDSTICK + sets + METRICS_ONLY)
    if seq != "dancer":
        gt = g.add("mask_folder", name="gt", path=str(DATA / "davis" / "Annotations" / "480p" / seq))
        g.connect(g["source"].frame, gt.frame)
        g.connect(gt.mask, g["out"].gt)
    return g


def run(seq: str, sets: list) -> dict:
    result = person_graph(seq, sets).run(executor="inline")
    if result.stats.get("interrupted"):        # a partial run's metrics must not count
        sys.exit("interrupted")
    return result.results["metrics"]


def frames_of(seq: str) -> list:
    if seq == "dancer":
        from graphrun.nodes.io.decode import iter_frames
        return [(f"{i:05d}", img) for i, (img, _) in enumerate(iter_frames(str(DANCER)))]
    from PIL import Image
    files = sorted((DATA / "davis" / "JPEGImages" / "480p" / seq).glob("*.jpg"))
    return [(f.stem, np.array(Image.open(f).convert("RGB"))) for f in files]


def predict(model: str, seq: str) -> tuple[Path, list]:
    """Run mediapipe_person over ``seq`` once: cache (8-bit probs, scores) and per-frame ms."""
    from graphrun.runtime.testing import Harness
    from graphrun.runtime.types import VideoFrame
    path = OUT / f"{model}_{seq}.npz"
    frames = frames_of(seq)
    probs, scores, ms = [], [], []
    with Harness("mediapipe_person", model=model) as h:
        for i, (name, img) in enumerate(frames):
            t = time.perf_counter()
            out = h.push(frame=VideoFrame(img, i, i / 25, name))
            ms.append((time.perf_counter() - t) * 1e3)
            probs.append(np.round(out["prob"].numpy() * 255).astype(np.uint8))
            scores.append(out["score"])
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, names=np.array([n for n, _ in frames]), probs=np.stack(probs), scores=np.array(scores),
                        ms=np.array(ms))
    return path, ms


def predicted(model: str, seq: str) -> list:
    """The per-frame ms of ``model`` on ``seq``, predicting (and caching) first if need be."""
    path = OUT / f"{model}_{seq}.npz"
    if not path.is_file() or "ms" not in np.load(path).files:
        return predict(model, seq)[1]
    return list(np.load(path)["ms"])


def replay(model: str, seq: str) -> list:
    return ["seg.kind=person_replay", f"seg.cache={OUT / f'{model}_{seq}.npz'}"]


def gain(seq: str, m: dict) -> float:
    """dJ with ground truth; else the metrics node's objective (warp-IoU, less twice the fidelity
    shortfall below 0.8) minus the raw warp-IoU."""
    raw, stab = m["raw"], m["stabilized"]
    if stab.get("J") is not None:
        return stab["J"] - raw["J"]
    return stab["warp_iou"] - 2.0 * max(0.0, 0.8 - stab["fidelity"]) - raw["warp_iou"]


def tables(models: list) -> None:
    print("\n### mediapipe_person: cost and what the stabilizer does (graphs/stabilize_person.yaml, its parameters)\n")
    print("| model | ms/frame dancer 640x480 | ms/frame DAVIS 854x480 | dancer warp-IoU raw | stab | fidelity "
          "| " + " | ".join(f"{s} J raw / stab" for s in DAVIS) + " | mean J raw | mean J stab |")
    print("|---|---|---|---|---|---|" + "---|" * len(DAVIS) + "---|---|")
    for model in models:
        ms_dancer = predicted(model, "dancer")
        ms_davis = []
        for seq in DAVIS:
            ms_davis += predicted(model, seq)
        d = run("dancer", replay(model, "dancer"))
        js = [run(seq, replay(model, seq)) for seq in DAVIS]
        jr, jst = [m["raw"]["J"] for m in js], [m["stabilized"]["J"] for m in js]
        cells = " | ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(jr, jst))
        print(f"| {model} | {statistics.median(ms_dancer):.1f} | {statistics.median(ms_davis):.1f} | "
              f"{d['raw']['warp_iou']:.3f} | {d['stabilized']['warp_iou']:.3f} | {d['stabilized']['fidelity']:.3f} "
              f"| {cells} | {np.mean(jr):.3f} | {np.mean(jst):.3f} |", flush=True)
    if SAVED_POSE.is_dir() and "selfie" in models:
        m = run("dancer", ["seg.kind=mask_folder", f"seg.path={SAVED_POSE}"])
        print(f"| saved MediaPipe Pose maps (static mode) | - | - | {m['raw']['warp_iou']:.3f} | "
              f"{m['stabilized']['warp_iou']:.3f} | {m['stabilized']['fidelity']:.3f} |" + " |" * (len(DAVIS) + 2))


def leave_one_out(model: str, only=None) -> None:
    """Per fold: the grid point with the best mean gain on the other sequences, none of them below
    -0.01 (a floor); scored on the held-out one. The graph takes the point chosen most often."""
    seqs = ["dancer", *DAVIS, "dancer_pose_saved"]
    keys, points = list(GRID), list(itertools.product(*GRID.values()))
    variants = {p: [f"{k}={v}" for k, v in zip(keys, p)] for p in points}
    d = points.index(DEFAULTS)
    gains = np.zeros((len(variants), len(seqs)))
    done = {}                                    # measured points survive a restart (one file per worker)
    for f in sorted(OUT.glob(f"loo_{model}*.json")):
        done.update(json.loads(f.read_text()))
    done_file = OUT / f"loo_{model}{'' if only is None else '_' + '_'.join(map(str, only))}.json"
    mine = json.loads(done_file.read_text()) if done_file.is_file() else {}
    for i, sets in enumerate(variants.values()):
        for j, seq in enumerate(seqs):
            key = " ".join(sets) + f" @ {seq}"
            if key in done:
                gains[i, j] = done[key]
                continue
            if only is not None and i not in only:
                gains[i, j] = np.nan
                continue
            if seq == "dancer_pose_saved":
                m = run("dancer", ["seg.kind=mask_folder", f"seg.path={SAVED_POSE}"] + sets)
            else:   # with ground truth only J counts: the metrics node's own flow is not needed
                m = run(seq, replay(model, seq) + sets + ([] if seq == "dancer" else J_ONLY))
            gains[i, j] = mine[key] = gain(seq, m)
            done_file.write_text(json.dumps(mine, indent=1))
        print(f"  grid {i + 1}/{len(variants)}", file=sys.stderr, flush=True)
    if np.isnan(gains).any():                   # a worker with part of the grid (--grid-points)
        return
    names = list(variants)
    print(f"\n### leave-one-sequence-out ({model}): gain = dJ (DAVIS) or warp-IoU gain under fidelity >= 0.8 "
          f"(dancer)\n")
    print("| held out | chosen (" + ", ".join(k.split(".", 1)[1] for k in keys) + ") | gain held out "
          "| gain with the node defaults |")
    print("|---|---|---|---|")
    chosen, held = [], []
    for j, seq in enumerate(seqs):
        others = [k for k in range(len(seqs)) if k != j]
        ok = gains[:, others].min(1) >= -0.01
        score = np.where(ok, gains[:, others].mean(1), -np.inf)
        best = int(np.argmax(score)) if ok.any() else int(np.argmax(gains[:, others].min(1)))
        chosen.append(best)
        held.append(gains[best, j])
        print(f"| {seq} | {names[best]} | {gains[best, j]:+.3f} | {gains[d, j]:+.3f} |")
    print(f"| **mean** | | **{np.mean(held):+.3f}** (worst {min(held):+.3f}) | {gains[d].mean():+.3f} |")
    counts = {names[b]: chosen.count(b) for b in chosen}
    pick = max(counts, key=lambda n: (counts[n], gains[names.index(n)].min()))
    print(f"\nchosen most often: {pick} ({counts[pick]} of {len(seqs)} folds); its gains per sequence: "
          + ", ".join(f"{s} {g:+.3f}" for s, g in zip(seqs, gains[names.index(pick)])))
    top = int(np.argmax(gains.mean(1)))
    print(f"best mean over all (not used): {names[top]} mean {gains[top].mean():+.3f}, "
          f"worst {gains[top].min():+.3f}")
    print("all gains (rows: grid points; columns: " + ", ".join(seqs) + "):")
    for n, row in zip(names, gains):
        print(f"  {n}: " + " ".join(f"{g:+.3f}" for g in row))


def timing(models: list, reps: int = 3) -> None:
    """ms/frame of each model on dancer.mp4 (640x480) and dance-twirl (854x480): the models take
    turns frame by frame (same machine state), median over frames and repetitions."""
    import os

    from graphrun.runtime.testing import Harness
    from graphrun.runtime.types import VideoFrame
    print(f"\n### mediapipe_person ms/frame (median; load average before: {os.getloadavg()[0]:.1f})\n")
    print("| model | dancer.mp4 640x480 | dance-twirl 854x480 |")
    print("|---|---|---|")
    rows = {m: {} for m in models}
    for seq in ("dancer", "dance-twirl"):
        frames = frames_of(seq)
        harnesses = {m: Harness("mediapipe_person", model=m).setup() for m in models}
        ms = {m: [] for m in models}
        for _ in range(reps):
            for i, (name, img) in enumerate(frames):
                for m, h in harnesses.items():
                    t = time.perf_counter()
                    h.push(frame=VideoFrame(img, i, i / 25, name))
                    ms[m].append((time.perf_counter() - t) * 1e3)
        for m, h in harnesses.items():
            h.close()
            rows[m][seq] = statistics.median(ms[m])
    for m in models:
        print(f"| {m} | {rows[m]['dancer']:.1f} | {rows[m]['dance-twirl']:.1f} |")
    print(f"(load average after: {os.getloadavg()[0]:.1f})")


def ema_check(model: str, alphas=(1.0, 0.7, 0.5)) -> None:
    """The ``ema`` node alone on the raw maps (no motion compensation): is it the tool for soft person
    maps at 24-25 fps? J (DAVIS) and warp-IoU (DIS medium, full size, like the metrics node)."""
    import torch
    from PIL import Image

    from graphrun.nodes.eval.metrics import dis_flow, iou, warp_iou
    from graphrun.runtime.testing import Harness
    print(f"\n### ema on the raw {model} maps, no motion compensation (alpha 1 = raw)\n")
    print("| alpha | " + " | ".join(f"{s} J" for s in DAVIS) + " | mean J | dancer warp-IoU | DAVIS mean warp-IoU |")
    print("|---|" + "---|" * (len(DAVIS) + 3))
    seqs = {seq: frames_of(seq) for seq in ("dancer", *DAVIS)}
    flows = {seq: [None] + [dis_flow(fr[t][1], fr[t - 1][1]) for t in range(1, len(fr))] for seq, fr in seqs.items()}
    for a in alphas:
        js, wious = [], {}
        for seq, fr in seqs.items():
            z = np.load(OUT / f"{model}_{seq}.npz")
            with Harness("ema", alpha=a) as h:
                probs = [h.push(prob=torch.from_numpy(p.astype(np.float32) / 255))["prob"].numpy() for p in z["probs"]]
            masks = [p >= 0.5 for p in probs]
            wious[seq] = float(np.mean([warp_iou(masks[t - 1], masks[t], flows[seq][t]) for t in range(1, len(masks))]))
            if seq != "dancer":
                ann = DATA / "davis" / "Annotations" / "480p" / seq
                js.append(float(np.mean([iou(m, np.array(Image.open(ann / f"{n}.png")) > 0)
                                         for m, (n, _) in zip(masks, fr)])))
        print(f"| {a} | " + " | ".join(f"{j:.3f}" for j in js) + f" | {np.mean(js):.3f} | {wious['dancer']:.3f} | "
              f"{np.mean([wious[s] for s in DAVIS]):.3f} |", flush=True)


def fps(baseline, reps: int, device: str = "cpu", variant=None) -> None:
    """frames/s of graphs/stabilize_person.yaml on dancer.mp4, every output written, run by the CLI in a
    subprocess (this checkout, and ``baseline``'s own graph and code); the two take turns so that a
    shared machine's load falls on both alike. Median of ``reps``, the ratio of the medians."""
    import os
    settings = [("after", ROOT, [])] + ([("before", Path(baseline), [])] if baseline else [])
    if variant:                                  # this checkout with --set items (a trade-off to show)
        settings.append(("variant", ROOT, variant.split()))
    import resource
    runs = {name: [] for name, *_ in settings}
    loads = [os.getloadavg()[0]]
    for rep in range(reps):
        for name, repo, sets in settings:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            r = run_checkout(repo, "stabilize_person.yaml", [f"vars.input={DANCER}", *sets], device)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            # the whole process's CPU time (start-up included) per frame: what 2 busy cores share
            r["cpu_ms"] = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1e3 / r["frames"]
            runs[name].append(r)
            print(f"  rep {rep + 1}/{reps} {name}: {r['fps']:.1f} fps ({r.get('stream_fps') or r['fps']:.1f} after "
                  f"setup), {r['cpu_ms']:.0f} CPU ms/frame", file=sys.stderr,
                  flush=True)
        loads.append(os.getloadavg()[0])
    print(f"\ngraphs/stabilize_person.yaml on dancer.mp4 640x480, every output written, device {device}; median of "
          f"{reps} runs taking turns; load average (1 min) {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print("fps: frames / the run's seconds (its setup, e.g. MediaPipe's model loading, included); after setup:"
          " the same once every node was set up (`stream_fps`)")
    print(f"{'setting':<8} {'frames':>6} {'fps':>7} {'min-max fps':>13} {'after setup':>12} {'min-max':>11} "
          f"{'setup s':>8} {'CPU ms/frame':>13}")
    med = {}
    for name, *_ in settings:
        rs = sorted(runs[name], key=lambda r: r["fps"])
        med[name] = rs[len(rs) // 2]
        stream = sorted(r.get("stream_fps") or r["fps"] for r in rs)
        print(f"{name:<8} {med[name]['frames']:>6} {statistics.median(r['fps'] for r in rs):>7.1f} "
              f"{rs[0]['fps']:>6.1f}-{rs[-1]['fps']:<6.1f} {statistics.median(stream):>12.1f} "
              f"{stream[0]:>5.1f}-{stream[-1]:<5.1f} {statistics.median(r.get('setup_s') or 0 for r in rs):>8.2f} "
              f"{statistics.median(r['cpu_ms'] for r in rs):>13.0f}")
    if baseline:
        ratio = statistics.median(r["fps"] for r in runs["after"]) / statistics.median(r["fps"] for r in runs["before"])
        print(f"after / before: {ratio:.2f}x")
    if variant:
        print(f"variant = after with --set {variant}")
    names = []
    for name, *_ in settings:
        names += [n for n in med[name]["nodes"] if n not in names]
    print("\nmean ms per frame per node (median run of each setting; wall time on the node's thread)")
    print(f"{'node':<16}" + "".join(f"{name:>9}" for name, *_ in settings) + "   thread (after)")
    for n in names:
        cells = [med[name]["nodes"].get(n, {}).get("mean_ms") for name, *_ in settings]
        print(f"{n:<16}" + "".join(f"{c:>9.1f}" if c is not None else f"{'-':>9}" for c in cells)
              + f"   {med['after']['nodes'].get(n, {}).get('thread', '')}")


STAB_MS_CHILD = """
import json, sys
import graphrun
g = graphrun.load(sys.argv[1], set=sys.argv[3:])
g.spec.threads.update(torch=1, opencv=1)       # one core's work, as each thread of the fused run gets
print(json.dumps({n: s["mean_ms"] for n, s in g.run(executor="inline").stats["nodes"].items()}))
"""


def stab_ms(baseline, reps: int) -> None:
    """ms per frame of each stabilizer node at 640x480 (dancer.mp4, the saved MediaPipe Pose maps
    through ``mask_folder``, so no model runs), inline, torch and OpenCV on one thread, outputs off;
    this checkout and ``baseline`` in subprocesses with their own code, taking turns; medians."""
    import os
    import subprocess
    import tempfile
    settings = [("after", ROOT)] + ([("before", Path(baseline))] if baseline else [])
    sets = [f"vars.input={DANCER}", "seg.kind=mask_folder", f"seg.path={SAVED_POSE}", *METRICS_ONLY,
            "out.metrics.enabled=false"]
    runs = {name: [] for name, _ in settings}
    loads = [os.getloadavg()[0]]
    for rep in range(reps):
        for name, repo in settings:
            with tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / "graphrun").symlink_to(Path(repo).resolve())
                out = subprocess.run([sys.executable, "-c", STAB_MS_CHILD, str(Path(repo) / "graphs" /
                                      "stabilize_person.yaml"), "-", *sets], env={**os.environ, "PYTHONPATH": tmp},
                                     check=True, capture_output=True, text=True, timeout=900).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
            print(f"  rep {rep + 1}/{reps} {name}", file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
    print(f"\nstabilizer nodes, ms per frame at 640x480 (dancer.mp4), one thread; median of {reps} runs taking "
          f"turns; load average (1 min) {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print(f"{'node':<14}" + "".join(f"{name:>9}" for name, _ in settings) + ("    ratio" if baseline else ""))
    total = {name: 0.0 for name, _ in settings}
    for n in runs["after"][0]:
        if not n.startswith("stab."):
            continue
        med = {name: statistics.median(r[n] for r in runs[name]) for name, _ in settings}
        for name in med:
            total[name] += med[name]
        ratio = f"{med['before'] / max(med['after'], 1e-9):>8.2f}x" if baseline else ""
        print(f"{n:<14}" + "".join(f"{med[name]:>9.2f}" for name, _ in settings) + ratio)
    ratio = f"{total['before'] / total['after']:>8.2f}x" if baseline else ""
    print(f"{'stab total':<14}" + "".join(f"{total[name]:>9.2f}" for name, _ in settings) + ratio)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="mediapipe_person models to measure")
    ap.add_argument("--loo", action="store_true", help="also choose the stabilizer's parameters (leave one out)")
    ap.add_argument("--loo-model", default="selfie", help="the model whose predictions the search uses")
    ap.add_argument("--no-tables", action="store_true", help="skip the cost and stabilization tables")
    ap.add_argument("--ema", action="store_true", help="also the ema node alone on the raw maps (--loo-model)")
    ap.add_argument("--predict", action="store_true", help="only run the models and cache their predictions")
    ap.add_argument("--time", action="store_true", help="only time the models (interleaved, frame by frame)")
    ap.add_argument("--grid-points", help="measure only these grid points (0-based, comma-separated): run "
                                          "several workers in parallel, then --loo alone to read their results")
    ap.add_argument("--fps", action="store_true", help="frames/s of the whole graph (every output) on dancer.mp4")
    ap.add_argument("--baseline-repo", help="with --fps: an older checkout, run with its own graph and code")
    ap.add_argument("--reps", type=int, default=3, help="with --fps: runs per setting (median)")
    ap.add_argument("--stab-ms", action="store_true", help="ms per frame of each stabilizer node (one thread; "
                                                           "with --baseline-repo: beside that checkout's)")
    ap.add_argument("--fps-variant", help="with --fps: also this checkout with these --set items (space-separated)")
    args = ap.parse_args(argv)
    if not DANCER.is_file() or not (DATA / "davis").is_dir():
        sys.exit(f"the person data is not in {DATA}")
    if args.time:
        timing(args.models.split(","))
        return
    if args.stab_ms:
        stab_ms(args.baseline_repo, args.reps)
    if args.fps:
        fps(args.baseline_repo, args.reps, variant=args.fps_variant)
    if args.predict:
        for model in args.models.split(","):
            for seq in ("dancer", *DAVIS):
                predict(model, seq)
        return
    if not args.no_tables:
        tables(args.models.split(","))
    if args.loo:
        for seq in ("dancer", *DAVIS):
            predicted(args.loo_model, seq)
        only = None if not args.grid_points else [int(i) for i in args.grid_points.split(",")]
        leave_one_out(args.loo_model, only)
    if args.ema:
        ema_check(args.loo_model)


if __name__ == "__main__":
    main()

"""Preprocessing cost: OpenCV vs torch on the CPU vs torch on the device, per frame and per batch.

    python bench/preprocess.py [--device cuda] [--reps 30] [--batch 8] [--threads 1]

The transform is the ImageNet one (resize short side 256 with antialiasing, centre crop 224,
normalize to float32) applied to a real frame (DAVIS ``blackswan`` 854x480, upscaled to 720p and
1080p with bicubic interpolation; a synthetic frame when ../shared/data is absent).

Columns (milliseconds per frame, medians of ``--reps`` timed calls):

* ``opencv``: ``cv2.resize`` (INTER_AREA, OpenCV's antialiased downscale) + normalize in torch.
* ``opencv-noAA``: ``INTER_LINEAR`` (no antialiasing: fastest, aliases on big downscales; shown
  as the floor, it is not the same transform).
* ``torch-cpu``: ``F.interpolate`` on uint8 with antialias (what ``backend: auto`` uses on the CPU).
* ``device``: the same on ``--device`` (CUDA), the uint8 frame uploaded from pinned memory, the
  transfer counted; on a CPU-only machine this column is absent and the comparison is torch-on-CPU
  vs OpenCV. With ``--device cuda`` the CPU columns include copying the result to the device.

Per batch: the batch function on B frames at once (``preprocess_batch``), divided by B.
One thread for torch and for OpenCV by default (a pipeline stage gets one core on a 2-core box).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from common import median_ms

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
OUT = HERE / "out"


def real_frame() -> tuple[np.ndarray, str]:
    import cv2
    path = DATA / "davis" / "JPEGImages" / "480p" / "blackswan" / "00000.jpg"
    if path.is_file():
        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), f"DAVIS {path.parent.name}/{path.name}"
    from graphrun.nodes.io.synthetic import render_scene
    frames, _ = render_scene(frames=1, width=854, height=480)
    return frames[0], "synthetic_scene (../shared/data absent)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (adds the device column)")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads")
    args = ap.parse_args(argv)

    import cv2
    import torch

    from graphrun.nodes.models.preprocess_ops import preprocess_batch, preprocess_image

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda given but CUDA is not available")
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    ship = (lambda t: t.pin_memory().to(dev, non_blocking=True)) if cuda else (lambda t: t)

    base, what = real_frame()
    images = {"480p": base,
              "720p": cv2.resize(base, (1280, 720), interpolation=cv2.INTER_CUBIC),
              "1080p": cv2.resize(base, (1920, 1080), interpolation=cv2.INTER_CUBIC)}
    common = dict(resize=256, crop=224)
    methods = {
        "opencv": dict(backend="opencv", antialias=True, device="cpu"),
        "opencv-noAA": dict(backend="opencv", antialias=False, device="cpu"),
        "torch-cpu": dict(backend="torch", antialias=True, device="cpu"),
    }
    if cuda:
        methods["device"] = dict(backend="torch", antialias=True, device=dev)

    rows = []  # (resolution, mode, {method: ms per frame})
    for res, img in images.items():
        batch = np.stack([img] * args.batch)
        batch_t = torch.from_numpy(batch)
        per_frame, per_batch = {}, {}
        for name, kw in methods.items():
            on_dev = kw["device"] != "cpu"
            f1 = (lambda kw=kw, img=img: preprocess_image(img, **common, **kw)) if on_dev else \
                (lambda kw=kw, img=img: ship(preprocess_image(img, **common, **kw)))
            fb = (lambda kw=kw, b=batch_t: preprocess_batch(b, **common, **kw)) if on_dev else \
                (lambda kw=kw, b=batch_t: ship(preprocess_batch(b, **common, **kw)))
            per_frame[name] = median_ms(f1, args.reps, sync, warmup=3)
            per_batch[name] = median_ms(fb, max(5, args.reps // 3), sync, warmup=3) / args.batch
        rows.append((res, "frame", per_frame))
        rows.append((res, f"batch{args.batch}", per_batch))

    names = list(methods)
    fast = "device" if cuda else "torch-cpu"
    header = f"{'input':7s} {'mode':7s} " + " ".join(f"{n:>12s}" for n in names) + f"  {'opencv/' + fast:>16s}"
    print(f"preprocess: resize 256 + crop 224 + normalize, ms per frame (median of {args.reps}); "
          f"{args.threads} thread(s); frame: {what}" + (f"; device {dev}, copies counted" if cuda else ""))
    print(header)
    print("-" * len(header))
    for res, mode, d in rows:
        print(f"{res:7s} {mode:7s} " + " ".join(f"{d[n]:12.3f}" for n in names) + f"  {d['opencv'] / d[fast]:15.2f}x")

    OUT.mkdir(exist_ok=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, mode in zip(axes, ("frame", f"batch{args.batch}")):
        sel = [(res, d) for res, m, d in rows if m == mode]
        x = np.arange(len(sel))
        w = 0.8 / len(names)
        for i, n in enumerate(names):
            ax.bar(x + i * w, [d[n] for _, d in sel], w, label=n)
        ax.set_xticks(x + 0.4 - w / 2, [r for r, _ in sel])
        ax.set_title(f"per {mode}" if mode == "frame" else f"{mode} (ms per frame)")
        ax.set_ylabel("ms per frame")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"preprocess (resize 256, crop 224, normalize), {args.threads} thread(s), device {dev}")
    fig.tight_layout()
    path = OUT / "preprocess.png"
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()

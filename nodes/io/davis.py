"""DAVIS-2016 sequences as arrays: frames, saved per-frame predictions and ground truth (benches, tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DAVIS_SEQUENCES = ("blackswan", "bmx-trees", "car-shadow", "dance-twirl", "kite-surf")


def load_davis(root, seq: str, method: str = "osvos") -> tuple[list, np.ndarray, np.ndarray, list]:
    """One DAVIS sequence: (frame names, frames (T,H,W,3) uint8, predictions (T,H,W) float32 in
    [0,1], ground truth (T,H,W) bool). Palette predictions: any non-zero label is the object;
    8-bit probability maps (MediaPipe) are scaled by 1/255."""
    from PIL import Image

    root = Path(root)
    img_dir = root / "JPEGImages" / "480p" / seq
    names = sorted(p.stem for p in img_dir.glob("*.jpg"))
    if not names:
        raise FileNotFoundError(f"no frames in {img_dir}")
    frames = np.stack([np.asarray(Image.open(img_dir / f"{n}.jpg").convert("RGB")) for n in names])
    gts = np.stack([np.asarray(Image.open(root / "Annotations" / "480p" / seq / f"{n}.png")) > 0 for n in names])
    preds = []
    for n in names:
        im = Image.open(root / "predictions" / method / seq / f"{n}.png")
        a = np.asarray(im)
        if im.mode == "P" or a.max(initial=0) <= 1 or method in ("osvos", "rvos"):
            preds.append((a > 0).astype(np.float32))
        else:
            preds.append(a.astype(np.float32) / 255.0)
    return names, frames, np.stack(preds), gts

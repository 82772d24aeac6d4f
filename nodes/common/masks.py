"""Masks and probability maps: binarize, convert to float, compare (IoU)."""
from __future__ import annotations

import numpy as np

from .arrays import to_numpy


def binarize(x, threshold: float = 0.5) -> np.ndarray:
    """A mask (bool) as is; a probability map (float) is foreground where >= ``threshold``.

    Integer arrays (8-bit maps) are scaled by 255 when their maximum exceeds 1."""
    a = to_numpy(x)
    if a.dtype == bool:
        return a
    if np.issubdtype(a.dtype, np.integer):
        return (a.astype(np.float32) / (255.0 if a.max(initial=0) > 1 else 1.0)) >= threshold
    return a >= threshold


def mask_to_float(mask) -> np.ndarray:
    """Bool mask or probability map (tensor or array, HxW or 1xHxW) -> float32 HxW in [0, 1]."""
    m = to_numpy(mask)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"expected an HxW mask, got shape {tuple(m.shape)}")
    if m.dtype == np.bool_:
        return m.astype(np.float32)
    if m.dtype == np.uint8:
        return (m.astype(np.float32) / 255.0) if m.max() > 1 else m.astype(np.float32)
    return np.clip(m.astype(np.float32, copy=False), 0.0, 1.0)      # clip copies: the input is never changed


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty (the DAVIS convention)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b) / union)

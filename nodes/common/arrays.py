"""Tensor and array conversions: every node that needs numpy (OpenCV, metrics) goes through these."""
from __future__ import annotations

from typing import Optional

import numpy as np


def to_numpy(x) -> Optional[np.ndarray]:
    """A tensor (any device) or array as a numpy array on the CPU; None stays None.

    Floating tensors come out as float32 (numpy has no bfloat16)."""
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach()
        if x.is_floating_point():
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def rgb_uint8(image) -> np.ndarray:
    """An image (tensor or array; HxW grey, HxWx3 or HxWx4) as a contiguous HxWx3 uint8 RGB array.

    Grey is repeated to three channels, alpha dropped, other dtypes clipped to 0..255."""
    img = to_numpy(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def to_cpu(x):
    """A tensor (any device) or array as a float32 torch tensor on the CPU."""
    import torch

    if hasattr(x, "detach"):
        return x.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.asarray(x, np.float32))


def torch_dtype(name: str):
    """``float32`` / ``float16`` / ``bfloat16`` as the torch dtype."""
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]

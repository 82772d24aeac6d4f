"""Values from Python (numpy arrays, PIL images, lists) made into what a port carries."""
from __future__ import annotations

from typing import Any

import numpy as np

from .types import FRAME, MASK, PROB_MAP, TENSOR, PortType, VideoFrame


def as_port_value(value: Any, port: PortType, index: int, pts: float) -> Any:
    """``value`` as a port of type ``port`` expects it: an HxWx3 image becomes a VideoFrame, a
    numpy map a tensor (float32 for a prob_map, bool for a mask); anything else is left as it is."""
    import torch

    if value is None:
        return None
    lineage = port.lineage()
    if port.name == FRAME.name and not isinstance(value, VideoFrame):
        image = value if isinstance(value, torch.Tensor) else np.ascontiguousarray(np.asarray(value))
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"a video frame must be HxWx3 (RGB), got shape {tuple(image.shape)}")
        image = as_uint8_image(image)
        return VideoFrame(image=image, index=index, pts=pts, name=f"{index:05d}")
    if TENSOR.name in lineage and not isinstance(value, torch.Tensor):
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(value)))
        if port.name == MASK.name:
            return t > 0 if t.dtype != torch.bool else t
        if port.name == PROB_MAP.name and t.dtype == torch.uint8:
            return t.float() / 255.0
        return t.float() if port.dtype == "float32" else t
    return value


def as_uint8_image(image):
    """An RGB image as uint8 0-255 (what every node reads): float images in [0, 1] are scaled,
    integer images within 0-255 cast; anything else is refused (a float image in 0-255, a 16-bit one)."""
    import torch

    is_torch = isinstance(image, torch.Tensor)
    dtype = str(image.dtype).replace("torch.", "")
    if dtype == "uint8":
        return image
    if dtype == "bool":
        raise ValueError("a video frame must be RGB uint8 (0-255) or float in [0, 1], not bool")
    empty = (image.numel() if is_torch else image.size) == 0
    lo, hi = (0.0, 0.0) if empty else (float(image.min()), float(image.max()))
    if dtype.startswith(("float", "bfloat")):
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"a float video frame must hold values in [0, 1], got {lo:.4g}..{hi:.4g} "
                             f"({dtype}): give uint8 0-255, or divide by 255")
        scaled = image * 255.0 + 0.5
        return scaled.to(torch.uint8) if is_torch else scaled.astype(np.uint8)
    if lo < 0 or hi > 255:
        raise ValueError(f"an integer video frame must hold values in 0-255, got {lo:.0f}..{hi:.0f} ({dtype})")
    return image.to(torch.uint8) if is_torch else image.astype(np.uint8)

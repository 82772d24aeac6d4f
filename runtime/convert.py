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
        return VideoFrame(image=image, index=index, pts=pts, name=f"{index:05d}")
    if TENSOR.name in lineage and not isinstance(value, torch.Tensor):
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(value)))
        if port.name == MASK.name:
            return t > 0 if t.dtype != torch.bool else t
        if port.name == PROB_MAP.name and t.dtype == torch.uint8:
            return t.float() / 255.0
        return t.float() if port.dtype == "float32" else t
    return value

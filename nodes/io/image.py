"""What every frame source shares: the ``as_tensor`` / ``pin_memory`` parameters and the image they make."""
from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from graphrun.runtime import NodeParams


def to_image(rgb: np.ndarray, as_tensor: bool, pin_memory: bool):
    """The frame image as a numpy array, or a torch uint8 tensor (pinned if asked and possible)."""
    if not as_tensor:
        return rgb
    import torch

    t = torch.from_numpy(rgb)
    if pin_memory and torch.cuda.is_available():
        t = t.pin_memory()
    return t


class ImageParams(NodeParams):
    """Parameters of a source that emits frames: numpy images, or torch tensors (optionally pinned)."""

    as_tensor: bool = Field(False, description="emit the image as a torch uint8 HxWx3 tensor instead of numpy")
    pin_memory: bool = Field(False, description="with as_tensor: put the tensor in pinned memory (fast, "
                                                "asynchronous copies to a GPU; ignored without CUDA)")

    @model_validator(mode="after")
    def _pin_needs_tensor(self):
        if self.pin_memory and not self.as_tensor:
            raise ValueError("pin_memory needs as_tensor: true (a numpy array cannot be pinned)")
        return self


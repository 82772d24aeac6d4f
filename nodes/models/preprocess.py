"""The ``preprocess`` node: a frame into a normalized model input tensor (see preprocess_ops.py)."""
from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FRAME, TENSOR, VideoFrame

from .preprocess_ops import IMAGENET_MEAN, IMAGENET_STD, check_size, preprocess_image


@register("preprocess")
class Preprocess(Node):
    """Resize, centre-crop and normalize a frame into a model input tensor (3,H,W).

    torchvision semantics (Resize short side, CenterCrop, Normalize with ImageNet mean/std by
    default). On CUDA the uint8 frame is uploaded (pinned, non-blocking) and converted there; on
    the CPU OpenCV or torch's uint8 kernels resize (``backend``). Stateless: may run with workers.
    """

    frame = Input(FRAME, doc="VideoFrame with an HxWx3 uint8 RGB image (numpy or torch)")
    tensor = Output(TENSOR, doc="normalized float tensor (3,H,W) on the node's device")
    stateless = True
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        resize: Optional[Union[int, tuple[int, int]]] = Field(
            256, description="short side in pixels (int), or [height, width]; null keeps the size")
        crop: Optional[Union[int, tuple[int, int]]] = Field(
            224, description="centre crop size (int = square, or [height, width]); null = no crop")
        interpolation: Literal["bilinear", "bicubic", "nearest"] = Field("bilinear", description="resize filter")
        antialias: bool = Field(True, description="low-pass when downscaling (as torchvision and PIL do)")
        mean: tuple[float, float, float] = Field(IMAGENET_MEAN, description="per-channel mean (of x/255)")
        std: tuple[float, float, float] = Field(IMAGENET_STD, description="per-channel std (of x/255)")
        dtype: Literal["float32", "float16", "bfloat16"] = Field("float32", description="output dtype")
        channels_last: bool = Field(False, description="lay the output out HWC in memory (strides), for "
                                                       "channels_last models")
        backend: Literal["auto", "opencv", "torch"] = Field(
            "auto", description="resize implementation; auto = fastest exact choice for the device")

        @field_validator("resize", "crop")
        @classmethod
        def _positive(cls, v):
            return check_size(v, "sizes")

        @field_validator("std")
        @classmethod
        def _nonzero(cls, v):
            if any(s == 0 for s in v):
                raise ValueError("std must not contain 0")
            return v

    def process(self, ctx, frame):
        img = frame.image if isinstance(frame, VideoFrame) else frame
        p = self.params
        out = preprocess_image(img, resize=p.resize, crop=p.crop, interpolation=p.interpolation,
                               antialias=p.antialias, mean=p.mean, std=p.std, dtype=p.dtype,
                               channels_last=p.channels_last, device=ctx.device, backend=p.backend)
        return {"tensor": out}

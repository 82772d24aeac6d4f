"""The ``work_size`` and ``frame_size`` nodes: run a chain at a smaller working size and come back.

A chain whose cost grows with the pixel count (flow, fusion, threshold, guards) can run on frames
at most ``max_width`` wide: ``work_size`` shrinks the frame and a map at its entry, ``frame_size``
brings its masks and maps back to the frame's own size at its exit (GStreamer's ``videoscale``
on both sides of a bin). ``max_width: 0`` (or a frame already that narrow) passes everything
through untouched, at no cost.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FRAME, MASK, PROB_MAP


def working_size(h: int, w: int, max_width: int) -> tuple[int, int]:
    """(h, w) shrunk to at most ``max_width`` wide, aspect kept (as is when 0 or already narrower)."""
    if max_width <= 0 or w <= max_width:
        return h, w
    return max(1, int(round(h * max_width / w))), int(max_width)


def resize_image(x, h: int, w: int, smooth: bool):
    """A numpy array or tensor (H,W[,C]) at (h, w): area averaging when shrinking, bilinear when
    growing (``smooth``) — OpenCV on the CPU, torch elsewhere. Same type and device back."""
    if tuple(x.shape[:2]) == (h, w):
        return x
    shrinking = h < x.shape[0]
    if isinstance(x, torch.Tensor) and x.device.type != "cpu":
        y = x.float()
        y = y[None, None] if y.dim() == 2 else y.permute(2, 0, 1)[None]
        y = F.interpolate(y, size=(h, w), mode="area" if shrinking else "bilinear",
                          align_corners=None if shrinking else False)
        y = y[0, 0] if x.dim() == 2 else y[0].permute(1, 2, 0)
        return y.round().clamp(0, 255).to(x.dtype) if x.dtype == torch.uint8 else y.to(x.dtype)
    import cv2

    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    flag = cv2.INTER_AREA if shrinking else (cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST)
    out = cv2.resize(np.ascontiguousarray(a), (w, h), interpolation=flag)
    if a.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return torch.from_numpy(out) if isinstance(x, torch.Tensor) else out


def resize_mask(mask, h: int, w: int):
    """A binary mask at (h, w). Growing, it is smoothed by a 3x3 binomial at its own size, grown
    bilinearly and cut at the middle, so staircase edges become straight and diagonal ones (a plain
    bilinear 2x growth cut at the middle is 2x2 blocks); shrinking, area averaging cut at the middle."""
    if tuple(mask.shape[:2]) == (h, w):
        return mask
    m = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.asarray(mask))
    x = m.to(torch.float32)
    if h > m.shape[0]:
        if x.device.type == "cpu":
            import cv2

            x = torch.from_numpy(cv2.GaussianBlur(x.numpy(), (3, 3), 0, borderType=cv2.BORDER_REPLICATE))
        else:
            k = torch.tensor([0.25, 0.5, 0.25], device=x.device)
            y = F.pad(x[None, None], (1, 1, 1, 1), mode="replicate")
            x = F.conv2d(F.conv2d(y, k.view(1, 1, 1, 3)), k.view(1, 1, 3, 1))[0, 0]
    return resize_image(x, h, w, smooth=True) >= 0.5


@register("work_size")
class WorkSize(Node):
    """Shrink the frame (and a map of the same frame) to at most ``max_width`` wide, aspect kept.

    Area averaging; 0 or a narrower frame passes both through untouched. Pair it with
    ``frame_size`` at the end of the chain."""

    frame_in = Input(FRAME, doc="the video frame", name="frame")
    map_in = Input(PROB_MAP, optional=True, doc="a per-pixel map of the same frame", name="map")
    frame_out = Output(FRAME, doc="the frame at the working size", name="frame")
    map_out = Output(PROB_MAP, doc="the map at the working size (None without one)", name="map")
    full = Output(FRAME, doc="the input frame, unchanged (for frame_size.like: it then runs on this thread)")
    stateless = True
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        max_width: int = Field(0, ge=0, le=16384,
                               description="working width in pixels (0 = the frame's own size)")

    def process(self, ctx, frame, map=None):
        h, w = working_size(*frame.size, self.params.max_width)
        small = frame if (h, w) == frame.size else dataclasses.replace(
            frame, image=resize_image(frame.image, h, w, smooth=True))
        return {"frame": small, "map": None if map is None else resize_image(map.float(), h, w, smooth=True),
                "full": frame}


@register("frame_size")
class FrameSize(Node):
    """Bring a mask (and a map) back to the size of the frame ``like``: the exit of ``work_size``.

    The mask is smoothed by a 3x3 binomial, grown bilinearly and cut at the middle (straight and
    diagonal edges, not 2x2 blocks), the map grown bilinearly. Already at that size: passed through untouched."""

    like = Input(FRAME, doc="the full-size frame whose size is wanted")
    mask_in = Input(MASK, doc="binary mask at the working size", name="mask")
    prob_in = Input(PROB_MAP, optional=True, doc="a map at the working size", name="prob")
    mask_out = Output(MASK, doc="the mask at the frame's size", name="mask")
    prob_out = Output(PROB_MAP, doc="the map at the frame's size (None without one)", name="prob")
    stateless = True
    devices = ("cpu", "cuda")

    def process(self, ctx, like, mask, prob: Optional[torch.Tensor] = None):
        h, w = like.size
        return {"mask": resize_mask(mask, h, w),
                "prob": None if prob is None else resize_image(prob.float(), h, w, smooth=True)}

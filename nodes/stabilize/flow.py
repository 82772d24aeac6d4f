"""The ``optical_flow`` node: dense optical flow between consecutive frames (OpenCV DIS or Farneback).

The flow is *backward*: for each pixel of frame t, the (dx, dy) in pixels to where it was in
frame t-1 — what a warp of frame t-1's mask into frame t needs. Optionally also the
forward/backward disagreement in pixels (a per-pixel reliability of the flow) and the forward
flow itself (frame t-1 -> t), which warps frame t's map back into frame t-1 (look-ahead).
"""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, FRAME, TENSOR

from ..common import DIS_PRESETS, remap_flow, resize_flow, resize_gray, to_gray
from ..common.size import SizeWatch, capped_scale


def fb_error(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Forward/backward disagreement |b(x) + f(x + b(x))| in pixels (0 for a consistent flow).

    ``backward`` maps frame t -> t-1 and ``forward`` maps t-1 -> t, both (h,w,2)."""
    import cv2

    back_then_forth = np.asarray(backward + remap_flow(forward, backward), np.float32)
    return cv2.magnitude(*cv2.split(back_then_forth))       # 10x numpy's sum over a 2-wide axis


class FlowEstimator:
    """Stateless estimator of backward flow on gray frames with optional downscaling."""

    def __init__(self, method: str = "dis", preset: str = "fast", scale: float = 0.5,
                 finest_scale: Optional[int] = None, patch_stride: Optional[int] = None,
                 iterations: Optional[int] = None):
        import cv2

        self.method, self.scale = method, float(scale)
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset]) if method == "dis" else None
        if self._dis is not None:              # a preset with some of its settings changed
            if finest_scale is not None:
                self._dis.setFinestScale(finest_scale)
            if patch_stride is not None:
                self._dis.setPatchStride(patch_stride)
            if iterations is not None:
                self._dis.setGradientDescentIterations(iterations)

    def shrink(self, gray: np.ndarray) -> np.ndarray:
        """The gray frame at the estimator's scale (at least 16 px a side)."""
        return resize_gray(gray, self.scale, min_size=16)

    def calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from (shrunk) gray frame ``a`` to ``b``: for each pixel of a, its offset in b."""
        import cv2

        if self._dis is not None:
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=15,
                                            iterations=3, poly_n=5, poly_sigma=1.1, flags=0)

    def upscale_scalar(self, dist: np.ndarray, h: int, w: int) -> np.ndarray:
        """Resize a map of distances (in shrunk pixels) to (h, w), in full-resolution pixels."""
        import cv2

        if dist.shape[:2] == (h, w):
            return dist
        return cv2.resize(dist, (w, h), interpolation=cv2.INTER_LINEAR) * (w / dist.shape[1])

    def upscale(self, flow: np.ndarray, h: int, w: int) -> np.ndarray:
        """A flow of shrunk frames at (h, w), in full-resolution pixels."""
        return resize_flow(flow, h, w)


@register("optical_flow")
class OpticalFlow(Node):
    """Backward dense optical flow (frame t -> t-1) with a forward/backward consistency map.

    OpenCV DIS (presets ultrafast|fast|medium) or Farneback, computed on a frame downscaled by
    ``scale`` and resized back (flow in full-resolution pixels). The first frame, and a frame that
    follows more than ``max_skipped`` frames dropped upstream (realtime), get zero flow and an
    infinite fb error, so consumers ignore the warp there. A few dropped frames are fine: the flow
    then spans the gap, which is what a warp of the last stabilized mask needs."""

    frame = Input(FRAME, doc="the current frame")
    flow = Output(FLOW, doc="backward flow (H,W,2): (dx,dy) from frame t to frame t-1, in pixels")
    fb_error = Output(TENSOR(dtype="float32", shape="H,W"),
                      doc="forward/backward disagreement in pixels (H,W); inf where no previous frame")
    forward = Output(FLOW, doc="forward flow (H,W,2) from frame t-1 to frame t, on frame t-1's pixels (None "
                               "at a restart or without fb_check): warps frame t's map back into t-1")
    stateless = False

    class Params(NodeParams):
        method: Literal["dis", "farneback"] = Field("dis", description="flow algorithm")
        preset: Literal["ultrafast", "fast", "medium"] = Field(
            "fast", description="DIS preset: ultrafast (cheapest) .. medium (most accurate)")
        scale: float = Field(1.0, gt=0.05, le=1.0,
                             description="compute the flow on the frame resized by this factor (0.25-1)")
        max_width: int = Field(480, ge=0, le=16384,
                               description="and at most this wide (0 = no limit): 854-px DAVIS -> 480 px")
        finest_scale: Optional[int] = Field(None, ge=0, le=6, description="DIS: finest pyramid level (0 = full "
                                            "size; None = the preset's: 2 ultrafast/fast, 1 medium)")
        patch_stride: Optional[int] = Field(None, ge=1, le=32, description="DIS: patch stride in px (None = the "
                                            "preset's: 4 ultrafast/fast, 3 medium; 4 = ~25% cheaper than 3)")
        iterations: Optional[int] = Field(None, ge=1, le=200, description="DIS: gradient-descent iterations per "
                                          "patch (None = the preset's: 12 ultrafast, 16 fast, 25 medium)")
        fb_check: bool = Field(True, description="also compute the forward flow to output fb_error "
                                                 "(doubles the cost); off: fb_error is all zeros")
        fb_preset: Optional[Literal["ultrafast", "fast", "medium"]] = Field(
            None, description="DIS preset of that forward flow (None = preset); a cheaper one costs "
                              "less and only coarsens the reliability map")
        max_skipped: int = Field(10, ge=0, le=1000,
                                 description="after more dropped frames than this, restart (zero flow)")

    def setup(self, ctx):
        self._est: Optional[FlowEstimator] = None
        self._prev: Optional[np.ndarray] = None
        self._size = None
        self._sizes = SizeWatch("flow restarts (zero flow)")

    def process(self, ctx, frame):
        gray = to_gray(frame.image)
        h, w = gray.shape
        self._sizes.changed(ctx, gray.shape)
        if self._est is None or self._size != (h, w):
            p = self.params
            scale = capped_scale(p.scale, p.max_width, w)
            self._est = FlowEstimator(p.method, p.preset, scale, p.finest_scale, p.patch_stride, p.iterations)
            self._check = (self._est if p.fb_preset in (None, p.preset)
                           else FlowEstimator(p.method, p.fb_preset, scale))
            self._prev = None
        small = self._est.shrink(gray)
        restart = (self._prev is None or self._size != (h, w) or ctx.skipped > self.params.max_skipped)
        forward = None
        if restart:
            flow = np.zeros((h, w, 2), np.float32)
            err = np.full((h, w), np.inf, np.float32)
        else:
            back = self._est.calc(small, self._prev)
            if self.params.fb_check:
                fwd = self._check.calc(self._prev, small)
                err = self._est.upscale_scalar(fb_error(back, fwd), h, w)
                forward = self._est.upscale(fwd, h, w)
            else:
                err = np.zeros((h, w), np.float32)
            flow = self._est.upscale(back, h, w)
        self._prev, self._size = small, (h, w)
        dev = ctx.device

        def out(a):
            return None if a is None else torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(dev)
        return {"flow": out(flow), "fb_error": out(err), "forward": out(forward)}

    def close(self):
        self._prev = None

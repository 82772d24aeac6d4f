"""The ``area_guard`` node: reject implausible new regions of the mask (distractor blobs, area jumps)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, MASK, RECORD

from ..common import to_cpu, to_numpy
from ..common.size import SizeWatch
from .ops import gate_components, largest_component, warp, warp_binary


@register("area_guard")
class AreaGuard(Node):
    """Reject sudden, unconfirmed growth of the mask: distractor blobs and area jumps.

    Per connected component (see ``gate_components``): a region far from the previous object
    (this node's previous output, moved along the flow) is not trusted until seen for
    ``confirm_frames`` frames, unless it dominates (it is where the object went). Optionally
    (``jump_ratio`` > 0): when the kept area jumps by more than that ratio against the previous
    object's area, the previous object (warped) is shown instead, for at most ``confirm_frames``.
    When the object itself vanishes from the mask (its largest part no longer touched, ``reacquire``
    on), what is left is no reference: until a far region is accepted (at most ``confirm_frames``
    frames) far regions are accepted at once, so the object found again is not dropped for a
    distractor that stayed. ``info`` = {rejected_px, held}."""

    mask_in = Input(MASK, doc="binary mask of frame t", name="mask")
    flow = Input(FLOW, optional=True, doc="backward flow, to move the previous output and the counters to frame t")
    mask_out = Output(MASK, doc="guarded mask", name="mask")
    info = Output(RECORD, doc="{rejected_px, held}")

    class Params(NodeParams):
        near_frac: float = Field(0.2, ge=0.0, le=2.0,
                                 description="near = within this fraction of the bounding-box diagonal "
                                             "of the nearest previous part (0.05-0.3)")
        near_px: float = Field(5.0, ge=0.0, le=1000.0, description="near = at least within this many pixels")
        dominant_ratio: float = Field(1.0, ge=0.0, le=100.0,
                                      description="a far region this many times the near area is accepted (0.3-2)")
        confirm_frames: int = Field(30, ge=1, le=100000,
                                    description="frames a far region must persist to be accepted (5-60)")
        reacquire: bool = Field(True, description="after the object vanished, accept the next far region at "
                                                  "once (not a distractor that stayed)")
        jump_ratio: float = Field(0.0, ge=0.0, le=100.0,
                                  description="area ratio vs the previous object counted as a jump; 0 = off (1.5-4)")

    def setup(self, ctx):
        self._counter: Optional[np.ndarray] = None
        self._prev: Optional[np.ndarray] = None
        self._held = 0
        self._lost = 0                               # frames since the object vanished (0 = not lost)
        self._sizes = SizeWatch("previous mask and counters reset")

    def process(self, ctx, mask, flow=None):
        p = self.params
        m = to_numpy(mask).astype(bool)
        if self._sizes.changed(ctx, m.shape):
            self._prev = self._counter = None
            self._held = self._lost = 0
        prev = counter = None
        if self._prev is not None and self._prev.shape == m.shape:
            prev, counter = self._prev, self._counter
            if flow is not None and tuple(flow.shape[:2]) == m.shape:
                if counter.any():
                    both = warp(torch.from_numpy(np.stack([prev.astype(np.float32), counter], -1)), to_cpu(flow))
                    prev, counter = both[..., 0].numpy() >= 0.5, both[..., 1].numpy()
                else:                                  # nothing waits for confirmation: move the mask alone
                    prev = warp_binary(prev, flow)
        if p.reacquire and prev is not None and prev.any() and not (m & largest_component(prev)).any():
            self._lost = 1                             # the object's largest part is gone
        lost = p.reacquire and 0 < self._lost <= p.confirm_frames
        kept, self._counter, info = gate_components(m, prev, counter, p.near_frac, p.near_px,
                                                    0.0 if lost else p.dominant_ratio, p.confirm_frames)
        if lost:
            self._lost = 0 if info["accepted_far"] else self._lost + 1
        held = False
        if p.jump_ratio > 0 and prev is not None and prev.any():
            a_prev, a_now = float(prev.sum()), float(kept.sum())
            jump = a_now > p.jump_ratio * a_prev or a_now * p.jump_ratio < a_prev
            if jump and self._held < p.confirm_frames:
                kept, held = prev, True
                self._held += 1
            else:
                self._held = 0
        info["held"] = held
        info.pop("accepted_far", None)
        self._prev = kept
        return {"mask": torch.from_numpy(kept), "info": info}

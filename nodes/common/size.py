"""A frame size that may change inside a stream: nodes that keep per-pixel state reset at the change."""
from __future__ import annotations

from typing import Optional

import numpy as np


def capped_scale(scale: float, max_width: int, width: int) -> float:
    """The factor a frame ``width`` wide is resized by: ``scale``, and at most ``max_width`` wide
    (0 = no cap)."""
    return min(scale, max_width / width) if max_width > 0 else scale


def sample_step(width: int, max_width: int) -> int:
    """n such that every n-th pixel of a row ``width`` wide is at most ``max_width`` (0 = all: 1)."""
    return -(-int(width) // max_width) if max_width else 1


def every_nth(a, n: int):
    """``a`` (H,W[,C]) on every n-th row and column (None stays None)."""
    return a if n == 1 or a is None else a[::n, ::n]


def every_nth_flow(flow, n: int):
    """A flow (H,W,2) on every n-th pixel, its vectors in those pixels (None stays None)."""
    if flow is None or n == 1:
        return flow
    return np.asarray(flow, np.float32)[::n, ::n] / n


def size_text(shape) -> str:
    """``(h, w, ...)`` as ``WxH``."""
    return f"{int(shape[1])}x{int(shape[0])}"


class SizeWatch:
    """Remembers the frame size a node's state was built for.

    ``changed(ctx, shape)`` is False at the first frame and while the size stays; at a change it
    logs one line (node, frame, both sizes, ``what`` the node does about it) and returns True, so
    the node resets what it kept of the old size."""

    def __init__(self, action: str = "state reset"):
        self.action = action
        self.size: Optional[tuple[int, int]] = None
        self.changes = 0

    def changed(self, ctx, shape) -> bool:
        size = (int(shape[0]), int(shape[1]))
        old, self.size = self.size, size
        if old is None or old == size:
            return False
        self.changes += 1
        ctx.log(f"{ctx.name}: frame size changed at frame {ctx.index}: {size_text(old)} -> {size_text(size)}; "
                f"{self.action}")
        return True

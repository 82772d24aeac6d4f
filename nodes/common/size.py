"""A frame size that may change inside a stream: nodes that keep per-pixel state reset at the change."""
from __future__ import annotations

from typing import Optional


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

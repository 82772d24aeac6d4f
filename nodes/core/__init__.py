"""Plumbing nodes: a pass-through, a sink that only counts, and a working size and back
(``work_size`` / ``frame_size``)."""
from .null_sink import NullSink
from .passthrough import Passthrough
from .scale import FrameSize, WorkSize, resize_image, resize_mask, working_size

__all__ = ["FrameSize", "NullSink", "Passthrough", "WorkSize", "resize_image", "resize_mask", "working_size"]

"""Sinks that write or show what users look at: per-frame mask PNGs, a side-by-side overlay video, a window."""
from ..common import RAW_COLOR, STAB_COLOR, mask_to_float, tint, to_numpy  # names of the former flat sinks module
from .display import Display, no_window_reason
from .mask_writer import MaskWriter
from .overlay_writer import OverlayWriter, announced_fps, side_by_side

__all__ = ["Display", "no_window_reason", "MaskWriter", "mask_to_float", "to_numpy", "RAW_COLOR", "STAB_COLOR",
           "OverlayWriter", "announced_fps", "side_by_side", "tint"]

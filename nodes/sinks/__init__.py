"""Sinks that write what users look at: per-frame mask PNGs and a side-by-side overlay video."""
from .mask_writer import MaskWriter, mask_to_float, to_numpy
from .overlay_writer import RAW_COLOR, STAB_COLOR, OverlayWriter, side_by_side, tint

__all__ = ["MaskWriter", "mask_to_float", "to_numpy", "RAW_COLOR", "STAB_COLOR", "OverlayWriter", "side_by_side",
           "tint"]

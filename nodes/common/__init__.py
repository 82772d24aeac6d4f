"""Helpers shared by several node families: array conversion, masks, output files, optical flow, drawing."""
from .arrays import rgb_uint8, to_cpu, to_numpy, torch_dtype
from .draw import GT_COLOR, RAW_COLOR, STAB_COLOR, tint
from .flow import DIS_PRESETS, remap_flow, resize_flow, resize_gray, to_gray
from .masks import binarize, iou, mask_to_float
from .outdir import frame_name, hidden_temp, needs_out, write_atomic

__all__ = ["rgb_uint8", "to_cpu", "to_numpy", "torch_dtype", "GT_COLOR", "RAW_COLOR", "STAB_COLOR", "tint",
           "DIS_PRESETS", "remap_flow", "resize_flow", "resize_gray", "to_gray", "binarize", "iou", "mask_to_float",
           "frame_name", "hidden_temp", "needs_out", "write_atomic"]

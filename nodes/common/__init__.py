"""Helpers shared by several node families: array conversion, masks, output files, optical flow, drawing,
frame sizes, timing, warnings and inputs."""
from .alerts import alerts_of, os_words, warn, warnings_of
from .arrays import rgb_uint8, to_cpu, to_numpy, torch_dtype
from .draw import GT_COLOR, RAW_COLOR, STAB_COLOR, tint
from .flow import (
                   DIS_PRESETS,
                   pixel_grid,
                   remap,
                   remap_binary,
                   remap_flow,
                   remap_mask,
                   resize_flow,
                   resize_gray,
                   sample_points,
                   to_gray,
)
from .inputs import announce_input, announced_inputs
from .masks import binarize, iou, mask_to_float
from .native_log import native_stderr_filtered
from .outdir import frame_name, hidden_temp, needs_out, write_atomic
from .size import SizeWatch, capped_scale, every_nth, every_nth_flow, sample_step, size_text
from .timing import FrameClock, snap_rate, usable_pts

__all__ = ["alerts_of", "os_words", "warn", "warnings_of", "rgb_uint8", "to_cpu", "to_numpy", "torch_dtype", "GT_COLOR",
           "RAW_COLOR", "STAB_COLOR", "tint", "DIS_PRESETS", "pixel_grid", "remap", "remap_binary", "remap_flow",
           "remap_mask", "resize_flow", "resize_gray", "sample_points", "to_gray", "announce_input", "announced_inputs",
           "binarize", "iou", "mask_to_float", "native_stderr_filtered", "frame_name", "hidden_temp", "needs_out",
           "write_atomic", "SizeWatch", "capped_scale", "every_nth", "every_nth_flow", "sample_step", "size_text",
           "FrameClock", "snap_rate", "usable_pts"]

"""Judging a run: metric functions, the ``metrics`` node (metrics.json) and the HTML ``report``."""
from ..common import binarize, iou, to_numpy  # names of the former flat metrics module
from .metrics import (
    GhostTracker,
    boundary_f,
    dis_flow,
    frame_stats,
    ghost_runs,
    mean_defined,
                      seg2bmap,
    sequence_metrics,
    summarize,
    warp_iou,
    warp_mask,
)
from .metrics_node import STREAMS, SUMMARY_KEYS, Metrics, format_table
from .report import SUMMARY_ROWS, Report

__all__ = ["GhostTracker", "binarize", "boundary_f", "dis_flow", "frame_stats", "ghost_runs", "iou", "mean_defined",
           "seg2bmap", "sequence_metrics", "summarize", "to_numpy", "warp_iou", "warp_mask", "STREAMS",
           "SUMMARY_KEYS", "Metrics", "format_table", "SUMMARY_ROWS", "Report"]

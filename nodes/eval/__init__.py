"""Judging a run: metric functions, the ``metrics`` node (metrics.json(l)), the checks that become the run's
warnings, and the HTML ``report`` (its verdict, curves, gallery, glossary and settings)."""
from ..common import binarize, iou, to_numpy  # names of the former flat metrics module
from .checks import CODES, Agreement, Alert, Limits, j_rose, judge, worse_frames
from .gallery import Gallery
from .glossary import COLUMNS, EXPLAIN, SUMMARY_ROWS
from .lag import LagTracker, default_tolerance, frame_lag, invert_flow, sequence_lag, summarize_lag, support
from .metrics import (
    GhostTracker,
    StreamSummary,
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
    warp_masks,
    worse_than_raw,
)
from .metrics_node import STREAMS, SUMMARY_KEYS, Metrics, format_table, partial_text
from .report import Report
from .run_info import flat_params, input_name, node_settings, report_title, run_inputs, short_value
from .series import Series, SeriesSet
from .verdict import Verdict, judge_run, next_steps

__all__ = ["CODES", "Alert", "Limits", "j_rose", "judge", "worse_frames", "Verdict", "judge_run", "next_steps",
           "Agreement", "Gallery",
           "COLUMNS", "EXPLAIN", "SUMMARY_ROWS", "GhostTracker", "StreamSummary", "binarize",
           "boundary_f", "dis_flow", "frame_stats", "ghost_runs", "iou", "mean_defined", "seg2bmap",
           "sequence_metrics", "summarize", "to_numpy", "warp_iou", "warp_mask", "warp_masks", "STREAMS",
           "SUMMARY_KEYS", "Metrics", "format_table", "partial_text", "Report", "flat_params", "input_name",
           "node_settings", "report_title", "run_inputs", "short_value", "Series", "SeriesSet", "LagTracker",
           "default_tolerance", "frame_lag", "invert_flow", "sequence_lag", "summarize_lag", "support",
           "worse_than_raw"]

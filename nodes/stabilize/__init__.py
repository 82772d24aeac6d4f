"""Temporal stabilization of per-frame segmentation, without retraining: warp, fuse, smooth, binarize, guard.

The recurrent loop of the stabilizer (see graphs/stabilize.yaml)::

    optical_flow --flow--> flow_warp <--(back edge: previous stabilized prob)-- anti_ghost.prob
    segmenter.prob --> glitch_filter (look-ahead: the next frames' maps, warped back along
                       optical_flow.forward) --> motion_fusion <-- flow_warp.warped, optical_flow.fb_error
    motion_fusion.fused --> adaptive_threshold --> area_guard --> anti_ghost --> mask

One node per module; the pure functions they wrap are in ``ops`` (torch, any device), exposed for
tests and benches. This package is also the former ``graphrun.nodes.stabilize_guard``.
"""
from ..common import to_cpu  # a name of the former stabilize_guard module
from .adaptive_threshold import AdaptiveThreshold
from .anti_ghost import AntiGhost
from .area_guard import AreaGuard
from .ema import EMA
from .flow import FlowEstimator, OpticalFlow, fb_error
from .flow_warp import FlowWarp
from .glitch_filter import GlitchFilter
from .motion_fusion import MotionFusion
from .ops import (
    area,
    areas_above,
    at_least,
    component_support,
    decisive_changes,
    fuse,
    fusion_weight,
    future_maps,
    gate_components,
    gaussian_blur,
    glitch_filter,
    largest_component,
    pick_threshold,
    warp,
    warp_binary,
)

__all__ = ["AdaptiveThreshold", "AntiGhost", "AreaGuard", "EMA", "FlowEstimator", "OpticalFlow", "fb_error",
           "FlowWarp", "GlitchFilter", "MotionFusion", "area", "areas_above", "at_least", "component_support",
           "decisive_changes",
           "fuse", "fusion_weight", "future_maps",
           "gate_components", "gaussian_blur", "glitch_filter", "largest_component", "pick_threshold", "to_cpu", "warp",
           "warp_binary"]

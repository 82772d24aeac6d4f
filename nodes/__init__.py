"""The built-in node library, one package per family; importing it registers every node.

    core/       passthrough, null_sink, work_size, frame_size
    io/         video_file, image_folder, mask_folder, camera, stream_url, dataloader_source, synthetic_scene
    models/     bg_subtract, maskrcnn, torchvision_model, preprocess, batch
    stabilize/  optical_flow, flow_warp, glitch_filter, motion_fusion, ema, adaptive_threshold, area_guard,
                anti_ghost
    eval/       metrics, report
    sinks/      mask_writer, overlay_writer, display
    common/     helpers shared by the families (no nodes)
"""
import importlib
import sys

from . import common, core, eval, io, models, sinks, stabilize  # noqa: F401  (registration happens on import)

# The flat modules of earlier versions, still importable (``graphrun.nodes.metrics``, ...): each old
# name is served by the module or family package that now holds all its public names.
_OLD_MODULES = {
    "basic": "core",
    "batching": "models.batch",
    "decode": "io.decode",
    "flow": "stabilize.flow",
    "inference": "models.torchvision_model",
    "live": "io.live",
    "loader": "io.dataloader",
    "metrics": "eval",
    "preprocess": "models",
    "report": "eval.report",
    "segmenters": "models",
    "sources": "io",
    "stabilize_guard": "stabilize",
    "synthetic": "io.synthetic",
}
for _old, _new in _OLD_MODULES.items():
    _module = importlib.import_module(f"{__name__}.{_new}")
    sys.modules[f"{__name__}.{_old}"] = globals()[_old] = _module

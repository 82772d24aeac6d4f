"""The node library's layout: one package per family, the old flat module names, documented nodes."""
import importlib
import inspect
import pkgutil

import pytest

import graphrun.nodes
from graphrun.runtime.registry import all_nodes

KINDS = ["adaptive_threshold", "anti_ghost", "area_guard", "batch", "bg_subtract", "camera", "dataloader_source",
         "display", "ema", "flow_warp", "frame_size", "glitch_filter", "image_folder", "mask_folder", "mask_writer",
         "maskrcnn", "mediapipe_person", "metrics",
         "motion_fusion", "null_sink", "optical_flow", "overlay_writer", "passthrough", "preprocess", "report",
         "stream_url", "synthetic_scene", "torchvision_model", "video_file", "work_size"]

FAMILIES = ["common", "core", "eval", "io", "models", "sinks", "stabilize"]

# The public names of the flat modules of earlier versions, which plugins and scripts import.
OLD_MODULES = {
    "basic": ["Passthrough", "NullSink"],
    "batching": ["stack_batch", "Batch"],
    "decode": ["BACKENDS", "AUTO_ORDER", "CLIP_ORDER", "MAX_BAD_PACKETS", "decord_readers_open", "DecodeWarning",
               "backend_available", "resolve_backend", "check_file", "VideoInfo", "probe", "Decoder", "PyAVDecoder",
               "DecordDecoder", "OpenCVDecoder", "open_decoder", "iter_frames", "read_clip"],
    "flow": ["DIS_PRESETS", "to_gray", "remap_flow", "fb_error", "FlowEstimator", "OpticalFlow"],
    "inference": ["TASKS", "model_task", "weights_cache_path", "resolve_weights", "build_model", "TorchvisionModel"],
    "live": ["Camera", "StreamURL"],
    "loader": ["expand_paths", "count_frames", "ClipDataset", "make_loader", "DataLoaderSource"],
    "metrics": ["to_numpy", "binarize", "iou", "seg2bmap", "boundary_f", "dis_flow", "warp_mask", "warp_iou",
                "GhostTracker", "ghost_runs", "frame_stats", "summarize", "sequence_metrics", "STREAMS",
                "SUMMARY_KEYS", "format_table", "Metrics"],
    "preprocess": ["IMAGENET_MEAN", "IMAGENET_STD", "Size", "resized_size", "crop_box", "choose_backend",
                   "preprocess_image", "preprocess_batch", "Preprocess"],
    "report": ["GT_COLOR", "SUMMARY_ROWS", "Report"],
    "segmenters": ["BgSubtract", "default_weights_file", "MaskRCNN"],
    "sinks": ["to_numpy", "mask_to_float", "MaskWriter", "RAW_COLOR", "STAB_COLOR", "tint", "side_by_side",
              "OverlayWriter"],
    "sources": ["to_image", "VideoFile", "IMAGE_SUFFIXES", "list_images", "read_rgb", "ImageFolder",
                "load_label_image", "MaskFolder"],
    "stabilize": ["warp", "gaussian_blur", "fusion_weight", "fuse", "pick_threshold", "FlowWarp", "MotionFusion", "EMA",
                  "AdaptiveThreshold"],
    "stabilize_guard": ["gate_components", "AreaGuard", "to_cpu", "component_support", "AntiGhost"],
    "synthetic": ["Scene", "SyntheticScene", "render_scene"],
}


def builtin_nodes() -> dict:
    """The registered kinds of the library (other tests register their own nodes in this process)."""
    return {kind: cls for kind, cls in all_nodes().items() if cls.__module__.startswith("graphrun.nodes.")}


def family_modules():
    for family in FAMILIES:
        package = importlib.import_module(f"graphrun.nodes.{family}")
        for info in pkgutil.iter_modules(package.__path__):
            yield package, importlib.import_module(f"{package.__name__}.{info.name}")


def test_the_library_registers_the_same_node_kinds_as_before_the_split():
    assert list(builtin_nodes()) == KINDS


@pytest.mark.parametrize("old", sorted(OLD_MODULES))
def test_each_old_flat_module_name_still_imports_with_its_public_names(old):
    module = importlib.import_module(f"graphrun.nodes.{old}")
    missing = [name for name in OLD_MODULES[old] if not hasattr(module, name)]
    assert not missing, f"graphrun.nodes.{old} lacks {missing}"
    exec(f"from graphrun.nodes.{old} import {', '.join(OLD_MODULES[old])}", {})


def test_an_old_name_is_the_new_module_itself_so_classes_are_not_duplicated():
    from graphrun.nodes import stabilize_guard
    from graphrun.nodes.stabilize.anti_ghost import AntiGhost
    assert stabilize_guard.AntiGhost is AntiGhost
    assert graphrun.nodes.decode is importlib.import_module("graphrun.nodes.io.decode")


def test_each_family_package_offers_the_functions_and_classes_of_its_modules():
    for package, module in family_modules():
        own = [name for name, obj in vars(module).items() if not name.startswith("_")
               and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__]
        missing = [name for name in own if getattr(package, name, None) is not vars(module)[name]]
        assert not missing, f"{package.__name__} does not re-export {missing} of {module.__name__}"


def test_every_node_module_starts_with_a_sentence_naming_its_kind_and_every_node_has_a_docstring():
    for kind, cls in builtin_nodes().items():
        module = inspect.getmodule(cls)
        assert f"``{kind}``" in (module.__doc__ or "").split("\n\n")[0], module.__name__
        assert cls.describe().endswith((".", ")")), kind

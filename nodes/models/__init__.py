"""Per-frame models: segmenters (bg_subtract, maskrcnn, mediapipe_person), torchvision models, their
input preparation (preprocess, batch) and weights (weights.py: the torch hub cache)."""
from .batch import Batch, stack_batch
from .bg_subtract import BgSubtract
from .camera_motion import CameraMotion, input_name
from .maskrcnn import MaskRCNN, default_weights_file
from .mediapipe_person import MediaPipePerson, import_solutions
from .preprocess import Preprocess
from .preprocess_ops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Size,
    check_size,
    choose_backend,
    crop_box,
    preprocess_batch,
    preprocess_image,
    resized_size,
)
from .torchvision_model import TASKS, TorchvisionModel, build_model, model_task, resolve_weights, weights_cache_path
from .weights import (
    apply_state_dict,
    cache_path,
    cached_files,
    checkpoints_dir,
    downloading,
    fetch_url,
    is_url,
    load_state_dict,
    offline,
    offline_advice,
    read_state_dict,
)

__all__ = ["Batch", "stack_batch", "BgSubtract", "CameraMotion", "input_name", "MaskRCNN",
           "default_weights_file", "MediaPipePerson", "import_solutions", "Preprocess", "IMAGENET_MEAN", "IMAGENET_STD",
           "Size", "check_size", "choose_backend", "crop_box", "preprocess_batch", "preprocess_image", "resized_size",
           "TASKS", "TorchvisionModel", "build_model", "model_task", "resolve_weights", "weights_cache_path",
           "apply_state_dict", "cache_path", "cached_files", "checkpoints_dir", "downloading", "is_url",
           "load_state_dict", "offline", "fetch_url", "offline_advice", "read_state_dict"]

"""Where frames and masks come from: video files, image and mask folders, live streams, DataLoader
workers, the synthetic scene, and the decoder backends they share."""
from .dataloader import ClipDataset, DataLoaderSource, count_frames, expand_paths, make_loader
from .decode import (
    AUTO_ORDER,
    BACKENDS,
    CLIP_ORDER,
    MAX_BAD_PACKETS,
    BestEffortPts,
    Decoder,
    DecodeWarning,
    DecordDecoder,
    OpenCVDecoder,
    PyAVDecoder,
    VideoInfo,
    backend_available,
    check_file,
    decord_readers_open,
    ended_early,
    iter_frames,
    open_decoder,
    probe,
    pyav_rgb,
    quarter_turns,
    read_clip,
    resolve_backend,
)
from .image import ImageParams, to_image
from .image_folder import IMAGE_SUFFIXES, ImageFolder, list_images, read_rgb
from .live import Camera, StreamURL
from .mask_folder import MaskFolder, load_label_image
from .synthetic import Scene, SyntheticScene, render_scene
from .video_file import VideoFile

__all__ = ["ClipDataset", "DataLoaderSource", "count_frames", "expand_paths", "make_loader",
           "AUTO_ORDER", "BACKENDS", "CLIP_ORDER", "MAX_BAD_PACKETS", "BestEffortPts", "Decoder", "DecodeWarning",
           "DecordDecoder", "OpenCVDecoder", "PyAVDecoder", "VideoInfo", "backend_available", "check_file",
           "decord_readers_open", "ended_early", "iter_frames", "open_decoder", "probe", "pyav_rgb", "quarter_turns",
           "read_clip", "resolve_backend", "ImageParams", "to_image", "IMAGE_SUFFIXES", "ImageFolder", "list_images",
           "read_rgb", "Camera", "StreamURL", "MaskFolder", "load_label_image", "Scene", "SyntheticScene",
           "render_scene", "VideoFile"]

"""Image preprocessing for models, as pure functions: resize, center crop, normalize, on the CPU or the GPU.

:func:`preprocess_image` and :func:`preprocess_batch` hold the logic; the ``preprocess`` node
(preprocess.py) is a thin wrapper. Semantics follow torchvision's ``Resize`` + ``CenterCrop`` +
``Normalize`` (short-side resize, rounded centre crop, antialiased downscaling).

Two backends compute the resize:

* ``torch``: ``F.interpolate`` on the uint8 image (CPU: torch's vectorised uint8 antialias path)
  or on float32 (CUDA). This is the reference: same params give the same result on both devices.
* ``opencv``: ``cv2.resize`` on the HWC uint8 image (CPU only). ``INTER_LINEAR`` is the fastest
  resize there is but does not antialias; for antialiased downscaling it uses ``INTER_AREA``.

``auto`` picks opencv on the CPU unless an antialiased downscale is asked for (torch's uint8
antialias path is then both faster than ``INTER_AREA`` and identical to the CUDA path), and torch
on CUDA. ``bench/preprocess.py`` measures the choices.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from graphrun.runtime.errors import UserInputError

from ..common import torch_dtype

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Size = Union[int, tuple[int, int]]


# ------------------------------------------------------------------------------ geometry
def resized_size(h: int, w: int, resize: Optional[Size]) -> tuple[int, int]:
    """Output (height, width) of a resize: an int sets the short side (torchvision rule: the long
    side is ``int(size * long / short)``), a pair sets (height, width), None keeps the size."""
    if resize is None:
        return h, w
    if isinstance(resize, int):
        if h <= w:
            return resize, max(1, int(resize * w / h))
        return max(1, int(resize * h / w)), resize
    return int(resize[0]), int(resize[1])


def check_size(size: Optional[Size], what: str) -> Optional[Size]:
    """``size`` itself if each of its values is >= 1 (for parameter validators); else a ValueError."""
    values = [size] if isinstance(size, int) else (size or [])
    if any(int(s) < 1 for s in values):
        raise ValueError(f"{what} must be >= 1")
    return size


def crop_box(h: int, w: int, crop: Optional[Size]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a centre crop, rounded like torchvision's ``CenterCrop``."""
    if crop is None:
        return 0, 0, h, w
    ch, cw = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
    if ch > h or cw > w:
        raise UserInputError(f"preprocess: crop {ch}x{cw} is larger than the resized image {h}x{w} "
                             f"(lower 'crop' or raise 'resize')")
    return int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)), ch, cw


def _is_downscale(h: int, w: int, oh: int, ow: int) -> bool:
    return oh < h or ow < w


def _to_device(x, device):
    """Move a CPU tensor to ``device``; CUDA copies go through pinned memory, non-blocking."""
    import torch
    device = torch.device(device)
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def choose_backend(backend: str, device, h: int, w: int, oh: int, ow: int, antialias: bool,
                   interpolation: str) -> str:
    """Resolve ``auto`` (see the module docstring)."""
    import torch
    dev = torch.device(device)
    if backend == "opencv" and dev.type != "cpu":
        raise UserInputError("preprocess: backend 'opencv' runs on the CPU only (use 'torch' or 'auto' on cuda)")
    if backend != "auto":
        return backend
    if dev.type != "cpu":
        return "torch"
    if antialias and interpolation != "nearest" and _is_downscale(h, w, oh, ow):
        return "torch"
    return "opencv"


# ------------------------------------------------------------------------------ core
def _normalize(x, mean, std, dtype, channels_last: bool):
    """uint8/float (B,3,H,W) in 0..255 -> (x/255 - mean) / std in ``dtype``."""
    import torch
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0
    inv = 1.0 / (torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1) * 255.0)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    y = x.to(torch.float32, memory_format=mf)  # dtype and layout in one pass
    if y.data_ptr() == x.data_ptr():           # x was already float in that layout: do not modify it
        y = y.clone()
    y = y.sub_(m).mul_(inv)
    return y if dtype == torch.float32 else y.to(dtype)


def _torch_resize(x, oh: int, ow: int, interpolation: str, antialias: bool):
    """Resize a (B,3,H,W) uint8 tensor; returns uint8 on CPU, float32 (0..255) elsewhere."""
    import torch
    import torch.nn.functional as F
    h, w = x.shape[-2:]
    if (oh, ow) == (h, w):
        return x
    mode = "nearest-exact" if interpolation == "nearest" else interpolation
    kw = {} if mode == "nearest-exact" else {"align_corners": False, "antialias": antialias}
    if x.device.type != "cpu":  # CUDA kernels (antialias) want floats
        y = F.interpolate(x.to(torch.float32), size=(oh, ow), mode=mode, **kw)
        return y.clamp_(0, 255) if mode == "bicubic" else y
    return F.interpolate(x, size=(oh, ow), mode=mode, **kw)


def _cv2_resize(img: np.ndarray, oh: int, ow: int, interpolation: str, antialias: bool) -> np.ndarray:
    import cv2
    h, w = img.shape[:2]
    if (oh, ow) == (h, w):
        return img
    if interpolation == "nearest":
        flag = cv2.INTER_NEAREST_EXACT
    elif antialias and _is_downscale(h, w, oh, ow):
        flag = cv2.INTER_AREA
    else:
        flag = cv2.INTER_CUBIC if interpolation == "bicubic" else cv2.INTER_LINEAR
    return cv2.resize(img, (ow, oh), interpolation=flag)


def _as_hwc3(img, where: str = "preprocess"):
    """Check/convert an image to HxWx3 uint8 (numpy or torch); grey images are repeated."""
    import torch
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise UserInputError(f"{where}: expected an HxWx3 image, got shape {tuple(img.shape)}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2) if isinstance(img, np.ndarray) else img.expand(-1, -1, 3)
    elif img.shape[2] == 4:
        img = img[..., :3]
    dt = img.dtype
    if dt not in (np.uint8, torch.uint8):
        raise UserInputError(f"{where}: expected a uint8 image, got {dt}")
    return img


def preprocess_image(img, resize: Optional[Size] = 256, crop: Optional[Size] = 224,
                     interpolation: str = "bilinear", antialias: bool = True,
                     mean=IMAGENET_MEAN, std=IMAGENET_STD, dtype: str = "float32",
                     channels_last: bool = False, device="cpu", backend: str = "auto"):
    """One HxWx3 uint8 image (numpy or torch, any device) -> normalized (3,h,w) tensor on ``device``."""
    import torch
    img = _as_hwc3(img)
    h, w = int(img.shape[0]), int(img.shape[1])
    oh, ow = resized_size(h, w, resize)
    top, left, ch, cw = crop_box(oh, ow, crop)
    be = choose_backend(backend, device, h, w, oh, ow, antialias, interpolation)
    if be == "opencv":
        arr = img.cpu().numpy() if isinstance(img, torch.Tensor) else img
        r = _cv2_resize(np.ascontiguousarray(arr), oh, ow, interpolation, antialias)
        r = r[top:top + ch, left:left + cw]
        x = torch.from_numpy(np.ascontiguousarray(r)).permute(2, 0, 1)[None]
    else:
        x = torch.from_numpy(np.ascontiguousarray(img)) if isinstance(img, np.ndarray) else img
        x = _to_device(x, device).permute(2, 0, 1)[None]
        x = _torch_resize(x, oh, ow, interpolation, antialias)[..., top:top + ch, left:left + cw]
    return _normalize(x, mean, std, torch_dtype(dtype), channels_last)[0]


def preprocess_batch(x, resize: Optional[Size] = 256, crop: Optional[Size] = 224,
                     interpolation: str = "bilinear", antialias: bool = True,
                     mean=IMAGENET_MEAN, std=IMAGENET_STD, dtype: str = "float32",
                     channels_last: bool = False, device="cpu", backend: str = "auto"):
    """A (B,H,W,3) uint8 batch (torch or numpy, any device) -> normalized (B,3,h,w) on ``device``.

    The torch backend moves the uint8 batch to ``device`` first (pinned, non-blocking: four times
    fewer bytes than floats) and does everything there in a few batched kernels.
    """
    import torch
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != torch.uint8:
        raise UserInputError(f"preprocess_batch: expected a (B,H,W,3) uint8 batch, got "
                             f"{tuple(x.shape)} {x.dtype}")
    h, w = int(x.shape[1]), int(x.shape[2])
    oh, ow = resized_size(h, w, resize)
    top, left, ch, cw = crop_box(oh, ow, crop)
    be = choose_backend(backend, device, h, w, oh, ow, antialias, interpolation)
    if be == "opencv":
        arr = x.cpu().numpy()
        out = np.stack([_cv2_resize(a, oh, ow, interpolation, antialias)[top:top + ch, left:left + cw]
                        for a in arr])
        y = torch.from_numpy(out).permute(0, 3, 1, 2)
    else:
        y = _to_device(x, device).permute(0, 3, 1, 2)
        y = _torch_resize(y, oh, ow, interpolation, antialias)[..., top:top + ch, left:left + cw]
    return _normalize(y, mean, std, torch_dtype(dtype), channels_last)

"""File sources: a video file, a folder of images, and per-frame masks read from a folder.

``video_file`` decodes with one of the backends of :mod:`graphrun.nodes.decode`; ``image_folder``
reads a sorted folder of JPEG/PNG frames (DAVIS layout); ``mask_folder`` loads the mask or
probability map whose file name matches each incoming frame's name, so predictions saved per
frame line up with the frames that produced them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from graphrun.runtime import Emit, Input, Node, NodeParams, Output, Source, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, MASK, PROB_MAP, VideoFrame


def to_image(rgb: np.ndarray, as_tensor: bool, pin_memory: bool):
    """The frame image as a numpy array, or a torch uint8 tensor (pinned if asked and possible)."""
    if not as_tensor:
        return rgb
    import torch

    t = torch.from_numpy(rgb)
    if pin_memory and torch.cuda.is_available():
        t = t.pin_memory()
    return t


class _ImageParams(NodeParams):
    as_tensor: bool = Field(False, description="emit the image as a torch uint8 HxWx3 tensor instead of numpy")
    pin_memory: bool = Field(False, description="with as_tensor: put the tensor in pinned memory (fast, "
                                                "asynchronous copies to a GPU; ignored without CUDA)")

    @model_validator(mode="after")
    def _pin_needs_tensor(self):
        if self.pin_memory and not self.as_tensor:
            raise ValueError("pin_memory needs as_tensor: true (a numpy array cannot be pinned)")
        return self


# ---------------------------------------------------------------------------------------------
@register("video_file")
class VideoFile(Source):
    """Decode a video file into RGB frames (names ``00000``, ``00001``, ... = frame number in the file).

    Only the video stream is decoded (audio is ignored) and the display-rotation tag is applied.
    ``backend: auto`` picks PyAV (bench/decode.py: as fast as OpenCV, and more robust). A damaged
    file yields every frame that decodes, with a warning; a missing or unreadable one is an error.
    With ``start``, ``VideoFrame.index`` counts emitted frames from 0 while ``name`` and ``pts``
    keep the file's frame number and time.
    """

    frame = Output(FRAME, doc="VideoFrame: HxWx3 uint8 RGB (numpy, or torch with as_tensor)")

    class Params(_ImageParams):
        path: str = Field(..., description="video file (mp4, mkv, avi, mov, ...)")
        backend: Literal["auto", "pyav", "decord", "opencv"] = Field(
            "auto", description="decoder: auto = PyAV if installed, else OpenCV, else decord")
        threads: int = Field(0, ge=0, le=64, description="decoder threads, 0 = automatic")
        start: int = Field(0, ge=0, description="first frame to emit (seeks to it)")
        max_frames: Optional[int] = Field(None, ge=1, description="stop after this many frames (null = all)")

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._dec = None
        self._log = None

    def _warn(self, msg: str) -> None:
        if self._log is not None:
            self._log(f"warning: {msg}")
        else:
            from .decode import _default_warn
            _default_warn(msg)

    def _decoder(self):
        """The one open decoder: fps(), length() and generate() share it (a single file open)."""
        if self._dec is None:
            from .decode import open_decoder
            p = self.params
            self._dec = open_decoder(p.path, p.backend, p.threads, warn=self._warn)
        return self._dec

    def setup(self, ctx):
        self._log = ctx.log
        self._decoder()  # a missing or unreadable file fails here, before any frame flows

    def fps(self):
        return self._decoder().fps

    def length(self):
        n = self._decoder().frame_count_hint
        if n is None:
            return None
        n = max(n - self.params.start, 0)
        return min(n, self.params.max_frames) if self.params.max_frames else n

    def generate(self, ctx):
        p = self.params
        dec = self._decoder()
        for i, (rgb, pts, idx) in enumerate(dec.frames(p.start, p.max_frames)):
            image = to_image(rgb, p.as_tensor, p.pin_memory) if p.as_tensor else rgb
            yield Emit({"frame": VideoFrame(image=image, index=i, pts=pts, name=f"{idx:05d}")}, pts=pts)
        self.close()

    def close(self):
        dec, self._dec = self._dec, None
        if dec is not None:
            dec.close()


# ---------------------------------------------------------------------------------------------
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(path, pattern: str) -> list[Path]:
    d = Path(os.fspath(path)).expanduser()
    if not d.is_dir():
        raise UserInputError(f"image folder not found: {d}")
    files = sorted(f for f in d.glob(pattern) if f.is_file())
    if not files and pattern == "*.jpg":  # the default: fall back to other image types
        for alt in ("*.jpeg", "*.png"):
            files = sorted(f for f in d.glob(alt) if f.is_file())
            if files:
                break
    if not files:
        raise UserInputError(f"no images matching '{pattern}' in {d}")
    return files


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserInputError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@register("image_folder")
class ImageFolder(Source):
    """Read a folder of image frames in name order (DAVIS ``JPEGImages/480p/<seq>/``).

    ``VideoFrame.name`` is the file stem (``00042``), so outputs and ``mask_folder`` line up with
    the dataset. The default pattern ``*.jpg`` falls back to ``*.png`` when there is no JPEG.
    """

    frame = Output(FRAME, doc="VideoFrame: HxWx3 uint8 RGB, name = file stem")

    class Params(_ImageParams):
        path: str = Field(..., description="folder of images")
        pattern: str = Field("*.jpg", description="glob of the frame files (default *.jpg, else *.png)")
        fps: float = Field(30.0, gt=0, le=1000, description="frame rate for pts and realtime pacing")
        start: int = Field(0, ge=0, description="skip this many files first")
        max_frames: Optional[int] = Field(None, ge=1, description="stop after this many frames (null = all)")

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._files = None

    def files(self) -> list[Path]:
        if self._files is None:
            p = self.params
            files = list_images(p.path, p.pattern)[p.start:]
            if not files:
                raise UserInputError(f"start={p.start} skips every image in {p.path}")
            self._files = files[: p.max_frames] if p.max_frames else files
        return self._files

    def setup(self, ctx):
        self.files()

    def fps(self):
        return self.params.fps

    def length(self):
        return len(self.files())

    def generate(self, ctx):
        p = self.params
        for i, f in enumerate(self.files()):
            pts = (p.start + i) / p.fps
            image = to_image(read_rgb(f), p.as_tensor, p.pin_memory)
            yield Emit({"frame": VideoFrame(image=image, index=i, pts=pts, name=f.stem)}, pts=pts)


# ---------------------------------------------------------------------------------------------
def load_label_image(path: Path) -> tuple[np.ndarray, str]:
    """Read a mask PNG. Returns (array, mode): 'palette' / 'grey' (H,W) or 'rgb' (H,W,3)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode == "P":
                return np.array(im), "palette"
            if mode in ("L", "1"):
                return np.array(im.convert("L")), "grey"
            if mode in ("I;16", "I;16B", "I"):
                a = np.array(im).astype(np.float64)
                return (a / 65535.0 * 255.0 + 0.5).astype(np.uint8), "grey"
            if mode in ("LA",):
                return np.array(im.convert("L")), "grey"
            return np.array(im.convert("RGB")), "rgb"
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read mask {path}: {exc}") from None


@register("mask_folder")
class MaskFolder(Node):
    """Load the mask/probability map ``<path>/<frame.name>.png`` of each frame.

    Palette PNGs (DAVIS annotations, OSVOS/RVOS predictions): every non-zero index is the object
    (their union) unless ``label`` picks one. 8-bit grey maps (MediaPipe) are probabilities
    (value/255). ``kind: auto`` treats palette images and grey images holding only 0 and 255 as
    binary, other grey images as probabilities. A map of another size is resized to the frame
    (nearest for binary masks, bilinear for probabilities) unless ``resize: false``.
    """

    frame = Input(FRAME, doc="the frame whose name selects the file")
    prob = Output(PROB_MAP, doc="float32 HxW in [0,1] (0/1 for binary masks)")
    mask = Output(MASK, doc="bool HxW: binary mask, or prob >= threshold")
    stateless = True

    class Params(NodeParams):
        path: str = Field(..., description="folder of <frame name><suffix> files")
        suffix: str = Field(".png", description="file extension appended to the frame name")
        kind: Literal["auto", "binary", "probability"] = Field(
            "auto", description="auto: palette or {0,255}-only -> binary, else probability")
        label: Optional[int] = Field(None, ge=0, le=255,
                                     description="binary: keep only this palette index/grey value (null = "
                                                 "union of all non-zero values)")
        threshold: float = Field(0.5, ge=0.0, le=1.0, description="mask = prob >= threshold (probability maps)")
        missing: Literal["error", "empty"] = Field("error", description="a missing file: error, or an all-zero map")
        resize: bool = Field(True, description="resize a map of another size to the frame (false: error)")

        @model_validator(mode="after")
        def _label_is_binary(self):
            if self.label is not None and self.kind == "probability":
                raise ValueError("label picks a value of a label image: it needs kind auto or binary")
            return self

    def setup(self, ctx):
        d = Path(os.fspath(self.params.path)).expanduser()
        if not d.is_dir():
            raise UserInputError(f"mask folder not found: {d}")
        self._dir = d

    def process(self, ctx, frame):
        import torch

        p = self.params
        h, w = frame.size
        f = self._dir / f"{frame.name}{p.suffix}"
        if not f.is_file():
            if p.missing == "empty":
                return {"prob": torch.zeros((h, w), dtype=torch.float32),
                        "mask": torch.zeros((h, w), dtype=torch.bool)}
            raise UserInputError(f"no mask for frame '{frame.name}': {f} not found (missing: empty allows it)")
        arr, mode = load_label_image(f)
        if mode == "rgb" and p.kind != "probability":   # a colour label image: any colour = object
            fg = arr.any(axis=2) if p.label is None else (arr == p.label).all(axis=2)
            return self._binary(fg, h, w, f)
        if mode == "rgb":
            arr = arr.mean(axis=2)
        binary = p.kind == "binary" or (p.kind == "auto" and (mode == "palette" or _only_0_255(arr)))
        if binary:
            return self._binary(arr != 0 if p.label is None else arr == p.label, h, w, f)
        prob = self._fit(arr.astype(np.float32) * np.float32(1.0 / 255.0), h, w, f, nearest=False)
        prob = np.clip(prob, 0.0, 1.0)
        return {"prob": torch.from_numpy(prob), "mask": torch.from_numpy(prob >= p.threshold)}

    def _binary(self, fg: np.ndarray, h: int, w: int, f: Path) -> dict:
        import torch

        fg = self._fit(fg.astype(np.uint8), h, w, f, nearest=True)
        # numpy conversions: torch's would start its intra-op thread pool for a 0.4 Mpixel map
        return {"prob": torch.from_numpy(fg.astype(np.float32)), "mask": torch.from_numpy(fg.astype(bool))}

    def _fit(self, a: np.ndarray, h: int, w: int, f: Path, nearest: bool) -> np.ndarray:
        if a.shape[:2] == (h, w):
            return np.ascontiguousarray(a)
        if not self.params.resize:
            raise UserInputError(f"mask {f} is {a.shape[1]}x{a.shape[0]} but the frame is {w}x{h} "
                                 f"(resize: true would resize it)")
        import cv2

        return cv2.resize(a, (w, h), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR)


def _only_0_255(a: np.ndarray) -> bool:
    return bool(np.all((a == 0) | (a == 255)))

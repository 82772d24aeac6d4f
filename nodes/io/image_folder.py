"""The ``image_folder`` source: a folder of image frames in name order (DAVIS layout)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Emit, Output, Source, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, VideoFrame

from ..common.inputs import announce_input
from .image import ImageParams, to_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def list_images(path, pattern: str) -> list[Path]:
    """The files of folder ``path`` matching ``pattern``, sorted by name (``*.jpg`` falls back to
    ``*.jpeg``, then ``*.png``); a UserInputError if there are none."""
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
    """An image file as HxWx3 uint8 RGB."""
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
    taps = {"frame": "image"}  # what --record/--view show

    class Params(ImageParams):
        path: str = Field(..., description="folder of images", json_schema_extra={"input": "folder"})
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
        announce_input(ctx, "image_folder", path=self.params.path, fps=self.params.fps, frames=len(self.files()))

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

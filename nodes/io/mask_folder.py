"""The ``mask_folder`` node: the saved mask or probability map of each frame, found by the frame's name.

Predictions saved per frame (DAVIS annotations, OSVOS/RVOS/MediaPipe outputs) line up with the
frames that produced them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, MASK, PROB_MAP

from ..common.alerts import os_words


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
        raise UserInputError(f"cannot read mask {path}: {os_words(exc)}") from None


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
    taps = {"mask": "segmentation"}  # what --record/--view show
    stateless = True

    class Params(NodeParams):
        path: str = Field(..., description="folder of <frame name><suffix> files",
                          json_schema_extra={"input": "folder"})
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


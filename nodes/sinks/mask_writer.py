"""The ``mask_writer`` sink: one PNG per frame, named after the frame.

It writes into a hidden temporary folder and renames it in ``finish()``, so a run that fails or is
interrupted leaves no complete-looking output (``close()`` removes the temporary).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field, field_validator

from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, TENSOR

from ..common import frame_name, hidden_temp, mask_to_float, needs_out, to_numpy


@register("mask_writer")
class MaskWriter(Node):
    """Writes one PNG per frame: ``<out>/masks/<subdir>/<frame name>.png`` (0/255 or 8-bit prob).

    Bool masks are written as 0/255. Probability maps are binarized at ``binarize`` (0/255) or,
    with ``binarize: null``, written as 8-bit probabilities (255 = 1.0). The folder appears only
    when the stream ends cleanly (written as a hidden temporary folder, renamed in finish);
    an existing folder of the same name is replaced.
    """

    frame = Input(FRAME, doc="the frame (its name names the file)")
    mask = Input(TENSOR, doc="bool mask or float probability map (H,W)")
    stateless = False

    class Params(NodeParams):
        subdir: Optional[str] = Field(None, description="folder under <out>/masks (default: the node's name)")
        binarize: Optional[float] = Field(0.5, ge=0, le=1,
                                          description="threshold for probability maps; null = save 8-bit probabilities")

        @field_validator("binarize", mode="before")
        @classmethod
        def _none_words(cls, v):
            if isinstance(v, str) and v.strip().lower() in ("", "none", "null", "off", "false"):
                return None
            return v

    def setup(self, ctx) -> None:
        import cv2

        self._cv2 = cv2
        out = needs_out(ctx, "mask_writer")
        sub = self.params.subdir or ctx.name
        if not sub or Path(sub).is_absolute() or ".." in Path(sub).parts:
            raise UserInputError(f"mask_writer '{ctx.name}': subdir must be a relative folder name, got '{sub}'")
        self.final = out / "masks" / sub
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = hidden_temp(self.final)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.count = 0

    def process(self, ctx, frame, mask):
        m = to_numpy(mask)
        b = self.params.binarize
        if m.dtype == np.bool_:
            img = m.view(np.uint8) * np.uint8(255)
        elif m.dtype == np.float32 and m.ndim == 2 and b is not None and 0 <= b < 1:
            img = self._cv2.compare(np.ascontiguousarray(m), b, self._cv2.CMP_GT)   # 0/255 in one pass, as below
        else:
            prob = mask_to_float(m)
            if self.params.binarize is None:
                img = np.round(prob * 255.0).astype(np.uint8)
            else:
                img = (prob > self.params.binarize).astype(np.uint8) * 255
        if img.ndim == 3:
            img = img.reshape(img.shape[-2:])
        path = self.tmp / f"{frame_name(frame)}.png"
        if not self._cv2.imwrite(str(path), img):
            raise UserInputError(f"mask_writer '{ctx.name}': cannot write {path}")
        self.count += 1
        return None

    def finish(self, ctx) -> None:
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)
        self.tmp = None
        ctx.log(f"{ctx.name}: wrote {self.count} masks to {self.final}")

    def close(self) -> None:
        tmp = getattr(self, "tmp", None)
        if tmp is not None and Path(tmp).exists():
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                Path(tmp).parent.rmdir()  # <out>/masks, if nothing else is in it
            except OSError:
                pass
        self.tmp = None

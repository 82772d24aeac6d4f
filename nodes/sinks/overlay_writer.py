"""The ``overlay_writer`` sink: raw and stabilized masks tinted over the frames, side by side, as a video.

It writes into a hidden temporary file and renames it in ``finish()``, so a run that fails or is
interrupted leaves no complete-looking output (``close()`` removes the temporary).
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, TENSOR

from ..common import RAW_COLOR, STAB_COLOR, hidden_temp, mask_to_float, needs_out, rgb_uint8, tint


def side_by_side(image, raw, stabilized, max_width: int = 0) -> np.ndarray:
    """Raw and stabilized overlays next to each other (or raw alone), scaled to max_width, even size."""
    import cv2

    image = rgb_uint8(image)
    panels = [tint(image, None if raw is None else mask_to_float(raw), RAW_COLOR, "raw")]
    if stabilized is not None:
        panels.append(tint(image, mask_to_float(stabilized), STAB_COLOR, "stabilized"))
    sep = np.full((image.shape[0], 4, 3), 255, np.uint8)
    canvas = panels[0] if len(panels) == 1 else np.concatenate([panels[0], sep, panels[1]], axis=1)
    h, w = canvas.shape[:2]
    if max_width and w > max_width:
        s = max_width / w
        canvas = cv2.resize(canvas, (max(2, int(w * s)), max(2, int(h * s))), interpolation=cv2.INTER_AREA)
        h, w = canvas.shape[:2]
    if h % 2 or w % 2:
        canvas = canvas[: h - h % 2, : w - w % 2]
    return np.ascontiguousarray(canvas)


@register("overlay_writer")
class OverlayWriter(Node):
    """Writes ``<out>/overlay.mp4``: raw and stabilized masks tinted over the frame, side by side.

    H.264 (libx264, yuv420p) through PyAV, falling back to MPEG-4 Part 2 when libx264 is missing.
    Raw is orange, stabilized green, each with its contour and a label. The frame rate comes from
    the frames' timestamps unless ``fps`` is given. Written to a temporary file, renamed at the end.
    """

    frame = Input(FRAME, doc="the video frame")
    raw = Input(TENSOR, doc="raw mask or probability (H,W)")
    stabilized = Input(TENSOR, optional=True, doc="stabilized mask or probability (H,W); none = raw only")
    stateless = False

    class Params(NodeParams):
        filename: str = Field("overlay.mp4", description="output file name inside --out")
        fps: Optional[float] = Field(None, gt=0, le=1000,
                                     description="frame rate (default: from the frames' pts, else 30)")
        crf: int = Field(23, ge=0, le=51, description="H.264 quality (lower = better, bigger)")
        max_width: int = Field(1280, ge=0, le=8192,
                               description="scale the side-by-side image down to this width (0 = never)")
        codec: Optional[str] = Field(None, description="encoder name (default: libx264, else mpeg4)")

    def setup(self, ctx) -> None:
        import av

        self._av = av
        out = needs_out(ctx, "overlay_writer")
        name = self.params.filename
        if Path(name).name != name or not name:
            raise UserInputError(f"overlay_writer '{ctx.name}': filename must be a plain file name, got '{name}'")
        self.final = out / name
        self.tmp = hidden_temp(self.final)
        self.container = None
        self.stream = None
        self.pending = []          # (image, pts seconds) until the frame rate is known
        self.last_pts = -1
        self.count = 0

    # -- encoder ------------------------------------------------------------------------
    def _codec(self) -> str:
        av = self._av
        names = [self.params.codec] if self.params.codec else ["libx264", "h264", "mpeg4"]
        for name in names:
            try:
                av.codec.Codec(name, "w")
                return name
            except Exception:
                continue
        raise UserInputError(f"overlay_writer: no usable video encoder among {names}")

    def _open(self, fps: float, width: int, height: int) -> None:
        av = self._av
        self.fps = fps
        self.rate = Fraction(fps).limit_denominator(1001)
        self.container = av.open(str(self.tmp), mode="w", format="mp4")
        codec = self._codec()
        stream = self.container.add_stream(codec, rate=self.rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec in ("libx264", "h264"):
            stream.options = {"crf": str(self.params.crf), "preset": "veryfast"}
        else:
            stream.bit_rate = int(width * height * float(fps) * 0.15)
        stream.codec_context.time_base = 1 / self.rate
        self.stream = stream
        self.codec_name = codec

    def _encode(self, image: np.ndarray, pts_s: float) -> None:
        if self.stream is not None and (image.shape[1] != self.stream.width or image.shape[0] != self.stream.height):
            import cv2
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        frame = self._av.VideoFrame.from_ndarray(image, format="rgb24")
        pts = int(round(pts_s * float(self.rate))) if pts_s is not None else self.last_pts + 1
        pts = max(pts, self.last_pts + 1)
        frame.pts = pts
        self.last_pts = pts
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def _guess_fps(self) -> float:
        if self.params.fps:
            return float(self.params.fps)
        if len(self.pending) >= 2:
            (_, p0, i0), (_, p1, i1) = self.pending[0], self.pending[1]
            if p0 is not None and p1 is not None and p1 > p0 and i1 > i0:
                fps = (i1 - i0) / (p1 - p0)
                if 1.0 <= fps <= 240.0:
                    return fps
        return 30.0

    def _flush_pending(self) -> None:
        if not self.pending:
            return
        if self.stream is None:
            h, w = self.pending[0][0].shape[:2]
            self._open(self._guess_fps(), w, h)
            t0 = self.pending[0][1] or 0.0
            self.t0 = t0
        for image, pts, _ in self.pending:
            self._encode(image, None if pts is None else pts - self.t0)
        self.pending = []

    def process(self, ctx, frame, raw, stabilized=None):
        image = side_by_side(frame.image, raw, stabilized, self.params.max_width)
        pts = getattr(frame, "pts", None)
        self.pending.append((image, pts, int(frame.index)))
        if self.stream is not None or self.params.fps or len(self.pending) >= 2:
            self._flush_pending()
        return None

    def finish(self, ctx) -> None:
        self._flush_pending()
        if self.container is None:
            ctx.log(f"{ctx.name}: no frames, {self.final} not written")
            return
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.container = None
        os.replace(self.tmp, self.final)
        ctx.log(f"{ctx.name}: wrote {self.count} frames ({self.codec_name}, {self.fps:.3g} fps) to {self.final}")

    def close(self) -> None:
        if getattr(self, "container", None) is not None:
            try:
                self.container.close()
            except Exception:
                pass
            self.container = None
        tmp = getattr(self, "tmp", None)
        if tmp is not None and Path(tmp).exists():
            try:
                Path(tmp).unlink()
            except OSError:
                pass

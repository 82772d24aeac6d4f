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

from ..common import RAW_COLOR, STAB_COLOR, announced_inputs, hidden_temp, mask_to_float, needs_out, rgb_uint8, tint
from ..common.alerts import os_words, warn
from ..common.size import SizeWatch
from ..common.timing import FrameClock, usable_pts

TIME_BASE = Fraction(1, 60000)   # pts unit: exact for 24, 25, 30, 50, 60 and 29.97 fps, 17 us otherwise
PROBE_FRAMES = 16                # frames buffered to read the nominal rate from their pts
DEFAULT_FPS = 30.0               # only for frames without timestamps (and no fps parameter)


def side_by_side(image, raw, stabilized, max_width: int = 0) -> np.ndarray:
    """Raw and stabilized overlays next to each other (or raw alone), at most max_width wide, even size.

    The frame and the masks are scaled down before drawing, so a 4K frame costs a small canvas
    (area averaging from half size down; bilinear above, which aliases nothing there and costs a
    quarter)."""
    import cv2

    image = rgb_uint8(image)
    maps = [None if raw is None else mask_to_float(raw)] + ([] if stabilized is None else [mask_to_float(stabilized)])
    h, w = image.shape[:2]
    total = len(maps) * w + 4 * (len(maps) - 1)
    if max_width and total > max_width:
        s = max_width / total
        size = (max(2, int(w * s)), max(2, int(h * s)))
        how = cv2.INTER_AREA if s <= 0.5 else cv2.INTER_LINEAR
        image = cv2.resize(image, size, interpolation=how)
        maps = [None if m is None else cv2.resize(m, size, interpolation=how) for m in maps]
    panels = [tint(image, maps[0], RAW_COLOR, "raw")]
    if len(maps) > 1:
        panels.append(tint(image, maps[1], STAB_COLOR, "stabilized"))
    sep = np.full((image.shape[0], 4, 3), 255, np.uint8)
    canvas = panels[0] if len(panels) == 1 else np.concatenate([panels[0], sep, panels[1]], axis=1)
    h, w = canvas.shape[:2]
    if h % 2 or w % 2:
        canvas = canvas[: h - h % 2, : w - w % 2]
    return np.ascontiguousarray(canvas)


@register("overlay_writer")
class OverlayWriter(Node):
    """Writes ``<out>/overlay.mp4``: raw and stabilized masks tinted over the frame, side by side.

    H.264 (libx264, yuv420p) through PyAV, falling back to MPEG-4 Part 2 when libx264 is missing.
    Raw is orange, stabilized green, each with its contour and a label. Timing follows the
    source: each frame keeps its pts (a fine time base, so variable frame rates and frames dropped
    in realtime keep their place), and the nominal rate is read from the first frames' pts; ``fps``
    forces a constant rate instead. A video cannot change size: after a change of the frame size
    the frames are scaled to the first size (logged). Written to a temporary file, renamed at the end.
    """

    frame = Input(FRAME, doc="the video frame")
    raw = Input(TENSOR, doc="raw mask or probability (H,W)")
    stabilized = Input(TENSOR, optional=True, doc="stabilized mask or probability (H,W); none = raw only")
    stateless = False

    class Params(NodeParams):
        filename: str = Field("overlay.mp4", description="output file name inside --out")
        fps: Optional[float] = Field(None, gt=0, le=1000,
                                     description="constant frame rate (default: the frames' own timing)")
        crf: int = Field(23, ge=0, le=51, description="H.264 quality (lower = better, bigger)")
        max_width: int = Field(1280, ge=0, le=8192,
                               description="scale the side-by-side image down to this width (0 = never)")
        codec: Optional[str] = Field(None, description="encoder name (default: libx264, else mpeg4)")
        preset: str = Field("veryfast", pattern="^(ultrafast|superfast|veryfast|faster|fast|medium|slow)$",
                            description="x264 speed preset: ultrafast costs the least CPU, bigger files")
        threads: int = Field(0, ge=0, le=64, description="encoder threads (0 = the encoder's choice; 1 = least "
                                                         "CPU per frame when the other cores are busy)")

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
        self.pending = []          # (image, pts seconds or None) until the frame rate is known
        self.clock = FrameClock(PROBE_FRAMES)
        self.sizes = SizeWatch("frames scaled to the video's first size")
        self.t0: Optional[float] = None
        self.last_t: Optional[float] = None
        self.irregular = 0         # frames whose spacing differs from the nominal period by more than 10%
        self.count = 0
        self._ctx = ctx

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
        rate = Fraction(fps).limit_denominator(1001)
        try:
            self.container = av.open(str(self.tmp), mode="w", format="mp4")
        except OSError as exc:
            raise UserInputError(f"overlay_writer '{self._ctx.name}': cannot write {self.final}: "
                                 f"{os_words(exc)}") from None
        codec = self._codec()
        stream = self.container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec in ("libx264", "h264"):
            stream.options = {"crf": str(self.params.crf), "preset": self.params.preset}
        else:
            stream.bit_rate = int(width * height * float(fps) * 0.15)
        if self.params.threads:
            stream.codec_context.thread_count = self.params.threads
        stream.codec_context.time_base = TIME_BASE
        stream.time_base = TIME_BASE
        self.stream = stream
        self.codec_name = codec

    def _encode(self, image: np.ndarray, t: float) -> None:
        if image.shape[1] != self.stream.width or image.shape[0] != self.stream.height:
            import cv2
            image = cv2.resize(image, (self.stream.width, self.stream.height), interpolation=cv2.INTER_AREA)
        frame = self._av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(round(t / TIME_BASE))
        frame.time_base = TIME_BASE
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.count += 1

    def _time(self, pts: Optional[float]) -> float:
        """Seconds from the first frame: the frame's own pts, or one frame period after the last
        frame when it has none, or when it does not come after the last (a timestamp discontinuity)."""
        step = 1.0 / self.fps
        if self.params.fps or pts is None:
            t = None
        else:
            if self.t0 is None:
                self.t0 = pts
            t = pts - self.t0
        if self.last_t is None:
            t = 0.0 if t is None else max(t, 0.0)
        elif t is None or t < self.last_t + float(TIME_BASE):
            t = self.last_t + step
        elif abs(t - self.last_t - step) > 0.1 * step + 0.002:
            self.irregular += 1
        self.last_t = t
        return t

    def _rate(self) -> float:
        if self.params.fps:
            return float(self.params.fps)
        fps = self.clock.fps
        if fps is not None and 1.0 <= fps <= 1000.0:
            return fps
        fps = announced_fps(self._ctx)      # too few frames to time (a 1-frame video): the source's rate
        if fps is not None:
            return fps
        warn(self._ctx, f"overlay_writer '{self._ctx.name}': the frames carry no increasing timestamps; "
                        f"{self.final.name} is written at {DEFAULT_FPS:g} fps (set {self._ctx.name}.fps to change)",
             code="no_timestamps")
        return DEFAULT_FPS

    def _flush_pending(self) -> None:
        if not self.pending:
            return
        if self.stream is None:
            h, w = self.pending[0][0].shape[:2]
            self._open(self._rate(), w, h)
        for image, pts in self.pending:
            self._encode(image, self._time(pts))
        self.pending = []

    def process(self, ctx, frame, raw, stabilized=None):
        self.sizes.changed(ctx, frame.image.shape)
        image = side_by_side(frame.image, raw, stabilized, self.params.max_width)
        pts = usable_pts(getattr(frame, "pts", None))
        if pts is None:
            pts = usable_pts(ctx.pts)
        if self.stream is None:
            self.clock.add(int(frame.index), pts)
        self.pending.append((image, pts))
        if self.stream is not None or self.params.fps or len(self.pending) >= PROBE_FRAMES:
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
        vfr = " variable rate," if self.irregular > max(1, self.count // 20) else ""
        ctx.log(f"{ctx.name}: wrote {self.count} frames ({self.codec_name},{vfr} {self.fps:.5g} fps, "
                f"{self.last_t + 1.0 / self.fps:.2f} s) to {self.final}")

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


def announced_fps(ctx) -> Optional[float]:
    """The frame rate the run's one source announced (``announce_input``), if it did."""
    rates = {i.get("fps") for i in announced_inputs(ctx)}
    rate = rates.pop() if len(rates) == 1 else None
    return float(rate) if isinstance(rate, (int, float)) and 1.0 <= rate <= 1000.0 else None

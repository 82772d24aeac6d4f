"""The live sources ``camera`` (OpenCV) and ``stream_url`` (rtsp/http/udp/... through PyAV).

Both are ``live``: they produce frames at their own pace, so they run only in ``mode: realtime``
(the runtime refuses them offline) and never wait for the graph; when it falls behind, the
runtime drops frames at the source. Frame pts are seconds since the first frame.
"""
from __future__ import annotations

import time
from typing import Literal, Optional, Union

from pydantic import Field

from graphrun.runtime import Emit, Output, Source, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, VideoFrame

from ..common.alerts import os_words, warn
from .decode import pyav_rgb
from .image import ImageParams, to_image

_CV_APIS = {"any": "CAP_ANY", "v4l2": "CAP_V4L2", "ffmpeg": "CAP_FFMPEG", "gstreamer": "CAP_GSTREAMER",
            "dshow": "CAP_DSHOW", "msmf": "CAP_MSMF", "avfoundation": "CAP_AVFOUNDATION"}


@register("camera")
class Camera(Source):
    """Frames from a local camera through OpenCV (device index, or a device path).

    The frame rate is the device's (``fps`` asks the device for another one). After ``max_failures``
    failed reads in a row (camera unplugged) the stream ends with a warning.
    """

    live = True
    frame = Output(FRAME, doc="VideoFrame: HxWx3 uint8 RGB; name = frame count")
    taps = {"frame": "image"}  # what --record/--view show

    class Params(ImageParams):
        device: Union[int, str] = Field(0, description="camera index (0 = first) or a device path (/dev/video0)")
        api: Literal["any", "v4l2", "ffmpeg", "gstreamer", "dshow", "msmf", "avfoundation"] = Field(
            "any", description="OpenCV capture API")
        width: Optional[int] = Field(None, ge=16, le=16384, description="requested width (null = device default)")
        height: Optional[int] = Field(None, ge=16, le=16384, description="requested height (null = device default)")
        fps: Optional[float] = Field(None, gt=0, le=1000, description="requested frame rate (null = device default)")
        max_frames: Optional[int] = Field(None, ge=1, description="stop after this many frames (null = until stopped)")
        max_failures: int = Field(30, ge=1, description="failed reads in a row that end the stream")

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._cap = None

    def setup(self, ctx):
        import cv2

        p = self.params
        api = getattr(cv2, _CV_APIS[p.api], cv2.CAP_ANY)
        cap = cv2.VideoCapture(p.device, api)
        if not cap.isOpened():
            cap.release()
            raise UserInputError(f"camera {p.device!r} could not be opened (not connected, busy, or no "
                                 f"permission; try another device index)")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, p.width), (cv2.CAP_PROP_FRAME_HEIGHT, p.height),
                            (cv2.CAP_PROP_FPS, p.fps)):
            if value:
                cap.set(prop, value)
        self._cap = cap

    def fps(self):
        if self._cap is not None:
            import cv2
            f = self._cap.get(cv2.CAP_PROP_FPS)
            if f and 0 < f <= 1000:
                return float(f)
        return self.params.fps or 30.0

    def length(self):
        return self.params.max_frames

    def generate(self, ctx):
        import cv2

        p, cap = self.params, self._cap
        t0 = None
        i = fails = 0
        while p.max_frames is None or i < p.max_frames:
            ok, bgr = cap.read()
            now = time.monotonic()
            if not ok:
                fails += 1
                if fails >= p.max_failures:
                    ctx.log(f"warning: camera {p.device!r}: {fails} failed reads in a row, stopping")
                    return
                continue
            fails = 0
            t0 = now if t0 is None else t0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Emit({"frame": VideoFrame(to_image(rgb, p.as_tensor, p.pin_memory), i, now - t0, f"{i:05d}")},
                       pts=now - t0)
            i += 1

    def close(self):
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


@register("stream_url")
class StreamURL(Source):
    """Frames from a network stream or URL (rtsp://, http(s)://, udp://, rtmp://, file:) via PyAV.

    Low-latency FFmpeg options (short probing, slice threads only, no input buffering on
    rtsp/udp/rtp/srt) keep the delay to a frame or two. ``timeout`` bounds opening and every
    read, so a dead URL fails in seconds with a one-line error; a stream that drops mid-way ends
    with a warning.
    """

    live = True
    frame = Output(FRAME, doc="VideoFrame: HxWx3 uint8 RGB; name = frame count")
    taps = {"frame": "image"}  # what --record/--view show

    class Params(ImageParams):
        url: str = Field(..., description="stream URL (rtsp://, http://, udp://, rtmp://, file path)")
        timeout: float = Field(5.0, gt=0, le=600, description="seconds allowed to open the stream and for each read")
        transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
        low_latency: bool = Field(True, description="no input buffering, quick probing, no frame threads")
        options: dict[str, str] = Field(default_factory=dict, description="extra FFmpeg demuxer options")
        max_frames: Optional[int] = Field(None, ge=1, description="stop after this many frames (null = until the end)")

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._c = None

    def _options(self) -> dict:
        p = self.params
        opts = {}
        if p.low_latency:
            # Probe 0.5 s, not 5 s. "fflags=nobuffer" (drop the packets read while probing rather
            # than queue them) only for real-time protocols: on http/file it loses the first
            # seconds. Not "flags=low_delay": it makes the H.264 decoder drop B-frames.
            opts.update({"probesize": "500000", "analyzeduration": "500000"})
            if p.url.split(":", 1)[0] in ("rtsp", "rtsps", "udp", "rtp", "srt"):
                opts["fflags"] = "nobuffer"
        if p.url.startswith(("rtsp://", "rtsps://")):
            opts["rtsp_transport"] = p.transport
        opts.update(p.options)
        return opts

    def setup(self, ctx):
        import av

        p = self.params
        t = time.monotonic()
        try:
            self._c = av.open(p.url, options=self._options(), timeout=(p.timeout, p.timeout))
        except Exception as exc:  # av.error.* and OSError: refused, 404, timeout, bad format
            if time.monotonic() - t >= p.timeout * 0.95:
                raise UserInputError(f"cannot open stream {p.url}: no answer within {p.timeout:g} s "
                                     f"(timeout)") from None
            raise UserInputError(f"cannot open stream {p.url}: {os_words(exc)}") from None
        if not self._c.streams.video:
            self.close()
            raise UserInputError(f"no video stream in {p.url}")
        s = self._c.streams.video[0]
        s.thread_type = "SLICE" if p.low_latency else "AUTO"
        self._s = s

    def fps(self):
        if self._c is None:
            return None
        rate = self._s.average_rate or self._s.guessed_rate
        return float(rate) if rate else None

    def length(self):
        return self.params.max_frames

    def generate(self, ctx):
        import av

        p, s = self.params, self._s
        t0 = None
        i = 0
        try:
            for pkt in self._c.demux(s):
                try:
                    frames = pkt.decode()
                except av.error.InvalidDataError as exc:
                    ctx.log(f"warning: {p.url}: skipped a damaged packet ({os_words(exc)})")
                    continue
                for fr in frames:
                    t = fr.time if fr.time is not None else i / (self.fps() or 30.0)
                    t0 = t if t0 is None else t0
                    rgb = pyav_rgb(fr)
                    yield Emit({"frame": VideoFrame(to_image(rgb, p.as_tensor, p.pin_memory), i, t - t0,
                                                    f"{i:05d}")}, pts=t - t0)
                    i += 1
                    if p.max_frames is not None and i >= p.max_frames:
                        return
        except av.error.FFmpegError as exc:  # connection lost, read timeout
            warn(ctx, f"{p.url}: stream ended after {i} frames ({os_words(exc)})", code="stream_ended")

    def close(self):
        c, self._c = self._c, None
        if c is not None:
            c.close()

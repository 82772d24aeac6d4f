"""The ``video_file`` source: decode a video file into RGB frames."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from graphrun.runtime import Emit, Output, Source, register
from graphrun.runtime.types import FRAME, VideoFrame

from ..common.alerts import warn
from ..common.inputs import announce_input
from .image import ImageParams, to_image


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
    taps = {"frame": "image"}  # what --record/--view show

    class Params(ImageParams):
        path: str = Field(..., description="video file (mp4, mkv, avi, mov, ...)", json_schema_extra={"input": "file"})
        backend: Literal["auto", "pyav", "decord", "opencv"] = Field(
            "auto", description="decoder: auto = PyAV if installed, else OpenCV, else decord")
        threads: int = Field(0, ge=0, le=64, description="decoder threads, 0 = automatic")
        start: int = Field(0, ge=0, description="first frame to emit (seeks to it)")
        max_frames: Optional[int] = Field(None, ge=1, description="stop after this many frames (null = all)")

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._dec = None
        self._ctx = None

    def _warn(self, msg: str) -> None:
        """A decoding problem: logged, and kept in the run's warnings (the report shows them)."""
        if self._ctx is not None:
            warn(self._ctx, msg, code="decoding")
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
        self._ctx = ctx
        dec = self._decoder()  # a missing or unreadable file fails here, before any frame flows
        announce_input(ctx, "video_file", path=self.params.path, fps=dec.fps, frames=self.length(),
                       backend=dec.name)

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

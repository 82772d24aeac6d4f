"""The ``display`` sink: the frames (and a mask tinted over them) in an OpenCV window, for a desktop.

graphrun's ``autovideosink``. Where no window can open (no ``$DISPLAY`` / ``$WAYLAND_DISPLAY`` on
Linux, or an OpenCV built without highgui, such as ``opencv-python-headless``) the run ends at set-up
with one line pointing to ``--view``, Rerun's live viewer, which serves a web page where no display
exists.
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, TENSOR

from ..common import STAB_COLOR, mask_to_float, rgb_uint8, tint

INSTEAD = "use --view (Rerun's live viewer; a web viewer where no display exists) to watch the run"


def no_window_reason() -> Optional[str]:
    """Why an OpenCV window cannot open here, or None when it can."""
    import cv2

    gui = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() == "NONE":
        return f"this OpenCV ({cv2.__version__}) is built without highgui (opencv-python-headless?)"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display ($DISPLAY and $WAYLAND_DISPLAY are unset)"
    return None


@register("display")
class Display(Node):
    """Shows each frame in a window (OpenCV highgui), with ``mask`` (optional: a mask or probability
    map) tinted over it, at most ``max_width`` wide. The window is opened on the first frame and
    keeps the graph's pace (no clock of its own: ``--mode realtime`` paces a file source). Closing
    it (or pressing Esc / q) stops the showing, not the run. Without a display, or with a headless
    OpenCV, set-up fails with one line that points to ``--view``."""

    frame = Input(FRAME, doc="the video frame (RGB)")
    mask = Input(TENSOR, optional=True, doc="mask or probability (H,W) tinted over the frame")
    stateless = False

    class Params(NodeParams):
        title: str = Field("", description="window title (default: the node's name)")
        max_width: int = Field(1280, ge=0, le=8192, description="scale the image down to this width (0 = never)")
        label: str = Field("", description="label drawn over the tinted mask")

    def setup(self, ctx) -> None:
        reason = no_window_reason()
        if reason:
            raise UserInputError(f"display '{ctx.name}': cannot open a window: {reason}; {INSTEAD}")
        import cv2

        self._cv2 = cv2
        self.title = self.params.title or ctx.name
        self.opened = False
        self.closed = False

    def image(self, frame, mask) -> np.ndarray:
        """The BGR image the window shows: the frame scaled to ``max_width``, the mask tinted over it."""
        cv2 = self._cv2
        img = rgb_uint8(frame.image)
        h, w = img.shape[:2]
        if self.params.max_width and w > self.params.max_width:
            s = self.params.max_width / w
            img = cv2.resize(img, (self.params.max_width, max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        if mask is not None:
            img = tint(img, mask_to_float(mask), STAB_COLOR, self.params.label)
        return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)

    def process(self, ctx, frame, mask=None):
        if self.closed:
            return None
        cv2 = self._cv2
        if self.opened and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return self._close(ctx, "window closed")
        if not self.opened:
            cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE)
            self.opened = True
        cv2.imshow(self.title, self.image(frame, mask))
        if cv2.waitKey(1) & 0xFF in (27, ord("q")):
            return self._close(ctx, "Esc/q pressed")
        return None

    def _close(self, ctx, why: str):
        ctx.log(f"display '{ctx.name}': {why} at frame {ctx.index}; the run goes on without the window")
        self.closed = True
        self.close()
        return None

    def close(self) -> None:
        if getattr(self, "opened", False):
            self.opened = False
            try:
                self._cv2.destroyWindow(self.title)
                self._cv2.waitKey(1)
            except self._cv2.error:
                pass

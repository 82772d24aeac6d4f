"""The ``mediapipe_person`` segmenter: MediaPipe's person segmentation, weights shipped in its wheel.

Like every segmenter it emits a soft ``prob`` map and a ``score`` per frame and smooths nothing
over time. Needs the optional extra (``pip install -e '.[mediapipe]'``: mediapipe 0.10.21, the
last release with the legacy ``solutions`` API whose selfie and pose models are inside the wheel);
mediapipe is imported in ``setup`` only, so the node is listed and documented without it.
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, PROB_MAP, SCALAR

from ..common import rgb_uint8
from ..common.native_log import native_stderr_filtered

EXTRA = "mediapipe_person needs the optional extra: pip install -e '.[mediapipe]'"
# What MediaPipe's graph prints to fd 2 when it starts (on the first frame, from its own threads):
# TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.", absl's "WARNING: All log
# messages before absl::InitializeLog() ..." and its I/W lines (the feedback manager's). Not
# GLOG_minloglevel's to silence (absl ignores it), so dropped line by line; E and F lines pass.
START_UP_NOISE = (r"^INFO: Created TensorFlow Lite", r"^WARNING: All log messages before absl::InitializeLog",
                  r"^[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ")


def import_solutions():
    """MediaPipe's legacy ``solutions`` modules, or a one-line UserInputError saying what to install."""
    os.environ.setdefault("GLOG_minloglevel", "2")   # MediaPipe's C++ INFO/WARNING lines
    try:
        import mediapipe
    except ImportError:
        raise UserInputError(EXTRA) from None
    try:
        from mediapipe.python.solutions import pose, selfie_segmentation
    except ImportError:
        version = getattr(mediapipe, "__version__", "?")
        raise UserInputError(f"mediapipe_person: mediapipe {version} has no legacy solutions API (it ships the "
                             f"models); {EXTRA} (mediapipe==0.10.21)") from None
    return selfie_segmentation, pose


@register("mediapipe_person")
class MediaPipePerson(Node):
    """Person segmentation by MediaPipe (CPU, no download: the models ship in the mediapipe wheel).

    ``model``: ``selfie`` (MediaPipe Selfie Segmentation, general model, 256x256 input: a few ms
    per frame), ``selfie_landscape`` (its 144x256 variant, faster) or ``pose`` (the segmentation
    mask of MediaPipe Pose, full model: slower, better on whole bodies far from the camera; one
    person). ``prob`` is the model's person probability at the frame's size; ``score`` the mean
    probability over the pixels above 0.5 (how sure the model is of what it found), 0 when they
    cover less than ``min_area`` of the frame or (pose) no person is found. With ``pose`` and
    ``track`` the previous frame's pose tells the model where to look (MediaPipe's video mode);
    the mask itself is never smoothed over time. A change of frame size restarts the model.
    """

    frame = Input(FRAME, doc="video frame (RGB)")
    prob = Output(PROB_MAP, doc="person probability per pixel, the frame's size")
    score = Output(SCALAR, doc="confidence in [0,1]; 0 when no person is found")
    taps = {"prob": "segmentation", "score": "scalars"}  # what --record/--view show
    stateless = False

    class Params(NodeParams):
        model: Literal["selfie", "selfie_landscape", "pose"] = Field(
            "selfie", description="selfie (fast), selfie_landscape (faster, 144x256) or pose (whole bodies, slower)")
        min_confidence: float = Field(0.5, ge=0.0, le=1.0,
                                      description="pose: minimum confidence of the person detector and tracker")
        track: bool = Field(True, description="pose: locate the person from the previous frame's pose (video "
                                              "mode); false = detect on every frame alone (slower)")
        min_area: float = Field(0.002, ge=0.0, le=1.0,
                                description="score is 0 when the pixels above 0.5 cover less than this "
                                            "fraction of the frame")

    def setup(self, ctx) -> None:
        self._selfie, self._pose = import_solutions()
        self.solution = None
        self.size = None

    def _open(self):
        p = self.params
        if p.model == "pose":
            return self._pose.Pose(static_image_mode=not p.track, model_complexity=1, enable_segmentation=True,
                                   smooth_landmarks=False, smooth_segmentation=False,
                                   min_detection_confidence=p.min_confidence,
                                   min_tracking_confidence=p.min_confidence)
        return self._selfie.SelfieSegmentation(model_selection=1 if p.model == "selfie_landscape" else 0)

    def process(self, ctx, frame):
        img = rgb_uint8(frame.image)
        h, w = img.shape[:2]
        if self.size != (h, w):
            if self.solution is not None:
                ctx.log(f"mediapipe_person '{ctx.name}': frame size changed from {self.size[1]}x{self.size[0]} "
                        f"to {w}x{h} at frame {ctx.index}: model restarted")
                self.solution.close()
            with native_stderr_filtered(START_UP_NOISE):     # MediaPipe starts its graph on the first frame
                self.solution, self.size = self._open(), (h, w)
                result = self.solution.process(img)
        else:
            result = self.solution.process(img)
        mask = getattr(result, "segmentation_mask", None)
        if mask is None:                                 # pose: no person on this frame
            prob = np.zeros((h, w), np.float32)
        else:
            prob = np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)
        person = prob > 0.5
        found = person.any() and person.mean() >= self.params.min_area
        score = float(prob[person].mean()) if found else 0.0
        out = torch.from_numpy(np.ascontiguousarray(prob))
        if str(ctx.device) != "cpu":
            out = out.to(ctx.device)
        return {"prob": out, "score": score}

    def close(self) -> None:
        if getattr(self, "solution", None) is not None:
            self.solution.close()
            self.solution = None

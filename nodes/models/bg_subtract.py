"""The ``bg_subtract`` segmenter: foreground of a static camera by MOG2 background subtraction (no weights).

Like every segmenter it emits a soft ``prob`` map and a ``score`` (confidence, 0 when nothing is
found) per frame and keeps no temporal smoothing of its own: it is the raw, flickery input of the
stabilizers.
"""
from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, PROB_MAP, SCALAR

from ..common import rgb_uint8
from ..common.alerts import warn
from ..common.size import SizeWatch, capped_scale
from .camera_motion import CameraMotion, input_name


@register("bg_subtract")
class BgSubtract(Node):
    """Foreground of a static camera by OpenCV MOG2 background subtraction + morphology.

    Needs no weights. Each frame is compared with a per-pixel Gaussian-mixture background model;
    the foreground mask is cleaned by an opening (removes noise speckles), a closing (fills small
    holes) and a minimum blob area, then blurred into a soft ``prob``. ``score`` is the mean
    probability of the kept foreground, scaled down as the foreground fraction of the frame nears
    ``max_fraction`` (a lighting change or a moving camera, not objects) and when the background
    differs from the model more than usual (lighting flicker); 0 when nothing is found.

    Warm-up: a model learnt from a stream that starts with the objects in view takes them for
    background. Connect a clean plate (the empty scene, e.g. ``synthetic_scene.background``) to
    start from it: the initial variance then comes from the robust spread of frame 0 around the
    plate and the rate stays 1/history. Without a plate the first ``warmup`` frames learn at
    OpenCV's fast automatic rate; their masks are unreliable and their score is 0.
    A moving camera breaks the static-background assumption: the node measures the global motion
    over the first ``camera_check`` frames (``camera_motion.py``) and, above ``max_camera_shift``,
    warns once (log and the run's ``warnings``), naming the input and the graphs to use instead
    (``graphs/stabilize_person.yaml`` for a person, ``graphs/stabilize_maskrcnn.yaml``).
    """

    frame = Input(FRAME, doc="video frame (static camera)")
    background = Input(FRAME, optional=True, doc="clean plate: the scene without objects (read at frame 0)")
    prob = Output(PROB_MAP, doc="soft foreground probability")
    score = Output(SCALAR, doc="confidence in [0,1]; 0 when no foreground")
    taps = {"prob": "segmentation", "score": "scalars"}  # what --record/--view show
    stateless = False

    class Params(NodeParams):
        history: int = Field(500, ge=1, le=1_000_000,
                             description="frames of memory: learning rate 1/history after warm-up")
        var_threshold: float = Field(16.0, gt=0, le=10_000,
                                     description="squared Mahalanobis distance above which a pixel is foreground")
        warmup: int = Field(30, ge=0, le=100_000,
                            description="without a clean plate: frames learnt at a fast rate, with score 0")
        open_px: int = Field(3, ge=0, le=51, description="opening kernel size (removes speckles); 0 or 1 = off")
        close_px: int = Field(7, ge=0, le=51, description="closing kernel size (fills small holes); 0 or 1 = off")
        min_area: int = Field(30, ge=0, description="drop foreground blobs smaller than this many pixels")
        softness: float = Field(1.5, ge=0, le=20, description="Gaussian blur (sigma, px) that makes prob soft")
        max_fraction: float = Field(0.4, gt=0, le=1,
                                    description="score falls to 0 as the foreground fraction of the frame "
                                                "approaches this")
        scale: float = Field(1.0, gt=0, le=1, description="process at this fraction of the size (faster)")
        max_width: int = Field(0, ge=0, le=16384,
                               description="... and at most this wide (0 = no limit): 640-px video -> 320 px")
        camera_check: int = Field(30, ge=0, le=10_000,
                                  description="frames at the start over which camera motion is measured (0 = off)")
        max_camera_shift: float = Field(0.0025, gt=0, le=1,
                                        description="median global shift per frame, as a fraction of the width, "
                                                    "above which the camera counts as moving (one warning)")

    def setup(self, ctx) -> None:
        import cv2

        self._cv2 = cv2
        p = self.params
        self._new_model()
        self._sizes = SizeWatch("background model restarted")
        ell = cv2.MORPH_ELLIPSE
        self.k_open = cv2.getStructuringElement(ell, (p.open_px, p.open_px)) if p.open_px > 1 else None
        self.k_close = cv2.getStructuringElement(ell, (p.close_px, p.close_px)) if p.close_px > 1 else None
        self.camera, self.first_name = CameraMotion(p.camera_check), None

    def _new_model(self) -> None:
        p = self.params
        self.model = self._cv2.createBackgroundSubtractorMOG2(history=p.history, varThreshold=p.var_threshold,
                                                              detectShadows=False)
        self.seen = 0
        self.plated = False
        self.shifts: list[float] = []

    def _factor(self, width: int) -> float:
        """The scale the model works at: ``scale``, and at most ``max_width`` wide."""
        return capped_scale(self.params.scale, self.params.max_width, width)

    def _resize(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        f = self._factor(w)
        if f >= 1.0:
            return img
        size = (max(1, round(w * f)), max(1, round(h * f)))
        return self._cv2.resize(img, size, interpolation=self._cv2.INTER_AREA)

    def _init_from_plate(self, plate: np.ndarray, img: np.ndarray) -> None:
        if plate.shape != img.shape:
            raise UserInputError(f"bg_subtract: the background image is {plate.shape[1]}x{plate.shape[0]} "
                                 f"but the frames are {img.shape[1]}x{img.shape[0]}")
        # initial variance: robust spread of frame 0 around the plate (the objects are outliers)
        diff = img.astype(np.float32) - plate.astype(np.float32)
        mad = float(np.median(np.abs(diff - np.median(diff))))
        var = float(np.clip((1.4826 * mad) ** 2, 4.0, 400.0))
        self.model.setVarInit(var)
        self.model.setVarMin(min(self.model.getVarMin(), var))
        self.model.apply(plate, learningRate=1.0)
        self.plated = True

    def _lighting_factor(self, img: np.ndarray, bg_image, fg: np.ndarray) -> float:
        """1 when the background pixels differ from the background model as much as usual (the
        median over the last 200 frames, at least 1 grey level), usual/difference when more:
        after a lighting change the whole mask is unreliable. The difference is the 90th
        percentile of the locally averaged |frame - background| over the pixels not called
        foreground (every 2nd row and column)."""
        cv2 = self._cv2
        if bg_image is None or bg_image.shape != img.shape:
            return 1.0
        mean3 = np.full((1, 3), 1.0 / 3.0, np.float32)         # the channels' mean, in one OpenCV pass
        d = (cv2.transform(img[::2, ::2].astype(np.float32), mean3)
             - cv2.transform(bg_image[::2, ::2].astype(np.float32), mean3))
        k = max(3, (min(d.shape) // 16) | 1)
        rest = np.abs(cv2.blur(d, (k, k)))[fg[::2, ::2] == 0]
        if rest.size < 16:
            return 0.0
        shift = float(np.percentile(rest, 90))
        self.shifts.append(shift)
        if len(self.shifts) > 200:
            self.shifts.pop(0)
        usual = max(1.0, float(np.median(self.shifts)))
        return min(1.0, usual / max(shift, 1e-6))

    def process(self, ctx, frame, background=None):
        cv2, p = self._cv2, self.params
        full = rgb_uint8(frame.image)
        if self._sizes.changed(ctx, full.shape):
            self._new_model()
        img = self._resize(full)
        if background is not None and self.seen == 0:
            self._init_from_plate(self._resize(rgb_uint8(background.image)), img)
        if self.plated or self.seen >= p.warmup:
            rate = 1.0 / p.history
        else:
            rate = -1.0  # OpenCV's automatic rate: 1 / min(2 * frames seen, history)
        bg_image = self.model.getBackgroundImage() if self.seen > 0 or self.plated else None
        fg = (self.model.apply(img, learningRate=rate) > 127).astype(np.uint8)
        if self.seen == 0 and not self.plated:
            fg[:] = 0                 # no background known yet: MOG2 calls the whole first frame foreground
        self.seen += 1
        if self.k_open is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self.k_open)
        if self.k_close is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.k_close)
        if p.min_area > 0 and fg.any():
            _, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
            small = stats[:, cv2.CC_STAT_AREA] < p.min_area
            small[0] = False
            if small.any():
                fg[small[labels]] = 0
        prob = fg.astype(np.float32)
        if p.softness > 0:
            prob = cv2.GaussianBlur(prob, (0, 0), p.softness * min(1.0, self._factor(full.shape[1])))
        prob = np.clip(prob, 0.0, 1.0)
        fgmask = prob > 0.5                    # the score is measured at the working size
        learnt = self.plated or self.seen > p.warmup
        light = self._lighting_factor(img, bg_image, fg) if learnt else 1.0
        if not fgmask.any() or not learnt:
            score = 0.0
        else:
            score = float(prob[fgmask].mean()) * max(0.0, 1.0 - float(fgmask.mean()) / p.max_fraction) * light
        if prob.shape != full.shape[:2]:
            prob = cv2.resize(prob, (full.shape[1], full.shape[0]), interpolation=cv2.INTER_LINEAR)
        self._check_camera(ctx, frame, full)
        out = torch.from_numpy(prob)
        if str(ctx.device) != "cpu":
            out = out.to(ctx.device)
        return {"prob": out, "score": score}

    def _check_camera(self, ctx, frame, image: np.ndarray) -> None:
        self.first_name = self.first_name or frame.name or str(ctx.index)
        shift = self.camera.update(image)
        if shift is not None and shift > self.params.max_camera_shift:
            where = input_name(ctx, self.first_name, frame.name or str(ctx.index))
            warn(ctx, f"bg_subtract '{ctx.name}': the camera moves in {where} ({shift:.2%} of the width "
                                 f"per frame over the first {self.params.camera_check} frames; a static camera "
                                 f"measures < {self.params.max_camera_shift:.2%}): background subtraction needs a "
                                 f"static camera. For a person use graphs/stabilize_person.yaml, for COCO objects "
                                 f"graphs/stabilize_maskrcnn.yaml", code="camera_moves", value=shift,
                 limit=self.params.max_camera_shift)

"""Per-frame segmenters: background subtraction (no weights) and Mask R-CNN (torchvision, COCO).

Both emit a soft ``prob`` map and a ``score`` (confidence, 0 when nothing is found) per frame and
keep no temporal smoothing of their own: they are the raw, flickery input of the stabilizers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.cache import shared
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, INSTANCES, PROB_MAP, SCALAR, Instances


def _to_numpy_rgb(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


# --------------------------------------------------------------------------------------------
# background subtraction
# --------------------------------------------------------------------------------------------

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
    A moving camera breaks the static-background assumption (use ``maskrcnn`` there).
    """

    frame = Input(FRAME, doc="video frame (static camera)")
    background = Input(FRAME, optional=True, doc="clean plate: the scene without objects (read at frame 0)")
    prob = Output(PROB_MAP, doc="soft foreground probability")
    score = Output(SCALAR, doc="confidence in [0,1]; 0 when no foreground")
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

    def setup(self, ctx) -> None:
        import cv2

        self._cv2 = cv2
        p = self.params
        self.model = cv2.createBackgroundSubtractorMOG2(history=p.history, varThreshold=p.var_threshold,
                                                        detectShadows=False)
        self.seen = 0
        self.plated = False
        self.shifts: list[float] = []
        ell = cv2.MORPH_ELLIPSE
        self.k_open = cv2.getStructuringElement(ell, (p.open_px, p.open_px)) if p.open_px > 1 else None
        self.k_close = cv2.getStructuringElement(ell, (p.close_px, p.close_px)) if p.close_px > 1 else None

    def _resize(self, img: np.ndarray) -> np.ndarray:
        if self.params.scale >= 1.0:
            return img
        h, w = img.shape[:2]
        size = (max(1, round(w * self.params.scale)), max(1, round(h * self.params.scale)))
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
        d = img[::2, ::2].astype(np.float32).mean(axis=2) - bg_image[::2, ::2].astype(np.float32).mean(axis=2)
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
        full = _to_numpy_rgb(frame.image)
        img = self._resize(full)
        if background is not None and self.seen == 0:
            self._init_from_plate(self._resize(_to_numpy_rgb(background.image)), img)
        if self.plated or self.seen >= p.warmup:
            rate = 1.0 / p.history
        else:
            rate = -1.0  # OpenCV's automatic rate: 1 / min(2 * frames seen, history)
        bg_image = self.model.getBackgroundImage() if self.seen > 0 or self.plated else None
        fg = (self.model.apply(img, learningRate=rate) > 127).astype(np.uint8)
        self.seen += 1
        if self.k_open is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self.k_open)
        if self.k_close is not None:
            fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self.k_close)
        if p.min_area > 0 and fg.any():
            _, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
            small = np.nonzero(stats[1:, cv2.CC_STAT_AREA] < p.min_area)[0] + 1
            if len(small):
                fg[np.isin(labels, small)] = 0
        prob = fg.astype(np.float32)
        if p.softness > 0:
            prob = cv2.GaussianBlur(prob, (0, 0), p.softness * p.scale)
        if prob.shape != full.shape[:2]:
            prob = cv2.resize(prob, (full.shape[1], full.shape[0]), interpolation=cv2.INTER_LINEAR)
        prob = np.clip(prob, 0.0, 1.0)
        fgmask = prob > 0.5
        learnt = self.plated or self.seen > p.warmup
        light = self._lighting_factor(img, bg_image, fg) if learnt else 1.0
        if not fgmask.any() or not learnt:
            score = 0.0
        else:
            score = float(prob[fgmask].mean()) * max(0.0, 1.0 - float(fgmask.mean()) / p.max_fraction) * light
        out = torch.from_numpy(prob)
        if str(ctx.device) != "cpu":
            out = out.to(ctx.device)
        return {"prob": out, "score": score}


# --------------------------------------------------------------------------------------------
# Mask R-CNN
# --------------------------------------------------------------------------------------------

def _coco_categories() -> list[str]:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def default_weights_file() -> tuple[Path, str]:
    """Where torchvision keeps the COCO Mask R-CNN weights (torch hub cache), and their URL."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    url = MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url), url


@register("maskrcnn")
class MaskRCNN(Node):
    """Instance segmentation with torchvision's Mask R-CNN (ResNet-50 FPN, COCO); follows one instance.

    Each frame alone: detections of ``class_name`` above ``score_threshold``; the instance whose
    score plus ``iou_weight`` x its IoU with the previous frame's mask (input ``prev``, usually a
    back edge from the stabilized output) is highest becomes ``prob``. Never downloads:
    ``weights: DEFAULT`` reads torchvision's file from the torch hub cache (see the error for how
    to get it), a path reads a local state_dict, ``none`` builds a random model (tests, timing).
    """

    frame = Input(FRAME, doc="video frame")
    prev = Input(PROB_MAP, optional=True, doc="previous frame's mask of the followed object (back edge)")
    prob = Output(PROB_MAP, doc="soft mask of the chosen instance; zeros if none")
    score = Output(SCALAR, doc="detection score of the chosen instance; 0 if none")
    instances = Output(INSTANCES, doc="all detections above score_threshold (every class)")
    stateless = False
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        weights: str = Field("DEFAULT", description="DEFAULT (torch hub cache), a local .pth state_dict, or none")
        class_name: Union[int, str] = Field("person", description="COCO class to follow: a name or an id")
        score_threshold: float = Field(0.5, ge=0, le=1, description="ignore detections below this score")
        follow: bool = Field(True, description="prefer the instance overlapping the previous mask")
        iou_weight: float = Field(1.0, ge=0, le=10, description="weight of the IoU with prev against the score")
        min_size: int = Field(800, ge=32, le=4096, description="images are resized so the short side is this")
        max_size: int = Field(1333, ge=32, le=8192, description="... and the long side at most this")
        max_detections: int = Field(20, ge=1, le=300, description="keep at most this many detections per frame")
        half: bool = Field(False, description="run in float16 on CUDA")

    def setup(self, ctx) -> None:
        p = self.params
        cats = _coco_categories()
        self.categories = cats
        self.class_id = self._class_id(p.class_name, cats)
        self.device = torch.device(ctx.device)
        self.dtype = torch.float16 if (p.half and self.device.type == "cuda") else torch.float32
        key = ("maskrcnn", p.weights.strip(), p.min_size, p.max_size, min(p.score_threshold, 0.05), p.max_detections,
               str(self.device), str(self.dtype))
        self.model = shared(key, lambda: self._build_model(p, cats).eval().to(self.device, self.dtype))

    def _build_model(self, p, cats):
        """The model with its weights: the slow part of setup, built once per process (runtime.cache)."""
        from torchvision.models.detection import maskrcnn_resnet50_fpn

        kw = dict(weights=None, weights_backbone=None, num_classes=len(cats),
                  min_size=p.min_size, max_size=p.max_size, box_score_thresh=min(p.score_threshold, 0.05),
                  box_detections_per_img=p.max_detections)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # "none": a reproducible random model
            model = maskrcnn_resnet50_fpn(**kw)
        w = p.weights.strip()
        if w.lower() != "none":
            path = self._weights_path(w)
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise UserInputError(f"maskrcnn: cannot read weights file {path}: {exc}") from None
            if isinstance(state, dict):
                for key in ("model", "state_dict"):
                    if key in state and isinstance(state[key], dict):
                        state = state[key]
            try:
                model.load_state_dict(state)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0][:200]
                raise UserInputError(f"maskrcnn: {path} is not a maskrcnn_resnet50_fpn state_dict "
                                     f"with {len(cats)} classes ({first})") from None
        return model

    @staticmethod
    def _class_id(name, cats) -> int:
        if isinstance(name, int) or (isinstance(name, str) and name.strip().isdigit()):
            cid = int(name)
            if not 1 <= cid < len(cats) or cats[cid] == "N/A":
                raise UserInputError(f"maskrcnn: class_name={name} is not a COCO class id")
            return cid
        low = [c.lower() for c in cats]
        if name.lower() not in low or name.lower() in ("n/a", "__background__"):
            import difflib
            close = difflib.get_close_matches(name.lower(), low, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserInputError(f"maskrcnn: class_name='{name}' is not a COCO class{hint}")
        return low.index(name.lower())

    @staticmethod
    def _weights_path(w: str) -> Path:
        if w.upper() == "DEFAULT":
            path, url = default_weights_file()
            if not path.is_file():
                raise UserInputError(
                    f"maskrcnn: weights=DEFAULT but {path} does not exist (graphrun never downloads). "
                    f"Run once with network access: python -c \"import torchvision; "
                    f"torchvision.models.detection.maskrcnn_resnet50_fpn(weights='DEFAULT')\", "
                    f"or download {url} to that path, or pass weights=/path/to/state_dict.pth "
                    f"(weights=none: random weights)")
            return path
        path = Path(w).expanduser()
        if not path.is_file():
            raise UserInputError(f"maskrcnn: weights file not found: {path} (use DEFAULT, a .pth path, or none)")
        return path

    @torch.inference_mode()
    def process(self, ctx, frame, prev=None):
        p = self.params
        img = frame.image
        if not isinstance(img, torch.Tensor):
            img = torch.from_numpy(np.ascontiguousarray(img))
        img = img.to(self.device, non_blocking=True)
        h, w = int(img.shape[0]), int(img.shape[1])
        x = img.permute(2, 0, 1).to(self.dtype).div_(255.0)
        det = self.model([x])[0]
        keep = det["scores"] >= p.score_threshold
        masks = det["masks"][keep][:, 0].float()
        boxes, scores, labels = det["boxes"][keep].float(), det["scores"][keep].float(), det["labels"][keep]
        inst = Instances(masks=masks, boxes=boxes, scores=scores, labels=labels,
                         class_names=[self.categories[int(i)] for i in labels.tolist()])
        cand = torch.nonzero(labels == self.class_id).flatten()
        if len(cand) == 0:
            return {"prob": torch.zeros((h, w), dtype=torch.float32, device=self.device), "score": 0.0,
                    "instances": inst}
        rank = scores[cand].clone()
        if p.follow and prev is not None:
            pm = prev.to(self.device, torch.float32)
            if pm.shape == (h, w) and float(pm.sum()) > 0:
                m = masks[cand]
                inter = (m * pm).flatten(1).sum(1)
                union = (m + pm - m * pm).flatten(1).sum(1).clamp_min(1e-6)
                rank = rank + p.iou_weight * inter / union
        best = cand[int(torch.argmax(rank))]
        return {"prob": masks[best].contiguous(), "score": float(scores[best]), "instances": inst}

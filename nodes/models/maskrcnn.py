"""The ``maskrcnn`` segmenter: torchvision's Mask R-CNN (ResNet-50 FPN, COCO), following one instance.

Like every segmenter it emits a soft ``prob`` map and a ``score`` per frame, without temporal
smoothing of its own. Weights come the torchvision way (``weights.py``): downloaded into the torch
hub cache on first use, or a local file or URL.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.cache import shared
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, INSTANCES, PROB_MAP, SCALAR, Instances

from .weights import apply_state_dict, cache_path, is_url, load_state_dict


def _coco_categories() -> list[str]:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def default_weights_file() -> tuple[Path, str]:
    """Where torchvision keeps the COCO Mask R-CNN weights (torch hub cache), and their URL."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    weights = MaskRCNN_ResNet50_FPN_Weights.COCO_V1
    return cache_path(weights.url), weights.url


def _fetch_command(weights: str) -> str:
    return "graphrun weights fetch maskrcnn" + ("" if weights.strip() == "DEFAULT" else f" --weights {weights}")


@register("maskrcnn")
class MaskRCNN(Node):
    """Instance segmentation with torchvision's Mask R-CNN (ResNet-50 FPN, COCO); follows one instance.

    Each frame alone: detections of ``class_name`` above ``score_threshold``; the instance whose
    score plus ``iou_weight`` x its IoU with the previous frame's mask (input ``prev``, usually a
    back edge from the stabilized output) is highest becomes ``prob``. ``weights: DEFAULT`` (or
    ``COCO_V1``) is torchvision's COCO file, downloaded into the torch hub cache on first use
    (``graphrun weights fetch maskrcnn`` does it ahead of a run); a path or an http(s) URL gives
    another state_dict; ``none`` builds a random model (tests, timing).
    """

    frame = Input(FRAME, doc="video frame")
    prev = Input(PROB_MAP, optional=True, doc="previous frame's mask of the followed object (back edge)")
    prob = Output(PROB_MAP, doc="soft mask of the chosen instance; zeros if none")
    score = Output(SCALAR, doc="detection score of the chosen instance; 0 if none")
    instances = Output(INSTANCES, doc="all detections above score_threshold (every class)")
    taps = {"prob": "segmentation", "score": "scalars"}  # what --record/--view show
    stateless = False
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        weights: str = Field("DEFAULT", description="DEFAULT or COCO_V1 (torchvision's COCO weights, downloaded into "
                                                    "the torch hub cache on first use), a .pth path, an http(s) "
                                                    "URL, or none (random)")
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
        key = ("maskrcnn", p.weights.strip(), p.min_size, p.max_size, min(p.score_threshold, 0.05),
               p.max_detections, str(self.device), str(self.dtype))
        self.model = shared(key, lambda: self._build_model(p, cats).eval().to(self.device, self.dtype))

    def _build_model(self, p, cats):
        """maskrcnn_resnet50_fpn with ``p.weights`` loaded (built once per process and settings)."""
        from torchvision.models.detection import maskrcnn_resnet50_fpn

        kw = dict(weights=None, weights_backbone=None, num_classes=len(cats),
                  min_size=p.min_size, max_size=p.max_size, box_score_thresh=min(p.score_threshold, 0.05),
                  box_detections_per_img=p.max_detections)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # "none": a reproducible random model
            model = maskrcnn_resnet50_fpn(**kw)
        return apply_state_dict(model, self.read_weights(p.weights), node="maskrcnn", weights=p.weights,
                                expected=f"a maskrcnn_resnet50_fpn state_dict with {len(cats)} classes")

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
    def read_weights(weights: str) -> Optional[dict]:
        """The state_dict named by ``weights`` (downloaded into the torch cache if need be); None for none."""
        from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

        return load_state_dict(weights, node="maskrcnn", fetch=_fetch_command(weights),
                               enum=MaskRCNN_ResNet50_FPN_Weights)

    @classmethod
    def fetch_weights(cls, params: "MaskRCNN.Params") -> Path:
        """Download the weights into the torch cache now (``graphrun weights fetch maskrcnn``)."""
        from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

        w = params.weights.strip()
        if w.lower() == "none":
            raise UserInputError("maskrcnn: weights=none has nothing to fetch")
        cls._build_model(cls, params, _coco_categories())     # downloaded, read and checked against the model
        if w in MaskRCNN_ResNet50_FPN_Weights.__members__:
            return cache_path(MaskRCNN_ResNet50_FPN_Weights[w].url)
        return cache_path(w) if is_url(w) else Path(w).expanduser()

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

"""The ``torchvision_model`` node: a torchvision classification, segmentation or detection model.

Weights are ``none`` by default (random init: right cost, meaningless output, fine for timing).
``DEFAULT`` or a named weight set (``IMAGENET1K_V1``) load through torchvision's own mechanism:
downloaded into the torch hub cache on first use (with a progress bar), read from there after;
a local .pth path or an http(s) URL gives another state_dict (see ``weights.py``). A failed
download is a one-line UserInputError naming the cache file and ``graphrun weights fetch``.
``input_size`` resizes the input before the model, which makes the model's cost a knob (the
benches size a ResNet-18 this way).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.cache import shared
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import RECORD, TENSOR

from ..common import torch_dtype
from .preprocess_ops import check_size
from .weights import apply_state_dict, cache_path, downloading, fetch_url, is_url, load_state_dict

TASKS = ("classification", "segmentation", "detection")


def model_task(name: str) -> Optional[str]:
    """``classification``, ``segmentation`` or ``detection`` for a torchvision model name, else None."""
    import torchvision.models as M
    if name in M.list_models(module=M):
        return "classification"
    if name in M.list_models(module=M.segmentation):
        return "segmentation"
    if name in M.list_models(module=M.detection):
        return "detection"
    return None


def weights_cache_path(weights) -> Path:
    """Where torch hub keeps (or would keep) the checkpoint of a torchvision ``WeightsEnum`` member."""
    return cache_path(weights.url)


def _enum_names(model: str) -> list[str]:
    import torchvision.models as M
    return list(M.get_model_weights(model).__members__)


def resolve_weights(model: str, weights: str):
    """The ``WeightsEnum`` member named ``weights``; None for ``none``, a path or a URL."""
    if weights.lower() == "none" or is_url(weights):
        return None
    import torchvision.models as M
    enum = M.get_model_weights(model)
    if weights in enum.__members__:
        return enum[weights]
    if Path(weights).expanduser().is_file():
        return None
    members = [m for m in enum.__members__ if m != "DEFAULT"]
    raise UserInputError(f"torchvision_model: weights '{weights}' is not a weight set of {model}, a file or a URL "
                         f"(choose none, DEFAULT, one of {', '.join(members)}, a .pth path or an http(s) URL)")


def _fetch_command(model: str, weights: str) -> str:
    return f"graphrun weights fetch torchvision_model --set model={model} --weights {weights}"


def build_model(model: str, weights: str = "none", num_classes: Optional[int] = None):
    """Instantiate a torchvision model; weights of its enum come through torchvision's loader (torch
    hub cache, downloaded on first use), a path or URL through :func:`load_state_dict`."""
    import torchvision.models as M
    task = model_task(model)
    if task is None:
        raise UserInputError(f"torchvision_model: '{model}' is not a torchvision classification, segmentation "
                             f"or detection model")
    w = resolve_weights(model, weights)
    kwargs = {}
    if task in ("segmentation", "detection") and w is None:
        kwargs["weights_backbone"] = None  # else the builder downloads ImageNet backbone weights
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if w is not None:
        with downloading("torchvision_model", f"weights {model}/{w.name}", w.url,
                         _fetch_command(model, w.name)) as path:
            fetch_url(w.url, path, "torchvision_model", check_hash=True)    # bounded, interruptible, verified
            return M.get_model(model, weights=w, **kwargs), task
    net = M.get_model(model, weights=None, **kwargs)
    state = load_state_dict(weights, node="torchvision_model", fetch=_fetch_command(model, weights))
    apply_state_dict(net, state, node="torchvision_model", weights=weights,
                     expected=f"a {model} state_dict with these classes", hint="; set num_classes to match the file")
    return net, task


@register("torchvision_model")
class TorchvisionModel(Node):
    """Run a torchvision model on a tensor (3,H,W) or a batch (B,3,H,W); emit its raw output.

    Classification models emit ``logits`` (K,) or (B,K); segmentation models ``logits`` (C,H,W) or
    (B,C,H,W) (the ``out`` head). Detection models emit ``detections`` ({boxes, scores, labels}:
    tensors for one image, lists for a batch) and expect inputs in [0,1] (use preprocess with
    mean 0, std 1). Weights: ``none`` (random, for timing), ``DEFAULT`` or a named set (torch hub
    cache, downloaded on first use), a .pth path or an http(s) URL. Stateless (no per-frame
    state): may run with several workers.
    """

    x = Input(TENSOR, doc="float image tensor (3,H,W) or batch (B,3,H,W), normalized for the model")
    logits = Output(TENSOR, doc="raw model output: (K,) / (B,K) for classification, (C,H,W) / (B,C,H,W) "
                                "for segmentation; nothing for detection models")
    detections = Output(RECORD, doc="detection models: {'boxes','scores','labels'}; nothing otherwise")
    stateless = True
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        model: str = Field("resnet18", description="torchvision model name (torchvision.models.list_models())")
        weights: str = Field("none", description="none (random init), DEFAULT or a weight set name such as "
                                                 "IMAGENET1K_V1 (torch hub cache, downloaded on first use), a "
                                                 ".pth path or an http(s) URL")
        input_size: Optional[Union[int, tuple[int, int]]] = Field(
            None, description="resize the input to this size (int = square, or [h, w]) before the model; "
                              "null = as received. Makes the model's cost adjustable")
        dtype: Literal["float32", "float16", "bfloat16"] = Field(
            "float32", description="model and input dtype (float16 is for CUDA)")
        channels_last: bool = Field(False, description="run the model in channels-last memory format")
        num_classes: Optional[int] = Field(None, ge=1, description="output classes (with weights none, a path or "
                                                                   "a URL; a weight set fixes its own)")
        warmup: bool = Field(True, description="with input_size set, run one forward pass at setup so the first "
                                               "frame does not pay for lazy initialisation (matters in realtime)")

        @field_validator("model")
        @classmethod
        def _known(cls, v):
            if model_task(v) is None:
                import difflib

                import torchvision.models as M
                names = (M.list_models(module=M) + M.list_models(module=M.segmentation)
                         + M.list_models(module=M.detection))
                close = difflib.get_close_matches(v, names, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"unknown torchvision model '{v}'{hint}")
            return v

        @field_validator("input_size")
        @classmethod
        def _positive(cls, v):
            return check_size(v, "input_size")

        @model_validator(mode="after")
        def _classes_need_random_weights(self):
            if self.num_classes is not None and self.weights in _enum_names(self.model):
                raise ValueError(f"num_classes cannot be set with weights: {self.weights} (a weight set fixes its "
                                 f"classes); use none, a .pth path or a URL")
            return self

    @classmethod
    def fetch_weights(cls, params: "TorchvisionModel.Params") -> Path:
        """Download the weights into the torch cache now (``graphrun weights fetch torchvision_model``)."""
        w = resolve_weights(params.model, params.weights)
        if w is not None:
            build_model(params.model, params.weights)
            return weights_cache_path(w)
        if params.weights.lower() == "none":
            raise UserInputError("torchvision_model: weights=none has nothing to fetch")
        build_model(params.model, params.weights, params.num_classes)    # read and checked against the model
        return cache_path(params.weights) if is_url(params.weights) else Path(params.weights).expanduser()

    def setup(self, ctx):
        import torch
        p = self.params
        self.dtype = torch_dtype(p.dtype)
        # built once per process (runtime.cache); device and dtype are in the key, so the .to() below stays the same
        key = ("torchvision_model", p.model, p.weights, p.num_classes, str(ctx.device), p.dtype, p.channels_last)
        model, self.task = shared(key, lambda: build_model(p.model, p.weights, p.num_classes))
        model = model.eval().to(device=ctx.device, dtype=self.dtype)
        if p.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        size = p.input_size
        self.size = None if size is None else ((size, size) if isinstance(size, int) else tuple(size))
        if p.warmup and self.size is not None:
            self._forward(torch.zeros((1, 3) + self.size, device=ctx.device, dtype=self.dtype))

    def _forward(self, xb):
        import torch
        with torch.inference_mode():
            if self.params.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if self.task == "detection":
                return self.model(list(xb))
            out = self.model(xb)
            return out["out"] if self.task == "segmentation" else out

    def process(self, ctx, x):
        import torch
        import torch.nn.functional as F
        if x is None:
            return None
        if x.ndim not in (3, 4) or x.shape[-3] != 3:
            raise UserInputError(f"torchvision_model: expected a (3,H,W) or (B,3,H,W) tensor, got {tuple(x.shape)}")
        single = x.ndim == 3
        with torch.inference_mode():
            xb = x[None] if single else x
            xb = xb.to(device=ctx.device, dtype=self.dtype)
            if self.size is not None and tuple(xb.shape[-2:]) != self.size:
                xb = F.interpolate(xb, size=self.size, mode="bilinear", align_corners=False, antialias=False)
            out = self._forward(xb)
        if self.task == "detection":
            keys = ("boxes", "scores", "labels")
            if single:
                return {"detections": {k: out[0][k] for k in keys}}
            return {"detections": {k: [d[k] for d in out] for k in keys}}
        return {"logits": out[0] if single else out}

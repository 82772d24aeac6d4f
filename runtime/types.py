"""Port types: what may flow on an edge, checked when the graph is built (like GStreamer caps).

A :class:`PortType` names a kind of value, its Python representation and, for tensors, an
optional dtype and shape pattern. ``producer.compatible_with(consumer)`` decides whether an
edge may link two ports; the error names both types when it may not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

try:  # torch is a hard dependency of the package, but keep types importable without it
    import torch
    _TENSOR_CLASSES: tuple = (torch.Tensor,)
except ImportError:  # pragma: no cover
    torch = None
    _TENSOR_CLASSES = ()


@dataclass(frozen=True)
class PortType:
    """A named type of value carried by a port.

    Args:
        name: short name shown by ``graphrun inspect`` and in errors.
        python: the Python classes a value may be (checked on every emitted packet).
        parent: the more general type this one refines (a prob_map is a tensor).
        dtype: for tensors, the required dtype name (``float32``), or None for any.
        shape: for tensors, a comma-separated pattern (``H,W`` or ``B,3,H,W``), or None for any.
        doc: one line describing the value.
    """

    name: str
    python: tuple = ()
    parent: Optional["PortType"] = None
    dtype: Optional[str] = None
    shape: Optional[str] = None
    doc: str = ""

    def __call__(self, dtype: Optional[str] = None, shape: Optional[str] = None) -> "PortType":
        """Refine a tensor type: ``Tensor(dtype="uint8", shape="B,3,H,W")``."""
        return PortType(self.name, self.python, self.parent, dtype or self.dtype,
                        shape or self.shape, self.doc)

    def __str__(self) -> str:
        details = [d for d in (self.dtype, f"[{self.shape}]" if self.shape else None) if d]
        return self.name + (f"<{' '.join(details)}>" if details else "")

    def lineage(self) -> list[str]:
        names, t = [], self
        while t is not None:
            names.append(t.name)
            t = t.parent
        return names

    def compatible_with(self, consumer: "PortType") -> bool:
        """True if a value of this (producer) type may feed a port of ``consumer`` type."""
        if consumer.name == "any" or self.name == "any":
            return True
        if consumer.name not in self.lineage():
            return False
        if consumer.dtype and self.dtype and consumer.dtype != self.dtype:
            return False
        if consumer.shape and self.shape:
            return _shapes_compatible(self.shape, consumer.shape)
        return True

    def accepts_value(self, value: Any) -> bool:
        """Cheap runtime check of a value against the declared representation."""
        if value is None or not self.python:
            return True
        return isinstance(value, self.python)


def _shapes_compatible(a: str, b: str) -> bool:
    da, db = [d.strip() for d in a.split(",")], [d.strip() for d in b.split(",")]
    if "..." in da or "..." in db:
        return True
    if len(da) != len(db):
        return False
    return all(not (x.isdigit() and y.isdigit()) or x == y for x, y in zip(da, db))


@dataclass
class VideoFrame:
    """One decoded video frame.

    Args:
        image: HxWx3 uint8 RGB, a numpy array or a torch tensor (possibly pinned or on CUDA).
        index: position of the frame in its stream, from 0.
        pts: presentation time in seconds.
        name: a stable name for outputs (``00042`` or the source file's stem).
        colorspace: ``rgb`` (the only one the library produces).
    """

    image: Any
    index: int
    pts: float
    name: str = ""
    colorspace: str = "rgb"

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass
class Instances:
    """Detections of one frame: N soft masks (N,H,W float32), boxes (N,4 xyxy), scores, labels."""

    masks: Any
    boxes: Any
    scores: Any
    labels: Any
    class_names: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(len(self.scores))


_T = _TENSOR_CLASSES
ANY = PortType("any", (), None, doc="anything; not checked")
TENSOR = PortType("tensor", _T, None, doc="a torch tensor")
FRAME = PortType("video_frame", (VideoFrame,), None, doc="VideoFrame: HxWx3 uint8 RGB with index, pts, name")
PROB_MAP = PortType("prob_map", _T, TENSOR, "float32", "H,W", doc="per-pixel probability in [0,1]")
MASK = PortType("mask", _T, TENSOR, "bool", "H,W", doc="binary mask, True = object")
FLOW = PortType("flow", _T, TENSOR, "float32", "H,W,2",
                doc="per-pixel (dx, dy) in pixels from frame t to where that pixel was in frame t-1")
INSTANCES = PortType("instances", (Instances,), None, doc="Instances: soft masks, boxes, scores, labels")
SCALAR = PortType("scalar", (int, float, np.floating, np.integer), None, doc="a number")
RECORD = PortType("record", (dict,), None, doc="a dict of named values (metrics, info)")
BATCH = PortType("batch", (list, tuple, dict) + _T, None, doc="a collated batch from a DataLoader")

# Names a user may write as a type in the function form or a plugin.
BUILTIN_TYPES = {t.name: t for t in (ANY, TENSOR, FRAME, PROB_MAP, MASK, FLOW, INSTANCES, SCALAR, RECORD, BATCH)}

# Friendly aliases used by node modules.
Any_ = ANY
Tensor = TENSOR
Frame = FRAME
ProbMap = PROB_MAP
Mask = MASK
Flow = FLOW
Scalar = SCALAR
Record = RECORD
Batch = BATCH

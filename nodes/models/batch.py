"""The ``batch`` node: consecutive per-frame tensors grouped into one (N, ...) tensor for a model.

``batch`` emits on every N-th packet it receives and nothing (an empty packet) in between, so
the node after it runs once per batch. The frame indices and pts of the batch's members travel on
the ``info`` output. The last, partial batch is emitted by :meth:`Batch.flush`, which the runtime
calls at end of stream (numbered after the last frame), unless ``partial: drop``.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import RECORD, TENSOR


def stack_batch(items: list, channels_last: bool = False):
    """Stack same-shape tensors into (N, ...); ``channels_last`` applies to 4-D results."""
    import torch
    shapes = {tuple(t.shape) for t in items}
    if len(shapes) > 1:
        raise UserInputError(f"batch: cannot stack tensors of different shapes {sorted(shapes)} "
                             f"(resize/crop frames to one size before 'batch')")
    out = torch.stack(items)
    if channels_last and out.ndim == 4:
        out = out.contiguous(memory_format=torch.channels_last)
    return out


@register("batch")
class Batch(Node):
    """Collect N consecutive tensors into one (N, ...) tensor; emit on every N-th frame.

    Between batches the node emits nothing, so its consumer runs once per batch. ``info`` carries
    the member frames' ``indices`` and ``pts``. In realtime runs, frames dropped upstream are simply
    not in the batch (``indices`` shows the gaps). The partial last batch is emitted at end of
    stream (the runtime calls ``flush``); ``partial: drop`` discards it.
    """

    x = Input(TENSOR, doc="one tensor per frame, all of the same shape")
    batch = Output(TENSOR, doc="stacked tensor (N, ...) on the node's device")
    info = Output(RECORD, doc="{'indices': [frame indices], 'pts': [seconds]} of the batch members")
    stateless = False
    devices = ("cpu", "cuda")

    class Params(NodeParams):
        size: int = Field(8, ge=1, le=4096, description="frames per batch (N)")
        channels_last: bool = Field(False, description="lay 4-D batches out channels-last in memory")
        partial: Literal["emit", "drop"] = Field(
            "emit", description="at end of stream: emit the last, smaller batch or drop it")

    def setup(self, ctx):
        self._items, self._indices, self._pts = [], [], []
        self.dropped_partial = 0

    def _emit(self):
        out = {"batch": stack_batch(self._items, self.params.channels_last),
               "info": {"indices": list(self._indices), "pts": list(self._pts)}}
        self._items, self._indices, self._pts = [], [], []
        return out

    def process(self, ctx, x):
        if x is None:  # an empty packet upstream: nothing to add
            return None
        self._items.append(x)
        self._indices.append(ctx.index)
        self._pts.append(ctx.pts)
        if len(self._items) >= self.params.size:
            return self._emit()
        return None

    def flush(self, ctx):
        """End of stream: the partial batch (fewer than N frames), or None."""
        if not self._items or self.params.partial == "drop":
            self.dropped_partial = len(self._items)
            self._items, self._indices, self._pts = [], [], []
            return None
        return self._emit()

    def finish(self, ctx):
        if self._items:  # flush did not run (the run was stopped): say what was lost
            self.dropped_partial = len(self._items)
            ctx.log(f"batch '{ctx.name}': {len(self._items)} frame(s) of the last partial batch were not emitted")
            self._items, self._indices, self._pts = [], [], []

"""Device placement for one node: its CUDA stream, input hand-over (events, copies), output events.

A node placed on a CUDA device runs on its own ``torch.cuda.Stream``. Each packet it emits carries
an event recorded on that stream; a consumer's stream waits on the event (no device-wide
synchronize). Host tensors going to the device are pinned and copied with ``non_blocking=True``.
On the CPU all of this is a no-op, so the same graph runs unchanged.
"""
from __future__ import annotations

from contextlib import nullcontext

import torch

from .types import VideoFrame


class Placement:
    def __init__(self, device: str):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None

    def scope(self):
        """Context in which the node runs (its stream current on CUDA)."""
        return torch.cuda.stream(self.stream) if self.cuda else nullcontext()

    def receive(self, value, event):
        """Make ``value`` (produced elsewhere, with ``event`` if on CUDA) safe and local for this node."""
        if event is not None:
            if self.cuda:
                self.stream.wait_event(event)
            else:
                event.synchronize()  # waits for that producer's work only
        if isinstance(value, torch.Tensor):
            return self._move(value)
        if isinstance(value, VideoFrame) and isinstance(value.image, torch.Tensor) \
                and value.image.device != self.device:
            return VideoFrame(self._move(value.image), value.index, value.pts, value.name, value.colorspace)
        return value

    def _move(self, t: torch.Tensor) -> torch.Tensor:
        if t.device == self.device:
            if self.cuda:
                t.record_stream(self.stream)  # keep the allocator from reusing it under us
            return t
        if self.cuda and t.device.type == "cpu":
            if not t.is_pinned():
                t = t.pin_memory()
            return t.to(self.device, non_blocking=True)
        return t.to(self.device)

    def mark(self):
        """An event after this node's work, for consumers to wait on (None on the CPU)."""
        if not self.cuda:
            return None
        ev = torch.cuda.Event()
        ev.record(self.stream)
        return ev

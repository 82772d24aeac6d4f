"""The ``null_sink`` node: consume and discard packets, counting them."""
from __future__ import annotations

from graphrun.runtime import Input, Node, register
from graphrun.runtime.types import ANY


@register("null_sink")
class NullSink(Node):
    """Consume and discard packets, counting them (the end of a benchmark pipeline).

    ``count`` holds the number of non-empty packets received; the run's stats report it too.
    """

    x = Input(ANY, doc="anything; discarded")
    # CPU only on purpose: the runtime then waits for a CUDA producer's work and copies its
    # tensors to the host, so a frame counts as done only when its result really exists.
    devices = ("cpu",)

    def setup(self, ctx):
        self.count = 0

    def process(self, ctx, x):
        if x is not None:
            self.count += 1
        return None

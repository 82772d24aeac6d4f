"""How to run a graph once, as one value: what the CLI, ``Graph.run``, ``Graph.iterate``, batch
workers and tune hand to the run's lifecycle (:class:`graphrun.runtime.run.Run`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class RunOptions:
    """Args:
        set: ``--set`` overrides applied before the graph is built (``node.param=value``).
        mode, device, executor: override the graph's own (``offline``/``realtime``; ``auto``, ``cpu``,
            ``cuda:N``; ``fused``, ``per_node``, ``inline``).
        out: the output folder (nodes write there; ``FAILED.txt`` marks a failed run); None: no folder.
        trace: path of a Chrome/Perfetto trace (one track per node).
        stats: path of a JSON file with the run's figures.
        profile: path of a torch.profiler Chrome trace, one ``record_function`` range per node call.
        progress: a progress bar on stderr.
        log: where nodes' and the runtime's lines go (default ``print``).
        observer: an Observer (runtime/observe.py) that gets the nodes' taps (``--record``/``--view``);
            whoever made it closes it.
    """

    set: tuple = ()
    mode: Optional[str] = None
    device: Optional[str] = None
    executor: Optional[str] = None
    out: Optional[str] = None
    trace: Optional[str] = None
    stats: Optional[str] = None
    profile: Optional[str] = None
    progress: bool = False
    log: Optional[Callable[[str], None]] = field(default=None, compare=False)
    observer: Any = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "set", tuple(self.set or ()))
        if self.out is not None:
            object.__setattr__(self, "out", str(self.out))

    def but(self, **changes) -> "RunOptions":
        """A copy with some fields changed (``options.but(out=scratch)``)."""
        return replace(self, **changes)


DEFAULTS = RunOptions()   # the graph's own mode, device and executor; no output folder, trace or stats

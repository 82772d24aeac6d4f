"""One node of a running graph, without threads: setup, one ``step`` per frame index, flush, finish, close.

The runner owns what a node must not touch: its Context, its device placement (CUDA stream,
input hand-over, output event), timing, trace, ``on_error`` and the check of what ``process``
returns. Executors decide on which thread, and when, each runner steps.
"""
from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .device import Placement
from .errors import UserInputError
from .graph import BuiltNode
from .node import Context, Emit
from .stats import NodeStats, Trace

_now = time.perf_counter
_UNKNOWN = object()


@dataclass
class RunEnv:
    """What every runner of one run shares."""

    mode: str = "offline"
    out_dir: Optional[str] = None
    graph_info: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    log: Callable[[str], None] = print
    trace: Optional[Trace] = None
    profile: bool = False
    uses_cuda: bool = False
    observer: Any = None             # an Observer (runtime/observe.py) when the run is recorded or viewed

    def profile_range(self, name: str):
        if not self.profile:
            return nullcontext()
        import torch
        return torch.profiler.record_function(name)


class NodeRunner:
    """Runs one instance of a node (a node with ``workers: N`` has N runners sharing one NodeStats)."""

    def __init__(self, built: BuiltNode, env: RunEnv, stats: NodeStats, track: Optional[str] = None):
        self.name = built.name
        self.built = built
        self.node = built.make()
        self.env = env
        self.stats = stats
        self.track = track or built.name
        self.placement = Placement(built.device)
        self.ctx = Context(name=built.name, device=self.placement.device, mode=env.mode, out_dir=env.out_dir,
                           graph=env.graph_info, log=env.log, results=env.results)
        self.outputs = built.cls.outputs
        # per output: the Python classes a value must be (None: anything), for the hot-path check
        self._types = {p: (o.type.python or None) for p, o in self.outputs.items()}
        self.skip_errors = built.spec.on_error == "skip"
        self.plain = not env.uses_cuda and not env.profile    # nothing to hand over between devices
        self.last_index: Optional[int] = None
        self._gen = None
        self._process = self.node.process
        self.step = self._bind_step()

    # -- lifecycle -----------------------------------------------------------------------------
    def setup(self) -> None:
        with self.placement.scope():
            self.node.setup(self.ctx)

    def finish(self) -> None:
        with self.placement.scope():
            self.node.finish(self.ctx)

    def close(self) -> None:
        self.node.close()

    # -- frames --------------------------------------------------------------------------------
    def skip(self, index: int) -> None:
        """The node's inputs for ``index`` were empty: it is not called, the index still counts."""
        self.last_index = index
        self.stats.empty += 1

    def _bind_step(self):
        """The runner's ``step(index, pts, args, events=None)``: call ``process`` for one frame and
        return ``(outputs or None, CUDA event or None)``. Built once per runner with what it touches
        bound as locals, so that a fused hop costs one call and little more; the one step path of
        every run (plain CPU, or on a device: ``_process_placed``)."""
        ctx, stats, types, check = self.ctx, self.stats, self._types, self.check
        process, placed, plain = self._process, self._process_placed, self.plain
        durations, trace, track, name = stats.durations, self.env.trace, self.track, self.name
        observer = self.env.observer
        lock = stats.lock if self.built.spec.workers > 1 else None     # runners of one node share its stats
        skip_error = self._skip_error

        def step(index: int, pts: float, args: dict, events: Optional[dict] = None):
            last = self.last_index
            ctx.skipped = 0 if last is None or index <= last else index - last - 1
            ctx.index, ctx.pts, self.last_index = index, pts, index
            t = _now()
            event = None
            try:
                if plain:
                    out = process(ctx, **args)
                else:
                    out, event = placed(args, events)
                if out is not None:
                    if out.__class__ is not dict:
                        check(out)
                    for port, value in out.items():
                        tp = types.get(port, _UNKNOWN)
                        if tp is not None and (tp is _UNKNOWN or (value is not None and not isinstance(value, tp))):
                            check(out)             # raises, naming the port and the types
            except Exception as exc:
                skip_error(index, exc)
                out, event = None, None
            end = _now()
            if lock is None:
                durations.append(end - t)
                stats.packets += 1
            else:
                with lock:
                    durations.append(end - t)
                    stats.packets += 1
            if trace is not None:
                trace.add(track, name, t, end, index)
            if observer is not None:
                observer.on_step(name, index, pts, end - t, out)
            return out, event

        return step

    def _process_placed(self, args: dict, events: Optional[dict]):
        """``process`` on the node's device: inputs handed over (waiting on their producers' CUDA
        events), its stream current, a profiler range; returns (outputs, the event after them)."""
        with self.placement.scope(), self.env.profile_range(self.name):
            for port, value in args.items():
                if value is not None:
                    args[port] = self.placement.receive(value, events.get(port) if events else None)
            out = self._process(self.ctx, **args)
            return out, self.placement.mark()

    def _skip_error(self, index: int, exc: Exception) -> None:
        """``on_error: skip``: the frame counts as an error and the node produced nothing; else re-raise."""
        if not self.skip_errors or isinstance(exc, UserInputError):
            raise exc
        self.stats.errors += 1
        self.env.log(f"graphrun: warning: node '{self.name}' skipped frame {index}: {type(exc).__name__}: {exc}")

    def flush(self):
        """End of stream: what the node still holds, as ``(outputs or None, event, index)``."""
        with self.placement.scope():
            out = self.node.flush(self.ctx)
            if out:
                self.check(out)
            event = self.placement.mark() if out else None
        index = (self.last_index if self.last_index is not None else -1) + 1
        if out:
            self.last_index = index
        return out, event, index

    def pull(self):
        """A source's next frame: ``(outputs, pts or None)``; raises StopIteration at its end."""
        if self._gen is None:
            self._gen = self.node.generate(self.ctx)
        t = _now()
        with self.placement.scope():
            item = next(self._gen)
        end = _now()
        self.stats.durations.append(end - t)
        if self.env.trace is not None:
            self.env.trace.add(self.track, self.name, t, end, self.ctx.index + 1)
        if isinstance(item, Emit):
            return item.outputs, item.pts
        return item, None

    def mark(self):
        """An event after the node's work (sources emit with it), None on the CPU."""
        return self.placement.mark()

    # -- checks and stats ----------------------------------------------------------------------
    def check(self, out: Any) -> None:
        if not isinstance(out, dict):
            raise TypeError(f"process() must return a dict of output ports or None, got {type(out).__name__}")
        outputs = self.outputs
        for port, value in out.items():
            spec = outputs.get(port)
            if spec is None:
                raise TypeError(f"returned unknown output '{port}' (outputs: {', '.join(outputs)})")
            if value is not None and not spec.type.accepts_value(value):
                raise TypeError(f"output '{port}' is declared {spec.type} but the node produced {type(value).__name__}")

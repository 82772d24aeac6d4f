"""One run of a built graph: signals, progress, library thread pools, setup barrier, finish/close, stats.

The executor decides which thread steps which node; the session holds what the whole run
shares around it. A first SIGINT/SIGTERM stops the sources and lets the graph drain (outputs are
finished with the frames so far); a second stops at once: threads get ``STOP_GRACE`` seconds to
end, and a node stuck past that is left behind (the CLI then exits 130 at once).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Optional

from . import interrupts
from .errors import GraphError, Interrupted, NodeError
from .executor import executor_class
from .graph import BuiltGraph
from .inbox import WAIT
from .options import DEFAULTS, RunOptions
from .runner import RunEnv
from .runstate import RunState
from .spec import variable_values
from .stats import FrameTracker, NodeStats, Trace


def graph_info(graph: BuiltGraph, mode: str, executor: str) -> dict:
    """What nodes may know of the graph they run in (``ctx.graph``): its name, file, mode, device,
    executor, variables, and every node's kind and parameters that differ from the kind's defaults
    (``settings``, for reports that state how they were made)."""
    settings = {}
    for name, b in graph.nodes.items():
        defaults = {k: f.default for k, f in b.cls.Params.model_fields.items()}
        changed = {k: v for k, v in b.params.model_dump().items() if defaults.get(k, object()) != v}
        settings[name] = {"kind": b.spec.kind, "params": changed}
    return {"name": graph.spec.name, "path": str(graph.spec.path) if graph.spec.path else None, "mode": mode,
            "device": graph.spec.device, "executor": executor, "vars": variable_values(graph.spec),
            "settings": settings}


class RunSession:
    """Runs a built graph once with the executor its spec (or ``options.executor``) names.

    Args:
        options: ``mode``, ``executor``, ``trace`` (on if a path is given), ``profile``, ``progress``,
            ``log`` and ``out`` (the folder named in what nodes log) are read here.
        staging: the folder nodes write into (the output folder's staging copy), if any.
    """

    def __init__(self, graph: BuiltGraph, options: RunOptions = DEFAULTS, staging: Optional[str] = None):
        self.graph = graph
        self.mode = options.mode or graph.spec.mode
        executor = executor_class(options.executor or graph.spec.executor)     # the kind, chosen once
        self.stop = threading.Event()        # hard stop: an error or a second signal
        self.draining = threading.Event()    # soft stop: sources end, the graph drains
        self.errors: list[BaseException] = []
        self.progress = options.progress
        self.bar = None
        self._log = options.log or print
        # nodes write into a staging folder; what they log names the folder the user asked for
        self._out_names = (staging, options.out) if staging and options.out else None
        terminals = graph.terminals()
        self.tracker = FrameTracker(len(terminals), on_done=self._tick if options.progress else None)
        for name, b in graph.nodes.items():
            if getattr(b.cls, "live", False) and self.mode != "realtime":
                raise GraphError(f"{b.spec.where}: source '{name}' ({b.spec.kind}) is live and only runs in realtime "
                                 f"mode (--mode realtime)")
        self.env = RunEnv(mode=self.mode, out_dir=staging,
                          graph_info=graph_info(graph, self.mode, executor.name),
                          log=self.log, trace=Trace() if options.trace else None, profile=bool(options.profile),
                          uses_cuda=any(b.device.startswith("cuda") for b in graph.nodes.values()),
                          observer=options.observer)
        self.results = self.env.results
        self.lag_frames = graph.lag()          # look-ahead delays the outputs by this many frames
        self.stats = {name: NodeStats(name) for name in graph.nodes}
        state = RunState(mode=self.mode, realtime=dict(graph.spec.realtime), env=self.env, stats=self.stats,
                         tracker=self.tracker, stop=self.stop, draining=self.draining, lag_frames=self.lag_frames,
                         fail=self.fail, thread_ready=self.thread_ready, wait_ready=self.wait_ready)
        self.executor = executor(graph, state)
        self._pending = self.executor.n_threads()
        self._ready = threading.Event()
        self._ready_lock = threading.Lock()
        self.seconds = 0.0
        self.setup_seconds: Optional[float] = None    # from the start of the run until every node is set up
        self._t_start = time.perf_counter()
        self.observer = options.observer        # --record / --view: taps and figures to a recorder
        if self.observer is not None:
            self.observer.attach(self)
        self.live_figures = None                # realtime: drops and p99 latency on the progress line

    @property
    def source_drops(self) -> int:
        """Frames refused at the sources so far (the executor's counter)."""
        return self.executor.source_drops

    # -- what threads call ---------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self._out_names:
            msg = msg.replace(*self._out_names)
        if self.observer is not None:
            self.observer.on_log(msg)
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            self._log(msg)

    def thread_ready(self) -> None:
        """A thread has set up its nodes."""
        with self._ready_lock:
            self._pending -= 1
            if self._pending <= 0 and not self._ready.is_set():
                self.setup_seconds = time.perf_counter() - self._t_start
                self._ready.set()

    def wait_ready(self) -> bool:
        """Block a source until every node has finished ``setup`` (False if the run stopped)."""
        while not self._ready.wait(WAIT):
            if self.stop.is_set():
                return False
        return not self.stop.is_set()

    def fail(self, node: str, index: int, exc: BaseException) -> None:
        err = exc if isinstance(exc, (NodeError, Interrupted)) else NodeError(node, index, exc)
        self.errors.append(err)
        self.stop.set()
        self.executor.wake()

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.live_figures is not None:
                self.live_figures.update()

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict:
        runners = self.executor.runners()
        total = None
        sources = self.graph.sources()
        if len(sources) == 1:
            try:
                total = runners[sources[0]][0].node.length()
            except Exception:  # noqa: BLE001 - length is only for the progress bar
                total = None
        if self.progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="frame", desc=self.graph.spec.name, file=sys.stderr,
                            mininterval=0.5, dynamic_ncols=True, leave=False)
            if self.mode == "realtime":
                from .progress import LiveFigures
                self.live_figures = LiveFigures(self.bar, self.tracker, lambda: self.source_drops)
        restore_signals = self._install_signals()
        restore_threads = self._set_library_threads()
        t_start = self._t_start = time.perf_counter()
        try:
            self.executor.run()
        except KeyboardInterrupt:          # on this thread: the second signal interrupts the node itself
            if not self.errors:
                self.fail("<signal>", -1, Interrupted())
        finally:
            self.seconds = time.perf_counter() - t_start
            restore_signals()
            restore_threads()
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        stuck = set(self.executor.stuck)
        if total is not None and not self.draining.is_set() and runners[sources[0]][0].last_index is not None:
            total = max(total, runners[sources[0]][0].last_index + 1)    # more frames came than the file said
        if not self.errors and not self.stop.is_set():
            so_far = {k: v for k, v in self.summary().items() if k != "results"}
            for name, rs in runners.items():       # topological order: upstream finishes first
                try:
                    for r in rs:
                        r.ctx.expected_frames, r.ctx.interrupted = total, self.draining.is_set()
                        r.ctx.run_stats = so_far
                        r.finish()
                except BaseException as exc:  # noqa: BLE001
                    self.errors.append(NodeError(name, -1, exc, stage="end of stream"))
                    break
        for name, rs in reversed(list(runners.items())):
            if name in stuck:
                continue                          # its thread still runs the node: leave it alone
            for r in rs:
                try:
                    r.close()
                except Exception as exc:  # noqa: BLE001 - closing must not hide the first error
                    self.log(f"graphrun: warning: node '{name}' failed to close: {exc}")
        return self.summary()

    def summary(self) -> dict:
        tr = self.tracker
        seconds = self.seconds
        thread_of = self.executor.plan.thread_of()
        nodes = {}
        for name, rs in self.executor.runners().items():
            s = self.stats[name].summary()
            s.update(kind=rs[0].built.spec.kind, device=str(rs[0].placement.device), workers=len(rs),
                     thread=thread_of[name])
            nodes[name] = s
        drops = self.executor.source_drops
        return {"graph": self.graph.spec.name, "mode": self.mode, "executor": self.executor.name,
                "threads": self.executor.n_threads(), "frames": tr.completed,
                "seconds": round(seconds, 4), "fps": round(tr.completed / seconds, 3) if seconds > 0 else 0.0,
                "setup_s": None if self.setup_seconds is None else round(self.setup_seconds, 4),
                "stream_fps": self._stream_fps(tr.completed, seconds),
                "latency": tr.summary(), "lag_frames": self.lag_frames, "lag_ms": self._lag_ms(),
                "drops": tr.dropped + drops, "source_drops": drops,
                "interrupted": self.draining.is_set() or any(isinstance(e, Interrupted) for e in self.errors),
                "nodes": nodes, "results": self.results, "headline": dict(self.graph.spec.headline)}

    def _stream_fps(self, frames: int, seconds: float) -> float:
        """Frames per second once every node was set up (a model's loading is a fixed cost, not a
        rate: ``fps`` counts it, this does not; the same when setup was not timed)."""
        setup = self.setup_seconds
        streaming = seconds - setup if setup is not None and 0 <= setup < seconds else seconds
        return round(frames / streaming, 3) if streaming > 0 else 0.0

    def _lag_ms(self) -> Optional[float]:
        """The look-ahead's lag in milliseconds at the source's frame rate (None without one)."""
        if not self.lag_frames:
            return 0.0
        sources = self.graph.sources()
        fps = self.executor.runners()[sources[0]][0].node.fps() if sources else None
        return round(self.lag_frames / fps * 1e3, 1) if fps else None

    def _set_library_threads(self):
        """torch intra-op and OpenCV pools for the run (the graph's ``threads:``, else the cores
        shared by the executor's threads); returns the undo."""
        wanted = dict(self.graph.spec.threads)
        share = max(1, (os.cpu_count() or 1) // max(1, self.executor.n_threads()))
        wanted.setdefault("torch", share)
        wanted.setdefault("opencv", share)
        import cv2
        import torch
        old_torch, old_cv = torch.get_num_threads(), cv2.getNumThreads()
        torch.set_num_threads(wanted["torch"])
        cv2.setNumThreads(wanted["opencv"])

        def undo():
            torch.set_num_threads(old_torch)
            cv2.setNumThreads(old_cv)
        return undo

    def _install_signals(self):
        unwatch = interrupts.watch(self.draining, self.stop)     # a download in a node's setup gives up
        if threading.current_thread() is not threading.main_thread():
            return unwatch
        on_this_thread = not self.executor.threaded      # the nodes run here: a signal must interrupt them

        def handler(signum, frame):
            if self.draining.is_set():
                self.log("graphrun: second signal: stopping now")
                self.fail("<signal>", -1, Interrupted())
                if on_this_thread:
                    raise KeyboardInterrupt
            else:
                self.log(f"graphrun: {signal.Signals(signum).name}: stopping the sources and draining the graph "
                         f"(again to stop at once)")
                self.draining.set()

        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, handler)

        def restore():
            unwatch()
            for s, h in old.items():
                signal.signal(s, h)
        return restore

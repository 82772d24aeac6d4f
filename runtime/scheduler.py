"""The scheduler: one worker thread per node (N for ``workers: N``), bounded queues between them.

* Every node emits exactly one packet per frame index on each output, empty when it produced
  nothing, so a multi-input node can align its inputs by index (MediaPipe's timestamp bound).
* Queues apply backpressure (``block``) or drop (``drop_oldest`` / ``drop_newest``, leaky, as
  GStreamer's queue). A dropped packet is counted at the node it was headed to.
* A back edge holds the latest value of its producer; the consumer gets, at frame t, the value
  produced for the frame it processed before t (None at the first frame).
* offline: sources run as fast as the graph takes frames. realtime: sources are paced at their
  fps and a flow limiter admits a new frame only while fewer than ``max_in_flight`` frames are in
  the graph; the others are dropped at the source (earliest point) and counted.
* A node raising stops the graph: every thread exits, every node's ``close`` runs, the error names
  the node and the frame index. SIGINT/SIGTERM stop the sources and let the graph drain
  (outputs are finished with the frames so far); a second signal stops at once.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import nullcontext
from typing import Optional

from .device import Placement
from .errors import GraphError, NodeError, UserInputError
from .graph import Graph
from .inbox import _WAIT, END, NOTHING, Inbox, Packet
from .node import Context, Emit
from .stats import FrameTracker, NodeStats, Trace

class NodeRunner:
    """Runs one node of the graph on its worker thread(s)."""

    def __init__(self, sched: "Scheduler", name: str):
        g = sched.graph
        self.sched = sched
        self.name = name
        self.built = g.nodes[name]
        self.stats = NodeStats(name)
        self.terminal = name in sched.terminals
        self.workers = self.built.spec.workers
        self.placement = Placement(self.built.device)
        self.instances = [self.built.make() for _ in range(self.workers)]
        self.contexts = [Context(name=name, device=self.placement.device, mode=sched.mode, out_dir=sched.out_dir,
                                 graph=sched.graph_info, log=sched.log, results=sched.results)
                         for _ in range(self.workers)]
        self.outputs = self.built.cls.outputs
        self.out_edges = dict(self.built.out_edges)
        self.inbox: Optional[Inbox] = None
        self.emit_turn = 0
        self.emit_cond = threading.Condition()
        self.live_workers = self.workers
        self.on_error = self.built.spec.on_error

    def make_inbox(self) -> None:
        sched, spec = self.sched, self.sched.graph.spec
        queues, back = {}, []
        for port, e in self.built.in_edges.items():
            if e.back:
                back.append(port)
                continue
            policy = e.policy
            if policy is None:
                leaky = sched.mode == "realtime" and (e.src, e.dst) not in sched.loop_edges
                policy = "drop_oldest" if leaky else "block"
            queues[port] = (e.capacity or spec.capacity, policy)
        self.inbox = Inbox(self, queues, back)

    # -- emission ------------------------------------------------------------------------------
    def emit(self, outputs, index: int, pts: float, t0: float, event) -> None:
        if outputs is not None and not isinstance(outputs, dict):
            raise TypeError(f"process() must return a dict of output ports or None, got {type(outputs).__name__}")
        if outputs:
            for port in outputs:
                if port not in self.outputs:
                    raise TypeError(f"returned unknown output '{port}' (outputs: {', '.join(self.outputs)})")
        for port, edges in self.out_edges.items():
            value = NOTHING if not outputs else outputs.get(port, NOTHING)
            if value is None:
                value = NOTHING
            if value is not NOTHING and not self.outputs[port].type.accepts_value(value):
                raise TypeError(f"output '{port}' is declared {self.outputs[port].type} but the node produced "
                                f"{type(value).__name__}")
            pkt = Packet(index, pts, value, event, t0)
            for e in edges:
                inbox = self.sched.runners[e.dst].inbox
                if e.back:
                    inbox.put_back(e.dst_port, pkt)
                else:
                    inbox.put(e.dst_port, pkt)

    def send_end(self) -> None:
        for edges in self.out_edges.values():
            for e in edges:
                if not e.back:
                    self.sched.runners[e.dst].inbox.put(e.dst_port, END)

    # -- workers -------------------------------------------------------------------------------
    def run_source(self) -> None:
        sched, node, ctx = self.sched, self.instances[0], self.contexts[0]
        index = -1
        try:
            with self.placement.scope():
                node.setup(ctx)
                if not sched.wait_ready():      # every node set up before the first frame
                    return
                fps = node.fps() or 0.0
                gen = node.generate(ctx)
                realtime = sched.mode == "realtime"
                pace = realtime and not getattr(node, "live", False)
                limit = int(sched.rt["max_in_flight"])
                speed = float(sched.rt.get("speed") or 1.0)
                t_start = pts0 = None
                while not sched.stop.is_set() and not sched.draining.is_set():
                    t = time.perf_counter()
                    try:
                        item = next(gen)
                    except StopIteration:
                        break
                    index += 1
                    dt = time.perf_counter()
                    self.stats.durations.append(dt - t)
                    outputs, pts = (item.outputs, item.pts) if isinstance(item, Emit) else (item, None)
                    if pts is None:
                        pts = index / fps if fps else float(index)
                    if realtime:
                        if pace:
                            if t_start is None:
                                t_start, pts0 = dt, pts
                            delay = t_start + (pts - pts0) / speed - time.perf_counter()
                            if delay > 0:
                                sched.stop.wait(delay)
                        if sched.tracker.in_flight() >= limit:     # flow limiter: drop at the source
                            self.stats.drops += 1
                            sched.source_drops += 1
                            continue
                    t0 = time.perf_counter()
                    ctx.index, ctx.pts = index, pts
                    sched.tracker.admit(index, t0)
                    self.stats.packets += 1
                    if sched.trace is not None:
                        sched.trace_event(self.name, t, dt, index)
                    self.emit(outputs, index, pts, t0, self.placement.mark())
                    if self.terminal:
                        sched.tracker.terminal_done(index)
        except BaseException as exc:  # noqa: BLE001 - reported with node and frame
            sched.fail(self.name, index, exc)
        finally:
            self.send_end()

    def run_worker(self, worker: int) -> None:
        sched, node, ctx = self.sched, self.instances[worker], self.contexts[worker]
        inputs = self.built.cls.inputs
        plain = not sched.uses_cuda and sched.profile is None   # fast path: nothing to hand over
        trace = sched.trace is not None
        index = -1
        try:
            with self.placement.scope():
                node.setup(ctx)
            sched.worker_ready()
            while True:
                got = self.inbox.take()
                if got is None:
                    if worker == 0:
                        self._flush(node, ctx)
                    break
                seq, pkts, back, skipped = got
                first = next(iter(pkts.values()))
                index, pts, t0 = first.index, first.pts, first.t0
                args = dict.fromkeys(inputs)            # unconnected optional inputs stay None
                missing = False
                for port, pkt in pkts.items():
                    if pkt.value is NOTHING:
                        missing = missing or not inputs[port].optional
                    else:
                        args[port] = pkt
                for port, pkt in back.items():
                    if pkt is not None and pkt.value is not NOTHING:
                        args[port] = pkt
                outputs, event = None, None
                if missing:
                    self.stats.empty += 1
                else:
                    ctx.index, ctx.pts, ctx.skipped = index, pts, skipped
                    t = time.perf_counter()
                    try:
                        if plain:
                            for port, pkt in args.items():
                                if pkt is not None:
                                    args[port] = pkt.value
                            outputs = node.process(ctx, **args)
                        else:
                            with self.placement.scope(), sched.profile_range(self.name):
                                for port, pkt in args.items():
                                    if pkt is not None:
                                        args[port] = self.placement.receive(pkt.value, pkt.event)
                                outputs = node.process(ctx, **args)
                                event = self.placement.mark()
                    except Exception as exc:
                        if self.on_error != "skip" or isinstance(exc, UserInputError):
                            raise
                        self.stats.errors += 1
                        sched.log(f"graphrun: warning: node '{self.name}' skipped frame {index}: "
                                  f"{type(exc).__name__}: {exc}")
                        outputs = None
                    end = time.perf_counter()
                    if self.workers > 1:
                        with self.stats.lock:
                            self.stats.durations.append(end - t)
                            self.stats.packets += 1
                    else:
                        self.stats.durations.append(end - t)
                        self.stats.packets += 1
                    if trace:
                        sched.trace_event(self.name if self.workers == 1 else f"{self.name}#{worker}", t, end, index)
                self._emit_in_order(seq, outputs, index, pts, t0, event)
                if self.terminal:
                    sched.tracker.terminal_done(index)
        except BaseException as exc:  # noqa: BLE001
            sched.fail(self.name, index, exc)
        finally:
            with self.emit_cond:
                self.live_workers -= 1
                last = self.live_workers == 0
                self.emit_cond.notify_all()
            if last:
                self.send_end()

    def _flush(self, node, ctx) -> None:
        """End of stream: a node may emit what it still holds (e.g. a partial batch) as one more
        packet, numbered after the last frame it saw. Branches joined later cannot align with it."""
        flush = getattr(node, "flush", None)
        if flush is None or self.sched.stop.is_set():
            return
        last = self.inbox.last_index
        with self.placement.scope():
            outputs = flush(ctx)
            event = self.placement.mark() if outputs else None
        if outputs:
            self.emit(outputs, (last if last is not None else -1) + 1, ctx.pts, time.perf_counter(), event)

    def _emit_in_order(self, seq, outputs, index, pts, t0, event) -> None:
        if self.workers == 1:
            self.emit(outputs, index, pts, t0, event)
            return
        with self.emit_cond:
            while self.emit_turn != seq and not self.sched.stop.is_set():
                self.emit_cond.wait(_WAIT)
            try:
                self.emit(outputs, index, pts, t0, event)
            finally:
                self.emit_turn += 1
                self.emit_cond.notify_all()

    def threads(self) -> list[threading.Thread]:
        if self.built.is_source:
            return [threading.Thread(target=self.run_source, name=f"graphrun:{self.name}", daemon=True)]
        return [threading.Thread(target=self.run_worker, args=(w,), name=f"graphrun:{self.name}#{w}", daemon=True)
                for w in range(self.workers)]


class Scheduler:
    """Runs a built :class:`Graph` once."""

    def __init__(self, graph: Graph, mode: Optional[str] = None, out_dir: Optional[str] = None,
                 trace: bool = False, profile=None, progress: bool = False, log=None):
        self.graph = graph
        self.mode = mode or graph.spec.mode
        self.out_dir = out_dir
        self.rt = dict(graph.spec.realtime)
        self.stop = threading.Event()        # hard stop: error or second signal
        self.draining = threading.Event()    # soft stop: sources end, the graph drains
        self.errors: list[NodeError] = []
        self.source_drops = 0
        self.results: dict = {}
        self.terminals = set(graph.terminals())
        self.loop_edges = graph.loop_edges()
        self.graph_info = {"name": graph.spec.name, "mode": self.mode, "device": graph.spec.device}
        self.trace = Trace() if trace else None
        self.profile = profile
        self.bar = None
        self.progress = progress
        self._log = log or print
        self.tracker = FrameTracker(len(self.terminals), on_done=self._tick if progress else None)
        for name, b in graph.nodes.items():
            if getattr(b.cls, "live", False) and self.mode != "realtime":
                raise GraphError(f"{b.spec.where}: source '{name}' ({b.spec.kind}) is live and only runs in realtime "
                                 f"mode (--mode realtime)")
        self.pending_setups = sum(b.spec.workers for b in graph.nodes.values() if not b.is_source)
        self.ready = threading.Event()
        if self.pending_setups == 0:
            self.ready.set()
        self._ready_lock = threading.Lock()
        self.uses_cuda = any(b.device.startswith("cuda") for b in graph.nodes.values())
        self.runners = {}
        for name in graph.nodes:
            self.runners[name] = NodeRunner(self, name)
        for r in self.runners.values():
            r.make_inbox()

    # -- helpers used by runners ---------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            self._log(msg)

    def trace_event(self, track, start, end, index) -> None:
        if self.trace is not None:
            self.trace.add(track, track.split("#")[0], start, end, index)

    def profile_range(self, name):
        if self.profile is None:
            return nullcontext()
        import torch
        return torch.profiler.record_function(name)

    def worker_ready(self) -> None:
        with self._ready_lock:
            self.pending_setups -= 1
            if self.pending_setups == 0:
                self.ready.set()

    def wait_ready(self) -> bool:
        """Block a source until every node has finished ``setup`` (False if the run stopped)."""
        while not self.ready.wait(_WAIT):
            if self.stop.is_set():
                return False
        return not self.stop.is_set()

    def fail(self, node: str, index: int, exc: BaseException) -> None:
        err = exc if isinstance(exc, NodeError) else NodeError(node, index, exc)
        self.errors.append(err)
        self.stop.set()
        for r in self.runners.values():
            if r.inbox is not None:
                r.inbox.wake()

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict:
        threads = [t for r in self.runners.values() for t in r.threads()]
        total = None
        sources = [self.runners[n] for n in self.graph.sources()]
        if len(sources) == 1:
            try:
                total = sources[0].instances[0].length()
            except Exception:  # noqa: BLE001 - length is only for the progress bar
                total = None
        if self.progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="frame", desc=self.graph.spec.name, file=sys.stderr,
                            mininterval=0.5, dynamic_ncols=True, leave=False)
        restore = self._install_signals()
        restore_threads = self._set_library_threads()
        t_start = time.perf_counter()
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(_WAIT)
        finally:
            seconds = time.perf_counter() - t_start
            self._restore_signals(restore)
            restore_threads()
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        if not self.errors and not self.stop.is_set():
            for name, r in self.runners.items():       # topological order: upstream finishes first
                try:
                    with r.placement.scope():
                        r.instances[0].finish(r.contexts[0])
                        for extra, ctx in zip(r.instances[1:], r.contexts[1:]):
                            extra.finish(ctx)
                except BaseException as exc:  # noqa: BLE001
                    self.errors.append(NodeError(name, -1, exc, stage="end of stream"))
                    break
        for r in reversed(list(self.runners.values())):
            for inst in r.instances:
                try:
                    inst.close()
                except Exception as exc:  # noqa: BLE001 - closing must not hide the first error
                    self.log(f"graphrun: warning: node '{r.name}' failed to close: {exc}")
        return self._stats(seconds)

    def _stats(self, seconds: float) -> dict:
        tr = self.tracker
        nodes = {}
        for name, r in self.runners.items():
            s = r.stats.summary()
            s.update(kind=r.built.spec.kind, device=str(r.placement.device), workers=r.workers)
            nodes[name] = s
        drops = tr.dropped + self.source_drops
        return {"graph": self.graph.spec.name, "mode": self.mode, "frames": tr.completed,
                "seconds": round(seconds, 4), "fps": round(tr.completed / seconds, 3) if seconds > 0 else 0.0,
                "latency": tr.summary(), "drops": drops, "source_drops": self.source_drops,
                "interrupted": self.draining.is_set(), "nodes": nodes, "results": self.results}

    def _set_library_threads(self):
        """Apply the graph's ``threads:`` (torch intra-op and OpenCV pools) for this run; returns the undo.

        Each node already has its own thread: on few cores, one library thread per node (``torch: 1``)
        usually beats every op splitting itself across cores that other nodes are using."""
        wanted = self.graph.spec.threads
        undo = []
        if "torch" in wanted:
            import torch
            old = torch.get_num_threads()
            torch.set_num_threads(wanted["torch"])
            undo.append(lambda: torch.set_num_threads(old))
        if "opencv" in wanted:
            import cv2
            old_cv = cv2.getNumThreads()
            cv2.setNumThreads(wanted["opencv"])
            undo.append(lambda: cv2.setNumThreads(old_cv))
        return lambda: [u() for u in undo]

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self.draining.is_set():
                self.log("graphrun: second signal, stopping now")
                self.fail("<signal>", -1, KeyboardInterrupt("interrupted twice"))
            else:
                self.log(f"graphrun: {signal.Signals(signum).name}: stopping the sources and draining the graph "
                         f"(again to stop at once)")
                self.draining.set()

        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, handler)
        return old

    @staticmethod
    def _restore_signals(old) -> None:
        if old:
            for s, h in old.items():
                signal.signal(s, h)

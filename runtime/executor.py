"""Executors, one class per kind (Holoscan's scheduler as an object): ``fused``, ``per_node``, ``inline``.

An executor splits the graph into segments (its layout), builds the :class:`~graphrun.runtime.plan.Plan`
once, makes one :class:`~graphrun.runtime.worker.Worker` per thread with its own node runners, and
runs them: each on its own thread (``fused``, ``per_node``), or all in turn on the caller's thread
(``inline``). :func:`executor_class` is the one place a kind's name is looked up.
"""
from __future__ import annotations

import threading
import time
from typing import ClassVar

from .errors import GraphError
from .graph import BuiltGraph
from .inbox import WAIT, WOULD_BLOCK, Inbox
from .plan import Plan, SegmentPlan, build_plan
from .runner import NodeRunner
from .runstate import RunState
from .segments import partition, per_node
from .worker import ExportOrder, Worker

STOP_GRACE = 1.0   # seconds a hard stop waits for threads before leaving them behind


class Executor:
    """Runs a built graph's plan. Subclasses choose the layout (:meth:`segments`) and how the
    workers run (:meth:`run`).

    Args:
        graph: the built graph.
        state: what the run shares with the threads (see :class:`~graphrun.runtime.runstate.RunState`).
    """

    name: ClassVar[str]
    threaded: ClassVar[bool] = True      # False: everything on the caller's thread (its signals interrupt nodes)

    def __init__(self, graph: BuiltGraph, state: RunState):
        self.state = state
        self.plan: Plan = self.plan_for(graph, state.mode, state.realtime)
        self.inboxes = [self._inbox(s) for s in self.plan.segments]
        self.workers: list[list[Worker]] = [self._workers(graph, s) for s in self.plan.segments]
        self.stuck: list[str] = []     # nodes whose thread did not end after a hard stop
        windows = [self.inboxes[s.index] for s in self.plan.segments if s.window and s.has_inbox]
        if windows and self.threaded:  # a dropped frame releases the frames held for it
            state.tracker.on_gone = lambda: [inbox.poke() for inbox in windows]

    @classmethod
    def segments(cls, graph: BuiltGraph) -> list[list[str]]:
        """Where threads start (see :mod:`graphrun.runtime.segments`)."""
        return partition(graph)

    @classmethod
    def plan_for(cls, graph: BuiltGraph, mode: str = None, realtime: dict = None) -> Plan:
        """The plan this executor runs ``graph`` with (``graphrun validate`` prints it)."""
        mode = mode or graph.spec.mode
        return build_plan(graph, cls.segments(graph), threaded=cls.threaded, mode=mode,
                          realtime=graph.spec.realtime if realtime is None else realtime)

    @classmethod
    def threads_of(cls, plan: Plan) -> int:
        return sum(s.workers for s in plan.segments) if cls.threaded else 1

    def _inbox(self, seg: SegmentPlan):
        if not seg.has_inbox:
            return None
        stats, tracker = self.state.stats, self.state.tracker

        def on_drop(key, index):
            stats[key[0]].drops += 1
            tracker.drop(index)

        def on_depth(key, depth):
            stats[key[0]].sample_queue(depth)

        return Inbox({q.key: (q.capacity, q.policy) for q in seg.queues}, list(seg.back_inputs), self.state.stop,
                     on_drop, on_depth, self.plan.deadline_s, max_bytes=seg.max_bytes)

    def _workers(self, graph: BuiltGraph, seg: SegmentPlan) -> list[Worker]:
        order = ExportOrder(seg.workers) if seg.workers > 1 else None
        env, stats = self.state.env, self.state.stats
        return [Worker(seg, [NodeRunner(graph.nodes[n], env, stats[n], n if seg.workers == 1 else f"{n}#{w}")
                             for n in seg.nodes], self.state, self.inboxes, order)
                for w in range(seg.workers)]

    # -- what the session reads ----------------------------------------------------------------
    def n_threads(self) -> int:
        return self.threads_of(self.plan)

    @property
    def source_drops(self) -> int:
        """Frames the sources' admission refused (realtime): counted by the workers, read here."""
        return sum(w.source_drops for ws in self.workers for w in ws)

    def runners(self) -> dict[str, list[NodeRunner]]:
        """Every runner by node name, in topological order."""
        out: dict[str, list[NodeRunner]] = {}
        for ws in self.workers:
            for w in ws:
                for r in w.runners:
                    out.setdefault(r.name, []).append(r)
        return out

    def wake(self) -> None:
        """Wake every thread waiting on an inbox (after the run's stop was set)."""
        for inbox in self.inboxes:
            if inbox is not None:
                inbox.wake()

    def run(self) -> None:
        raise NotImplementedError


class ThreadedExecutor(Executor):
    """Each worker on a thread of its own; returns when all have ended, or ``STOP_GRACE`` after a
    hard stop (the threads still running are left behind, their nodes in ``stuck``)."""

    def run(self) -> None:
        threads = []
        for seg, ws in zip(self.plan.segments, self.workers):
            for i, w in enumerate(ws):
                target, args = (w.run_source, ()) if seg.is_source else (w.run_inbox, (i == 0,))
                label = f"graphrun:{seg.nodes[0]}" if seg.is_source else f"graphrun:{seg.nodes[0]}#{i}"
                threads.append((seg, threading.Thread(target=target, args=args, name=label, daemon=True)))
        for _, t in threads:
            t.start()
        stopped_at = None
        while any(t.is_alive() for _, t in threads):
            for _, t in threads:
                t.join(WAIT / 5)
            if self.state.stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > STOP_GRACE:
                    self.stuck = [n for s, t in threads if t.is_alive() for n in s.nodes]
                    return


class FusedExecutor(ThreadedExecutor):
    """Threads only where they pay: at sources, queues, ``workers``, device changes, named threads
    and look-ahead; every other node is a direct call on the thread of its input."""

    name = "fused"


class PerNodeExecutor(ThreadedExecutor):
    """A thread per node (every edge a queue): the layout to compare against."""

    name = "per_node"

    @classmethod
    def segments(cls, graph: BuiltGraph) -> list[list[str]]:
        return per_node(graph)


class InlineExecutor(Executor):
    """Everything on the caller's thread: after each source frame, the segments after it take all
    that has reached them (a look-ahead segment holds its window), until every stream ends."""

    name = "inline"
    threaded = False

    @classmethod
    def segments(cls, graph: BuiltGraph) -> list[list[str]]:
        return partition(graph, one_thread=True)

    def run(self) -> None:
        state = self.state
        workers = [ws[0] for ws in self.workers]
        source, rest = workers[0], workers[1:]
        try:
            for w in workers:
                w.setup()
            state.thread_ready()
            frames = source.frames()
            ended: set = set()
            while not all(w in ended for w in rest) and not state.stop.is_set():
                if source not in ended and next(frames, StopIteration) is StopIteration:
                    ended.add(source)
                    source.send_end()
                for w in rest:
                    while w not in ended and (got := w.inbox.take(block=False)) is not WOULD_BLOCK:
                        if got is None:
                            w.end_of_stream()
                            w.send_end()
                            ended.add(w)
                        else:
                            w.accept(got)
                    if w.plan.window and w not in ended:
                        w.release_settled()
            if not rest and source not in ended:
                for _ in frames:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported with node and frame
            state.fail(source.name, -1, exc)
            if isinstance(exc, KeyboardInterrupt):
                raise


EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (FusedExecutor, PerNodeExecutor, InlineExecutor)}


def executor_class(name: str) -> type[Executor]:
    """The executor class of a kind's name (``fused``, ``per_node``, ``inline``)."""
    try:
        return EXECUTORS[name]
    except KeyError:
        raise GraphError(f"executor must be one of {', '.join(EXECUTORS)}, not '{name}'") from None

"""A worker: one thread's part of the plan (a segment, or one of a ``workers: N`` node's threads).

It runs its segment's nodes one frame index at a time with direct calls, in the plan's order;
values between them live in its slots (no queue, no lock). Inputs from other segments arrive
through the segment's :class:`Inbox` (aligned by frame index), outputs leave as packets. Per-frame
semantics are the same whatever the grouping: one packet per index on every output (empty when a
node produced nothing), back edges deliver the producer's value of the previous frame, stateful
nodes see ``ctx.skipped``, stats and trace per node.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Optional

from .admission import Admission
from .errors import NodeError
from .inbox import END, NOTHING, WAIT, WOULD_BLOCK, Aligned, Inbox, Packet, payload_bytes
from .plan import SegmentPlan
from .runner import NodeRunner
from .runstate import RunState


class ExportOrder:
    """The workers of one ``workers: N`` segment: they export their frames in the order taken,
    and the last one to end sends the end of stream."""

    def __init__(self, workers: int):
        self.turn = 0
        self.cond = threading.Condition()
        self.live = workers


class Worker:
    """One thread's runners, slot values (and CUDA events) and frames held for look-ahead.

    Args:
        plan: its segment's plan.
        runners: one per ``plan.steps``, this worker's own instances of the nodes.
        inboxes: every segment's inbox by segment index (None where a segment has none).
        order: shared by the workers of a ``workers: N`` segment (None for one worker).
    """

    def __init__(self, plan: SegmentPlan, runners: list[NodeRunner], state: RunState, inboxes: list,
                 order: Optional[ExportOrder] = None):
        self.plan, self.runners, self.state, self.order = plan, runners, state, order
        self.inbox: Optional[Inbox] = inboxes[plan.index]
        self.plain = not state.env.uses_cuda and not state.env.profile
        self.vals = [NOTHING] * plan.n_slots
        self.evs = None if self.plain else [None] * plan.n_slots
        self.pending: deque = deque()
        self.source_drops = 0                 # frames the source's admission refused (realtime)
        self._queue_slot = {q.key: q.slot for q in plan.queues}
        self._routes = [(e.slot, [(inboxes[r.segment].put_back if r.back else inboxes[r.segment].put, r.key)
                                  for r in e.routes]) for e in plan.exports]
        self._ends = [(inboxes[r.segment], r.key) for e in plan.exports for r in e.routes if not r.back]
        self._ahead = [(i, s.ahead) for i, s in enumerate(plan.steps) if s.ahead]
        # the hot loop's view of the steps: plain tuples bound once, read once per member and frame
        self._calls = [(r, tuple((i.port, i.slot, i.optional) for i in s.inputs),
                        tuple((o.port, o.slot) for o in s.outputs), s.terminal) for s, r in zip(plan.steps, runners)]

    @property
    def name(self) -> str:
        return self.plan.nodes[0]

    def setup(self) -> None:
        for r in self.runners:
            try:
                r.setup()
            except Exception as exc:
                raise NodeError(r.name, -1, exc) from exc

    # -- one frame -----------------------------------------------------------------------------
    def step(self, index: int, pts: float, start: int, only: Optional[frozenset] = None) -> None:
        """Run members ``start..`` (those in ``only`` if given) for one frame index."""
        vals, evs, tracker = self.vals, self.evs, self.state.tracker
        calls = self._calls
        members = calls[start:] if only is None else [calls[i] for i in sorted(only) if i >= start]
        for r, inputs, outputs, terminal in members:
            args = {}
            missing = False
            for port, slot, optional in inputs:
                v = vals[slot]
                if v is NOTHING:
                    missing = missing or not optional
                    v = None
                args[port] = v
            if missing:
                r.skip(index)
                for _, slot in outputs:
                    vals[slot] = NOTHING
            else:
                events = None if evs is None else {port: evs[slot] for port, slot, _ in inputs}
                try:
                    out, ev = r.step(index, pts, args, events)
                except Exception as exc:
                    raise NodeError(r.name, index, exc) from exc
                if out:
                    for port, slot in outputs:
                        v = out.get(port)
                        vals[slot] = NOTHING if v is None else v
                else:
                    for _, slot in outputs:
                        vals[slot] = NOTHING
                if evs is not None:
                    for _, slot in outputs:
                        evs[slot] = ev
            if terminal:
                tracker.terminal_done(index)

    def export(self, index: int, pts: float, t0: float) -> None:
        vals, evs = self.vals, self.evs
        for slot, routes in self._routes:
            value = vals[slot]
            pkt = Packet(index, pts, value, evs[slot] if evs is not None else None, t0, payload_bytes(value))
            for put, key in routes:
                put(key, pkt)
        for c in self.plan.copies:
            vals[c.dst] = vals[c.src]

    def send_end(self) -> None:
        for inbox, key in self._ends:
            inbox.put(key, END)

    def _clear(self) -> None:
        vals = self.vals
        for s in self.plan.forward_slots:
            vals[s] = NOTHING

    def _write(self, i: int, out: dict, ev) -> None:
        vals, evs = self.vals, self.evs
        for o in self.plan.steps[i].outputs:
            v = out.get(o.port)
            vals[o.slot] = NOTHING if v is None else v
            if evs is not None:
                evs[o.slot] = ev

    def flush(self) -> None:
        """End of stream: each member may emit what it holds, as one more frame after its last;
        only what it reaches inside the segment runs on it, then it leaves like any frame."""
        if self.state.stop.is_set():
            return
        for i, r in enumerate(self.runners):
            if i < self.plan.n_sources:
                continue
            try:
                out, ev, index = r.flush()
            except Exception as exc:
                raise NodeError(r.name, r.last_index if r.last_index is not None else -1, exc,
                                stage="end of stream") from exc
            if not out:
                continue
            self._clear()
            self._write(i, out, ev)
            pts = r.ctx.pts
            self.step(index, pts, i + 1, self.plan.steps[i].reach)
            self.export(index, pts, time.perf_counter())

    # -- a source's segment ----------------------------------------------------------------------
    def frames(self):
        """Pull, admit, step and export one frame per iteration (a generator: the inline executor
        interleaves it with the other segments); flush at the end of every stream."""
        state, plan = self.state, self.plan
        heads = self.runners[:plan.n_sources]
        lead = heads[0]
        fps = lead.node.fps() or 0.0
        admission = Admission(state.mode, state.realtime, state.tracker, state.stop,
                              getattr(lead.node, "live", False), shares_thread=len(plan.nodes) > plan.n_sources,
                              extra=state.lag_frames)
        live = list(range(plan.n_sources))
        index = -1
        tracker, stats = state.tracker, state.stats
        observer = state.env.observer
        while live and not state.stop.is_set() and not state.draining.is_set():
            got, pts = [], None
            t_pull = time.perf_counter()
            for h in list(live):
                try:
                    out, p = heads[h].pull()
                except StopIteration:
                    live.remove(h)
                    continue
                except Exception as exc:
                    raise NodeError(heads[h].name, index + 1, exc) from exc
                got.append((h, out))
                pts = p if pts is None else pts
            if not got:
                break
            index += 1
            if pts is None:
                pts = index / fps if fps else float(index)
            if not admission.admit(pts, time.perf_counter() - t_pull):
                lead.stats.drops += 1
                self.source_drops += 1
                tracker.refuse(index)
                continue
            t0 = time.perf_counter()
            tracker.admit(index, t0)
            self._clear()
            for h, out in got:
                r = heads[h]
                try:
                    r.check(out)
                except Exception as exc:
                    raise NodeError(r.name, index, exc) from exc
                r.stats.packets += 1
                r.ctx.index, r.ctx.pts, r.last_index = index, pts, index
                self._write(h, out, r.mark())
                if observer is not None:
                    observer.on_step(r.name, index, pts, r.stats.durations[-1], out)
                if plan.steps[h].terminal:
                    tracker.terminal_done(index)
            self.step(index, pts, plan.n_sources)
            self.export(index, pts, t0)
            admission.done()
            if not index & 4095:
                for s in stats.values():
                    s.compact()
            yield
        self.flush()

    # -- a segment fed by an inbox ---------------------------------------------------------------
    def accept(self, got: Aligned) -> None:
        """One aligned set from the inbox: run it, or (look-ahead) hold it until the frames after
        it have come, then run the oldest one held."""
        if not self.plan.window:
            self._run_set(got, ())
            return
        self.pending.append(got)
        self.release_settled()

    def release_settled(self) -> None:
        """Run the held frames whose look-ahead is settled: each of the next ``window`` frames has
        come or was dropped (realtime). A dropped frame never comes, and waiting for the one after
        it would add a frame period to the lag (MediaPipe's timestamp bound, by index)."""
        while self.pending and self._settled():
            self._run_set(self.pending.popleft(), self.pending)

    def _settled(self) -> bool:
        pending, window = self.pending, self.plan.window
        if len(pending) > window:
            return True
        first = pending[0].index
        came = {got.index for got in list(pending)[1:]}
        gone = self.state.tracker.was_dropped
        return all(first + j in came or gone(first + j) for j in range(1, window + 1))

    def end_of_stream(self) -> None:
        """Every input ended: run the frames still held (their look-ahead shortens), then flush."""
        while self.pending and not self.state.stop.is_set():
            self._run_set(self.pending.popleft(), self.pending)
        self.flush()

    def _run_set(self, got: Aligned, later) -> None:
        vals, evs = self.vals, self.evs
        first = next(iter(got.packets.values()))
        index, pts, t0 = first.index, first.pts, first.t0
        slot_of = self._queue_slot
        for key, pkt in got.packets.items():
            s = slot_of[key]
            vals[s] = pkt.value
            if evs is not None:
                evs[s] = pkt.event
        back_slot = self.plan.back_inputs
        for key, pkt in got.back.items():
            s = back_slot[key]
            vals[s] = NOTHING if pkt is None else pkt.value
            if evs is not None:
                evs[s] = None if pkt is None else pkt.event
        for i, ahead in self._ahead:
            self.runners[i].ctx.ahead = [{a.port: _value(g.packets[a.key]) for a in ahead} for g in later]
        self.step(index, pts, 0)
        if self.order is None:
            self.export(index, pts, t0)
        else:
            self._export_in_order(got.seq, index, pts, t0)

    def _export_in_order(self, seq: int, index: int, pts: float, t0: float) -> None:
        order = self.order
        with order.cond:
            while order.turn != seq and not self.state.stop.is_set():
                order.cond.wait(WAIT)
            try:
                self.export(index, pts, t0)
            finally:
                order.turn += 1
                order.cond.notify_all()

    # -- thread bodies ---------------------------------------------------------------------------
    def run_source(self) -> None:
        """Thread body of a segment headed by a source."""
        state = self.state
        try:
            self.setup()
            state.thread_ready()
            if state.wait_ready():
                for _ in self.frames():
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported with node and frame
            state.fail(self.name, -1, exc)
        finally:
            self.send_end()

    def run_inbox(self, first: bool = True) -> None:
        """Thread body of a segment fed by other segments (``first``: the worker that drains the
        look-ahead and flushes at the end)."""
        state = self.state
        try:
            self.setup()
            state.thread_ready()
            while (got := self.inbox.take()) is not None:
                if got is WOULD_BLOCK:              # poked: a frame the look-ahead waits for was dropped
                    self.release_settled()
                else:
                    self.accept(got)
            if first:
                self.end_of_stream()
        except BaseException as exc:  # noqa: BLE001
            state.fail(self.name, -1, exc)
        finally:
            last = True
            if self.order is not None:
                with self.order.cond:
                    self.order.live -= 1
                    last = self.order.live == 0
                    self.order.cond.notify_all()
            if last:
                self.send_end()


def _value(pkt: Packet):
    """A packet's value as a node sees it (None where the producer produced nothing)."""
    return None if pkt.value is NOTHING else pkt.value

"""Executors: run a built graph's segments on threads (``fused``, ``per_node``) or on the caller's thread (``inline``).

A :class:`Segment` runs its nodes one frame index at a time with direct calls, in topological
order; values between its nodes live in a flat list of slots (no queue, no lock). Its inputs
from other segments arrive through one :class:`Inbox` (aligned by frame index), its outputs to
other segments leave as packets. Per-frame semantics are the same whatever the grouping: one
packet per index on every output (empty when a node produced nothing), back edges deliver the
producer's value of the previous frame, stateful nodes see ``ctx.skipped``, stats and trace per node.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Optional

from .admission import Admission
from .errors import NodeError
from .graph import BuiltGraph
from .inbox import END, NOTHING, WAIT, WOULD_BLOCK, Inbox, Packet, payload_bytes
from .runner import NodeRunner
from .segments import partition

if TYPE_CHECKING:
    from .session import RunSession

STOP_GRACE = 1.0   # seconds a hard stop waits for threads before leaving them behind


class Segment:
    """Nodes that run on one thread (``workers: N``: N threads, the node alone)."""

    def __init__(self, sid: int, names: list[str], graph: BuiltGraph, session: "RunSession"):
        self.sid, self.session = sid, session
        heads = [n for n in names if graph.nodes[n].is_source]
        self.names = heads + [n for n in names if n not in heads]       # sources first (inline)
        self.n_heads = len(heads)
        first = graph.nodes[self.names[0]]
        alone = len(names) == 1 and session.executor_kind != "inline"      # one thread: one worker
        self.workers = first.spec.workers if alone else 1
        members = set(self.names)
        env = session.env
        self.runner_sets = [[NodeRunner(graph.nodes[n], env, session.stats[n],
                                        n if self.workers == 1 else f"{n}#{w}") for n in self.names]
                            for w in range(self.workers)]
        self.plain = not env.uses_cuda and not env.profile
        terminals = set(graph.terminals())

        # slots: 0 is always NOTHING (unconnected optional inputs); one per connected output of a
        # member, per input fed from another segment, per back edge.
        self.n_slots = 1
        out_slot: dict = {}
        self.ext: dict = {}            # inbox key (node, port) -> slot, forward inputs from other segments
        self.back_ext: dict = {}       # inbox key -> slot, back edges from other segments
        self.copy_back: list = []      # (src slot, dst slot): same-segment back edges, after each step
        self.plan: list = []           # per member: (inputs [(port, slot, optional)], outputs [(port, slot)], terminal)
        for n in self.names:
            b = graph.nodes[n]
            for port in b.out_edges:
                out_slot[(n, port)] = self._new_slot()
        for n in self.names:
            b = graph.nodes[n]
            ins = []
            for port, inp in b.cls.inputs.items():
                e = b.in_edges.get(port)
                if e is None:
                    slot = 0
                elif e.back and e.src in members:
                    slot = self._new_slot()
                    self.copy_back.append((out_slot[(e.src, e.src_port)], slot))
                elif e.back:
                    slot = self.back_ext[(n, port)] = self._new_slot()
                elif e.src in members:
                    slot = out_slot[(e.src, e.src_port)]
                else:
                    slot = self.ext[(n, port)] = self._new_slot()
                ins.append((port, slot, inp.optional or e is None or e.back))
            outs = [(port, out_slot[(n, port)]) for port in b.out_edges]
            self.plan.append((ins, outs, n in terminals))
        self.forward_slots = [s for _, outs, _ in self.plan for _, s in outs] + list(self.ext.values())
        # look-ahead: members that see their inputs from other segments ``window`` frames ahead
        self.window = max(graph.nodes[n].window for n in self.names)
        self.ahead_ports = [(i, [(port, key) for key in self.ext if key[0] == n for port in [key[1]]])
                            for i, n in enumerate(self.names) if graph.nodes[n].window > 0]
        # what each member's flush reaches inside the segment (only those run on a flushed packet)
        self.reach = [self._downstream(graph, i) for i in range(len(self.names))]
        self._out_slot = out_slot
        self.exports: list = []        # (slot, [(segment, key, back)]), filled by connect()
        self.inbox: Optional[Inbox] = None
        self.emit_turn = 0
        self.emit_cond = threading.Condition()
        self.live_workers = self.workers

    def _new_slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def _downstream(self, graph: BuiltGraph, i: int) -> set:
        reach, names = {i}, self.names
        for j in range(i + 1, len(names)):
            b = graph.nodes[names[j]]
            if any(not e.back and e.src in {names[k] for k in reach} for e in b.in_edges.values()):
                reach.add(j)
        return reach

    @property
    def is_source(self) -> bool:
        return self.n_heads > 0

    def runners(self) -> list[NodeRunner]:
        return [r for rs in self.runner_sets for r in rs]

    # -- wiring between segments ---------------------------------------------------------------
    def make_inbox(self, graph: BuiltGraph, session: "RunSession") -> None:
        if not self.ext and not self.back_ext:
            return
        queues = {}
        for (n, port) in self.ext:
            e = graph.nodes[n].in_edges[port]
            policy = e.policy
            if policy is None:
                leaky = session.mode == "realtime" and (e.src, e.dst) not in session.loop_edges
                policy = "drop_oldest" if leaky else "block"
            if session.executor_kind == "inline" and policy == "block":
                queues[(n, port)] = (float("inf"), policy)    # one thread: a full queue would never empty
            else:
                queues[(n, port)] = (e.capacity or graph.spec.capacity, policy)
        stats, tracker = session.stats, session.tracker

        def on_drop(key, index):
            stats[key[0]].drops += 1
            tracker.drop(index)

        def on_depth(key, depth):
            stats[key[0]].sample_queue(depth)

        ms = session.realtime.get("deadline_ms") if session.mode == "realtime" else None
        max_bytes = None if session.executor_kind == "inline" else int(graph.spec.queue_mb * 2**20)
        self.inbox = Inbox(queues, list(self.back_ext), session.stop, on_drop, on_depth, ms / 1e3 if ms else None,
                           max_bytes=max_bytes)

    def connect(self, graph: BuiltGraph, seg_of: dict, segments: list) -> None:
        """Route this segment's outputs that other segments consume to their inboxes."""
        targets: dict = {}
        for n in self.names:
            for port, edges in graph.nodes[n].out_edges.items():
                for e in edges:
                    other = segments[seg_of[e.dst]]
                    if other is self and e.dst in self.names:
                        continue
                    targets.setdefault(self._out_slot[(n, port)], []).append((other, (e.dst, e.dst_port), e.back))
        self.exports = list(targets.items())

    # -- one frame -----------------------------------------------------------------------------
    def step(self, index, pts, t0, vals, evs, runners, start: int, only: Optional[set] = None) -> None:
        """Run members ``start..`` (those in ``only`` if given) for one frame index."""
        tracker = self.session.tracker
        plain = self.plain
        plan = self.plan
        members = range(start, len(plan)) if only is None else sorted(i for i in only if i >= start)
        for i in members:
            ins, outs, terminal = plan[i]
            r = runners[i]
            args = {}
            missing = False
            for port, slot, optional in ins:
                v = vals[slot]
                if v is NOTHING:
                    missing = missing or not optional
                    v = None
                args[port] = v
            if missing:
                r.skip(index)
                for _, slot in outs:
                    vals[slot] = NOTHING
            else:
                events = None if plain else {port: evs[slot] for port, slot, _ in ins}
                try:
                    out, ev = r.step(index, pts, args, events)
                except Exception as exc:
                    raise NodeError(r.name, index, exc) from exc
                for port, slot in outs:
                    v = out.get(port, NOTHING) if out else NOTHING
                    vals[slot] = NOTHING if v is None else v
                    if evs is not None:
                        evs[slot] = ev
            if terminal:
                tracker.terminal_done(index)

    def export(self, index, pts, t0, vals, evs) -> None:
        for slot, targets in self.exports:
            value = vals[slot]
            pkt = Packet(index, pts, value, evs[slot] if evs is not None else None, t0, payload_bytes(value))
            for seg, key, back in targets:
                if back:
                    seg.inbox.put_back(key, pkt)
                else:
                    seg.inbox.put(key, pkt)
        for src, dst in self.copy_back:
            vals[dst] = vals[src]

    def send_end(self) -> None:
        for _, targets in self.exports:
            for seg, key, back in targets:
                if not back:
                    seg.inbox.put(key, END)

    def flush(self, runners, vals, evs) -> None:
        """End of stream: each member may emit what it holds, as one more frame after its last;
        only what it reaches inside the segment runs on it, then it leaves like any frame."""
        if self.session.stop.is_set():
            return
        for i, r in enumerate(runners):
            if self.is_source and i < self.n_heads:
                continue
            try:
                out, ev, index = r.flush()
            except Exception as exc:
                raise NodeError(r.name, r.last_index if r.last_index is not None else -1, exc,
                                stage="end of stream") from exc
            if not out:
                continue
            for s in self.forward_slots:
                vals[s] = NOTHING
            for port, slot in self.plan[i][1]:
                v = out.get(port)
                vals[slot] = NOTHING if v is None else v
                if evs is not None:
                    evs[slot] = ev
            pts, t0 = r.ctx.pts, time.perf_counter()
            self.step(index, pts, t0, vals, evs, runners, i + 1, self.reach[i])
            self.export(index, pts, t0, vals, evs)

    # -- thread bodies ---------------------------------------------------------------------------
    def lane(self, worker: int = 0) -> "_Lane":
        """The per-thread state of one worker: its runners, slot values and pending frames."""
        return _Lane(self.runner_sets[worker], self.n_slots, self.plain)

    def setup(self, lane: "_Lane") -> None:
        for r in lane.runners:
            try:
                r.setup()
            except Exception as exc:
                raise NodeError(r.name, -1, exc) from exc

    def source_frames(self, lane: "_Lane"):
        """Pull, admit, step and export one frame per iteration (a generator: the inline executor
        interleaves it with the other segments); flush at the end of every stream."""
        session = self.session
        heads = lane.runners[:self.n_heads]
        lead = heads[0]
        fps = lead.node.fps() or 0.0
        admission = Admission(session.mode, session.realtime, session.tracker, session.stop,
                              getattr(lead.node, "live", False), shares_thread=len(self.names) > self.n_heads,
                              extra=session.lag_frames)
        live = list(range(self.n_heads))
        index, vals, evs = -1, lane.vals, lane.evs
        while live and not session.stop.is_set() and not session.draining.is_set():
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
                session.source_drops += 1
                session.tracker.refuse(index)
                continue
            t0 = time.perf_counter()
            session.tracker.admit(index, t0)
            for s in self.forward_slots:
                vals[s] = NOTHING
            for h, out in got:
                r = heads[h]
                try:
                    r.check(out)
                except Exception as exc:
                    raise NodeError(r.name, index, exc) from exc
                r.stats.packets += 1
                r.ctx.index, r.ctx.pts, r.last_index = index, pts, index
                ev = r.mark()
                for port, slot in self.plan[h][1]:
                    v = out.get(port)
                    vals[slot] = NOTHING if v is None else v
                    if evs is not None:
                        evs[slot] = ev
                if session.env.observer is not None:
                    session.env.observer.on_step(r.name, index, pts, r.stats.durations[-1], out)
                if self.plan[h][2]:
                    session.tracker.terminal_done(index)
            self.step(index, pts, t0, vals, evs, lane.runners, self.n_heads)
            self.export(index, pts, t0, vals, evs)
            admission.done()
            if not index & 4095:
                for stats in session.stats.values():
                    stats.compact()
            yield
        self.flush(lane.runners, vals, evs)

    def accept(self, lane: "_Lane", got) -> None:
        """One aligned set from the inbox: run it, or (look-ahead) hold it until the frames after
        it have come, then run the oldest one held."""
        if not self.window:
            self._run_set(lane, got, ())
            return
        lane.pending.append(got)
        self.release_settled(lane)

    def release_settled(self, lane: "_Lane") -> None:
        """Run the held frames whose look-ahead is settled: each of the next ``window`` frames has
        come or was dropped (realtime). A dropped frame never comes, and waiting for the one after
        it would add a frame period to the lag (MediaPipe's timestamp bound, by index)."""
        while lane.pending and self._settled(lane.pending):
            self._run_set(lane, lane.pending.popleft(), lane.pending)

    def _settled(self, pending) -> bool:
        if len(pending) > self.window:
            return True
        first = _index_of(pending[0])
        came = {_index_of(got) for got in list(pending)[1:]}
        gone = self.session.tracker.was_dropped
        return all(first + j in came or gone(first + j) for j in range(1, self.window + 1))

    def end_of_stream(self, lane: "_Lane") -> None:
        """Every input ended: run the frames still held (their look-ahead shortens), then flush."""
        while lane.pending and not self.session.stop.is_set():
            self._run_set(lane, lane.pending.popleft(), lane.pending)
        self.flush(lane.runners, lane.vals, lane.evs)

    def _run_set(self, lane: "_Lane", got, later) -> None:
        seq, pkts, back = got
        vals, evs = lane.vals, lane.evs
        first = next(iter(pkts.values()))
        index, pts, t0 = first.index, first.pts, first.t0
        for key, pkt in pkts.items():
            s = self.ext[key]
            vals[s] = pkt.value
            if evs is not None:
                evs[s] = pkt.event
        for key, pkt in back.items():
            s = self.back_ext[key]
            vals[s] = NOTHING if pkt is None else pkt.value
            if evs is not None:
                evs[s] = None if pkt is None else pkt.event
        for i, ports in self.ahead_ports:
            lane.runners[i].ctx.ahead = [{port: (None if p[key].value is NOTHING else p[key].value)
                                          for port, key in ports} for _, p, _ in later]
        self.step(index, pts, t0, vals, evs, lane.runners, 0)
        if self.workers == 1:
            self.export(index, pts, t0, vals, evs)
        else:
            self._export_in_order(seq, index, pts, t0, vals, evs)

    def run_sources(self) -> None:
        """Thread body of a segment headed by a source."""
        lane = self.lane()
        try:
            self.setup(lane)
            self.session.thread_ready()
            if self.session.wait_ready():
                for _ in self.source_frames(lane):
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported with node and frame
            self.session.fail(self.names[0], -1, exc)
        finally:
            self.send_end()

    def run_inbox(self, worker: int) -> None:
        """Thread body of a segment fed by other segments (one per worker)."""
        lane = self.lane(worker)
        try:
            self.setup(lane)
            self.session.thread_ready()
            while (got := self.inbox.take()) is not None:
                if got is WOULD_BLOCK:              # poked: a frame the look-ahead waits for was dropped
                    self.release_settled(lane)
                else:
                    self.accept(lane, got)
            if worker == 0:
                self.end_of_stream(lane)
        except BaseException as exc:  # noqa: BLE001
            self.session.fail(self.names[0], -1, exc)
        finally:
            with self.emit_cond:
                self.live_workers -= 1
                last = self.live_workers == 0
                self.emit_cond.notify_all()
            if last:
                self.send_end()

    def _export_in_order(self, seq, index, pts, t0, vals, evs) -> None:
        with self.emit_cond:
            while self.emit_turn != seq and not self.session.stop.is_set():
                self.emit_cond.wait(WAIT)
            try:
                self.export(index, pts, t0, vals, evs)
            finally:
                self.emit_turn += 1
                self.emit_cond.notify_all()

    def threads(self) -> list[threading.Thread]:
        if self.is_source:
            return [threading.Thread(target=self.run_sources, name=f"graphrun:{self.names[0]}", daemon=True)]
        return [threading.Thread(target=self.run_inbox, args=(w,), name=f"graphrun:{self.names[0]}#{w}", daemon=True)
                for w in range(self.workers)]


def _index_of(got) -> int:
    """The frame index of an aligned set taken from an inbox."""
    return next(iter(got[1].values())).index


class _Lane:
    """One worker's state: its runners, the slot values (and CUDA events), frames held for look-ahead."""

    def __init__(self, runners: list, n_slots: int, plain: bool):
        self.runners = runners
        self.vals = [NOTHING] * n_slots
        self.evs = None if plain else [None] * n_slots
        self.pending: deque = deque()


class Executor:
    """Runs a graph's segments: each on its own thread(s), or (``inline``) all of them in turn on
    the caller's thread, the source's segment pulling one frame and the others taking what it sent."""

    def __init__(self, graph: BuiltGraph, session: "RunSession", kind: str):
        self.kind = kind
        groups = partition(graph, kind)
        self.segments = [Segment(i, names, graph, session) for i, names in enumerate(groups)]
        seg_of = {n: s.sid for s in self.segments for n in s.names}
        for s in self.segments:
            s.make_inbox(graph, session)
        for s in self.segments:
            s.connect(graph, seg_of, self.segments)
        self.session = session
        self.stuck: list[str] = []     # nodes whose thread did not end after a hard stop

    def n_threads(self) -> int:
        return 1 if self.kind == "inline" else sum(s.workers for s in self.segments)

    def runners(self) -> dict[str, list[NodeRunner]]:
        """Every runner by node name, in topological order."""
        out: dict[str, list[NodeRunner]] = {}
        for s in self.segments:
            for rs in s.runner_sets:
                for r in rs:
                    out.setdefault(r.name, []).append(r)
        return out

    def run(self) -> None:
        if self.kind == "inline":
            self._run_inline()
            return
        threads = [(s, t) for s in self.segments for t in s.threads()]
        for _, t in threads:
            t.start()
        stopped_at = None
        while any(t.is_alive() for _, t in threads):
            for _, t in threads:
                t.join(WAIT / 5)
            if self.session.stop.is_set():
                stopped_at = stopped_at or time.monotonic()
                if time.monotonic() - stopped_at > STOP_GRACE:
                    self.stuck = [n for s, t in threads if t.is_alive() for n in s.names]
                    return

    def _run_inline(self) -> None:
        """Every segment on this thread: after each source frame, the segments after it take all
        that has reached them (a look-ahead segment holds its window), until every stream ends."""
        session = self.session
        lanes = [s.lane() for s in self.segments]
        source, rest = self.segments[0], list(zip(self.segments[1:], lanes[1:]))
        try:
            for s, lane in zip(self.segments, lanes):
                s.setup(lane)
            session.thread_ready()
            frames = source.source_frames(lanes[0])
            ended: set = set()
            while not all(s.sid in ended for s, _ in rest) and not session.stop.is_set():
                if source.sid not in ended and next(frames, StopIteration) is StopIteration:
                    ended.add(source.sid)
                    source.send_end()
                for s, lane in rest:
                    while s.sid not in ended and (got := s.inbox.take(block=False)) is not WOULD_BLOCK:
                        if got is None:
                            s.end_of_stream(lane)
                            s.send_end()
                            ended.add(s.sid)
                        else:
                            s.accept(lane, got)
                    if s.window and s.sid not in ended:
                        s.release_settled(lane)
            if not rest and source.sid not in ended:
                for _ in frames:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported with node and frame
            session.fail(self.segments[0].names[0], -1, exc)
            if isinstance(exc, KeyboardInterrupt):
                raise

"""Run statistics: per-node timings, queue occupancy and drops, per-frame latency, Chrome traces."""
from __future__ import annotations

import json
import threading
import time
from array import array
from typing import Optional

import numpy as np

SAMPLES_KEPT = 100_000    # per series: beyond this, every other sample is dropped (memory stays bounded)


def _pct(values, q: float) -> Optional[float]:
    return float(np.percentile(np.frombuffer(values, dtype=np.float64), q)) if len(values) else None


def decimate(samples: array) -> tuple[float, int]:
    """Drop every other sample, in place (the writers keep their reference): the sum and count
    of what was dropped, so totals and means stay exact; percentiles come from what is kept."""
    dropped = samples[1::2]
    del samples[1::2]
    return float(sum(dropped)), len(dropped)


class NodeStats:
    """Counters of one node, written only by its own worker threads (plus a lock for several workers)."""

    def __init__(self, name: str):
        self.name = name
        self.durations = array("d")      # seconds per process call
        self.packets = 0
        self.empty = 0                   # indices where the node emitted nothing
        self.drops = 0                   # packets dropped at this node (leaky queue, deadline, misalignment)
        self.errors = 0                  # skipped frames (on_error: skip)
        self.queue_sum = 0
        self.queue_samples = 0
        self.queue_max = 0
        self.queue_now = 0               # the latest depth sampled (a viewer's queue-fill series)
        self.lock = threading.Lock()
        self._dropped_sum, self._dropped_n = 0.0, 0     # durations decimated away (see ``compact``)

    def compact(self) -> None:
        """Keep the durations bounded on long or live runs."""
        if len(self.durations) > SAMPLES_KEPT:
            s, n = decimate(self.durations)
            self._dropped_sum += s
            self._dropped_n += n

    def sample_queue(self, depth: int) -> None:
        self.queue_sum += depth
        self.queue_samples += 1
        self.queue_now = depth
        if depth > self.queue_max:
            self.queue_max = depth

    def summary(self) -> dict:
        d = self.durations
        ms = lambda v: None if v is None else round(v * 1e3, 3)  # noqa: E731
        total, count = float(sum(d)) + self._dropped_sum, len(d) + self._dropped_n
        return {
            "packets": self.packets, "empty": self.empty, "drops": self.drops, "errors": self.errors,
            "total_s": round(total, 4),
            "mean_ms": ms(total / count if count else None),
            "p50_ms": ms(_pct(d, 50)), "p99_ms": ms(_pct(d, 99)),
            "queue_mean": round(self.queue_sum / self.queue_samples, 2) if self.queue_samples else 0.0,
            "queue_max": self.queue_max,
        }


class FrameTracker:
    """Follows each admitted frame index until every terminal node has seen it or it is dropped.

    Gives the realtime flow limiter its in-flight count and the run its end-to-end latencies.
    """

    def __init__(self, n_terminals: int, on_done=None):
        self.n_terminals = max(1, n_terminals)
        self.lock = threading.Lock()
        self.admitted: dict[int, float] = {}
        self.seen: dict[int, int] = {}
        self.latencies = array("d")
        self.completed = 0
        self.dropped = 0
        self.on_done = on_done
        self.gone: set = set()           # indices dropped anywhere (recent ones): look-ahead stops waiting
        self.on_gone = None              # called after each such index (wakes the look-ahead threads)
        self.on_latency = None           # called with (index, seconds) as each frame completes (an Observer)

    def admit(self, index: int, t0: float) -> None:
        with self.lock:
            self.admitted.setdefault(index, t0)

    def in_flight(self) -> int:
        return len(self.admitted)

    def terminal_done(self, index: int) -> None:
        now = time.perf_counter()
        with self.lock:
            if index not in self.admitted:
                return
            n = self.seen.get(index, 0) + 1
            if n < self.n_terminals:
                self.seen[index] = n
                return
            self.seen.pop(index, None)
            t0 = self.admitted.pop(index)
            self.latencies.append(now - t0)
            self.completed += 1
            if len(self.latencies) > SAMPLES_KEPT:
                decimate(self.latencies)
        if self.on_latency is not None:
            self.on_latency(index, now - t0)
        if self.on_done:
            self.on_done()

    def drop(self, index: int) -> None:
        """An admitted frame was dropped inside the graph (leaky queue, deadline)."""
        with self.lock:
            self._note_gone(index)
            if self.admitted.pop(index, None) is None:
                return
            self.seen.pop(index, None)
            self.dropped += 1
        if self.on_gone:
            self.on_gone()
        if self.on_done:
            self.on_done()

    def refuse(self, index: int) -> None:
        """A frame the source dropped before admitting it (realtime flow limiter)."""
        with self.lock:
            self._note_gone(index)
        if self.on_gone:
            self.on_gone()

    def was_dropped(self, index: int) -> bool:
        """Whether frame ``index`` was dropped (at the source or inside): it will never arrive."""
        return index in self.gone

    def _note_gone(self, index: int) -> None:
        self.gone.add(index)
        if len(self.gone) > 4096:                       # keep the recent ones: look-ahead windows are short
            floor = max(self.gone) - 2048
            self.gone = {i for i in self.gone if i >= floor}

    def summary(self) -> dict:
        lat = np.frombuffer(self.latencies, dtype=np.float64) * 1e3
        if len(lat) == 0:
            return {"p50_ms": None, "p99_ms": None, "mean_ms": None, "jitter_ms": None, "max_ms": None}
        # jitter as in RFC 3550: mean absolute change of latency between consecutive frames
        gaps = np.abs(np.diff(lat))
        return {"p50_ms": round(float(np.percentile(lat, 50)), 3), "p99_ms": round(float(np.percentile(lat, 99)), 3),
                "mean_ms": round(float(lat.mean()), 3), "max_ms": round(float(lat.max()), 3),
                "jitter_ms": round(float(gaps.mean()), 3) if len(gaps) else 0.0}


class Trace:
    """Collects one complete event per node invocation; written as Chrome/Perfetto trace JSON."""

    def __init__(self):
        self.events: list = []
        self.t0 = time.perf_counter()
        self.tids: dict[str, int] = {}

    def tid(self, track: str) -> int:
        return self.tids.setdefault(track, len(self.tids) + 1)

    def add(self, track: str, name: str, start: float, end: float, index: int) -> None:
        # list.append is atomic under the GIL: no lock needed on the hot path
        self.events.append((self.tid(track), name, start, end, index))

    def write(self, path: str) -> None:
        out = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "graphrun"}}]
        for track, tid in self.tids.items():
            out.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": track}})
            out.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": {"sort_index": tid}})
        for tid, name, start, end, index in self.events:
            out.append({"name": name, "cat": "node", "ph": "X", "pid": 1, "tid": tid,
                        "ts": round((start - self.t0) * 1e6, 3), "dur": round((end - start) * 1e6, 3),
                        "args": {"index": index}})
        with open(path, "w") as f:
            json.dump({"traceEvents": out, "displayTimeUnit": "ms"}, f)


def format_summary(stats: dict) -> str:
    """The end-of-run table: one row per node, then the run's totals."""
    rows = [("node", "kind", "device", "thread", "packets", "mean ms", "p50 ms", "p99 ms", "total s", "queue",
             "drops", "errors")]
    for name, s in stats["nodes"].items():
        f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        thread = f"T{s.get('thread', 0)}" + (f"x{s['workers']}" if s.get("workers", 1) > 1 else "")
        rows.append((name, s["kind"], s["device"], thread, str(s["packets"]), f(s["mean_ms"]), f(s["p50_ms"]),
                     f(s["p99_ms"]), f"{s['total_s']:.2f}", f"{s['queue_mean']:.1f}/{s['queue_max']}", str(s["drops"]),
                     str(s.get("errors", 0))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lat = stats["latency"]
    lat_txt = ("-" if lat["p50_ms"] is None else
               f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, jitter {lat['jitter_ms']:.1f} ms")
    lines.append("-" * len(lines[0]))
    errors = sum(s.get("errors", 0) for s in stats["nodes"].values())
    lag = ""
    if stats.get("lag_frames"):
        ms = f" = {stats['lag_ms']:.0f} ms" if stats.get("lag_ms") else ""
        lag = f" (incl. a look-ahead lag of {stats['lag_frames']} frames{ms})"
    setup = stats.get("setup_s")
    after = (f", {stats['stream_fps']:.1f} fps after {setup:.2f} s of setup"
             if setup and setup >= 0.05 and stats.get("stream_fps") else "")
    lines.append(f"{stats['mode']}: {stats['frames']} frames in {stats['seconds']:.2f} s = {stats['fps']:.1f} fps"
                 f"{after} ({stats.get('executor', 'fused')} executor, {stats.get('threads', '?')} threads); "
                 f"latency {lat_txt}{lag}; dropped {stats['drops']} frames"
                 + (f" ({stats['source_drops']} at the source)" if stats.get("source_drops") else "")
                 + (f"; {errors} frame(s) skipped on errors (on_error: skip)" if errors else "")
                 + ("; INTERRUPTED" if stats.get("interrupted") else ""))
    return "\n".join(lines)

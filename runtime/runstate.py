"""What a run hands its executor: the narrow context the worker threads share with the session.

The session owns the run (signals, setup barrier, errors, finish/close, the summary) and the
counters below it; the executor owns its threads and its own counters (``source_drops``). Neither
imports the other's module: the session builds a :class:`RunState` and passes it in.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from .runner import RunEnv
from .stats import FrameTracker


@dataclass
class RunState:
    """Args:
        mode, realtime: the run's mode and the graph's ``realtime:`` settings (pacing, deadline).
        env: what every node runner shares (results, log, trace, device hand-over).
        stats: per-node counters (name -> NodeStats), written by the workers.
        tracker: each admitted frame until every sink has seen it (latency, in-flight count, drops).
        stop: hard stop (an error, a second signal): every wait returns.
        draining: soft stop: the sources end, the graph drains.
        lag_frames: frames the look-ahead delays the outputs (the realtime admission allows as many more).
        fail: ``fail(node, index, exc)``: a thread failed; the run stops.
        thread_ready: a thread has set up its nodes.
        wait_ready: block until every node is set up (False if the run stopped meanwhile).
    """

    mode: str
    realtime: dict
    env: RunEnv
    stats: dict
    tracker: FrameTracker
    stop: threading.Event
    draining: threading.Event
    lag_frames: int
    fail: Callable[[str, int, BaseException], None]
    thread_ready: Callable[[], None]
    wait_ready: Callable[[], bool]

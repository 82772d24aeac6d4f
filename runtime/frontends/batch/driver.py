"""The batch's driver loop: feed an executor, gather rows, show one progress bar, stop on Ctrl-C.

Executor-agnostic (``local.LocalExecutor``, ``ray_executor.RayExecutor``: ``slots``, ``submit``,
``poll``, ``running``, ``interrupt``, ``close``). At most ``slots`` inputs run at once, so
inputs that have not started are never queued anywhere but here. Stopping, by Ctrl-C or SIGTERM:
the first starts no new input and lets the running ones finish; the second asks them to stop
(their graphs drain; marked partial); the third abandons them (workers killed, marked partial).
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections import deque

from .job import failed_row

POLL_S = 0.2
STOP_MESSAGES = {
    1: "graphrun batch: stopping: no new inputs; {n} running input(s) finish (Ctrl-C again to stop them now)",
    2: "graphrun batch: stopping the running inputs; their outputs are partial (Ctrl-C again to abandon them)",
    3: "graphrun batch: abandoning the running inputs",
}


class Stops:
    """Counts stop requests (SIGINT, SIGTERM) while the batch runs; installed on the main thread only."""

    def __init__(self):
        self.count = 0
        self._old: dict = {}

    def request(self, *_):
        self.count += 1

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self.request)
        return self

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


class Progress:
    """One bar for the batch: inputs done (ok / failed), frames per second over all inputs."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.ok = self.failed = self.frames = 0
        self.t0 = time.perf_counter()
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, unit="input", desc="batch", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5)

    def add(self, row: dict) -> None:
        if row["status"] == "ok":
            self.ok += 1
        else:
            self.failed += 1
        self.frames += row.get("frames") or 0
        if self.bar is not None:
            fps = self.frames / max(1e-9, time.perf_counter() - self.t0)
            self.bar.set_postfix_str(f"ok {self.ok}, failed {self.failed}, {fps:.1f} frames/s", refresh=False)
            self.bar.update(1)

    def write(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def drive(executor, jobs: list, progress: Progress, log_failures: bool = True) -> tuple[list, bool]:
    """Run ``jobs`` on a started executor; returns (rows in completion order, whether it was stopped)."""
    pending = deque(jobs)
    rows: list = []
    announced = 0
    with Stops() as stops:
        while pending or executor.running():
            level = min(stops.count, 3)
            if level > announced:
                announced = level
                progress.write(STOP_MESSAGES[level].format(n=len(executor.running())))
                if level == 2:
                    executor.interrupt()
                if level == 3:
                    executor.close(force=True)
                    for job in executor.running():
                        rows.append(failed_row(job, "interrupted: abandoned; the outputs are partial", "partial"))
                    break
            while pending and not stops.count and len(executor.running()) < executor.slots:
                executor.submit(pending.popleft())
            for job, row in executor.poll(POLL_S):
                rows.append(row)
                progress.add(row)
                if log_failures and row["status"] != "ok":
                    progress.write(f"{row['status']}: {job.item.label}: {row['error']}")
            if stops.count and not executor.running():
                if not announced:            # the signal came while the last running input ended
                    progress.write(STOP_MESSAGES[1].format(n=0))
                break
    return rows, stops.count > 0

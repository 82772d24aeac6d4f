"""``--executor local``: a pool of warm worker processes on this machine, one graph run at a time each.

Workers are forked from a fork server that imported graphrun's node library (torch, OpenCV,
PyAV, ...) once, so N workers cost one import, made while the driver checks the graph; the server
never touched CUDA, so workers may use it (a plain fork of the driver could not). Workers then
run input after input, so start-up and model loads (``runtime.cache.shared``) are paid once per
worker, not per input. Each run's library pools get ``threads`` threads (cores // jobs), so the
workers share the cores without oversubscription. Where there is no fork server (Windows),
workers are spawned and import on their own.

Workers and the fork server die with the driver, even a driver killed with -9 (``orphans``).
Workers sit in their own process group: a Ctrl-C in the terminal reaches only the driver, which
decides (first: no new inputs, running ones finish; second: it forwards SIGINT, the running
graphs drain and are marked partial; third: the workers are killed). A worker that dies (a crash
in a native library, out of memory) breaks the pool: it is restarted, and the inputs that were
running are tried once more before they are reported as failed.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .job import Job, failed_row, one_line, run_job
from .orphans import die_with_parent, driver_named, watch_driver

CRASH_RETRIES = 1
CRASHED = "the worker process died while running this input (a crash in a native library, or out of memory)"


def _warm_worker(threads: int, driver: int) -> None:
    """Initializer of a worker process: own process group, dies with the driver, SIGINT left to
    the run, imports done (already, when forked from the fork server)."""
    os.setpgrp()
    die_with_parent(os.getppid())
    watch_driver(driver)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # between runs; a run installs its own handler
    import cv2
    import torch

    import graphrun.nodes  # noqa: F401 - registers the node kinds (imports torch, OpenCV, ...)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _ready() -> int:
    return os.getpid()


def _context():
    """A fork server preloading the node library where the platform has one, else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["graphrun.runtime.frontends.batch.orphans", "graphrun.nodes"])
    return ctx


class LocalExecutor:
    """Runs jobs in ``jobs`` warm worker processes (see the module doc)."""

    name = "local"

    def __init__(self, jobs: int, threads: int):
        self.slots = max(1, jobs)
        self.threads = max(1, threads)
        self._pool = None
        self._running: dict[Future, Job] = {}
        self._crashes: dict[str, int] = {}

    def start(self) -> None:
        """Spawn the workers; they warm up (imports) while the driver goes on."""
        with driver_named() as driver:      # the fork server, started now, dies with this process
            self._pool = ProcessPoolExecutor(self.slots, mp_context=_context(), initializer=_warm_worker,
                                             initargs=(self.threads, driver))
            for _ in range(self.slots):
                self._pool.submit(_ready)

    def submit(self, job: Job) -> None:
        self._running[self._pool.submit(run_job, job)] = job

    def running(self) -> list:
        return list(self._running.values())

    def poll(self, timeout: float) -> list:
        """(job, row) of the runs that ended within ``timeout`` seconds."""
        if not self._running:
            return []
        done, _ = wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
        out, crashed = [], []
        for fut in done:
            job = self._running.pop(fut)
            try:
                out.append((job, fut.result()))
            except BrokenProcessPool:
                crashed.append(job)
            except Exception as exc:  # noqa: BLE001 - e.g. a job that cannot be pickled
                out.append((job, failed_row(job, one_line(exc))))
        if crashed:
            out += self._recover(crashed)
        return out

    def _recover(self, crashed: list) -> list:
        """A worker died: every running input of the broken pool is tried again in a new pool
        (at most ``CRASH_RETRIES`` times each), the others are reported failed."""
        rest = list(self._running.items())
        self._running.clear()
        wait([f for f, _ in rest], timeout=10)
        out = []
        for fut, job in rest:
            try:
                out.append((job, fut.result(timeout=0)))
            except Exception:  # noqa: BLE001 - broken with the pool
                crashed.append(job)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.start()
        for job in crashed:
            tries = self._crashes.get(job.name, 0) + 1
            self._crashes[job.name] = tries
            if tries > CRASH_RETRIES:
                out.append((job, failed_row(job, CRASHED)))
            else:
                self.submit(job)
        return out

    def interrupt(self) -> None:
        """Ask the running graphs to stop: they drain and their inputs are marked partial."""
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            try:
                os.kill(proc.pid, signal.SIGINT)
            except OSError:
                pass

    def close(self, force: bool = False) -> None:
        if self._pool is None:
            return
        if force:
            for proc in list(getattr(self._pool, "_processes", {}).values()):
                proc.kill()
        self._pool.shutdown(wait=not force, cancel_futures=True)
        self._pool = None

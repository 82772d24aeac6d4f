"""``--executor ray``: one Ray task per input, on a Ray cluster or a local Ray started for the batch.

Each task reserves the graph's ``resources:`` (``{cpus: 1, gpus: 0}`` by default; ``--set
resources.gpus=1``) and runs ``job.run_job``, whose summary row is the task's return value: the
driver gathers the rows itself, so ``index.html`` is complete even when workers cannot see each
other's folders. Ray reuses its worker processes across tasks, so imports and the models of
``runtime.cache.shared`` stay warm; a task whose worker or node is lost is retried by Ray
(``max_retries``). Outputs go to ``--out``, which every worker must see (a shared filesystem or a
mounted bucket). With no ``address`` and no Ray already connected, a local Ray is started for the
batch and shut down after it; ``address="auto"`` joins the cluster this machine is part of.
"""
from __future__ import annotations

import logging
import os

from ...errors import UserInputError
from .job import Job, failed_row, one_line, run_job
from .ray_connect import bounded_init, probe

MAX_RETRIES = 2     # Ray retries of a task whose worker process or node died


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserInputError("--executor ray needs Ray: pip install 'graphrun[ray]' "
                             "(from a checkout: pip install -e '.[ray]')") from None
    return ray


class RayExecutor:
    """Runs jobs as Ray tasks (see the module doc)."""

    name = "ray"

    def __init__(self, address: str | None, cpus: float, gpus: float, jobs: int | None = None,
                 local_cpus: int | None = None):
        self.address = address
        self.cpus, self.gpus = cpus, gpus
        self.jobs = jobs
        self.local_cpus = local_cpus or os.cpu_count() or 1
        self.slots = 1
        self._ray = None
        self._owned = False
        self._remote = None
        self._running: dict = {}

    def start(self) -> None:
        if self.address:
            probe(self.address)             # a refused port: one line at once
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            if self.address:
                bounded_init(ray, where, address=self.address, logging_level=logging.WARNING)
            else:                           # a local Ray starts on this thread (not from a helper one)
                try:
                    ray.init(num_cpus=self.local_cpus, include_dashboard=False, logging_level=logging.WARNING)
                except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
                    raise UserInputError(f"cannot start {where}: {one_line(exc)}") from None
            self._owned = True
        total = ray.cluster_resources()
        fits = int(total.get("CPU", 1) // self.cpus) if self.cpus else 1
        if self.gpus:
            if not total.get("GPU"):
                raise UserInputError(f"the graph asks for {self.gpus} GPU(s) per run (resources.gpus) but the Ray "
                                     f"cluster has none")
            fits = min(fits, int(total["GPU"] // self.gpus))
        if fits < 1:
            raise UserInputError(f"no Ray node can hold one run: it asks for {self.cpus} CPU(s) (resources.cpus), "
                                 f"the cluster has {total.get('CPU', 0)}")
        self.slots = self.jobs or fits
        self._remote = ray.remote(run_job).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=MAX_RETRIES,
                                                   name="graphrun-batch")

    def submit(self, job: Job) -> None:
        self._running[self._remote.remote(job)] = job

    def running(self) -> list:
        return list(self._running.values())

    def poll(self, timeout: float) -> list:
        """(job, row) of the tasks that ended within ``timeout`` seconds."""
        if not self._running:
            return []
        ray = self._ray
        refs = list(self._running)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        out = []
        for ref in ready:
            job = self._running.pop(ref)
            try:
                out.append((job, ray.get(ref)))
            except ray.exceptions.TaskCancelledError:
                out.append((job, failed_row(job, "interrupted: stopped; the outputs are partial", status="partial")))
            except ray.exceptions.RayError as exc:
                out.append((job, failed_row(job, f"the Ray task failed after {MAX_RETRIES} retries: "
                                                 f"{one_line(exc)}")))
        return out

    def interrupt(self) -> None:
        """Ask the running tasks to stop (a KeyboardInterrupt in each): their inputs are marked partial."""
        for ref in list(self._running):
            self._ray.cancel(ref)

    def close(self, force: bool = False) -> None:
        if self._ray is None:
            return
        if force:
            for ref in list(self._running):
                self._ray.cancel(ref, force=True)
        if self._owned:
            self._ray.shutdown()
        self._ray = None

"""Many inputs, one graph: ``graphrun batch`` and ``graphrun.batch``.

    import graphrun
    result = graphrun.batch("stabilize_maskrcnn", ["videos/"], out="runs/videos", executor="local", jobs=2)
    result.failed            # [{"name": "broken", "error": "node 'source' failed at setup: ...", ...}]
    result.index             # runs/videos/index.html: one row per input, sortable, a plot across inputs

Each input is one run of the graph with the input bound to a graph variable (``${input}``, or
``input_var``), written to ``out/<input stem>/``. One failing input never stops the others;
``DONE.json`` in a folder marks a complete run (``resume=True`` skips those). Modules: ``inputs``
(what the arguments name), ``plan`` (folders, markers, ``batch.json``), ``job`` (one input -> one
run -> one row), ``local`` and ``ray_executor`` (where runs happen), ``driver`` (the loop,
progress, Ctrl-C), ``index`` (summary.csv, summary.json, index.html).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import GraphError, UserInputError
from ...options import RunOptions
from .inputs import BatchInput, discover
from .job import Job, base_row, flagged, row_of_resumed
from .plan import assign_folders, known_folders, read_done, read_manifest, write_manifest

EXECUTORS = ("local", "ray")
PROBE = "/graphrun-batch-probe/input.mp4"
SUMMARY_WARNINGS = 4     # warnings per input in the console summary (summary.csv and index.html have all)

__all__ = ["EXECUTORS", "BatchInput", "BatchResult", "batch", "discover"]


@dataclass
class BatchResult:
    """What a batch gives back: one row per input (in input order), where its files are, and how it ended."""

    out: Path
    rows: list
    interrupted: bool = False
    seconds: float = 0.0
    executor: str = "local"
    files: dict = field(default_factory=dict)

    def _with(self, status: str) -> list:
        return [r for r in self.rows if r["status"] == status]

    @property
    def ok(self) -> list:
        return self._with("ok")

    @property
    def failed(self) -> list:
        return self._with("failed")

    @property
    def partial(self) -> list:
        return self._with("partial")

    @property
    def resumed(self) -> list:
        """Inputs skipped because an earlier run completed them."""
        return [r for r in self.rows if r.get("resumed")]

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def exit_code(self) -> int:
        """0: every input succeeded; 1: some failed; 130: the batch was stopped."""
        if self.interrupted:
            return 130
        return 0 if len(self.ok) == len(self.rows) else 1

    def summary(self) -> str:
        frames = sum(r["frames"] for r in self.rows if not r.get("resumed"))
        fps = frames / self.seconds if self.seconds else 0.0
        not_run = len(self._with("pending"))
        lines = [f"batch: {len(self.ok)} ok ({len(self.resumed)} from an earlier run), {len(self.failed)} failed, "
                 f"{len(self.partial)} partial" + (f", {not_run} not run" if not_run else "")
                 + f" in {self.seconds:.1f} s ({frames} frames, {fps:.1f} frames/s, executor {self.executor})"]
        for r in self.rows:
            if r["status"] in ("failed", "partial"):
                lines.append(f"  {r['status']}: {r['name']} ({r['input']}): {r['error']}")
        doubtful = [r for r in self.rows if r["status"] == "ok" and flagged(r)]
        if doubtful:
            lines.append(f"  {len(doubtful)} flagged (a warning limits trust in its figures; ranked last in the index)")
        for r in self.rows:
            if r.get("warnings") and r["status"] != "pending":
                lines.append(f"  {'flagged' if flagged(r) else 'warnings'}: {r['name']}:")
                lines += [f"    {w}" for w in r["warnings"][:SUMMARY_WARNINGS]]
                if len(r["warnings"]) > SUMMARY_WARNINGS:
                    lines.append(f"    ... {len(r['warnings']) - SUMMARY_WARNINGS} more in summary.csv")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"BatchResult({str(self.out)!r}: {len(self.ok)} ok, {len(self.failed)} failed, "
                f"{len(self.partial)} partial{', interrupted' if self.interrupted else ''})")


def batch(graph: Any, inputs: str | Path | Iterable, out: str | Path, *, executor: str = "local",
          jobs: int | None = None, address: str | None = None, set: list | None = None,
          input_var: str = "input", resume: bool = False, progress: bool = False,
          run_executor: str | None = None, mode: str | None = None, device: str | None = None) -> BatchResult:
    """Run ``graph`` once per input; write ``out/<input>/`` per input and ``out/index.html``,
    ``summary.csv``, ``summary.json`` for all.

    Args:
        graph: a graph file, a shipped graph's name, or a ``graphrun.Graph`` (its nodes must be
            registered kinds, importable by the workers: a Node class defined in ``__main__`` is not).
        inputs: files, folders of videos, globs, list files (.txt, .csv with per-input ``--set``
            columns) or values, or ``BatchInput`` objects (see ``graphrun.runtime.frontends.batch.inputs``).
        out: the batch folder; on Ray it must be visible to every worker (shared filesystem, bucket).
        executor: ``local`` (a pool of warm worker processes) or ``ray`` (Ray tasks).
        jobs: runs at once (local default: the cores divided by the graph's ``resources.cpus``;
            ray default: as many as the cluster holds).
        address: the Ray cluster (``auto``, ``ray://host:10001``, ``host:6379``); none: a local
            Ray is started for the batch (or the one this process is connected to is used).
        set: ``--set`` overrides for every run.
        input_var: the graph variable each input is bound to (the graph reads ``${input}``).
        resume: skip inputs whose folder holds ``DONE.json`` from an earlier run.
        progress: show one progress bar for the batch.
        run_executor, mode, device: the graph's own executor (fused, per_node, inline), mode, device.

    Raises GraphError or UserInputError (bad graph, no inputs, graph not reading ``${input_var}``)
    before anything runs; a failing input is a row with ``status: failed``, never an exception.
    """
    from ...run import find_graph, prepare, read_spec
    from ...spec import check_choice
    from ..api import Graph
    from . import index

    t0 = time.perf_counter()
    check_choice(executor, EXECUTORS, "batch executor")
    if not input_var.isidentifier():
        raise UserInputError(f"--input-var '{input_var}' must be a variable name (letters, digits, _)")
    if jobs is not None and jobs < 1:
        raise UserInputError(f"--jobs must be at least 1, not {jobs}")
    sets = tuple(str(s) for s in (set or ()))
    graph_ref = graph.spec.copy() if isinstance(graph, Graph) else str(find_graph(graph).resolve())
    spec = prepare(read_spec(graph_ref), list(sets))
    out = Path(out).expanduser().resolve()
    items = [i for i in _inputs(inputs) if not _inside(i.value, out)]   # not the outputs of an earlier batch
    if not items:
        raise UserInputError(f"no inputs outside the batch folder {out}")
    manifest = read_manifest(out)
    if resume and manifest.get("graph") not in (None, spec.name):
        raise UserInputError(f"{out} holds a batch of graph '{manifest['graph']}', not '{spec.name}': use another "
                             f"--out, or drop --resume to run every input again there")
    folders = assign_folders(items, known_folders(manifest))
    cpus, gpus = spec.resources.get("cpus", 1), spec.resources.get("gpus", 0)
    cores = os.cpu_count() or 1
    if executor == "local":
        jobs = jobs or max(1, int(cores // max(1.0, cpus)))
        threads = max(1, cores // jobs)           # N workers share the cores
    else:
        threads = max(1, int(cpus))               # what the task reserved
    run_opts = RunOptions(executor=run_executor, mode=mode, device=device)
    all_jobs = [Job(graph=graph_ref, item=i, input_var=input_var, folder=str(out / folders[i.key]),
                    name=folders[i.key], sets=sets, threads=threads, options=run_opts) for i in items]
    resumed = _completed(all_jobs) if resume else {}
    to_run = [job for job in all_jobs if job.name not in resumed]
    info = {"graph": spec.name, "graph_file": graph_ref if isinstance(graph_ref, str) else "(built in Python)",
            "input_var": input_var, "sets": list(sets), "executor": executor}

    def prepare_out() -> None:                    # once the graph is known to be good
        try:
            out.mkdir(parents=True, exist_ok=True)
            write_manifest(out, info, items, folders, manifest)
        except OSError as exc:
            raise UserInputError(f"cannot write the batch folder --out {out}: {exc.strerror or exc}") from None

    runner = None
    if to_run and executor == "local":
        from .local import LocalExecutor
        runner = LocalExecutor(min(jobs, len(to_run)), threads)
    elif to_run:
        from .ray_executor import RayExecutor
        runner = RayExecutor(address, cpus, gpus, jobs)
    rows, interrupted = _run(runner, to_run, lambda: check_uses_input(spec, input_var), prepare_out,
                             progress=progress, total=len(all_jobs), done=len(resumed))
    by_name = {**resumed, **{r["name"]: r for r in rows}}
    rows = [by_name.get(job.name) or _not_run(job) for job in all_jobs]
    seconds = round(time.perf_counter() - t0, 3)
    info.update(seconds=seconds, finished=time.strftime("%Y-%m-%dT%H:%M:%S"), interrupted=interrupted)
    files = index.write_all(out, rows, info)
    return BatchResult(out, rows, interrupted, seconds, executor, files)


def _run(runner, jobs: list, check, prepare_out, progress: bool, total: int, done: int) -> tuple[list, bool]:
    """Start the runner while ``check()`` runs on a thread (workers warm up meanwhile), then
    ``prepare_out()`` and drive the jobs; returns (rows, whether the batch was stopped)."""
    from .driver import Progress, drive

    bar = None
    try:
        checking = _Background(check)
        if runner is not None:
            runner.start()
        checking.result()
        prepare_out()
        bar = Progress(total, done, progress and bool(jobs))
        rows, interrupted = drive(runner, jobs, bar) if runner is not None else ([], False)
    except BaseException:
        if runner is not None:
            runner.close(force=True)       # a bad graph, no Ray, a Ctrl-C while starting: nothing to wait for
        raise
    finally:
        if bar is not None:
            bar.close()
    if runner is not None:
        runner.close(force=interrupted)
    return rows, interrupted


def _completed(jobs: list) -> dict:
    """name -> row of the jobs whose folder holds ``DONE.json`` from an earlier run."""
    rows = {}
    for job in jobs:
        row = read_done(Path(job.folder))
        if row is not None:
            rows[job.name] = row_of_resumed(job, row)
    return rows


def _not_run(job: Job) -> dict:
    return {**base_row(job), "status": "pending", "error": "not run: the batch was stopped", "worker": ""}


class _Background:
    """A call on a thread of its own; ``result()`` waits for it and raises what it raised."""

    def __init__(self, fn, *args):
        self._outcome: dict = {}

        def target():
            try:
                self._outcome["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self._outcome["error"] = exc

        self._thread = threading.Thread(target=target, name="graphrun:batch-check", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome.get("value")


def _inputs(inputs) -> list:
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = list(inputs)
    given = [i for i in inputs if isinstance(i, BatchInput)]
    found = discover([str(i) for i in inputs if not isinstance(i, BatchInput)]) if len(given) < len(inputs) else []
    unique = {i.key: i for i in [*found, *given]}
    return sorted(unique.values(), key=lambda i: i.key)


def _inside(value: str, folder: Path) -> bool:
    path = Path(value)
    return path.is_absolute() and path.is_relative_to(folder)


def check_uses_input(spec, input_var: str) -> None:
    """Build the graph with a probe value for ``${input_var}`` (every link and parameter is checked)
    and raise GraphError unless some node's parameter received it."""
    from ...run import build_spec
    from ...spec import apply_overrides

    probe = spec.copy()
    probe.vars[input_var] = PROBE
    apply_overrides(probe, [])                    # the graph's when: items for the bound variable
    built = build_spec(probe)
    if PROBE not in repr([ns.params for ns in built.spec.nodes.values()]):
        others = ", ".join(f"${{{v}}}" for v in spec.vars if v != input_var) or "none"
        raise GraphError(f"graph '{spec.name}' does not use ${{{input_var}}}: no parameter reads it, so every input "
                         f"would give the same run; make the source read it (path: \"${{{input_var}}}\") or name the "
                         f"variable the graph reads with --input-var NAME (its variables: {others})")

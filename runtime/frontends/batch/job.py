"""One input of a batch: one run of the graph through the Python API, one summary row.

``run_job`` runs in a worker (a local pool process or a Ray task) and never raises for a problem
of its input: a failure becomes the row's one-line ``error`` and ``FAILED.txt``; a complete run
writes its row to ``DONE.json``, last and atomically, which is what ``--resume`` looks for.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import GraphError, Interrupted, NodeError, UserInputError
from ...options import RunOptions
from .inputs import BatchInput
from .plan import DONE, FAILED, write_atomic

STATUSES = ("ok", "failed", "partial")   # a row's status; a skipped input keeps its earlier "ok" row


@dataclass(frozen=True)
class Job:
    """What a worker needs to run one input (picklable: it crosses process and machine borders).

    Args:
        graph: the graph file's absolute path, or a GraphSpec (a graph built in Python).
        item: the input (its value and its own ``--set`` items).
        input_var: the graph variable the input is bound to (``${input}``).
        folder: the input's output folder (absolute), ``name`` its name under the batch folder.
        sets: the batch's ``--set`` items (before the input's own).
        threads: torch/OpenCV threads for the run, unless the graph sets ``threads:`` itself.
        options: how the graph runs (``executor``, ``mode``, ``device``); ``out`` and ``log`` are the job's.
    """

    graph: Any
    item: BatchInput
    input_var: str
    folder: str
    name: str
    sets: tuple = ()
    threads: int = 1
    options: RunOptions = RunOptions()

    def overrides(self) -> list:
        return [*self.sets, *self.item.sets, f"vars.{self.input_var}={self.item.value}"]


def base_row(job: Job) -> dict:
    """A row with the input's identity and nothing measured yet."""
    return {"name": job.name, "input": job.item.value, "sets": list(job.item.sets), "status": "failed",
            "error": "", "frames": 0, "fps": 0.0, "seconds": 0.0, "setup_s": None, "wall_s": 0.0, "metrics": {},
            "headline": {}, "report": "", "warnings": [], "alerts": [],
            "worker": f"{socket.gethostname()}:{os.getpid()}", "finished": ""}


def run_job(job: Job) -> dict:
    """Run the graph on one input; return its summary row (status ``ok``, ``failed`` or ``partial``)."""
    from ..api import load

    t0 = time.perf_counter()
    folder = Path(job.folder)
    row = base_row(job)
    caught: list = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for marker in (DONE, FAILED):
            (folder / marker).unlink(missing_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph = load(job.graph, set=job.overrides())
            if not graph.spec.threads:
                graph.spec.threads = {"torch": job.threads, "opencv": job.threads}
            result = graph.run_with(job.options.but(out=str(folder), log=lambda msg: None))
        stats = result.stats
        results = stats.get("results", {})
        row.update(frames=stats["frames"], fps=stats["fps"], seconds=stats["seconds"], setup_s=stats["setup_s"],
                   metrics=published_metrics(results), headline=stats.get("headline") or {},
                   alerts=run_alerts(results))
        if (folder / "report.html").is_file():
            row["report"] = f"{job.name}/report.html"
        if stats.get("interrupted"):
            row.update(status="partial", error=f"interrupted: the outputs hold the first {stats['frames']} frames")
        else:
            row["status"] = "ok"
    except (KeyboardInterrupt, Interrupted):
        row.update(status="partial", error="interrupted: stopped at once; the outputs are partial")
    except Exception as exc:  # noqa: BLE001 - any failure of this input is reported in its row
        row["error"] = one_line(exc)
    row["warnings"] = [a["message"] for a in row["alerts"]] + library_warnings(caught)
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_marker(folder, row)
    return row


def _write_marker(folder: Path, row: dict) -> None:
    try:
        if row["status"] == "ok":
            write_atomic(folder / DONE, json.dumps(row, indent=1))
        else:
            (folder / FAILED).write_text(f"{row['input']}: {row['error']}\n")
    except OSError as exc:
        if row["status"] == "ok":
            row.update(status="failed", error=f"cannot write {folder / DONE}: {exc}")


def one_line(exc: BaseException) -> str:
    """An error as one line: the message of graphrun's own errors, else ``Type: message``."""
    own = isinstance(exc, (GraphError, NodeError, UserInputError))
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    line = first if own and first else f"{type(exc).__name__}: {first}".rstrip(": ")
    return line if len(line) <= 500 else line[:497] + "..."


def published_metrics(results: dict) -> dict:
    """What the graph published, as flat numbers by their path: ``{"metrics.stabilized.warp_iou": 0.93,
    "objective": 0.93}`` (text, None and NaN are left out)."""
    flat: dict = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[prefix] = round(float(value), 6) if isinstance(value, float) else value

    for key, value in results.items():
        walk(str(key), value)
    return flat


def run_alerts(results: dict) -> list:
    """The run's warnings as its nodes raised them (``results["alerts"]``: code, node, message,
    value, limit, limits_trust; see ``nodes/common/alerts.py``)."""
    kept = results.get("alerts")
    return [dict(a) for a in kept if isinstance(a, dict) and a.get("message")] if isinstance(kept, list) else []


def library_warnings(caught: list) -> list:
    """Python ``UserWarning``s of the libraries a run used (text only: they do not flag the input)."""
    return list(dict.fromkeys(f"warning: {w.message}" for w in caught if issubclass(w.category, UserWarning)))


def flagged(row: dict) -> bool:
    """Whether an input's figures are doubtful: one of its warnings limits trust."""
    return any(a.get("limits_trust", True) for a in row.get("alerts") or [])


def failed_row(job: Job, error: str, status: str = "failed") -> dict:
    """The row of an input whose worker never returned one (a crashed process, a lost Ray task)."""
    row = base_row(job)
    row.update(status=status, error=error, worker="", finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _write_marker(Path(job.folder), row)
    return row


def row_of_resumed(job: Job, row: dict) -> dict:
    """A row read back from ``DONE.json`` for a skipped input, named as this batch names it."""
    return {**base_row(job), **row, "name": job.name, "resumed": True}

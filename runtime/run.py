"""Run a graph from Python: ``run_graph("graphs/stabilize.yaml", overrides=["ema.alpha=0.7"])``."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from . import spec as spec_mod
from .errors import GraphError
from .graph import Graph, build
from .scheduler import Scheduler
from .stats import format_summary


@dataclass
class RunResult:
    stats: dict
    graph: Graph

    @property
    def summary(self) -> str:
        return format_summary(self.stats)


def load_graph(source: Union[str, Path, dict, spec_mod.GraphSpec], overrides: Optional[list] = None,
               mode: Optional[str] = None, device: Optional[str] = None) -> Graph:
    """Parse (a path, a dict or a GraphSpec), apply ``--set`` overrides and build the graph."""
    if isinstance(source, spec_mod.GraphSpec):
        spec = source
    elif isinstance(source, dict):
        spec = spec_mod.from_dict(source)
    else:
        spec = spec_mod.load(source)
    spec_mod.apply_overrides(spec, overrides or [])
    spec_mod.substitute_vars(spec)
    if mode is not None:
        if mode not in spec_mod.MODES:
            raise GraphError(f"mode must be one of {', '.join(spec_mod.MODES)}, not '{mode}'")
        spec.mode = mode
    if device is not None:
        spec.device = device
    return build(spec)


def run_graph(source, overrides: Optional[list] = None, mode: Optional[str] = None, out_dir=None,
              device: Optional[str] = None, trace: Optional[str] = None, stats: Optional[str] = None,
              profile: Optional[str] = None, progress: bool = False, log=None, quiet: bool = False) -> RunResult:
    """Build and run a graph once. Raises GraphError (bad graph) or NodeError (a node failed).

    Args:
        out_dir: the run's output directory (nodes write there); ``FAILED.txt`` marks a failed run.
        trace: path of a Chrome/Perfetto trace (one track per node).
        stats: path of a JSON file with the run's figures.
        profile: path of a torch.profiler Chrome trace, one ``record_function`` range per node call.
    """
    graph = load_graph(source, overrides, mode, device)
    if out_dir is not None:
        out_dir = str(out_dir)
        os.makedirs(out_dir, exist_ok=True)
        failed = Path(out_dir) / "FAILED.txt"
        failed.unlink(missing_ok=True)
    sched = Scheduler(graph, out_dir=out_dir, trace=trace is not None, profile=profile, progress=progress, log=log)
    prof = None
    if profile:
        import torch
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        try:  # worker threads' ranges are recorded only with profile_all_threads (torch >= 2.6)
            config = torch._C._profiler._ExperimentalConfig(profile_all_threads=True)
            prof = torch.profiler.profile(activities=activities, experimental_config=config)
        except (TypeError, AttributeError):
            prof = torch.profiler.profile(activities=activities)
        prof.__enter__()
    try:
        result = sched.run()
    finally:
        if prof is not None:
            prof.__exit__(None, None, None)
            prof.export_chrome_trace(profile)
    if trace:
        sched.trace.write(trace)
    if sched.errors:
        err = sched.errors[0]
        if out_dir is not None:
            (Path(out_dir) / "FAILED.txt").write_text(f"{err}\n")
        raise err
    if stats:
        Path(stats).write_text(json.dumps(result, indent=2))
    return RunResult(result, graph)

"""Load a graph (path, shipped name, dict or spec) into a checked BuiltGraph, and run it once.

``graphrun.load`` / ``Graph.run`` are the documented Python API (``runtime/api.py``); these are the
engine-level steps they and the CLI share.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from . import registry
from . import spec as spec_mod
from .errors import GraphError, Interrupted
from .graph import BuiltGraph, build
from .outdir import OutputFolder, check_writable_file, graph_inputs, note_written, os_error, write_file
from .session import RunSession
from .stats import format_summary
from .subgraph import expand


@dataclass
class RunResult:
    """What a run gives back: ``stats`` (the summary's figures, as ``--stats`` writes them),
    ``results`` (what nodes published, e.g. the metrics), ``out`` (the output folder)."""

    stats: dict
    graph: BuiltGraph
    out: Optional[str] = None

    @property
    def results(self) -> dict:
        return self.stats.get("results", {})

    @property
    def summary(self) -> str:
        return format_summary(self.stats)

    def __repr__(self) -> str:
        s = self.stats
        return (f"RunResult({s['graph']!r}: {s['frames']} frames, {s['fps']} fps, {s['drops']} dropped, "
                f"results: {', '.join(self.results) or 'none'})")


def find_graph(ref: Union[str, Path]) -> Path:
    """A graph file: a path, or the name of a shipped graph (``stabilize`` -> graphs/stabilize.yaml)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if path.suffix == "" and path.parent == Path("."):
        for folder in (registry.shipped_graphs_dir(), registry.shipped_graphs_dir() / "subgraphs"):
            candidate = folder / f"{path.name}.yaml"
            if candidate.is_file():
                return candidate
        shipped = sorted(p.stem for p in registry.shipped_graphs_dir().glob("*.yaml"))
        raise GraphError(f"graph file not found: {ref} (shipped graphs: {', '.join(shipped)})")
    raise GraphError(f"graph file not found: {ref}")


def read_spec(source: Union[str, Path, dict, spec_mod.GraphSpec]) -> spec_mod.GraphSpec:
    """A GraphSpec from a path or shipped name, a dict (the YAML's structure) or a spec (copied)."""
    if isinstance(source, spec_mod.GraphSpec):
        return source.copy()
    if isinstance(source, dict):
        return spec_mod.from_dict(source)
    return spec_mod.load(find_graph(source))


def prepare(spec: spec_mod.GraphSpec, overrides: Optional[list] = None) -> spec_mod.GraphSpec:
    """Plugins loaded, ``--set`` overrides applied (in place): the spec as the user means it."""
    for ref in spec.plugins:
        registry.load_plugin(ref, spec.base_dir)
    spec_mod.apply_overrides(spec, overrides or [])
    return spec


def build_spec(spec: spec_mod.GraphSpec, mode: Optional[str] = None, device: Optional[str] = None,
               executor: Optional[str] = None, extend=None) -> BuiltGraph:
    """Variables filled, subgraphs expanded, every link checked (on a copy of ``spec``).
    ``extend(flat_spec)`` may add nodes first (``Graph.iterate``'s feeds and tap)."""
    spec = spec.copy()
    spec_mod.substitute_vars(spec)
    flat = expand(spec)
    if extend is not None:
        extend(flat)
    if mode is not None:
        flat.mode = spec_mod.check_choice(mode, spec_mod.MODES, "mode")
    if device is not None:
        flat.device = device
    if executor is not None:
        flat.executor = spec_mod.check_choice(executor, spec_mod.EXECUTORS, "executor")
    return build(flat)


def load_graph(source, overrides: Optional[list] = None, mode: Optional[str] = None,
               device: Optional[str] = None, executor: Optional[str] = None) -> BuiltGraph:
    """Parse, apply ``--set`` overrides, expand subgraphs and build the graph."""
    return build_spec(prepare(read_spec(source), overrides), mode, device, executor)


def run_built(graph: BuiltGraph, out_dir=None, mode: Optional[str] = None, executor: Optional[str] = None,
              trace: Optional[str] = None, stats: Optional[str] = None, profile: Optional[str] = None,
              progress: bool = False, log=None) -> RunResult:
    """Run a built graph once. Raises NodeError (a node failed) or Interrupted (stopped twice).

    Args:
        out_dir: the run's output directory (nodes write there); ``FAILED.txt`` marks a failed run.
        trace: path of a Chrome/Perfetto trace (one track per node).
        stats: path of a JSON file with the run's figures.
        profile: path of a torch.profiler Chrome trace, one ``record_function`` range per node call.
    """
    for path, what in ((trace, "--trace"), (stats, "--stats"), (profile, "--profile")):
        if path:
            check_writable_file(path, what)
    folder = OutputFolder(out_dir, graph_inputs(graph)) if out_dir is not None else None
    session = RunSession(graph, mode=mode, out_dir=str(folder.staging) if folder else None, executor=executor,
                         trace=trace is not None, profile=bool(profile), progress=progress, log=log,
                         out_display=str(out_dir) if out_dir is not None else None)
    if folder is not None:
        folder.open()
    try:
        prof = _start_profiler() if profile else None
        try:
            result = session.run()
        finally:
            if prof is not None:
                prof.__exit__(None, None, None)
                prof.export_chrome_trace(profile)
        if session.errors and folder is not None:
            folder.note_failure(f"{session.errors[0]}\nframes completed: {session.tracker.completed}")
    except BaseException as exc:    # Ctrl-C while outputs were finished, or a failure of the run itself
        if folder is not None:
            folder.note_failure(f"{exc!r}: the outputs are partial\nframes completed: {session.tracker.completed}",
                                keep=True)
        raise
    finally:
        if folder is not None:
            folder.close()
    if trace:
        try:
            session.env.trace.write(trace)
            note_written(trace)
        except OSError as exc:
            raise GraphError(f"--trace {os_error(exc, trace)}") from None
    if stats:
        write_file(stats, json.dumps(result, indent=2, default=str), "--stats")
    if session.errors:
        err = session.errors[0]
        if isinstance(err, Interrupted):
            err.stats, err.stuck = result, session.executor.stuck
        raise err
    return RunResult(result, graph, str(out_dir) if out_dir is not None else None)


def run_graph(source, overrides: Optional[list] = None, mode: Optional[str] = None, out_dir=None,
              device: Optional[str] = None, trace: Optional[str] = None, stats: Optional[str] = None,
              profile: Optional[str] = None, progress: bool = False, log=None, quiet: bool = False,
              executor: Optional[str] = None) -> RunResult:
    """Build and run a graph once (see :func:`load_graph` and :func:`run_built`)."""
    graph = load_graph(source, overrides, mode, device, executor)
    return run_built(graph, out_dir=out_dir, trace=trace, stats=stats, profile=profile, progress=progress, log=log)


def _start_profiler():
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
    return prof

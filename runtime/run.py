"""Load a graph (path, shipped name, dict or spec) into a checked BuiltGraph, and run it once.

:class:`Run` is the one lifecycle of a run (output folder, session, failure record, trace and
stats files); the CLI, ``Graph.run``/``Graph.iterate`` (``runtime/frontends/api.py``), batch
workers and tune all go through it, with a :class:`~graphrun.runtime.options.RunOptions`.
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
from .options import DEFAULTS, RunOptions
from .outdir import OutputFolder, check_writable_file, note_written, os_error, write_file
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
    def headline(self) -> dict:
        """The figures the graph declares its runs are compared by (``headline:``, see the README)."""
        return self.stats.get("headline", {})

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
        raise GraphError(f"graph file not found: {ref} (shipped graphs: {', '.join(registry.shipped_graphs())})")
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


class Run:
    """One run of a built graph, from opening its output folder to closing it: the lifecycle behind
    the CLI, ``Graph.run``, ``Graph.iterate``, batch workers and tune.

        with Run(graph, options) as run:
            run.execute()                 # on any thread; Graph.iterate consumes meanwhile
        result = run.result()             # raises the run's first error

    Leaving the ``with`` records a failure in the folder (``FAILED.txt``), closes it (the staging
    copy becomes the output folder), and writes the trace and stats files the options ask for.
    """

    def __init__(self, graph: BuiltGraph, options: RunOptions = DEFAULTS):
        self.graph, self.options = graph, options
        for path, what in ((options.trace, "--trace"), (options.stats, "--stats"), (options.profile, "--profile")):
            if path:
                check_writable_file(path, what)          # before the run, not after it
        inputs = [value for *_, value in graph.declared_inputs()]
        self.folder = OutputFolder(options.out, inputs) if options.out is not None else None
        self.session = RunSession(graph, options, staging=str(self.folder.staging) if self.folder else None)
        self.stats: Optional[dict] = None

    def __enter__(self) -> "Run":
        if self.folder is not None:
            self.folder.open()
        return self

    def execute(self) -> dict:
        """Run the graph to its end (or until stopped); returns the run's figures."""
        prof = _start_profiler() if self.options.profile else None
        try:
            try:
                self.stats = self.session.run()
            finally:
                if prof is not None:
                    prof.__exit__(None, None, None)
                    prof.export_chrome_trace(self.options.profile)
        except BaseException as exc:    # Ctrl-C while outputs were finished, or a failure of the run itself
            if self.folder is not None:
                self.folder.note_failure(f"{exc!r}: the outputs are partial\nframes completed: "
                                         f"{self.session.tracker.completed}", keep=True)
            raise
        return self.stats

    def __exit__(self, *exc) -> None:
        session, folder, options = self.session, self.folder, self.options
        if folder is not None:
            try:
                if session.errors:
                    folder.note_failure(f"{session.errors[0]}\nframes completed: {session.tracker.completed}")
            finally:
                folder.close()
        if self.stats is None:          # the run itself failed: its error is what the caller sees
            return
        if options.trace:
            try:
                session.env.trace.write(options.trace)
                note_written(options.trace)
            except OSError as err:
                raise GraphError(f"--trace {os_error(err, options.trace)}") from None
        if options.stats:
            write_file(options.stats, json.dumps(self.stats, indent=2, default=str), "--stats")

    def result(self) -> RunResult:
        """What the run gave back; raises its first error (NodeError, or Interrupted with the stats)."""
        session = self.session
        stats = self.stats if self.stats is not None else session.summary()
        if session.errors:
            err = session.errors[0]
            if isinstance(err, Interrupted):
                err.stats, err.stuck = stats, session.executor.stuck
            raise err
        return RunResult(stats, self.graph, self.options.out)


def run_built(graph: BuiltGraph, options: RunOptions = DEFAULTS) -> RunResult:
    """Run a built graph once (see :class:`Run`). Raises NodeError (a node failed) or Interrupted
    (stopped twice)."""
    with Run(graph, options) as run:
        run.execute()
    return run.result()


def load_built(source, options: RunOptions = DEFAULTS) -> BuiltGraph:
    """The graph ``source`` with the options' ``set``, ``mode``, ``device`` and ``executor`` applied, built."""
    return load_graph(source, list(options.set), options.mode, options.device, options.executor)


def run_graph(source, overrides: Optional[list] = None, out_dir=None, **options) -> RunResult:
    """Build and run a graph once: ``run_graph("stabilize", ["stab.lookahead=1"], "runs/x", mode="realtime")``;
    ``options`` are the fields of :class:`RunOptions` (``mode``, ``executor``, ``trace``, ...)."""
    opts = RunOptions(set=tuple(overrides or ()), out=out_dir, **options)
    return run_built(load_built(source, opts), opts)


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

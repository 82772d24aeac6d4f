"""The ``graphrun`` command.

    graphrun GRAPH [--set node.param=value ...] [--mode realtime] [--executor fused|per_node|inline] [--out DIR]
    graphrun launch "video_file path=a.mp4 ! preprocess resize=224 ! null_sink" [--print-yaml]
    graphrun batch GRAPH INPUT... --out DIR [--executor local|ray] [--jobs N] [--resume] [--set ...]
    graphrun list | inspect KIND | validate GRAPH | dot GRAPH | tune GRAPH --param node.p=lo:hi ...
    graphrun weights fetch KIND [--weights X] | weights list

GRAPH is a YAML file or the name of a shipped graph (``graphrun stabilize``).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .. import interrupts
from ..errors import GraphError, Interrupted, NodeError, UserInputError, without_errno
from ..outdir import closing_any, rescue_open_folders
from .tune import add_parser as add_tune_parser
from .tune import cmd_tune
from .weights import add_parser as add_weights_parser
from .weights import cmd_weights

if TYPE_CHECKING:                 # imported when used: --help and Ctrl-C at start stay fast
    from ..options import RunOptions

COMMANDS = ("run", "launch", "batch", "list", "inspect", "validate", "dot", "tune", "weights")
EXAMPLES = """examples:
  graphrun list                                           what runs by name, every node kind and subgraph
  graphrun stabilize --out runs/demo                      a shipped graph, by name
  graphrun stabilize --set stab.fuse.beta_fill=0.7 source.frames=60
                                                          parameters from the command line (into a subgraph too)
  graphrun graphs/pipeline.yaml --mode realtime           a graph file, paced, late frames dropped
  graphrun launch "synthetic_scene frames=30 ! bg_subtract ! null_sink"
                                                          a gst-launch-style pipeline
  graphrun batch stabilize_maskrcnn videos/ --out runs/videos
                                                          one run per video, ranked in runs/videos/index.html
  graphrun inspect stabilizer                             ports and parameters of a node kind or subgraph"""
STOPPED_AT_ONCE = -130      # main()'s code for a run stopped by a second signal (the process exits 130)


def _settings_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   nargs="+", help="override a node parameter (repeatable; value parsed as YAML); "
                                   "stab.fuse.beta_fill=0.7 reaches into a subgraph")
    p.add_argument("--mode", choices=("offline", "realtime"), help="override the graph's mode")
    p.add_argument("--device", help="override the graph's device (auto, cpu, cuda, cuda:N)")
    p.add_argument("--executor", choices=("fused", "per_node", "inline"),
                   help="fused: threads at queues, sources, workers, device changes (default); "
                        "per_node: a thread per node; inline: one thread")


def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph YAML file, or the name of a shipped graph (stabilize, davis, ...)")
    _settings_args(p)


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output directory (default runs/<graph name>)")
    p.add_argument("--trace", help="write a Chrome/Perfetto trace (one track per node) to this file")
    p.add_argument("--stats", help="write the run's figures as JSON to this file")
    p.add_argument("--profile", help="wrap the run in torch.profiler and write its Chrome trace here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--record", metavar="FILE.rrd", help="write a Rerun recording of the run: frames, masks, "
                   "metrics, node timings (the `view` extra)")
    p.add_argument("--view", nargs="?", const="auto", choices=("auto", "native", "web"),
                   help="watch the run live in Rerun: the native viewer where a display exists, else the web "
                        "viewer on 127.0.0.1 (its URL is printed)")


def parser() -> argparse.ArgumentParser:
    from graphrun import __version__
    ap = argparse.ArgumentParser(prog="graphrun", description="Run and inspect graphrun video graphs.",
                                 epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"graphrun {__version__}")
    ap.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a graph (default: graphrun GRAPH)")
    _graph_args(run)
    _output_args(run)
    launch = sub.add_parser("launch", help="run a gst-launch-style pipeline: \"a k=v ! b ! c\"")
    launch.add_argument("pipeline", nargs="+", help="elements separated by '!' (quote the whole description)")
    launch.add_argument("--print-yaml", action="store_true", help="print the pipeline as a graph file, do not run")
    _settings_args(launch)
    _output_args(launch)
    _batch_parser(sub)
    sub.add_parser("list", help="list the shipped graphs, every registered node kind and subgraph")
    ins = sub.add_parser("inspect", help="document a node kind or a subgraph (ports and parameters), or a "
                                         "whole graph (its nodes and threads)")
    ins.add_argument("kind")
    ins.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                     help="load a plugin first (a module name or a .py file)")
    val = sub.add_parser("validate", help="check a graph without running it")
    _graph_args(val)
    dot = sub.add_parser("dot", help="print the graph as Graphviz DOT (subgraphs as clusters)")
    _graph_args(dot)
    add_tune_parser(sub, _graph_args)
    add_weights_parser(sub)
    return ap


def _batch_parser(sub) -> None:
    b = sub.add_parser("batch", help="run a graph once per input (video files, folders, globs, a list)",
                       description="Run GRAPH once per input, each bound to the graph variable ${input} and written "
                                   "to OUT/<input stem>/; OUT/index.html ranks them all. Exit code: 0 all ok, "
                                   "1 some failed, 2 bad command line or graph, 130 stopped.")
    b.add_argument("graph", help="graph YAML file, or the name of a shipped graph")
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (the videos in them), globs ('clips/**/*.mp4'), or a list: .txt "
                        "(one per line) or .csv (columns input, and set or node.param for per-input --set values)")
    b.add_argument("--out", required=True, help="the batch folder: one folder per input, index.html, summary.csv")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE", nargs="+",
                   help="override a parameter for every run (as for graphrun GRAPH); resources.cpus=2 for Ray")
    b.add_argument("--input-var", default="input", metavar="NAME",
                   help="the graph variable each input is bound to (default input: the graph reads ${input})")
    b.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a pool of warm worker processes (default); ray: Ray tasks")
    b.add_argument("--jobs", type=int, metavar="N", help="runs at once (local default: one per core)")
    b.add_argument("--address", help="Ray cluster address (auto, host:6379, ray://host:10001); none: a local Ray")
    b.add_argument("--resume", action="store_true", help="skip inputs completed by an earlier run (their DONE.json)")
    b.add_argument("--graph-executor", dest="run_executor", choices=("fused", "per_node", "inline"),
                   help="the graph's own executor inside each run (default: the graph's, fused)")
    b.add_argument("--mode", choices=("offline", "realtime"), help="override the graph's mode")
    b.add_argument("--device", help="override the graph's device (auto, cpu, cuda, cuda:N)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        argv.insert(0, "run")
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    if hasattr(args, "overrides"):
        args.overrides = [o for group in args.overrides for o in group]
    try:
        return COMMAND_FUNCS[args.command](args)
    except (GraphError, UserInputError) as exc:
        if debug:
            traceback.print_exc()
        print(f"graphrun: error: {without_errno(str(exc))}", file=sys.stderr)
        return 2
    except NodeError as exc:
        if debug:
            traceback.print_exception(exc.cause)
        hint = "" if exc.is_user_error or debug else " (--debug for the traceback)"
        print(f"graphrun: error: {without_errno(str(exc))}{hint}", file=sys.stderr)
        return 2 if exc.is_user_error else 1
    except Interrupted as exc:
        print(f"graphrun: {exc}", file=sys.stderr)
        return STOPPED_AT_ONCE
    except BrokenPipeError:                     # graphrun list | head: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:                   # Ctrl-C before the run started (imports, model loading)
        print("graphrun: interrupted", file=sys.stderr)
        return 130


def run_options(args) -> RunOptions:
    """The run's options from the command line (``--set``, ``--mode``, ``--out``, ``--trace``, ...)."""
    from ..options import RunOptions
    return RunOptions(set=tuple(args.overrides), mode=args.mode, device=args.device, executor=args.executor,
                      out=getattr(args, "out", None), trace=getattr(args, "trace", None),
                      stats=getattr(args, "stats", None), profile=getattr(args, "profile", None),
                      progress=not getattr(args, "quiet", True))


def _run(graph, options, name: str, record: Optional[str] = None, view: Optional[str] = None) -> int:
    from ..run import run_built
    from ..stats import format_summary
    from .view import observing
    options = options.but(out=options.out or str(Path("runs") / name))
    with observing(record, view, log=_stderr) as (observer, viewer):
        result = run_built(graph, options.but(observer=observer))
    print(format_summary(result.stats))
    print(f"outputs: {options.out}" + (f"; trace: {options.trace}" if options.trace else "")
          + (f"; profile: {options.profile}" if options.profile else ""))
    if record:
        print(f"recording: {record} (open it with: rerun {record})")
    if viewer is not None:
        viewer.wait(_stderr)
    return 130 if result.stats.get("interrupted") else 0


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def cmd_run(args) -> int:
    from ..run import load_built
    options = run_options(args)
    graph = load_built(args.graph, options)
    return _run(graph, options, graph.spec.name, args.record, args.view)


def cmd_launch(args) -> int:
    from .launch import parse
    g = parse(" ".join(args.pipeline))
    if args.overrides:
        g.set(*args.overrides)
    if args.print_yaml:
        print(g.to_yaml(), end="")
        return 0
    options = run_options(args)
    return _run(g.build(options.mode, options.device, options.executor), options, "launch", args.record, args.view)


def cmd_batch(args) -> int:
    from .batch import batch
    if args.address and args.executor != "ray":
        raise UserInputError("--address is for --executor ray")
    result = batch(args.graph, args.inputs, args.out, executor=args.executor, jobs=args.jobs, address=args.address,
                   set=args.overrides, input_var=args.input_var, resume=args.resume, progress=not args.quiet,
                   run_executor=args.run_executor, mode=args.mode, device=args.device)
    print(result.summary())
    print(f"index: {result.index}")
    return result.exit_code


def cmd_list(args) -> int:
    from ..registry import all_nodes, all_subgraphs, shipped_graphs
    from ..subgraph import load_subgraph
    graphs, nodes, subgraphs = shipped_graphs(), all_nodes(), all_subgraphs()
    width = max(len(k) for k in list(graphs) + list(nodes) + list(subgraphs))
    if graphs:
        print("graphs (run by name: graphrun NAME; graphrun validate NAME shows its threads):")
        for name, path in graphs.items():
            print(f"{name.ljust(width)}  {graph_summary(path)}")
        print("\nnodes (graphrun inspect KIND):")
    for kind, cls in nodes.items():
        print(f"{kind.ljust(width)}  {cls.describe()}")
    if subgraphs:
        print("\nsubgraphs (use as a node kind; graphrun inspect NAME):")
        for name, source in subgraphs.items():
            try:
                desc = load_subgraph(name, source).description
            except GraphError as exc:
                desc = f"(broken: {exc})"
            print(f"{name.ljust(width)}  {desc}")
    return 0


def graph_summary(path: Path) -> str:
    """One line about a graph file: its ``description:``, else the first line of its opening comment."""
    import yaml
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        return f"(unreadable: {without_errno(str(exc)).splitlines()[0]})"
    if isinstance(data, dict) and data.get("description"):
        return " ".join(str(data["description"]).split())
    opening = []                  # the comment's first paragraph, then its first sentence
    for line in text.splitlines():
        words = line.lstrip("#").strip() if line.startswith("#") else None
        if not words:
            if opening or words is None:
                break
            continue
        opening.append(words)
    first = " ".join(opening).split(". ")[0].rstrip(".")
    return first + "." if first else "(no description)"


def cmd_inspect(args) -> int:
    from ..registry import find_subgraph, get, load_plugin
    from .describe import describe_node, describe_subgraph
    for ref in args.plugin:
        load_plugin(ref, Path.cwd())
    whole = whole_graph(args.kind)
    if whole is not None:
        from ..run import build_spec, prepare
        from .describe import describe_graph
        path, written = whole
        print(describe_graph(path, written, build_spec(prepare(written.copy(), []))))
    elif find_subgraph(args.kind, Path.cwd()) is not None:
        print(describe_subgraph(args.kind, Path.cwd()))
    else:
        print(describe_node(get(args.kind)))
    return 0


def whole_graph(ref: str) -> Optional[tuple]:
    """(file, spec as read) of ``ref`` (a path or a shipped graph's name) when it is a whole graph
    (it sets what only a graph sets: mode, device, ..., or has no ports), not a subgraph or a node
    kind: ``inspect`` describes it as a graph instead of refusing it as a subgraph."""
    from ..run import find_graph
    from ..spec import load as load_spec
    from ..subgraph import SUBGRAPH_KEYS
    try:
        p = find_graph(ref)
    except GraphError:
        return None
    if p.suffix not in (".yaml", ".yml"):
        return None
    spec = load_spec(p)
    return (p, spec) if spec.set_keys - set(SUBGRAPH_KEYS) or not (spec.inputs or spec.outputs) else None


def cmd_validate(args) -> int:
    from ..run import load_graph
    from .describe import thread_lines
    g = load_graph(args.graph, args.overrides, args.mode, args.device, args.executor)
    missing = missing_inputs(g)
    if missing:
        raise UserInputError(missing[0] + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    back = sum(e.back for e in g.edges)
    executor, n_threads, threads = thread_lines(g)
    print(f"{args.graph}: ok — {len(g.nodes)} nodes, {len(g.edges)} edges ({back} back), mode {g.spec.mode}, "
          f"{executor} executor on {n_threads} thread(s)")
    print("\n".join(threads))
    return 0


def missing_inputs(graph) -> list[str]:
    """One line per input a node's parameters name that is not there: the parameters marked
    ``json_schema_extra={"input": "file"}`` (or ``"folder"``)."""
    out = []
    for name, field, want, value in graph.declared_inputs():
        p = Path(value).expanduser()
        if not p.exists():
            what = "no such file or folder"
        elif want == "file" and not p.is_file():
            what = "is a folder, not a file"
        elif want == "folder" and not p.is_dir():
            what = "is a file, not a folder"
        else:
            continue
        out.append(f"node '{name}' ({graph.nodes[name].spec.kind}): {field}: {value}: {what}")
    return out


def cmd_dot(args) -> int:
    from ..run import load_graph
    from .describe import to_dot
    print(to_dot(load_graph(args.graph, args.overrides, args.mode, args.device, args.executor)))
    return 0


COMMAND_FUNCS = {"run": cmd_run, "launch": cmd_launch, "batch": cmd_batch, "list": cmd_list, "inspect": cmd_inspect,
                 "validate": cmd_validate, "dot": cmd_dot, "tune": cmd_tune, "weights": cmd_weights}

def _interrupted_before_the_run(signum, frame) -> None:
    if closing_any():                   # --out is being put in place: a moment, then the run ends
        return
    rescue_open_folders("interrupted while the outputs were finished: the outputs are partial")
    interrupts.remove_registered()
    print("graphrun: interrupted", file=sys.stderr)
    sys.stderr.flush()
    os._exit(130)


def console() -> None:
    """The ``graphrun`` command. Ctrl-C while it starts (imports, graph checks) ends it with one
    line; during the run the run's own handlers drain the graph. After a run stopped at once its
    outputs are closed, so the process leaves at once too (a stuck node's thread, or the
    interpreter's teardown, must not hold it)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _interrupted_before_the_run)
    code = main()
    if code == STOPPED_AT_ONCE or interrupts.leaving_at_once():
        interrupts.remove_registered()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130 if code == STOPPED_AT_ONCE else code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()

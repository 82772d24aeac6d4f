"""The ``graphrun`` command.

    graphrun GRAPH [--set node.param=value ...] [--mode realtime] [--executor fused|per_node|inline] [--out DIR]
    graphrun launch "video_file path=a.mp4 ! preprocess resize=224 ! null_sink" [--print-yaml]
    graphrun list | inspect KIND | validate GRAPH | dot GRAPH | tune GRAPH --param node.p=lo:hi ...

GRAPH is a YAML file or the name of a shipped graph (``graphrun stabilize``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from .errors import GraphError, Interrupted, NodeError, UserInputError

COMMANDS = ("run", "launch", "list", "inspect", "validate", "dot", "tune")
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


def parser() -> argparse.ArgumentParser:
    from graphrun import __version__
    ap = argparse.ArgumentParser(prog="graphrun", description="Run and inspect graphrun video graphs.")
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
    sub.add_parser("list", help="list every registered node kind and subgraph")
    ins = sub.add_parser("inspect", help="document a node kind or a subgraph: ports and parameters")
    ins.add_argument("kind")
    ins.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                     help="load a plugin first (a module name or a .py file)")
    val = sub.add_parser("validate", help="check a graph without running it")
    _graph_args(val)
    dot = sub.add_parser("dot", help="print the graph as Graphviz DOT (subgraphs as clusters)")
    _graph_args(dot)
    tune = sub.add_parser("tune", help="search node parameters with optuna")
    _graph_args(tune)
    tune.add_argument("--param", action="append", default=[], required=True, metavar="NODE.PARAM=LO:HI",
                      help="a parameter range: float lo:hi, int lo:hi (integers), or choices a,b,c")
    tune.add_argument("--trials", type=int, default=20)
    tune.add_argument("--objective", choices=("auto", "J", "stability"), default="auto",
                      help="J (needs ground truth), stability (under a fidelity constraint), or auto")
    tune.add_argument("--out", default=None, help="where to write the study (default runs/tune-<graph>)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--loo", metavar="VARS.NAME=A,B,C", default=None,
                      help="leave one out: for each value, tune on the others and score the choice on it")
    tune.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                      help="with --loo: tpe = a study per fold; random = one set of candidates run on every value")
    return ap


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
        print(f"graphrun: error: {exc}", file=sys.stderr)
        return 2
    except NodeError as exc:
        if debug:
            traceback.print_exception(exc.cause)
        hint = "" if exc.is_user_error or debug else " (--debug for the traceback)"
        print(f"graphrun: error: {exc}{hint}", file=sys.stderr)
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


def _run(graph, args, name: str) -> int:
    from .run import run_built
    from .stats import format_summary
    out = args.out or str(Path("runs") / name)
    result = run_built(graph, out_dir=out, trace=args.trace, stats=args.stats, profile=args.profile,
                       progress=not args.quiet)
    print(format_summary(result.stats))
    print(f"outputs: {out}" + (f"; trace: {args.trace}" if args.trace else "")
          + (f"; profile: {args.profile}" if args.profile else ""))
    return 130 if result.stats.get("interrupted") else 0


def cmd_run(args) -> int:
    from .run import load_graph
    graph = load_graph(args.graph, args.overrides, args.mode, args.device, args.executor)
    return _run(graph, args, graph.spec.name)


def cmd_launch(args) -> int:
    from .launch import parse
    g = parse(" ".join(args.pipeline))
    if args.overrides:
        g.set(*args.overrides)
    if args.print_yaml:
        print(g.to_yaml(), end="")
        return 0
    return _run(g.build(args.mode, args.device, args.executor), args, "launch")


def cmd_list(args) -> int:
    from .registry import all_nodes, all_subgraphs
    from .subgraph import load_subgraph
    nodes, subgraphs = all_nodes(), all_subgraphs()
    width = max(len(k) for k in list(nodes) + list(subgraphs))
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


def cmd_inspect(args) -> int:
    from .describe import describe_node, describe_subgraph
    from .registry import find_subgraph, get, load_plugin
    for ref in args.plugin:
        load_plugin(ref, Path.cwd())
    if find_subgraph(args.kind, Path.cwd()) is not None:
        print(describe_subgraph(args.kind, Path.cwd()))
    else:
        print(describe_node(get(args.kind)))
    return 0


def cmd_validate(args) -> int:
    from .run import load_graph
    from .segments import partition
    g = load_graph(args.graph, args.overrides, args.mode, args.device, args.executor)
    back = sum(e.back for e in g.edges)
    segments = partition(g, g.spec.executor)
    workers = [g.nodes[names[0]].spec.workers if len(names) == 1 else 1 for names in segments]
    threads = 1 if g.spec.executor == "inline" else sum(workers)
    print(f"{args.graph}: ok — {len(g.nodes)} nodes, {len(g.edges)} edges ({back} back), mode {g.spec.mode}, "
          f"{g.spec.executor} executor on {threads} thread(s)")
    for i, (names, n) in enumerate(zip(segments, workers)):
        print(f"  T{i}{f' (x{n} workers)' if n > 1 else ''}: {' -> '.join(names)}")
    return 0


def cmd_dot(args) -> int:
    from .describe import to_dot
    from .run import load_graph
    print(to_dot(load_graph(args.graph, args.overrides, args.mode, args.device, args.executor)))
    return 0


def cmd_tune(args) -> int:
    from .tune import format_loo, tune, tune_loo
    if args.loo:
        result = tune_loo(args.graph, args.param, args.loo, trials=args.trials, overrides=args.overrides,
                          objective=args.objective, out=args.out, seed=args.seed, mode=args.mode, device=args.device,
                          executor=args.executor, sampler=args.sampler)
        print(format_loo(result))
        return 0
    best = tune(args.graph, args.param, trials=args.trials, overrides=args.overrides, objective=args.objective,
                out=args.out, seed=args.seed, mode=args.mode, device=args.device, executor=args.executor)
    print(json.dumps(best["best_value_info"], indent=2))
    print("best: --set " + " ".join(f"{k}={v}" for k, v in best["best_params"].items()))
    return 0


COMMAND_FUNCS = {"run": cmd_run, "launch": cmd_launch, "list": cmd_list, "inspect": cmd_inspect,
                 "validate": cmd_validate, "dot": cmd_dot, "tune": cmd_tune}

def console() -> None:
    """The ``graphrun`` command: after a run stopped at once its outputs are closed, so the process
    leaves at once too (a stuck node's thread, or the interpreter's teardown, must not hold it)."""
    code = main()
    if code == STOPPED_AT_ONCE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()

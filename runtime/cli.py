"""The ``graphrun`` command.

    graphrun GRAPH.yaml [--set node.param=value ...] [--mode realtime] [--out DIR] [--trace F] [--stats F]
    graphrun list | inspect KIND | validate GRAPH | dot GRAPH | tune GRAPH --param node.p=lo:hi ...
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from .errors import GraphError, NodeError, UserInputError

COMMANDS = ("run", "list", "inspect", "validate", "dot", "tune")


def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph YAML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   nargs="+", help="override a node parameter (repeatable; value parsed as YAML)")
    p.add_argument("--mode", choices=("offline", "realtime"), help="override the graph's mode")
    p.add_argument("--device", help="override the graph's device (auto, cpu, cuda, cuda:N)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="graphrun", description="Run and inspect graphrun video graphs.")
    ap.add_argument("--debug", action="store_true", help="show Python tracebacks for errors")
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a graph (default: graphrun GRAPH.yaml)")
    _graph_args(run)
    run.add_argument("--out", help="output directory (default runs/<graph name>)")
    run.add_argument("--trace", help="write a Chrome/Perfetto trace (one track per node) to this file")
    run.add_argument("--stats", help="write the run's figures as JSON to this file")
    run.add_argument("--profile", help="wrap the run in torch.profiler and write its Chrome trace here")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub.add_parser("list", help="list every registered node kind")
    ins = sub.add_parser("inspect", help="document a node kind: ports and parameters")
    ins.add_argument("kind")
    val = sub.add_parser("validate", help="check a graph without running it")
    _graph_args(val)
    dot = sub.add_parser("dot", help="print the graph as Graphviz DOT")
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


def cmd_run(args) -> int:
    from .run import run_graph
    from .stats import format_summary
    from . import spec as spec_mod
    out = args.out
    if out is None:
        name = spec_mod.load(args.graph).name if Path(args.graph).is_file() else Path(args.graph).stem
        out = str(Path("runs") / name)
    result = run_graph(args.graph, overrides=args.overrides, mode=args.mode, device=args.device, out_dir=out,
                       trace=args.trace, stats=args.stats, profile=args.profile, progress=not args.quiet)
    print(format_summary(result.stats))
    print(f"outputs: {out}" + (f"; trace: {args.trace}" if args.trace else "")
          + (f"; profile: {args.profile}" if args.profile else ""))
    return 130 if result.stats.get("interrupted") else 0


def cmd_list(args) -> int:
    from .registry import all_nodes
    nodes = all_nodes()
    width = max(len(k) for k in nodes)
    for kind, cls in nodes.items():
        print(f"{kind.ljust(width)}  {cls.describe()}")
    return 0


def cmd_inspect(args) -> int:
    from .describe import describe_node
    from .registry import get
    print(describe_node(get(args.kind)))
    return 0


def cmd_validate(args) -> int:
    from .run import load_graph
    g = load_graph(args.graph, args.overrides, args.mode, args.device)
    n_edges = len(g.edges)
    back = sum(e.back for e in g.edges)
    print(f"{args.graph}: ok — {len(g.nodes)} nodes, {n_edges} edges ({back} back), mode {g.spec.mode}; "
          f"order: {' -> '.join(g.order)}")
    return 0


def cmd_dot(args) -> int:
    from .describe import to_dot
    from .run import load_graph
    print(to_dot(load_graph(args.graph, args.overrides, args.mode, args.device)))
    return 0


def cmd_tune(args) -> int:
    from .tune import tune
    best = tune(args.graph, args.param, trials=args.trials, overrides=args.overrides, objective=args.objective,
                out=args.out, seed=args.seed, mode=args.mode, device=args.device)
    print(json.dumps(best["best_value_info"], indent=2))
    print("best: --set " + " ".join(f"{k}={v}" for k, v in best["best_params"].items()))
    return 0


COMMAND_FUNCS = {"run": cmd_run, "list": cmd_list, "inspect": cmd_inspect, "validate": cmd_validate,
                 "dot": cmd_dot, "tune": cmd_tune}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

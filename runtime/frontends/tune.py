"""``graphrun tune``: search node parameters with optuna, maximizing a result the graph publishes.

A node publishes results with ``ctx.publish(key, value)``; tune maximizes the figure the graph
declares as its headline objective (``headline: {objective: ...}``, else its ``rank``, else the
published ``objective``), or the result path named by ``--objective`` (``metrics.stabilized.J``),
running the graph once per trial. Ranges:
``node.p=0.3:0.9`` (float), ``node.n=2:8`` (int), ``node.mode=a,b,c`` (choices).

Trial 0 is always the graph's own settings, the baseline: a search recommends other settings
only when they beat it, and says so plainly when nothing did ("keep the graph's own settings").
The study (every trial's parameters and value, numbered as logged) is written as JSON.

Several inputs (``--inputs a b c``, each bound to ``${input}`` or ``--input-var``) or
``--loo vars.seq=a,b,c``: leave-one-out by default (:func:`tune_loo`): for each value, tune on
the others (their mean objective) and score the choice on the one held out, beside the
baseline's held-out figure, so the figure shown is one the choice never saw. ``--pooled``
tunes on the mean over all instead (an in-sample figure, and labelled so).
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from ..errors import GraphError
from ..options import RunOptions

BETTER_BY = 1e-6     # a trial beats the baseline only by more than this (float noise is no gain)
SINGLE = [("", [])]  # the folds of a plain study: the graph as given


def parse_range(text: str):
    """'node.p=lo:hi' -> (key, ('float'|'int', lo, hi)) ; 'node.p=a,b' -> (key, ('cat', [a, b]))."""
    import yaml
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise GraphError(f"--param '{text}' must look like node.param=lo:hi or node.param=a,b,c")
    key, rng = text.split("=", 1)
    if ":" in rng:
        lo_s, hi_s = rng.split(":", 1)
        try:
            lo, hi = yaml.safe_load(lo_s), yaml.safe_load(hi_s)
        except yaml.YAMLError:
            lo = hi = None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) or lo >= hi:
            raise GraphError(f"--param {key}: range '{rng}' must be lo:hi with numbers, lo < hi")
        kind = "int" if isinstance(lo, int) and isinstance(hi, int) else "float"
        return key, (kind, lo, hi)
    choices = [yaml.safe_load(c) for c in rng.split(",")]
    if len(choices) < 2:
        raise GraphError(f"--param {key}: give a range lo:hi or at least two choices a,b")
    return key, ("cat", choices)


def objective_key(objective: Optional[str], headline: dict) -> str:
    """The result path a study maximizes: ``objective`` unless ``auto``/None, else the graph's
    headline objective, else its headline rank, else ``objective`` (what a node may publish)."""
    if objective and objective != "auto":
        return objective
    return headline.get("objective") or headline.get("rank") or "objective"


def _objective_value(results: dict, key: str):
    value = results
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, (int, float)) else None


def parse_loo(text: str) -> tuple[str, list[str]]:
    """'vars.seq=a,b,c' -> ('vars.seq', ['a', 'b', 'c']): the setting whose values are the folds.

    Several settings per fold: 'vars.pred/vars.seq=osvos/blackswan,rvos/blackswan'."""
    key, _, values = text.partition("=")
    folds = [v for v in values.split(",") if v]
    keys = key.split("/")
    if any("." not in k for k in keys) or len(folds) < 2 or any(len(f.split("/")) != len(keys) for f in folds):
        raise GraphError(f"--loo '{text}' must look like vars.NAME=a,b,c (or node.param=a,b,c, or "
                         f"vars.A/vars.B=a1/b1,a2/b2), two values at least")
    return key, folds


def _fold_sets(key: str, value: str) -> list[str]:
    return [f"{k}={v}" for k, v in zip(key.split("/"), value.split("/"))]


def input_folds(inputs: list, input_var: str = "input") -> list[tuple[str, list[str]]]:
    """``--inputs``: files, folders of videos, globs, list files or values (as ``graphrun batch``
    reads them), each a fold ``(its label, [vars.<input_var>=value, its own --set items])``."""
    from .batch.inputs import discover

    if not input_var.isidentifier():
        raise GraphError(f"--input-var '{input_var}' must be a variable name (letters, digits, _)")
    items = discover([str(i) for i in inputs])
    if not items:
        raise GraphError(f"--inputs {' '.join(map(str, inputs))}: no inputs found")
    return [(i.label + (f" [{' '.join(i.sets)}]" if i.sets else ""), [f"vars.{input_var}={i.value}", *i.sets])
            for i in items]


def current_value(built, key: str):
    """The value ``key`` (``stab.guard.near_frac``, ``vars.seq``) has in the built graph: the
    graph's own setting, or the node's default; None when it cannot be read."""
    if key.startswith("vars."):
        return built.spec.vars.get(key[5:])
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        node = built.nodes.get(".".join(parts[:cut]))
        if node is None:
            continue
        value = node.params
        for p in parts[cut:]:
            value = value.get(p) if isinstance(value, dict) else getattr(value, p, None)
        return value
    return None


def trial_options(mode=None, device=None, executor: Optional[str] = None) -> RunOptions:
    """How each trial runs: quiet, on the inline executor unless told otherwise (deterministic,
    one core per trial)."""
    return RunOptions(mode=mode, device=device, executor=executor or "inline", log=lambda msg: None)


def _scored_run(g, graph: str, sets: list[str], key: str, options: RunOptions) -> tuple[float, dict]:
    """One run of ``g`` with ``sets`` in a scratch folder (removed after): the value published
    under ``key`` and every published result. A graph that publishes no ``key`` is an error."""
    scratch = tempfile.mkdtemp(prefix="graphrun-tune-")
    try:
        result = g.run_with(options.but(out=scratch, set=tuple(sets)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = result.stats.get("results", {})
    value = _objective_value(results, key)
    if value is None:
        raise GraphError(f"{graph}: no node published '{key}' (--objective names a published result path; "
                         f"a graph's headline: objective is the default); published: {', '.join(results) or 'nothing'}")
    return value, results


class _Study:
    """What every search shares: the graph checked once, the objective, and one cached run per
    (fold, settings) so a setting is never run twice on the same input."""

    def __init__(self, graph, params, overrides, objective, mode, device, executor, folds):
        from .api import load  # here: the command line starts without torch
        self.graph, self.folds = graph, folds
        self.ranges = dict(parse_range(p) for p in params)
        self.base_sets = list(overrides or [])
        first = self.base_sets + folds[0][1]
        built = load(graph, set=first).build(mode, device)                     # a bad graph fails now
        load(graph, set=first + [f"{k}={_sample_default(r)}" for k, r in self.ranges.items()]).build()
        self.key = objective_key(objective, built.spec.headline)
        self.baseline_params = {k: current_value(built, k) for k in self.ranges}
        self.options = trial_options(mode, device, executor)
        self.runs: list = []
        self._cache: dict = {}

    def score(self, fold: str, sets: list[str]) -> float:
        k = (fold, tuple(sets))
        if k not in self._cache:
            from .api import load
            fold_sets = dict(self.folds)[fold]
            g = load(self.graph, set=self.base_sets + fold_sets)
            value, results = _scored_run(g, self.graph, sets, self.key, self.options)
            self._cache[k] = value, results
            self.runs.append({"input": fold, "set": list(sets), "value": value, "results": results})
        return self._cache[k][0]

    def detail(self, folds: list[str], sets: list[str]) -> dict:
        """A plain study's record of one setting: what it published, or with several inputs each one's value."""
        if len(folds) == 1:
            return {"results": self._cache[(folds[0], tuple(sets))][1]}
        return {"per_input": {f: self._cache[(f, tuple(sets))][0] for f in folds}}

    def mean(self, folds: list[str], sets: list[str]) -> float:
        return float(sum(self.score(f, sets) for f in folds) / len(folds))

    def new_study(self, seed: int, sampler: str = "tpe"):
        """An optuna study told the baseline's value first (as trial 0), when its values lie in the ranges."""
        import optuna
        optuna.logging.set_verbosity(logging.WARNING)
        if sampler not in ("tpe", "random"):
            raise GraphError(f"--sampler must be tpe or random, not '{sampler}'")
        make = optuna.samplers.TPESampler if sampler == "tpe" else optuna.samplers.RandomSampler
        return optuna.create_study(direction="maximize", sampler=make(seed=seed))

    def tell_baseline(self, study, value: float) -> None:
        import optuna
        if all(_in_range(self.baseline_params.get(k), r) for k, r in self.ranges.items()):
            study.add_trial(optuna.trial.create_trial(params=self.baseline_params, value=value,
                                                      distributions=_distributions(self.ranges)))


def _in_range(value, r) -> bool:
    if r[0] == "cat":
        return value in r[1]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and r[1] <= value <= r[2]
    return ok and (r[0] == "float" or float(value).is_integer())


def _distributions(ranges: dict) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    out = {}
    for k, r in ranges.items():
        out[k] = (FloatDistribution(r[1], r[2]) if r[0] == "float" else IntDistribution(r[1], r[2])
                  if r[0] == "int" else CategoricalDistribution(r[1]))
    return out


def _suggest(trial, ranges: dict) -> list[str]:
    sets = []
    for k, r in ranges.items():
        if r[0] == "float":
            v = trial.suggest_float(k, r[1], r[2])
        elif r[0] == "int":
            v = trial.suggest_int(k, r[1], r[2])
        else:
            v = trial.suggest_categorical(k, r[1])
        sets.append(f"{k}={v}")
    return sets


def _set_line(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def tune(graph: str, params: list[str], trials: int = 20, overrides: Optional[list] = None,
         objective: str = "auto", out: Optional[str] = None, seed: int = 0, mode=None, device=None,
         executor: Optional[str] = None, folds: Optional[list] = None, log=None) -> dict:
    """Run the graph's own settings (trial 0, the baseline), then ``trials`` optuna trials
    (numbered 1..trials, in the log and the JSON alike); with ``folds`` (``[(label, --set items)]``,
    several inputs) each trial's value is the mean over them (in-sample: see :func:`tune_loo`).

    Returns (and writes as ``study.json``) ``baseline``, ``best_*`` (the baseline's own when no
    trial beat it), ``improved``, ``gain`` and ``trials``, every run's value and results."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    folds = folds or SINGLE
    s = _Study(graph, params, overrides, objective, mode, device, executor, folds)
    names = [f for f, _ in folds]
    out_dir = Path(out or Path("runs") / f"tune-{Path(graph).stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    over = f" (mean over {len(folds)} inputs)" if len(folds) > 1 else ""
    records = []
    base_value = s.mean(names, [])
    records.append({"trial": 0, "baseline": True, "params": s.baseline_params, "value": base_value,
                    **s.detail(names, [])})
    log(f"trial 0 (baseline: the graph's own settings): {s.key}{over} = {base_value:.4f}  "
        f"{_set_line(s.baseline_params)}")
    study = s.new_study(seed)
    s.tell_baseline(study, base_value)
    for n in range(1, trials + 1):
        trial = study.ask()
        sets = _suggest(trial, s.ranges)
        value = s.mean(names, sets)
        study.tell(trial, value)
        records.append({"trial": n, "params": dict(trial.params), "value": value, **s.detail(names, sets)})
        log(f"trial {n}/{trials}: {s.key}{over} = {value:.4f}  {' '.join(sets)}")
    top = max(records[1:], key=lambda r: r["value"], default=records[0])
    improved = top["value"] > base_value + BETTER_BY
    best = top if improved else records[0]
    result = {"graph": graph, "objective": s.key, "inputs": names if len(folds) > 1 else [],
              "in_sample": True, "baseline": {"trial": 0, "params": s.baseline_params, "value": base_value},
              "best_trial": best["trial"], "best_value": best["value"], "best_params": best["params"],
              "improved": improved, "gain": best["value"] - base_value, "top_search_trial": top["trial"],
              "best_value_info": {"objective": s.key, "value": best["value"], "trial": best["trial"],
                                  "trials": trials, "baseline": base_value},
              "trials": records}
    result["verdict"] = verdict(result)
    (out_dir / "study.json").write_text(json.dumps(result, indent=2, default=str))
    log(f"study: {out_dir / 'study.json'}")
    return result


def verdict(result: dict) -> str:
    """What a plain study found, in words: the settings to use, or to keep the graph's own."""
    key, base = result["objective"], result["baseline"]["value"]
    where = f" (mean over {len(result['inputs'])} inputs, in-sample)" if result.get("inputs") else ""
    if not result["improved"]:
        top = next(r for r in result["trials"] if r["trial"] == result["top_search_trial"])
        return (f"nothing beat the graph's own settings: baseline {key} = {base:.4f}{where}, best of "
                f"{len(result['trials']) - 1} trials {top['value']:.4f} (trial {top['trial']}); keep the graph's "
                f"own settings")
    return (f"trial {result['best_trial']} beat the graph's own settings: {key} = {result['best_value']:.4f} vs "
            f"baseline {base:.4f} ({result['gain']:+.4f}){where}\nbest: --set {_set_line(result['best_params'])}")


def tune_loo(graph: str, params: list[str], loo, trials: int = 20, overrides: Optional[list] = None,
             objective: str = "auto", out: Optional[str] = None, seed: int = 0, mode=None, device=None,
             executor: Optional[str] = None, sampler: str = "tpe", log=None) -> dict:
    """Leave-one-out over ``loo`` (``vars.seq=a,b,c``, or folds ``[(label, --set items)]`` from
    :func:`input_folds`): for each value, search the parameters on the other values (maximizing
    their mean objective) with the graph's own settings as a candidate (trial 0), then score the
    choice on the held-out value beside the baseline's held-out value.

    ``sampler='tpe'`` runs one optuna study per fold (its suggestions never see the held-out
    value); ``'random'`` draws ``trials`` parameter sets once, runs each on every value and picks
    per fold among them (the same candidates for every fold: no leak, K times cheaper). The
    recommendation is, among the folds' choices (each run on every value), the best mean over all
    values, and only when tuning beat the baseline held out. Writes ``study.json`` and returns it."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if isinstance(loo, str):
        loo_key, values = parse_loo(loo)
        folds = [(v, _fold_sets(loo_key, v)) for v in values]
    else:
        loo_key, folds = "inputs", list(loo)
        if len(folds) < 2:
            raise GraphError("leave-one-out needs two inputs at least")
    s = _Study(graph, params, overrides, objective, mode, device, executor, folds)
    names = [f for f, _ in folds]
    out_dir = Path(out or Path("runs") / f"tune-loo-{Path(graph).stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    baseline: dict = {}
    fold_rows = []
    if sampler == "random":
        study = s.new_study(seed, "random")
        candidates = [([], dict(s.baseline_params))]
        for i in range(trials):
            trial = study.ask()
            sets = _suggest(trial, s.ranges)
            study.tell(trial, s.mean(names, sets))
            candidates.append((sets, dict(trial.params)))
            log(f"candidate {i + 1}/{trials} run on {len(folds)} inputs")
        for held in names:
            train = [v for v in names if v != held]
            sets, chosen = max(candidates, key=lambda c: s.mean(train, c[0]))
            fold_rows.append({"held_out": held, "chosen": chosen, "chosen_set": sets, "baseline_chosen": not sets,
                              "train_value": s.mean(train, sets), "held_out_value": s.score(held, sets)})
    else:
        for held in names:
            train = [v for v in names if v != held]
            study = s.new_study(seed, sampler)
            base_train = s.mean(train, [])
            s.tell_baseline(study, base_train)
            best = ([], dict(s.baseline_params), base_train)
            for _ in range(trials):
                trial = study.ask()
                sets = _suggest(trial, s.ranges)
                value = s.mean(train, sets)
                study.tell(trial, value)
                if value > best[2] + BETTER_BY:
                    best = (sets, dict(trial.params), value)
            fold_rows.append({"held_out": held, "chosen": best[1], "chosen_set": best[0],
                              "baseline_chosen": not best[0], "train_value": best[2],
                              "held_out_value": s.score(held, best[0])})
            log(f"fold {held}: chosen on {len(train)} inputs; held out {fold_rows[-1]['held_out_value']:.4f}, "
                f"baseline {s.score(held, []):.4f}")
    for row in fold_rows:
        row["default_held_out_value"] = baseline[row["held_out"]] = s.score(row["held_out"], [])
    n = len(fold_rows)
    mean_held = sum(r["held_out_value"] for r in fold_rows) / n
    mean_base = sum(r["default_held_out_value"] for r in fold_rows) / n
    result = {"graph": graph, "objective": s.key, "loo": loo_key, "values": names, "sampler": sampler,
              "trials": trials, "folds": fold_rows, "mean_held_out_value": mean_held,
              "mean_train_value": sum(r["train_value"] for r in fold_rows) / n,
              "mean_default_value": mean_base, "baseline": {"params": s.baseline_params, "values": baseline,
                                                            "mean": mean_base},
              "improved": mean_held > mean_base + BETTER_BY, "held_out_gain": mean_held - mean_base}
    result["recommendation"] = _recommend(s, result, names)
    result["runs"] = s.runs
    (out_dir / "study.json").write_text(json.dumps(result, indent=2, default=str))
    log(f"study: {out_dir / 'study.json'}")
    return result


def _recommend(s: _Study, result: dict, names: list[str]) -> dict:
    """The settings to use: the folds' choice with the best mean over every input, when tuning
    beat the baseline held out and that choice beats it over every input too; else the baseline."""
    keep = {"keep_baseline": True, "params": s.baseline_params, "mean_value": result["mean_default_value"]}
    if not result["improved"]:
        return keep
    sets, params = max(((r["chosen_set"], r["chosen"]) for r in result["folds"]), key=lambda c: s.mean(names, c[0]))
    mean_all = s.mean(names, sets)
    if not sets or mean_all <= result["mean_default_value"] + BETTER_BY:
        return keep
    return {"keep_baseline": False, "params": params, "mean_value": mean_all}


def format_loo(result: dict) -> str:
    """The leave-one-out table (per fold the choice, its training and held-out objective, the
    baseline's held-out objective), then the verdict and the settings to use."""
    lines = [f"leave-one-out over {result['loo']} ({result['sampler']}, {result['trials']} trials + the baseline), "
             f"objective {result['objective']}:",
             f"  {'held out':<20}{'train':>9}{'held-out':>10}{'baseline':>10}  chosen"]
    for r in result["folds"]:
        chosen = "(baseline: the graph's own settings)" if r["baseline_chosen"] else \
            " ".join(f"{k}={_fmt(v)}" for k, v in r["chosen"].items())
        lines.append(f"  {str(r['held_out']):<20}{r['train_value']:>9.4f}{r['held_out_value']:>10.4f}"
                     f"{r['default_held_out_value']:>10.4f}  {chosen}")
    lines.append(f"  {'mean':<20}{result['mean_train_value']:>9.4f}{result['mean_held_out_value']:>10.4f}"
                 f"{result['mean_default_value']:>10.4f}")
    held, base, rec = result["mean_held_out_value"], result["mean_default_value"], result["recommendation"]
    if not result["improved"]:
        lines.append(f"nothing beat the graph's own settings held out: {held:.4f} vs baseline {base:.4f}; "
                     f"keep the graph's own settings")
    elif rec["keep_baseline"]:
        lines.append(f"tuning gained {held - base:+.4f} held out ({held:.4f} vs baseline {base:.4f}), but no fold's "
                     f"choice beats the baseline over every input; keep the graph's own settings")
    else:
        lines.append(f"tuning beat the graph's own settings held out: {held:.4f} vs baseline {base:.4f} "
                     f"({held - base:+.4f}); over all {len(result['values'])} inputs {rec['mean_value']:.4f} vs "
                     f"{base:.4f}")
        lines.append("best: --set " + " ".join(f"{k}={_fmt(v)}" for k, v in rec["params"].items()))
    return "\n".join(lines)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _sample_default(r) -> str:
    """A value inside the range, used to validate the graph and parameter names before any trial."""
    if r[0] == "cat":
        return json.dumps(r[1][0]) if not isinstance(r[1][0], str) else r[1][0]
    return str(r[1])


def add_parser(sub, graph_args) -> None:
    """``graphrun tune``'s command line (``graph_args`` adds the GRAPH, --set, --mode ... arguments)."""
    tune = sub.add_parser("tune", help="search node parameters with optuna (trial 0: the graph's own settings)")
    graph_args(tune)
    tune.add_argument("--param", action="append", default=[], required=True, metavar="NODE.PARAM=LO:HI",
                      help="a parameter range: float lo:hi, int lo:hi (integers), or choices a,b,c")
    tune.add_argument("--trials", type=int, default=20, help="trials after the baseline (trial 0)")
    tune.add_argument("--objective", default="auto", metavar="RESULT",
                      help="the published result to maximize, by path (metrics.stabilized.J); auto (default): "
                           "the graph's headline objective")
    tune.add_argument("--out", default=None, help="where to write the study (default runs/tune-<graph>)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--inputs", nargs="+", metavar="INPUT", default=None,
                      help="inputs to tune over, each bound to ${input} (files, folders, globs, lists, values, as "
                           "graphrun batch reads them); two or more: leave-one-out unless --pooled")
    tune.add_argument("--input-var", default="input", metavar="NAME", help="the variable --inputs are bound to")
    tune.add_argument("--loo", metavar="VARS.NAME=A,B,C", default=None,
                      help="the values to leave out one at a time: for each, tune on the others and score the "
                           "choice on it (vars.A/vars.B=a1/b1,a2/b2 for several settings)")
    tune.add_argument("--pooled", action="store_true",
                      help="with several inputs: tune on their mean instead (an in-sample figure)")
    tune.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                      help="leave-one-out: tpe = a study per fold; random = one set of candidates run on every value")


def cmd_tune(args) -> int:
    """Leave-one-out when several inputs are given (unless --pooled), else one study."""
    if args.loo and args.inputs:
        raise GraphError("give the inputs either as --inputs or as --loo, not both")
    folds = input_folds(args.inputs, args.input_var) if args.inputs else None
    if args.loo and args.pooled:
        key, values = parse_loo(args.loo)
        folds = [(v, _fold_sets(key, v)) for v in values]
    common = dict(trials=args.trials, overrides=args.overrides, objective=args.objective, out=args.out,
                  seed=args.seed, mode=args.mode, device=args.device, executor=args.executor)
    if (args.loo and not args.pooled) or (folds and len(folds) > 1 and not args.pooled):
        print(format_loo(tune_loo(args.graph, args.param, args.loo or folds, sampler=args.sampler, **common)))
        return 0
    result = tune(args.graph, args.param, folds=folds, **common)
    print(json.dumps(result["best_value_info"], indent=2))
    print(result["verdict"])
    return 0



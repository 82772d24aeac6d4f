"""``graphrun tune``: search node parameters with optuna, maximizing a result the graph publishes.

A node publishes results with ``ctx.publish(key, value)``; tune maximizes the figure the graph
declares as its headline objective (``headline: {objective: ...}``, else its ``rank``, else the
published ``objective``), or the result path named by ``--objective`` (``metrics.stabilized.J``),
running the graph once per trial. Ranges:
``node.p=0.3:0.9`` (float), ``node.n=2:8`` (int), ``node.mode=a,b,c`` (choices).
The study (every trial's parameters and value) is written as JSON beside the best ``--set`` line.

``--loo vars.seq=a,b,c`` (:func:`tune_loo`) checks that the chosen parameters generalize: for
each value of the variable, it tunes on the others (their mean objective) and scores the choice on
the one held out; it prints each fold's choice, its training and held-out objective, the graph's
defaults on the held-out value, and the means.
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
from .api import load


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


def tune(graph: str, params: list[str], trials: int = 20, overrides: Optional[list] = None,
         objective: str = "auto", out: Optional[str] = None, seed: int = 0, mode=None, device=None,
         executor: Optional[str] = None) -> dict:
    """Each trial runs the graph once through the Python API, on the inline executor unless told
    otherwise (deterministic, and the cores stay free for nothing else)."""
    import optuna

    ranges = dict(parse_range(p) for p in params)
    base = load(graph, set=list(overrides or []))
    built = base.build(mode, device)                                            # a bad graph fails now
    load(graph, set=list(overrides or []) + [f"{k}={_sample_default(r)}" for k, r in ranges.items()]).build()
    key = objective_key(objective, built.spec.headline)
    options = trial_options(mode, device, executor)
    out_dir = Path(out or Path("runs") / f"tune-{Path(graph).stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    records = []

    def run_trial(trial):
        sets = _suggest(trial, ranges)
        value, results = _scored_run(base, graph, sets, key, options)
        records.append({"trial": trial.number, "params": dict(trial.params), "value": value, "results": results})
        print(f"trial {trial.number + 1}/{trials}: {key} = {value:.4f}  " + " ".join(sets), file=sys.stderr)
        return value

    study.optimize(run_trial, n_trials=trials, catch=())
    best = {"graph": graph, "objective": key, "best_value": study.best_value, "best_params": study.best_params,
            "best_value_info": {"objective": key, "value": study.best_value,
                                "trial": study.best_trial.number, "trials": len(study.trials)},
            "trials": records}
    (out_dir / "study.json").write_text(json.dumps(best, indent=2, default=str))
    print(f"study: {out_dir / 'study.json'}", file=sys.stderr)
    return best


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


def tune_loo(graph: str, params: list[str], loo: str, trials: int = 20, overrides: Optional[list] = None,
             objective: str = "auto", out: Optional[str] = None, seed: int = 0, mode=None, device=None,
             executor: Optional[str] = None, sampler: str = "tpe", log=None) -> dict:
    """Leave-one-out: for each value of ``loo`` (``vars.seq=a,b,c``), search the parameters on the
    other values (maximizing their mean objective), then score the choice on the held-out value.

    ``sampler='tpe'`` runs one optuna study per fold (its suggestions never see the held-out
    value); ``'random'`` draws ``trials`` parameter sets once, runs each on every value and picks
    per fold among them (the same candidates for every fold: no leak, K times cheaper). Each run
    goes through the Python API on the inline executor unless told otherwise. Writes
    ``study.json`` (folds, every run) and returns it."""
    import optuna

    log = log or (lambda msg: print(msg, file=sys.stderr))
    ranges = dict(parse_range(p) for p in params)
    key, folds = parse_loo(loo)
    base_sets = list(overrides or [])
    built = load(graph, set=base_sets + _fold_sets(key, folds[0]) + [f"{k}={_sample_default(r)}"
                                                                      for k, r in ranges.items()]).build(mode, device)
    obj_key = objective_key(objective, built.spec.headline)              # a bad graph failed above
    options = trial_options(mode, device, executor)
    out_dir = Path(out or Path("runs") / f"tune-loo-{Path(graph).stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(logging.WARNING)
    runs: list[dict] = []
    cache: dict = {}

    def score(value: str, sets: list[str]) -> float:
        k = (value, tuple(sets))
        if k not in cache:
            g = load(graph, set=base_sets + _fold_sets(key, value))
            v, results = _scored_run(g, graph, sets, obj_key, options)
            cache[k] = v
            runs.append({key: value, "set": sets, "value": v, "results": results})
        return cache[k]

    def mean_over(values, sets):
        return float(sum(score(v, sets) for v in values) / len(values))

    fold_rows = []
    if sampler == "random":
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
        candidates = []
        for i in range(trials):
            trial = study.ask()
            sets = _suggest(trial, ranges)
            for v in folds:
                score(v, sets)
            candidates.append((sets, dict(trial.params)))
            study.tell(trial, mean_over(folds, sets))
            log(f"candidate {i + 1}/{trials} run on {len(folds)} values")
        for held in folds:
            train = [v for v in folds if v != held]
            sets, chosen = max(candidates, key=lambda c: mean_over(train, c[0]))
            fold_rows.append({"held_out": held, "chosen": chosen, "train_value": mean_over(train, sets),
                              "held_out_value": score(held, sets)})
    elif sampler == "tpe":
        for held in folds:
            train = [v for v in folds if v != held]
            study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
            study.optimize(lambda trial, train=train: mean_over(train, _suggest(trial, ranges)), n_trials=trials,
                           catch=())
            sets = [f"{k}={v}" for k, v in study.best_params.items()]
            fold_rows.append({"held_out": held, "chosen": dict(study.best_params), "train_value": study.best_value,
                              "held_out_value": score(held, sets)})
            log(f"fold {held}: chosen on {len(train)} values; held out: {fold_rows[-1]['held_out_value']:.4f}")
    else:
        raise GraphError(f"--sampler must be tpe or random, not '{sampler}'")
    for row in fold_rows:
        row["default_held_out_value"] = score(row["held_out"], [])
    n = len(fold_rows)
    result = {"graph": graph, "objective": obj_key, "loo": key, "values": folds, "sampler": sampler,
              "trials": trials, "folds": fold_rows,
              "mean_held_out_value": sum(r["held_out_value"] for r in fold_rows) / n,
              "mean_train_value": sum(r["train_value"] for r in fold_rows) / n,
              "mean_default_value": sum(r["default_held_out_value"] for r in fold_rows) / n,
              "runs": runs}
    (out_dir / "study.json").write_text(json.dumps(result, indent=2, default=str))
    log(f"study: {out_dir / 'study.json'}")
    return result


def format_loo(result: dict) -> str:
    """The leave-one-out table: per fold the choice, its training and held-out objective, the defaults'."""
    lines = [f"leave-one-out over {result['loo']} ({result['sampler']}, {result['trials']} trials), "
             f"objective {result['objective']}:",
             f"  {'held out':<20}{'train':>9}{'held-out':>10}{'defaults':>10}  chosen"]
    for r in result["folds"]:
        chosen = " ".join(f"{k}={_fmt(v)}" for k, v in r["chosen"].items())
        lines.append(f"  {str(r['held_out']):<20}{r['train_value']:>9.4f}{r['held_out_value']:>10.4f}"
                     f"{r['default_held_out_value']:>10.4f}  {chosen}")
    lines.append(f"  {'mean':<20}{result['mean_train_value']:>9.4f}{result['mean_held_out_value']:>10.4f}"
                 f"{result['mean_default_value']:>10.4f}")
    return "\n".join(lines)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _sample_default(r) -> str:
    """A value inside the range, used to validate the graph and parameter names before any trial."""
    if r[0] == "cat":
        return json.dumps(r[1][0]) if not isinstance(r[1][0], str) else r[1][0]
    return str(r[1])

"""``graphrun tune``: search node parameters with optuna, maximizing a result the graph publishes.

A node publishes results with ``ctx.publish(key, value)``; tune maximizes ``results["objective"]``
(or the key named by ``--objective``), running the graph once per trial. Ranges:
``node.p=0.3:0.9`` (float), ``node.n=2:8`` (int), ``node.mode=a,b,c`` (choices).
The study (every trial's parameters and value) is written as JSON beside the best ``--set`` line.
"""
from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .api import load
from .errors import GraphError


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
    base.build(mode, device)                                                    # a bad graph fails now
    load(graph, set=list(overrides or []) + [f"{k}={_sample_default(r)}" for k, r in ranges.items()]).build()
    key = "objective" if objective in ("auto", "objective") else objective
    out_dir = Path(out or Path("runs") / f"tune-{Path(graph).stem}")
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    records = []

    def run_trial(trial):
        sets = []
        for k, r in ranges.items():
            if r[0] == "float":
                v = trial.suggest_float(k, r[1], r[2])
            elif r[0] == "int":
                v = trial.suggest_int(k, r[1], r[2])
            else:
                v = trial.suggest_categorical(k, r[1])
            sets.append(f"{k}={v}")
        scratch = tempfile.mkdtemp(prefix="graphrun-tune-")
        try:
            result = base.run(scratch, set=sets, mode=mode, device=device, executor=executor or "inline",
                              log=lambda msg: None)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        value = _objective_value(result.stats.get("results", {}), key)
        if value is None:
            raise GraphError(f"{graph}: no node published '{key}' (a metrics node publishes 'objective'); "
                             f"published: {', '.join(result.stats.get('results', {})) or 'nothing'}")
        records.append({"trial": trial.number, "params": dict(trial.params), "value": value,
                        "results": result.stats.get("results", {})})
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


def _sample_default(r) -> str:
    """A value inside the range, used to validate the graph and parameter names before any trial."""
    if r[0] == "cat":
        return json.dumps(r[1][0]) if not isinstance(r[1][0], str) else r[1][0]
    return str(r[1])

"""graphrun tune, and its leave-one-out check (--loo), on a tiny graph whose objective is known."""
import json

import pytest
import yaml

from graphrun.runtime import GraphError, Input, Node, NodeParams, register
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.frontends.tune import format_loo, objective_key, parse_loo, tune, tune_loo
from graphrun.runtime.types import SCALAR

import runtime_nodes  # noqa: F401 - registers the test_* nodes


@register("test_quality")
class Quality(Node):
    """Publishes {"score": {"quality": -(p - target)^2, "noise": p}}: a figure of the user's own naming."""
    x = Input(SCALAR)

    class Params(NodeParams):
        p: float = 0.0
        target: float = 0.0

    def process(self, ctx, x):
        return None

    def finish(self, ctx):
        ctx.publish("score", {"quality": -(self.params.p - self.params.target) ** 2, "noise": self.params.p})


@pytest.fixture
def graph(tmp_path):
    """objective = -(p - target)^2, target a graph variable: the best p is each value's target."""
    g = {"name": "bowl", "vars": {"target": 0.0},
         "nodes": {"src": {"kind": "test_count", "params": {"n": 2}},
                   "obj": {"kind": "test_objective", "params": {"target": "${target}"}}},
         "edges": ["src.out -> obj.x"]}
    path = tmp_path / "bowl.yaml"
    path.write_text(yaml.safe_dump(g))
    return str(path)


def test_tune_maximizes_the_figure_a_graph_declares_as_its_headline(tmp_path):
    g = {"name": "own", "headline": {"rank": "score.quality"},
         "nodes": {"src": {"kind": "test_count", "params": {"n": 2}},
                   "q": {"kind": "test_quality", "params": {"target": 1.5}}},
         "edges": ["src.out -> q.x"]}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(g))
    best = tune(str(path), ["q.p=0.0:4.0"], trials=20, out=str(tmp_path / "t"))
    assert best["objective"] == "score.quality" and abs(best["best_params"]["q.p"] - 1.5) < 0.4
    worst = tune(str(path), ["q.p=0.0:4.0"], trials=8, objective="score.noise", out=str(tmp_path / "n"))
    assert best["best_value"] <= 0 and worst["best_value"] > 3.0          # --objective names another figure
    with pytest.raises(GraphError, match="no node published 'score.nothing'"):
        tune(str(path), ["q.p=0.0:4.0"], trials=1, objective="score.nothing", out=str(tmp_path / "x"))


def test_the_objective_is_the_given_one_else_the_headlines_else_objective():
    assert objective_key("metrics.stabilized.J", {"objective": "objective"}) == "metrics.stabilized.J"
    assert objective_key("auto", {"objective": "objective", "rank": "a.b"}) == "objective"
    assert objective_key(None, {"rank": "a.b"}) == "a.b"
    assert objective_key("auto", {}) == "objective"


def test_tune_finds_the_top_of_a_known_landscape(graph, tmp_path):
    best = tune(graph, ["obj.p=0.0:4.0"], trials=25, overrides=["vars.target=2.5"], out=str(tmp_path / "t"))
    assert abs(best["best_params"]["obj.p"] - 2.5) < 0.4
    assert (tmp_path / "t" / "study.json").exists()


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_leave_one_out_tunes_on_the_other_values_and_scores_the_held_out_one(graph, tmp_path, sampler):
    res = tune_loo(graph, ["obj.p=0.0:4.0"], "vars.target=1,2,3", trials=20, out=str(tmp_path / "loo"), sampler=sampler,
                   log=lambda m: None)
    folds = {r["held_out"]: r for r in res["folds"]}
    # held out 1: tuned on 2 and 3, so p ~ 2.5 and the held-out objective is ~ -(1.5)^2
    assert abs(folds["1"]["chosen"]["obj.p"] - 2.5) < 0.5
    assert folds["1"]["held_out_value"] < folds["1"]["train_value"]
    assert -3.5 < folds["1"]["held_out_value"] < -1.0
    assert folds["2"]["held_out_value"] > -0.6                    # the middle one generalizes
    assert folds["1"]["default_held_out_value"] == pytest.approx(-1.0)   # the defaults: p = 0
    assert res["mean_held_out_value"] == pytest.approx(sum(r["held_out_value"] for r in res["folds"]) / 3)
    saved = json.loads((tmp_path / "loo" / "study.json").read_text())
    assert saved["values"] == ["1", "2", "3"] and len(saved["folds"]) == 3
    table = format_loo(res)
    assert "held-out" in table and "mean" in table


def test_the_random_sampler_runs_each_candidate_once_per_value(graph, tmp_path):
    res = tune_loo(graph, ["obj.p=0.0:4.0"], "vars.target=1,2,3", trials=4, out=str(tmp_path / "r"), sampler="random",
                   log=lambda m: None)
    assert len(res["runs"]) == 4 * 3 + 3          # candidates x values, plus the defaults on each value


def test_tune_loo_from_the_command_line_prints_the_table(graph, tmp_path, capsys):
    code = main(["tune", graph, "--param", "obj.p=0.0:4.0", "--loo", "vars.target=0,4", "--trials", "3",
                 "--sampler", "random", "--out", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert code == 0 and "leave-one-out over vars.target" in out and "mean" in out


def test_a_fold_may_set_several_variables(graph, tmp_path):
    res = tune_loo(graph, ["obj.p=0.0:4.0"], "vars.target/src.n=1/2,3/3", trials=3, out=str(tmp_path / "c"),
                   sampler="random", log=lambda m: None)
    assert [r["held_out"] for r in res["folds"]] == ["1/2", "3/3"]


def test_a_loo_setting_needs_two_values():
    assert parse_loo("vars.seq=a,b") == ("vars.seq", ["a", "b"])
    assert parse_loo("vars.a/vars.b=1/2,3/4") == ("vars.a/vars.b", ["1/2", "3/4"])
    with pytest.raises(GraphError, match="two values at least"):
        parse_loo("vars.seq=a")

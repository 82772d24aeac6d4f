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


def test_trial_0_is_the_graphs_own_settings_and_the_numbers_agree_in_log_and_json(graph, tmp_path):
    logged = []
    res = tune(graph, ["obj.p=0.0:4.0"], trials=4, overrides=["vars.target=2.5", "obj.p=1.0"],
               out=str(tmp_path / "t"), log=logged.append)
    assert logged[0].startswith("trial 0 (baseline: the graph's own settings): objective = -2.2500")
    assert res["baseline"] == {"trial": 0, "params": {"obj.p": 1.0}, "value": pytest.approx(-2.25)}
    saved = json.loads((tmp_path / "t" / "study.json").read_text())
    assert [r["trial"] for r in saved["trials"]] == [0, 1, 2, 3, 4]
    for record, line in zip(saved["trials"][1:], logged[1:5]):
        assert line.startswith(f"trial {record['trial']}/4: objective = {record['value']:.4f}")
    assert saved["best_value_info"]["trial"] == saved["best_trial"]


def test_when_nothing_beats_the_baseline_the_study_says_so_and_recommends_no_worse_settings(graph, tmp_path, capsys):
    res = tune(graph, ["obj.p=0.0:4.0"], trials=5, overrides=["vars.target=1.5", "obj.p=1.5"], out=str(tmp_path / "t"),
               log=lambda m: None)
    assert res["improved"] is False and res["best_trial"] == 0 and res["best_params"] == {"obj.p": 1.5}
    assert res["best_value"] == 0.0 and max(r["value"] for r in res["trials"][1:]) < 0.0
    assert "nothing beat the graph's own settings" in res["verdict"] and "best: --set" not in res["verdict"]
    code = main(["tune", graph, "--param", "obj.p=0.0:4.0", "--trials", "3", "--set", "vars.target=1.5", "obj.p=1.5",
                 "--out", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert code == 0 and "keep the graph's own settings" in out and "best:" not in out
    assert json.loads(out[:out.index("}") + 1])["trial"] == 0


def test_several_inputs_mean_leave_one_out_with_the_baselines_held_out_figure(graph, tmp_path, capsys):
    code = main(["tune", graph, "--param", "obj.p=0.0:4.0", "--inputs", "1", "2", "3", "--input-var", "target",
                 "--trials", "6", "--sampler", "random", "--out", str(tmp_path / "loo")])
    out = capsys.readouterr().out
    assert code == 0 and "leave-one-out over inputs" in out and "baseline" in out
    saved = json.loads((tmp_path / "loo" / "study.json").read_text())
    assert saved["values"] == ["1", "2", "3"]
    assert saved["baseline"]["values"] == {"1": -1.0, "2": -4.0, "3": -9.0}      # p = 0, held out
    assert saved["improved"] and "best: --set obj.p=" in out
    code = main(["tune", graph, "--param", "obj.p=0.0:4.0", "--inputs", "1", "3", "--input-var", "target",
                 "--trials", "3", "--pooled", "--out", str(tmp_path / "pooled")])
    out = capsys.readouterr().out
    assert code == 0 and "in-sample" in out and "leave-one-out" not in out


def test_held_out_the_baseline_is_kept_when_no_choice_generalizes(graph, tmp_path):
    # every input's best p is the graph's own p = 2: tuning can only match it, never beat it
    res = tune_loo(graph, ["obj.p=0.0:4.0"], "vars.target=2,2.0", trials=5, overrides=["obj.p=2.0"],
                   out=str(tmp_path / "k"), sampler="tpe", log=lambda m: None)
    assert all(f["baseline_chosen"] for f in res["folds"]) and res["improved"] is False
    assert res["recommendation"]["keep_baseline"] is True
    table = format_loo(res)
    assert "nothing beat the graph's own settings held out" in table and "best:" not in table

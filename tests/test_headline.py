"""A graph's headline: the figures its runs are compared by (batch's index ranks and plots them)."""
import pytest

import graphrun
from graphrun.runtime.errors import GraphError
from graphrun.runtime.frontends.batch import index
from graphrun.runtime.run import load_graph, run_graph
from graphrun.runtime.spec import from_dict, to_dict

import runtime_nodes  # noqa: F401 - registers the test_* nodes

OWN = {"rank": "score.quality", "baseline": "score.before", "show": ["score.speed"]}


def row(name, status="ok", **metrics):
    return {"name": name, "input": f"{name}.mp4", "status": status, "metrics": metrics, "headline": dict(OWN),
            "frames": 10, "fps": 1.0, "seconds": 1.0, "report": ""}


def test_a_users_own_figures_rank_the_inputs_lowest_first_after_the_failed_ones():
    rows = [row("a", **{"score.quality": 0.9, "score.before": 0.5, "score.speed": 3, "other.x": 1}),
            row("b", **{"score.quality": 0.2, "score.before": 0.4, "score.speed": 2}),
            row("c", "failed")]
    assert index.key_metric(rows) == ("score.before", "score.quality")
    assert [r["name"] for r in index.ranked(rows)] == ["c", "b", "a"]
    assert index.metric_columns(rows) == ["score.speed", "score.quality", "score.before", "other.x"]
    page = index.to_html(rows, {"graph": "own"})
    assert "gain.<br>quality" in page and "lowest score.quality first" in page and index.plot_png(rows)
    assert "stabilized" not in page and "warp_iou" not in page


def test_without_a_headline_runs_rank_by_a_published_objective_or_by_status_alone():
    plain = [{**row("a", objective=0.3, z=1), "headline": {}}, {**row("b", objective=0.1), "headline": {}}]
    assert index.key_metric(plain) == (None, "objective")
    assert [r["name"] for r in index.ranked(plain)] == ["b", "a"]
    nothing = [{**row("a", z=1), "headline": {}}]
    assert index.key_metric(nothing) == (None, None) and index.plot_png(nothing) == ""


def test_a_headline_is_read_from_the_yaml_checked_and_written_back():
    spec = from_dict({"name": "g", "headline": {"rank": "score.quality", "objective": "score.quality"},
                      "nodes": {"src": "test_count", "sink": "test_collect"}, "edges": ["src.out -> sink.x"]})
    assert to_dict(spec)["headline"] == {"rank": "score.quality", "objective": "score.quality"}
    with pytest.raises(GraphError, match="unknown headline key 'rnak'.*did you mean 'rank'"):
        from_dict({"headline": {"rnak": "a.b"}, "nodes": {"src": "test_count"}})
    with pytest.raises(GraphError, match="headline.rank must be a published result path"):
        from_dict({"headline": {"rank": 3}, "nodes": {"src": "test_count"}})


def test_a_run_reports_its_graphs_headline_and_a_subgraph_lends_its_own():
    g = {"name": "g", "headline": {"rank": "x.y"}, "nodes": {"src": "test_count", "sink": "test_collect"},
         "edges": ["src.out -> sink.x"]}
    assert run_graph(g).headline == {"rank": "x.y"}
    stab = load_graph("stabilize", ["source.frames=2"])
    assert stab.spec.headline["rank"] == "metrics.stabilized.warp_iou"       # from stabilizer_outputs.yaml
    assert stab.spec.headline["baseline"] == "metrics.raw.warp_iou"
    assert graphrun.load("stabilize").spec.headline == {}                     # the file itself declares none

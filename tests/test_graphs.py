"""Every graph shipped in graphs/ builds: nodes exist, parameters validate, links type-check."""
from pathlib import Path

import pytest

from graphrun.runtime.run import load_graph

GRAPHS = sorted((Path(__file__).resolve().parents[1] / "graphs").glob("*.yaml"))


@pytest.mark.parametrize("path", GRAPHS, ids=[p.stem for p in GRAPHS])
def test_shipped_graph_builds(path):
    graph = load_graph(path, device="cpu")
    assert graph.sources()


def test_stabilize_keeps_the_synthetic_scene_until_input_names_a_video(tmp_path):
    """graphs/stabilize.yaml's when: swaps the source for a video_file once ${input} is not empty;
    the user's own --set still wins, and the documented --set source.kind=video_file still works."""
    video = str(tmp_path / "my.mp4")
    plain = load_graph("stabilize", device="cpu")
    assert plain.nodes["source"].spec.kind == "synthetic_scene"
    assert ("source", "gt") in {(e.src, e.src_port) for e in plain.edges}
    bound = load_graph("stabilize", [f"vars.input={video}", "source.max_frames=5"], device="cpu")
    assert bound.nodes["source"].spec.kind == "video_file"
    assert bound.nodes["source"].params.path == video and bound.nodes["source"].params.max_frames == 5
    assert ("source", "gt") not in {(e.src, e.src_port) for e in bound.edges}     # a video has no truth
    mine = load_graph("stabilize", [f"vars.input={video}", "source.path=/other.mp4"], device="cpu")
    assert mine.nodes["source"].params.path == "/other.mp4"
    by_hand = load_graph("stabilize", ["source.kind=video_file", f"source.path={video}"], device="cpu")
    assert by_hand.nodes["source"].params.path == video


def test_a_graph_loaded_with_input_goes_back_to_the_synthetic_scene_when_a_run_empties_it(tmp_path):
    import graphrun
    from graphrun.runtime.options import RunOptions
    g = graphrun.load("stabilize", set=[f"vars.input={tmp_path / 'my.mp4'}"])
    assert g.build(device="cpu").nodes["source"].spec.kind == "video_file"
    again = g._built(RunOptions(set=("vars.input=",), device="cpu"))
    assert again.nodes["source"].spec.kind == "synthetic_scene"
    assert ("source", "gt") in {(e.src, e.src_port) for e in again.edges}
    other = g._built(RunOptions(set=(f"vars.input={tmp_path / 'b.mp4'}",), device="cpu"))
    assert other.nodes["source"].params.path == str(tmp_path / "b.mp4")


def test_a_when_block_names_a_declared_variable_and_set_items_and_is_written_back():
    from graphrun.runtime.errors import GraphError
    from graphrun.runtime.spec import from_dict, to_dict
    g = {"name": "g", "vars": {"input": ""}, "when": {"input": ["src.n=3"]},
         "nodes": {"src": {"kind": "test_count", "params": {"n": 1}}}}
    assert to_dict(from_dict(g))["when"] == {"input": ["src.n=3"]}
    with pytest.raises(GraphError, match="when.inptu: 'inptu' is not a graph variable.*did you mean 'input'"):
        from_dict({**g, "when": {"inptu": ["src.n=3"]}})
    with pytest.raises(GraphError, match="when.input must be a list of --set items"):
        from_dict({**g, "when": {"input": "src.n=3"}})

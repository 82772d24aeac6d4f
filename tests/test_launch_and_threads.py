"""gst-launch-style pipelines, and where the fused executor puts its threads."""
import pytest

import graphrun
from graphrun import GraphError
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.frontends.launch import parse
from graphrun.runtime.run import load_graph
from graphrun.runtime.segments import partition, per_node

import runtime_nodes  # noqa: F401 - registers the test_* nodes
from runtime_nodes import Collect


def test_launch_links_single_port_elements_in_order_and_runs():
    g = parse("test_count n=3 ! test_slow delay=0 ! test_collect name=sink")
    assert [str(e) for e in g.spec.edges] == ["test_count.out -> test_slow.x", "test_slow.out -> sink.x"]
    g.run()
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 1.0, 2.0]


def test_launch_picks_ports_by_name_branches_from_named_elements_and_makes_queues():
    g = parse("test_count name=src n=4 ! test_add name=add ! test_collect name=sink "
              "src.out ! queue capacity=2 ! add.b")
    edges = {str(e): e for e in g.spec.edges}
    assert set(edges) == {"src.out -> add.a", "add.out -> sink.x", "src.out -> add.b"}
    assert edges["src.out -> add.b"].capacity == 2 and edges["src.out -> add.b"].is_queue
    g.run()
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 2.0, 4.0, 6.0]


def test_launch_errors_are_one_line_and_name_the_element():
    with pytest.raises(GraphError, match="cannot link test_count to test_mask_sink"):
        parse("test_count ! test_mask_sink")
    with pytest.raises(GraphError, match="unknown node kind 'test_cuont'.*did you mean 'test_count'"):
        parse("test_cuont ! test_collect")
    with pytest.raises(GraphError, match="no element named 'scr'"):
        parse("test_count name=src ! test_collect scr.out ! test_collect")
    with pytest.raises(GraphError, match="ends with '!'"):
        parse("test_count !")


@pytest.mark.parametrize("pipeline, says", [
    ("test_count n=3 ! queue capacity=-3 ! test_collect", "launch: queue capacity must be a positive integer, not -3"),
    ("test_count n=3 ! queue capacity=0 ! test_collect", "launch: queue capacity must be a positive integer, not 0"),
    ("test_count n=3 ! queue capacity=abc ! test_collect", "queue capacity must be a positive integer, not 'abc'"),
    ("test_count n=3 ! queue policy=leaky ! test_collect", "launch: queue policy must be one of"),
    ("test_count n=3 bogus=1 ! test_collect", "node 'test_count' (test_count): unknown parameter 'bogus'"),
    ("test_count nn=3 ! test_collect", "unknown parameter 'nn' (did you mean 'n'?)"),
    ("test_count n=abc ! test_collect", "parameter 'n' = 'abc': Input should be a valid integer"),
    ("test_count n=3 ! test_slow workers=0 ! test_collect", "(test_slow): workers must be a positive integer, not 0"),
])
@pytest.mark.parametrize("print_yaml", [False, True])
def test_launch_refuses_bad_queues_and_parameters_in_one_line_also_with_print_yaml(pipeline, says, print_yaml,
                                                                                  capsys):
    assert main(["launch", pipeline, *(["--print-yaml"] if print_yaml else []), "-q"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and "pydantic" not in err[0], err
    assert captured.out == ""


def test_launch_print_yaml_writes_a_graph_file_that_loads(tmp_path, capsys):
    assert main(["launch", "test_count n=2 ! test_collect name=sink", "--print-yaml"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "g.yaml").write_text("plugins: [runtime_nodes]\n" + text)
    assert graphrun.load(tmp_path / "g.yaml").run().stats["frames"] == 2


def chain_spec(**edge):
    return {"nodes": {"src": "test_count", "a": "test_slow", "b": "test_slow", "sink": "test_collect"},
            "edges": ["src.out -> a.x", {"from": "a.out", "to": "b.x", **edge}, "b.out -> sink.x"]}


def test_fused_runs_a_chain_on_the_sources_thread_and_starts_one_at_a_queue():
    assert partition(load_graph(chain_spec())) == [["src", "a", "b", "sink"]]
    assert partition(load_graph(chain_spec(queue=True))) == [["src", "a"], ["b", "sink"]]
    assert partition(load_graph(chain_spec(policy="drop_oldest"))) == [["src", "a"], ["b", "sink"]]
    assert per_node(load_graph(chain_spec())) == [["src"], ["a"], ["b"], ["sink"]]
    assert partition(load_graph(chain_spec()), one_thread=True) == [["src", "a", "b", "sink"]]


def test_workers_and_named_threads_get_their_own_thread():
    g = chain_spec()
    g["nodes"]["b"] = {"kind": "test_slow", "workers": 2}
    assert partition(load_graph(g)) == [["src", "a"], ["b"], ["sink"]]
    g = chain_spec()
    g["nodes"]["b"] = {"kind": "test_slow", "thread": "writers"}
    g["nodes"]["sink"] = {"kind": "test_collect", "thread": "writers"}
    assert partition(load_graph(g)) == [["src", "a"], ["b", "sink"]]


def test_a_join_runs_on_its_latest_inputs_thread_and_a_loop_stays_on_one():
    g = {"nodes": {"src": "test_count", "a": "test_slow", "add": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> add.a", {"from": "src.out", "to": "a.x", "queue": True}, "a.out -> add.b",
                   {"from": "add.out", "to": "add.prev", "back": True}, "add.out -> sink.x"]}
    assert partition(load_graph(g)) == [["src"], ["a", "add", "sink"]]


def test_a_named_thread_must_be_a_contiguous_part_of_the_graph():
    g = chain_spec()
    g["nodes"]["a"] = {"kind": "test_slow", "thread": "t"}
    g["nodes"]["sink"] = {"kind": "test_collect", "thread": "t"}
    g["edges"][1] = {"from": "a.out", "to": "b.x", "queue": True}
    with pytest.raises(GraphError, match="thread 't'.*depend on each other through nodes of another thread"):
        partition(load_graph(g))


def test_the_stabilize_graph_runs_the_flow_the_loop_and_the_overlay_on_threads_of_their_own():
    """source + segmenter | working size and flow | the loop (warp .. ghost) and the way back to the
    frame's size (the subgraph's ``thread: loop``: the flow of frame t+1 runs beside the loop of
    frame t) | outputs | overlay video; look-ahead keeps that layout."""
    for sets in ([], ["stab.lookahead=1"]):
        segments = partition(load_graph("stabilize", sets))
        assert segments[0] == ["source", "seg"]
        assert segments[1] == ["stab.size", "stab.flow"]
        assert segments[2][0] == "stab.warp" and {"stab.glitch", "stab.ghost", "stab.back"} <= set(segments[2])
        assert all(n.startswith("out.") and n != "out.overlay" for n in segments[3])
        assert segments[4] == ["out.overlay"] and len(segments) == 5

"""The Python API: builder, to_yaml round trip, run, iterate with Python inputs and early stop."""
import threading

import numpy as np
import pytest
import torch

import graphrun
from graphrun import GraphError

import runtime_nodes  # noqa: F401 - registers the test_* nodes


def running_sum(n=5):
    g = graphrun.Graph("sum")
    src = g.add("test_count", name="src", n=n)
    add = g.add("test_add", name="add")
    sink = g.add("test_collect", name="sink")
    g.connect(src.out, add.a)
    g.connect(add.out, add.prev, back=True)
    g.connect(add.out, sink.x)
    return g


def test_builder_handles_expose_ports_as_attributes_and_name_the_missing_one():
    g = running_sum()
    add = g.node("add")
    assert str(add.out) == "add.out" and set(add.inputs) == {"a", "b", "prev"}
    with pytest.raises(AttributeError, match="no port 'outt'.*did you mean 'out'"):
        _ = add.outt


def test_builder_checks_types_and_kinds_when_linking():
    g = running_sum()
    m = g.add("test_mask_sink", name="m")
    with pytest.raises(GraphError, match="type mismatch: src.out produces scalar but m.mask accepts mask"):
        g.connect(g.node("src").out, m.mask)
    with pytest.raises(GraphError, match="did you mean 'test_count'"):
        g.add("test_cuont")
    with pytest.raises(GraphError, match="parameter|n"):
        g.add("test_count", n=-1)


def test_run_returns_stats_and_published_results():
    result = running_sum().run(executor="inline")
    assert result.stats["frames"] == 5 and result.stats["executor"] == "inline"
    assert [v for _, v, *_ in runtime_nodes.Collect.seen["sink"]] == [0.0, 1.0, 3.0, 6.0, 10.0]
    assert result.results == {}


def test_to_yaml_writes_the_shipped_graphs_nested_subgraph_params_and_reads_them_back(tmp_path):
    for name in ("davis", "stabilize", "stabilize_person"):
        g = graphrun.load(name)
        back = graphrun.load(g.to_yaml(tmp_path / f"{name}.yaml") and tmp_path / f"{name}.yaml")
        assert back.spec.nodes["stab"].params == g.spec.nodes["stab"].params, name
        assert {n: x.params for n, x in back.build().nodes.items()} == {n: x.params for n, x in g.build().nodes.items()}


def test_to_yaml_writes_a_file_that_loads_back_to_the_same_graph(tmp_path):
    g = running_sum()
    g.connect(g.node("src").out, g.add("test_slow", name="slow", delay=0.0).x, queue=True)
    g.spec.plugins.append("runtime_nodes")
    path = tmp_path / "g.yaml"
    g.to_yaml(path)
    back = graphrun.load(path)
    assert back.to_yaml() == g.to_yaml()
    a, b = g.build(), back.build()
    assert [str(e) for e in a.edges] == [str(e) for e in b.edges]
    assert {n: x.params for n, x in a.nodes.items()} == {n: x.params for n, x in b.nodes.items()}
    assert [e.is_queue for e in b.edges] == [e.is_queue for e in a.edges]


def test_load_takes_a_shipped_graph_by_name_with_overrides():
    g = graphrun.load("stabilize", set=["source.frames=3", "stab.fuse.beta_fill=0.7"])
    built = g.build()
    assert built.nodes["stab.fuse"].params.beta_fill == 0.7
    assert built.nodes["source"].params.frames == 3


@pytest.mark.parametrize("executor", ["fused", "per_node", "inline"])
def test_iterate_yields_one_dict_per_frame(executor):
    items = list(running_sum().iterate(["add.out"], executor=executor))
    assert [(d["index"], d["add.out"]) for d in items] == [(0, 0.0), (1, 1.0), (2, 3.0), (3, 6.0), (4, 10.0)]


def test_iterate_feeds_frames_from_python_into_declared_inputs():
    g = graphrun.Graph("fed")
    add = g.add("test_add", name="add")
    g.connect(add.out, add.prev, back=True)
    g.input("x", add.a).output("total", add.out)
    got = [d["total"] for d in g.iterate("total", inputs={"x": [1.0, 2.0, 3.0]})]
    assert got == [1.0, 3.0, 6.0]


def segmenting_frames():
    """A source whose frames Graph.iterate replaces, a segmenter, and 4 gray frames to feed it."""
    g = graphrun.Graph("frames")
    src = g.add("synthetic_scene", name="src", frames=50)
    seg = g.add("bg_subtract", name="seg")
    g.connect(src.frame, seg.frame)
    return g, [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(4)]


def test_iterate_replaces_a_source_by_a_python_iterable_and_converts_numpy_frames():
    g, images = segmenting_frames()
    items = list(g.iterate(["seg.prob"], inputs={"src": images}))
    assert len(items) == 4
    assert all(isinstance(d["seg.prob"], torch.Tensor) and d["seg.prob"].shape == (48, 64) for d in items)


@pytest.mark.parametrize("executor", ["fused", "inline"])
def test_stopping_an_iteration_early_closes_the_graph_and_leaves_no_thread(executor):
    g = running_sum(n=100000)
    it = g.iterate(["add.out"], executor=executor)
    first = [next(it) for _ in range(3)]
    it.close()
    assert [d["index"] for d in first] == [0, 1, 2]
    assert g.last_result.stats["interrupted"] and g.last_result.stats["frames"] < 100000
    assert not [t for t in threading.enumerate() if t.name.startswith("graphrun:")]


def test_iterate_raises_the_nodes_error_after_the_frames_before_it():
    g = graphrun.Graph("fails")
    src = g.add("test_count", name="src", n=10)
    slow = g.add("test_slow", name="slow", fail_at=3)
    g.connect(src.out, slow.x)
    seen = []
    with pytest.raises(graphrun.NodeError, match="node 'slow' failed at frame 3"):
        for d in g.iterate("slow.out"):
            seen.append(d["index"])
    assert seen == [0, 1, 2]


def test_iterate_names_an_unknown_output():
    with pytest.raises(GraphError, match="no output 'add.outt'|has no output 'outt'"):
        list(running_sum().iterate("add.outt"))


def test_iterate_scales_float_frames_in_0_1_and_refuses_other_floats_and_non_iterables():
    g, images = segmenting_frames()
    images[3][10:30, 20:40] = 250
    as_uint8 = [d["seg.prob"] for d in g.iterate(["seg.prob"], inputs={"src": images})]
    as_float = [d["seg.prob"] for d in g.iterate(["seg.prob"], inputs={"src": [i.astype(np.float32) / 255
                                                                               for i in images]})]
    assert float(as_uint8[3].max()) > 0.5
    assert all(torch.allclose(a, b) for a, b in zip(as_uint8, as_float))
    with pytest.raises(graphrun.NodeError, match=r"float video frame must hold values in \[0, 1\], got 30..30"):
        list(g.iterate(["seg.prob"], inputs={"src": [i.astype(np.float32) for i in images]}))
    with pytest.raises(GraphError, match=r"inputs=\{'src': \.\.\.\}\): give an iterable .* not int"):
        list(g.iterate(["seg.prob"], inputs={"src": 5}))


def test_a_queue_capacity_below_one_is_refused_by_the_builder_as_by_yaml():
    g = running_sum()
    src, sink = g.node("src"), g.node("sink")
    for bad in (-3, 0, "abc", 2.5):
        with pytest.raises(GraphError, match=r"connect\(src.out, sink.x\): capacity must be a positive integer"):
            g.connect(src.out, sink.x, capacity=bad)
    with pytest.raises(GraphError, match=r"node 'slow' \(test_slow\): workers must be a positive integer, not 0"):
        g.add("test_slow", name="slow", workers=0)
    with pytest.raises(GraphError, match="edge capacity must be a positive integer, not -3"):
        graphrun.Graph.from_spec(graphrun.runtime.spec.from_dict(
            {"nodes": {"a": "test_count", "b": "test_collect"}, "edges": [{"from": "a.out", "to": "b.x",
                                                                            "capacity": -3}]}))


def test_a_typo_in_a_graph_variable_is_caught_with_did_you_mean():
    g = graphrun.load("stabilize_person")
    with pytest.raises(GraphError, match=r"--set vars.inptu: graph 'stabilize_person' has no variable 'inptu' "
                                         r"\(did you mean 'input'\?\)"):
        g.set("vars.inptu=x.mp4")
    g.set("vars.input=x.mp4")                       # a declared variable
    g.set("vars.extra=1", "source.path=${extra}")   # or one the graph reads after the overrides

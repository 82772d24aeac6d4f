"""Subgraphs: a graph used as a node through typed ghost ports (GStreamer bins, Holoscan Subgraph)."""
import textwrap

import pytest

import graphrun
from graphrun import GraphError
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.registry import shipped_graphs_dir
from graphrun.runtime.run import load_graph, run_graph

import runtime_nodes  # noqa: F401 - registers the test_* nodes
from runtime_nodes import Collect

ACCUMULATOR = """\
name: accumulator
description: running sum of its input, scaled
plugins: [runtime_nodes]
vars: {factor: "2.0"}
inputs:
  x: add.a
  bias: add.b
outputs:
  total: add.out
  scaled: scale.out
nodes:
  add: test_add
  scale: {kind: test_scale_sub, params: {factor: "${factor}"}}
edges:
  - {from: add.out, to: add.prev, back: true}
  - add.out -> scale.x
"""


@graphrun.register("test_scale_sub")
def scale(x: graphrun.runtime.types.SCALAR, factor: float = 1.0) -> graphrun.runtime.types.SCALAR:
    """Multiply by a factor."""
    return x * factor


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def graph_dir(tmp_path):
    write(tmp_path / "accumulator.yaml", ACCUMULATOR)
    return tmp_path


def using(graph_dir, extra_nodes="", extra_edges=""):
    return write(graph_dir / "g.yaml", f"""\
plugins: [runtime_nodes]
nodes:
  src: {{kind: test_count, params: {{n: 4}}}}
  acc: {{kind: ./accumulator.yaml, params: {{add: {{on_error: skip}}}}}}
  sink: test_collect
{extra_nodes}
edges:
  - src.out -> acc.x
  - acc.scaled -> sink.x
{extra_edges}
""")


def test_a_yaml_subgraph_runs_as_a_node_with_its_nodes_named_after_it(graph_dir):
    stats = run_graph(using(graph_dir)).stats
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 2.0, 6.0, 12.0]   # 2 x running sums
    assert {"acc.add", "acc.scale"} <= set(stats["nodes"])


def test_set_reaches_inside_a_subgraph_to_a_node_and_to_a_variable(graph_dir):
    g = load_graph(using(graph_dir), overrides=["acc.scale.factor=10", "acc.add.workers=1"])
    assert g.nodes["acc.scale"].params.factor == 10
    g = load_graph(using(graph_dir), overrides=["acc.vars.factor=3"])
    assert g.nodes["acc.scale"].params.factor == 3
    assert g.nodes["acc.add"].spec.on_error == "skip"          # params: {add: {on_error: skip}}
    with pytest.raises(GraphError, match="no node or variable 'scael'.*did you mean 'scale'"):
        load_graph(using(graph_dir), overrides=["acc.scael.factor=3"])


def test_a_wrong_type_into_a_ghost_input_names_the_edge_as_written(graph_dir):
    g = using(graph_dir, "  m: test_prob", "  - src.out -> m.x\n  - m.prob -> acc.bias")
    with pytest.raises(GraphError, match=r"type mismatch: m.prob produces prob_map.*acc.add.b accepts scalar "
                                         r"\(edge m.prob -> acc.bias\)"):
        load_graph(g)


def test_a_ghost_input_feeding_ports_of_different_types_is_rejected(graph_dir):
    write(graph_dir / "accumulator.yaml", ACCUMULATOR.replace("  x: add.a", "  x: [add.a, m.mask]")
          .replace("  add: test_add", "  add: test_add\n  m: test_mask_sink"))
    with pytest.raises(GraphError, match=r"subgraph 'acc'.*input 'x' feeds acc.add.a \(scalar\) and acc.m.mask "
                                         r"\(mask.*different types"):
        load_graph(using(graph_dir))


def test_ghost_ports_must_name_real_inner_ports(graph_dir):
    write(graph_dir / "accumulator.yaml", ACCUMULATOR.replace("total: add.out", "total: add.outt"))
    with pytest.raises(GraphError, match="output 'total' <- acc.add.outt.*has no output 'outt'"):
        load_graph(using(graph_dir))


def test_an_unknown_ghost_port_in_a_link_suggests_the_closest(graph_dir):
    g = using(graph_dir).read_text().replace("acc.scaled -> sink.x", "acc.scaeld -> sink.x")
    with pytest.raises(GraphError, match="subgraph 'acc' .*has no output 'scaeld'.*did you mean 'scaled'"):
        load_graph(write(graph_dir / "g.yaml", g))


def test_a_subgraph_cannot_choose_how_the_graph_runs(graph_dir):
    write(graph_dir / "accumulator.yaml", "mode: realtime\n" + ACCUMULATOR)
    with pytest.raises(GraphError, match="a subgraph cannot set 'mode'"):
        load_graph(using(graph_dir))


def test_a_subgraph_used_twice_gives_two_independent_instances(graph_dir):
    g = using(graph_dir, "  acc2: {kind: ./accumulator.yaml, params: {factor: '-1'}}\n  sink2: test_collect",
              "  - src.out -> acc2.x\n  - acc2.scaled -> sink2.x")
    run_graph(g)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 2.0, 6.0, 12.0]
    assert [v for _, v, *_ in Collect.seen["sink2"]] == [0.0, -1.0, -3.0, -6.0]


def test_a_python_builder_function_is_a_subgraph_with_parameters():
    @graphrun.subgraph("test_builder_sub")
    def doubler(factor: float = 2.0):
        g = graphrun.Graph("doubler")
        s = g.add("test_scale_sub", name="s", factor=factor)
        return g.input("x", s.x).output("y", s.out)

    g = graphrun.Graph("uses_builder")
    src = g.add("test_count", name="src", n=3)
    d = g.add("test_builder_sub", name="d", factor=5.0)
    g.connect(src.out, d.x)
    assert [x["d.y"] for x in g.iterate("d.y")] == [0.0, 5.0, 10.0]
    with pytest.raises(AttributeError, match="no port 'z'"):
        _ = d.z


def test_subgraphs_nest_and_dot_draws_them_as_clusters(graph_dir, capsys):
    write(graph_dir / "outer.yaml", """\
    inputs: {x: inner.x}
    outputs: {y: inner.scaled}
    nodes:
      inner: {kind: ./accumulator.yaml}
    edges: []
    """)
    g = using(graph_dir).read_text().replace("./accumulator.yaml", "./outer.yaml").replace("acc.scaled", "acc.y")
    g = g.replace("params: {add: {on_error: skip}}", "params: {inner: {add.on_error: skip}}")
    g = write(graph_dir / "g.yaml", g)
    run_graph(g)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 2.0, 6.0, 12.0]
    assert load_graph(g).nodes["acc.inner.add"].spec.on_error == "skip"
    assert main(["dot", str(g)]) == 0
    dot = capsys.readouterr().out
    assert 'subgraph "cluster_acc"' in dot and 'subgraph "cluster_acc__inner"' in dot


def test_inspect_shows_a_subgraphs_typed_ports_and_nodes(capsys):
    assert main(["inspect", "stabilizer"]) == 0
    out = capsys.readouterr().out
    assert "in  current" in out and "prob_map" in out and "out mask" in out and "motion_fusion" in out


def test_inspect_describes_a_whole_graph_by_path_or_name_instead_of_refusing_it_as_a_subgraph(capsys):
    for ref in (str(shipped_graphs_dir() / "davis.yaml"), "stabilize"):
        assert main(["inspect", ref]) == 0
        out = capsys.readouterr().out
        assert "(graph," in out and "subgraph: graphrun inspect stabilizer" in out, ref
        assert "T0:" in out and "stab.flow" in out, ref     # the threads it runs on


def test_the_shipped_stabilization_graphs_contain_the_stabilizer_once():
    for name in ("stabilize", "davis", "stabilize_maskrcnn", "stabilize_person"):
        spec = graphrun.load(name).spec
        assert [n for n, ns in spec.nodes.items() if ns.kind == "stabilizer"] == ["stab"], name
        assert not any(ns.kind in ("flow_warp", "motion_fusion", "anti_ghost") for ns in spec.nodes.values()), name


def test_setting_a_node_inside_a_subgraph_by_its_short_name_suggests_the_full_one():
    with pytest.raises(GraphError, match="no node 'overlay'.*did you mean 'out.overlay'"):
        load_graph("stabilize", overrides=["overlay.enabled=false"])

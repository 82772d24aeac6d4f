"""The execution plan (named parts a test can read) and the executor classes it is run by."""
import ast
from pathlib import Path

import pytest

from graphrun.runtime import spec as spec_mod
from graphrun.runtime.errors import GraphError
from graphrun.runtime.executor import EXECUTORS, FusedExecutor, InlineExecutor, PerNodeExecutor, executor_class
from graphrun.runtime.plan import BackCopy, InputSlot, OutputSlot, QueuePlan, Route
from graphrun.runtime.run import load_graph, run_graph

import runtime_nodes  # noqa: F401 - registers the test_* nodes

RUNTIME = Path(__file__).resolve().parents[1] / "runtime"


def chain(**edge):
    return {"nodes": {"src": "test_count", "a": "test_slow", "b": "test_slow", "sink": "test_collect"},
            "edges": ["src.out -> a.x", {"from": "a.out", "to": "b.x", **edge}, "b.out -> sink.x"]}


def test_a_fused_chain_is_one_segment_whose_steps_read_the_slots_the_step_before_wrote():
    plan = FusedExecutor.plan_for(load_graph(chain()))
    (seg,) = plan.segments
    assert seg.nodes == ("src", "a", "b", "sink") and seg.n_sources == 1 and seg.workers == 1
    src, a, b, sink = seg.steps
    assert a.inputs == (InputSlot("x", src.outputs[0].slot, False),)
    assert b.inputs[0].slot == a.outputs[0].slot and sink.inputs[0].slot == b.outputs[0].slot
    assert sink.terminal and not a.terminal and sink.outputs == ()
    assert seg.queues == () and seg.exports == () and not seg.has_inbox


def test_a_queue_splits_the_plan_into_an_export_and_the_consumers_bounded_queue():
    g = load_graph(chain(queue=True, capacity=3))
    first, second = FusedExecutor.plan_for(g).segments
    assert first.nodes == ("src", "a") and second.nodes == ("b", "sink")
    (export,) = first.exports
    assert first.steps[1].outputs == (OutputSlot("out", export.slot),)
    assert export.routes == (Route(1, ("b", "x"), False),)
    assert second.queues == (QueuePlan(("b", "x"), second.steps[0].inputs[0].slot, 3, "block"),)
    assert FusedExecutor.threads_of(FusedExecutor.plan_for(g)) == 2


def test_realtime_makes_an_unset_policy_leaky_and_one_thread_makes_a_blocking_queue_unbounded():
    g = load_graph(chain(queue=True))
    realtime = FusedExecutor.plan_for(g, mode="realtime").segments[1].queues[0]
    assert realtime.policy == "drop_oldest"
    per_node = PerNodeExecutor.plan_for(g)
    assert len(per_node.segments) == 4 and all(s.queues[0].capacity == 8 for s in per_node.segments[1:])
    assert InlineExecutor.threads_of(InlineExecutor.plan_for(g)) == 1


def test_a_back_edge_inside_a_segment_is_a_copy_after_each_frame():
    g = {"nodes": {"src": "test_count", "acc": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> acc.a", {"from": "acc.out", "to": "acc.prev", "back": True}, "acc.out -> sink.x"]}
    (seg,) = FusedExecutor.plan_for(load_graph(g)).segments
    acc = seg.steps[1]
    prev = next(i for i in acc.inputs if i.port == "prev")
    unconnected = next(i for i in acc.inputs if i.port == "b")
    assert prev.optional and seg.copies == (BackCopy(acc.outputs[0].slot, prev.slot),)
    assert unconnected.slot == 0 and unconnected.optional             # slot 0: always empty
    assert run_graph(g, executor="per_node").stats["frames"] == 10


def test_each_executor_kind_is_one_class_and_the_spec_accepts_exactly_those_names():
    assert tuple(EXECUTORS) == spec_mod.EXECUTORS
    assert executor_class("inline") is InlineExecutor and executor_class("per_node") is PerNodeExecutor
    with pytest.raises(GraphError, match="executor must be one of fused, per_node, inline"):
        executor_class("threads")


def test_the_summary_names_the_executor_and_counts_its_threads():
    for kind, threads in (("fused", 2), ("per_node", 4), ("inline", 1)):
        stats = run_graph(chain(queue=True), executor=kind).stats
        assert stats["executor"] == kind and stats["threads"] == threads and stats["frames"] == 10


def _imports(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update("." * node.level + (node.module + "." if node.module else "") + a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_engine_imports_no_front_end_and_only_the_executor_module_knows_the_kind_names():
    engine = [p for p in RUNTIME.glob("*.py")]
    for p in engine:
        assert not any("frontends" in name for name in _imports(p)), f"{p.name} imports a front-end"
    compared = []
    for p in list(engine) + list((RUNTIME / "frontends").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Compare):
                for c in [node.left, *node.comparators]:
                    if isinstance(c, ast.Constant) and c.value in EXECUTORS:
                        compared.append(f"{p.name}:{node.lineno}")
    assert compared == [], f"an executor kind's name compared outside executor_class: {compared}"


def test_no_part_of_the_runtime_reaches_into_a_node_family():
    for p in RUNTIME.rglob("*.py"):
        families = [n for n in _imports(p) if n.startswith("graphrun.nodes.")]
        assert families == [], f"{p.relative_to(RUNTIME)} imports {families}"

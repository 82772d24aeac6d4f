"""The graph runtime: build-time checks, scheduling, back edges, modes, errors."""
import threading

import pytest

from graphrun.runtime import GraphError, Input, Node, NodeError, Output, register
from graphrun.runtime.run import load_graph, run_graph
from graphrun.runtime.types import ANY, SCALAR

import runtime_nodes  # noqa: F401 - registers the test_* nodes
from runtime_nodes import Collect, Count


def chain(n=20, **extra):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": n}}, "sink": "test_collect"},
         "edges": ["src.out -> sink.x"]}
    g.update(extra)
    return g


EXECUTORS = ["fused", "per_node", "inline"]


@pytest.fixture(params=EXECUTORS)
def executor(request):
    """Per-frame semantics are the same whichever executor runs the graph."""
    return request.param


def graphrun_threads():
    return [t for t in threading.enumerate() if t.name.startswith("graphrun:")]


def test_every_frame_reaches_the_sink_in_order_offline(executor):
    stats = run_graph(chain(50), executor=executor).stats
    assert [i for i, *_ in Collect.seen["sink"]] == list(range(50))
    assert stats["frames"] == 50 and stats["drops"] == 0


def test_type_mismatch_names_both_ports_and_types():
    g = {"nodes": {"src": "test_count", "p": "test_prob", "m": "test_mask_sink"},
         "edges": ["src.out -> p.x", "p.prob -> m.mask"]}
    with pytest.raises(GraphError) as e:
        load_graph(g)
    msg = str(e.value)
    assert "p.prob" in msg and "m.mask" in msg and "prob_map" in msg and "mask" in msg


def test_cycle_without_back_edge_is_rejected():
    g = {"nodes": {"src": "test_count", "add": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> add.a", "add.out -> add.prev", "add.out -> sink.x"]}
    with pytest.raises(GraphError, match="cycle.*back: true"):
        load_graph(g)


def test_back_edge_delivers_previous_frames_output(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 6}}, "add": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> add.a", {"from": "add.out", "to": "add.prev", "back": True}, "add.out -> sink.x"]}
    run_graph(g, executor=executor)
    # out_t = t + out_{t-1}: running sums
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 1.0, 3.0, 6.0, 10.0, 15.0]


def test_back_edge_into_required_input_is_rejected():
    g = {"nodes": {"src": "test_count", "add": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> add.b", {"from": "add.out", "to": "add.a", "back": True}, "add.out -> sink.x"]}
    with pytest.raises(GraphError, match="optional"):
        load_graph(g)


def test_unconnected_required_input_is_rejected():
    g = {"nodes": {"src": "test_count", "add": "test_add", "sink": "test_collect"},
         "edges": ["src.out -> add.b", "add.out -> sink.x"]}
    with pytest.raises(GraphError, match=r"required input 'add.a'"):
        load_graph(g)


def test_unknown_kind_and_parameter_suggest_the_closest_name():
    with pytest.raises(GraphError, match="did you mean 'test_count'"):
        load_graph({"nodes": {"src": "test_cuont"}, "edges": []})
    with pytest.raises(GraphError, match="unknown parameter 'fsp'.*did you mean 'fps'"):
        load_graph({"nodes": {"src": {"kind": "test_count", "params": {"fsp": 3}}}, "edges": []})


def test_parameter_out_of_range_names_node_and_parameter():
    with pytest.raises(GraphError, match=r"node 'src'.*parameter 'n'"):
        load_graph({"nodes": {"src": {"kind": "test_count", "params": {"n": -1}}}, "edges": []})


def test_unknown_port_lists_the_node_ports():
    with pytest.raises(GraphError, match="has no output 'outt'.*did you mean 'out'"):
        load_graph({"nodes": {"src": "test_count", "sink": "test_collect"}, "edges": ["src.outt -> sink.x"]})


def test_registering_a_kind_twice_is_an_error():
    with pytest.raises(GraphError, match="registered twice"):
        @register("test_count")
        class Other(Node):
            """Another."""
            x = Input(ANY)


def test_function_form_turns_annotated_arguments_into_ports_and_defaults_into_params(executor):
    @register("test_scale_fn")
    def scale(x: SCALAR, factor: float = 2.0) -> SCALAR:
        """Multiply by a factor."""
        return x * factor

    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 3}},
                   "s": {"kind": "test_scale_fn", "params": {"factor": 10}}, "sink": "test_collect"},
         "edges": ["src.out -> s.x", "s.out -> sink.x"]}
    run_graph(g, executor=executor)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [0.0, 10.0, 20.0]


def test_overrides_set_node_parameters():
    run_graph(chain(5), overrides=["src.n=3"])
    assert len(Collect.seen["sink"]) == 3
    with pytest.raises(GraphError, match="no node 'scr'.*did you mean 'src'"):
        run_graph(chain(5), overrides=["scr.n=3"])


def test_workers_run_a_stateless_node_in_parallel_and_keep_frame_order(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 30}},
                   "slow": {"kind": "test_slow", "workers": 3, "params": {"delay": 0.004, "jitter_by_index": True}},
                   "sink": "test_collect"},
         "edges": ["src.out -> slow.x", "slow.out -> sink.x"]}
    run_graph(g, executor=executor)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [float(i) for i in range(30)]


def test_workers_on_a_stateful_node_are_rejected():
    g = {"nodes": {"src": "test_count", "add": {"kind": "test_add", "workers": 2}, "sink": "test_collect"},
         "edges": ["src.out -> add.a", "add.out -> sink.x"]}
    with pytest.raises(GraphError, match="keeps state"):
        load_graph(g)


def test_empty_outputs_keep_a_join_aligned_by_index(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 8}}, "odd": "test_odd_only", "sink": "test_collect"},
         "edges": ["src.out -> odd.x", "src.out -> sink.y", "odd.out -> sink.x"]}
    run_graph(g, executor=executor)
    got = Collect.seen["sink"]
    assert [(i, x, y) for i, x, y, _ in got] == [(i, float(i), float(i)) for i in range(1, 8, 2)]


def test_realtime_drops_frames_under_a_slow_node_and_offline_drops_none(executor):
    def g():
        return {"nodes": {"src": {"kind": "test_count", "params": {"n": 40, "fps": 100}},
                          "slow": {"kind": "test_slow", "params": {"delay": 0.02}}, "sink": "test_collect"},
                "edges": ["src.out -> slow.x", "slow.out -> sink.x"]}
    offline = run_graph(g(), mode="offline", executor=executor).stats
    assert offline["frames"] == 40 and offline["drops"] == 0
    realtime = run_graph(g(), mode="realtime", executor=executor).stats
    seen = Collect.seen["sink"]
    assert realtime["drops"] > 0
    assert realtime["frames"] + realtime["drops"] == 40
    assert len(seen) == realtime["frames"]
    # stateful nodes are told how many frames were skipped before each one they see
    assert sum(s for *_, s in seen) == seen[-1][0] - seen[0][0] + 1 - len(seen)


def test_leaky_queue_drop_newest_counts_drops_at_the_consumer():
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 50}},
                   "slow": {"kind": "test_slow", "params": {"delay": 0.002}}, "sink": "test_collect"},
         "edges": [{"from": "src.out", "to": "slow.x", "capacity": 1, "policy": "drop_newest"}, "slow.out -> sink.x"]}
    stats = run_graph(g).stats
    assert stats["nodes"]["slow"]["drops"] > 0
    assert stats["frames"] + stats["drops"] == 50


def test_a_node_raising_mid_stream_stops_the_run_with_node_and_frame_and_no_thread_left(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 1000}},
                   "slow": {"kind": "test_slow", "params": {"fail_at": 7}}, "sink": "test_collect"},
         "edges": ["src.out -> slow.x", "slow.out -> sink.x"]}
    with pytest.raises(NodeError, match=r"node 'slow' failed at frame 7: ValueError: boom"):
        run_graph(g, executor=executor)
    assert graphrun_threads() == []


def test_on_error_skip_counts_the_error_and_goes_on(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 10}},
                   "slow": {"kind": "test_slow", "on_error": "skip", "params": {"fail_at": 3}}, "sink": "test_collect"},
         "edges": ["src.out -> slow.x", "slow.out -> sink.x"]}
    stats = run_graph(g, executor=executor).stats
    assert stats["nodes"]["slow"]["errors"] == 1
    assert [i for i, *_ in Collect.seen["sink"]] == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_a_failing_source_reports_the_frame_it_was_making(executor):
    with pytest.raises(NodeError, match="node 'src' failed at frame 5"):
        run_graph(chain(10, nodes={"src": {"kind": "test_count", "params": {"n": 10, "fail_at": 5}},
                                   "sink": "test_collect"}), executor=executor)
    assert graphrun_threads() == []


def test_stats_and_trace_files_are_written(tmp_path):
    import json
    run_graph(chain(5), trace=str(tmp_path / "t.json"), stats=str(tmp_path / "s.json"))
    trace = json.loads((tmp_path / "t.json").read_text())
    names = {e["name"] for e in trace["traceEvents"] if e.get("ph") == "X"}
    assert names == {"src", "sink"}
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["frames"] == 5 and set(stats["nodes"]) == {"src", "sink"}
    assert stats["latency"]["p50_ms"] is not None


def test_failed_run_marks_its_output_directory(tmp_path):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 10}},
                   "slow": {"kind": "test_slow", "params": {"fail_at": 2}}, "sink": "test_collect"},
         "edges": ["src.out -> slow.x", "slow.out -> sink.x"]}
    with pytest.raises(NodeError):
        run_graph(g, out_dir=tmp_path / "run")
    assert "failed at frame 2" in (tmp_path / "run" / "FAILED.txt").read_text()


def test_realtime_deadline_drops_frames_that_arrive_too_late_at_a_queue():
    g = {"realtime": {"max_in_flight": 4, "deadline_ms": 15},
         "nodes": {"src": {"kind": "test_count", "params": {"n": 30, "fps": 200}},
                   "slow": {"kind": "test_slow", "params": {"delay": 0.02}}, "sink": "test_collect"},
         "edges": [{"from": "src.out", "to": "slow.x", "queue": True},
                   {"from": "slow.out", "to": "sink.x", "queue": True}]}
    stats = run_graph(g, mode="realtime").stats
    assert stats["nodes"]["sink"]["drops"] > 0
    assert stats["frames"] + stats["drops"] == 30


@register("test_slow_setup")
class SlowSetup(Node):
    """Takes a while to set up (a model loading); records when it is done."""
    x = Input(ANY)
    out = Output(ANY)
    done = False

    def setup(self, ctx):
        import time
        SlowSetup.done = False
        time.sleep(0.3)
        SlowSetup.done = True

    def process(self, ctx, x):
        return {"out": x}


@register("test_ready_probe")
class ReadyProbe(Count):
    """Emit whether the slow node had finished its setup when each frame was generated."""

    def generate(self, ctx):
        for _ in range(self.params.n):
            yield {"out": float(SlowSetup.done)}


def test_flush_emits_what_a_node_still_holds_at_end_of_stream(executor):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 5}}, "pairs": "test_pairs", "sink": "test_collect"},
         "edges": ["src.out -> pairs.x", "pairs.out -> sink.x"]}
    run_graph(g, executor=executor)
    assert [(i, v) for i, v, *_ in Collect.seen["sink"]] == [(1, 1.0), (3, 5.0), (5, 4.0)]


def test_sources_start_only_after_every_node_is_set_up(executor):
    g = {"nodes": {"src": {"kind": "test_ready_probe", "params": {"n": 3}}, "s": "test_slow_setup",
                   "sink": "test_collect"}, "edges": ["src.out -> s.x", "s.out -> sink.x"]}
    run_graph(g, executor=executor)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [1.0, 1.0, 1.0]


def test_a_non_source_node_without_a_connected_input_is_rejected():
    g = {"nodes": {"src": "test_count", "sink": "test_collect", "lonely": "test_optional_only"},
         "edges": ["src.out -> sink.x"]}
    with pytest.raises(GraphError, match="node 'lonely' has no input connected"):
        load_graph(g)


@register("test_torch_threads")
class TorchThreads(Node):
    """Emit torch's intra-op thread count as seen inside the node."""
    x = Input(ANY)
    out = Output(ANY)

    def process(self, ctx, x):
        import torch
        return {"out": float(torch.get_num_threads())}


def test_graph_threads_set_torch_pools_for_the_run_and_restore_them(executor):
    import torch
    before = torch.get_num_threads()
    g = {"threads": {"torch": 1}, "nodes": {"src": {"kind": "test_count", "params": {"n": 2}},
                                             "t": "test_torch_threads", "sink": "test_collect"},
         "edges": ["src.out -> t.x", "t.out -> sink.x"]}
    run_graph(g, executor=executor)
    assert [v for _, v, *_ in Collect.seen["sink"]] == [1.0, 1.0]
    assert torch.get_num_threads() == before
    with pytest.raises(GraphError, match="unknown threads key 'torhc'"):
        load_graph(dict(g, threads={"torhc": 1}))


@register("test_finish_probe")
class FinishProbe(Node):
    """Record what the context says at finish."""
    x = Input(ANY)
    seen: dict = {}

    def process(self, ctx, x):
        return None

    def finish(self, ctx):
        FinishProbe.seen = {"expected": ctx.expected_frames, "interrupted": ctx.interrupted}


def test_finish_knows_the_expected_frames_and_whether_the_run_was_cut_short():
    import graphrun
    g = graphrun.Graph("probe")
    src = g.add("test_count", name="src", n=1000)
    g.connect(src.out, g.add("test_finish_probe", name="p").x)
    run_graph(g.spec)
    assert FinishProbe.seen == {"expected": 1000, "interrupted": False}
    it = g.iterate("src.out")
    next(it)
    it.close()
    assert FinishProbe.seen == {"expected": 1000, "interrupted": True}


def test_long_runs_keep_timing_samples_bounded_with_exact_totals(monkeypatch):
    from graphrun.runtime import stats as stats_mod
    monkeypatch.setattr(stats_mod, "SAMPLES_KEPT", 1000)
    s = stats_mod.NodeStats("n")
    for _ in range(5000):
        s.durations.append(0.002)
        s.compact()
    assert len(s.durations) <= 1000
    summary = s.summary()
    assert summary["total_s"] == 10.0 and summary["mean_ms"] == 2.0 and summary["p50_ms"] == 2.0


def test_node_errors_show_the_systems_words_not_errno_numbers():
    err = NodeError("src", 3, FileNotFoundError(2, "No such file or directory", "a.mp4"))
    assert "Errno" not in str(err) and "No such file or directory" in str(err)

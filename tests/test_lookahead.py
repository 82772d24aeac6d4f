"""Look-ahead: a node that needs future frames declares it; the runtime holds frames for it."""
import pytest

from graphrun.runtime import GraphError
from graphrun.runtime.run import load_graph, run_graph
from graphrun.runtime.segments import partition

import runtime_nodes  # noqa: F401 - registers the test_* nodes
from runtime_nodes import Collect

EXECUTORS = ["fused", "per_node", "inline"]


def ahead_graph(n=5, k=1, fps=100, **extra):
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": n, "fps": fps}},
                   "ahead": {"kind": "test_ahead_sum", "params": {"lookahead": k}},
                   "sink": "test_collect"},
         "edges": ["src.out -> ahead.x", "ahead.out -> sink.x", "src.out -> sink.y"]}
    g.update(extra)
    return g


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_look_ahead_node_sees_the_next_frames_and_stays_aligned_downstream(executor):
    stats = run_graph(ahead_graph(n=6, k=2), executor=executor).stats
    got = [(i, x, y) for i, x, y, _ in Collect.seen["sink"]]
    # out_t = x_t + x_t+1 + x_t+2 (fewer at the end), joined with the source's own x_t at the same index
    assert got == [(0, 3.0, 0.0), (1, 6.0, 1.0), (2, 9.0, 2.0), (3, 12.0, 3.0), (4, 9.0, 4.0), (5, 5.0, 5.0)]
    assert stats["frames"] == 6 and stats["lag_frames"] == 2


@pytest.mark.parametrize("executor", EXECUTORS)
def test_look_ahead_inside_a_recurrent_loop(executor):
    g = ahead_graph(n=4, k=1)
    g["edges"].append({"from": "ahead.out", "to": "ahead.prev", "back": True})
    run_graph(g, executor=executor)
    assert [x for _, x, *_ in Collect.seen["sink"]] == [1.0, 3.0, 5.0, 3.0]


def test_a_look_ahead_node_gets_a_thread_of_its_own_and_the_loop_with_it():
    assert partition(load_graph(ahead_graph())) == [["src"], ["ahead", "sink"]]
    assert partition(load_graph(ahead_graph()), one_thread=True) == [["src"], ["ahead", "sink"]]


@pytest.mark.parametrize("executor", ["fused", "inline"])
def test_realtime_admits_the_frames_a_look_ahead_holds_and_reports_its_lag(executor):
    stats = run_graph(ahead_graph(n=30, k=2, fps=25), mode="realtime", executor=executor).stats
    # a fast graph: (nearly) nothing dropped; without room for the held frames nearly all would be
    # (25 fps, not faster: a 2-core machine under load still keeps a 40 ms period)
    assert stats["frames"] + stats["drops"] == 30 and stats["frames"] >= 25
    assert stats["lag_frames"] == 2 and stats["lag_ms"] == 80.0     # 2 frames at 25 fps
    assert stats["latency"]["p50_ms"] >= 60                          # the lag is in the latency


def test_realtime_a_dropped_frame_releases_the_frame_held_for_it_at_once():
    """MediaPipe's timestamp bound: a frame dropped at the source never comes, so the frame whose
    look-ahead waits for it runs at once with what it has (not a period later with the frame after)."""
    g = {"nodes": {"src": {"kind": "test_count", "params": {"n": 14, "fps": 20}},
                   "ahead": {"kind": "test_ahead_sum", "params": {"lookahead": 1}},
                   "slow": {"kind": "test_slow", "params": {"delay": 0.12}, "thread": "sink"},
                   "sink": "test_collect"},
         "edges": ["src.out -> ahead.x", "ahead.out -> slow.x", "slow.out -> sink.x"]}
    stats = run_graph(g, mode="realtime").stats
    got = [(i, x) for i, x, _, _ in Collect.seen["sink"]]
    assert stats["source_drops"] > 0 and stats["frames"] == len(got)
    # out_t = t + (t+1 when it came): never t + a later frame, which would be a period of extra lag
    assert all(x in (i, 2 * i + 1) for i, x in got), got
    assert any(x == i for i, x in got[:-1])          # released without its dropped successor


def test_a_back_edge_out_of_a_look_ahead_thread_is_rejected():
    g = ahead_graph(n=4, k=1)
    g["nodes"]["add"] = "test_add"
    g["edges"] = ["src.out -> add.a", {"from": "add.out", "to": "ahead.x", "queue": True},
                  {"from": "ahead.out", "to": "add.prev", "back": True}, "ahead.out -> sink.x"]
    with pytest.raises(GraphError, match="back edge ahead.out -> add.prev leaves a look-ahead"):
        partition(load_graph(g))


def test_look_ahead_is_not_for_workers():
    g = ahead_graph()
    g["nodes"]["ahead"]["workers"] = 2
    with pytest.raises(GraphError, match="looks ahead and cannot run with workers"):
        load_graph(g)


def test_inline_runs_a_workers_node_with_one_worker_even_beside_a_look_ahead():
    g = ahead_graph(n=5, k=1)
    g["nodes"]["slow"] = {"kind": "test_slow", "workers": 3}
    g["edges"] = ["src.out -> slow.x", "slow.out -> ahead.x", "ahead.out -> sink.x", "src.out -> sink.y"]
    stats = run_graph(g, executor="inline").stats
    assert stats["threads"] == 1 and stats["nodes"]["slow"]["workers"] == 1
    assert [x for _, x, *_ in Collect.seen["sink"]] == [1.0, 3.0, 5.0, 7.0, 4.0]

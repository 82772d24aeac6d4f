"""batch: N consecutive tensors -> one (N, ...) tensor on every N-th frame; plumbing nodes."""
import pytest
import torch

from graphrun.nodes.basic import NullSink, Passthrough
from graphrun.nodes.batching import Batch
from graphrun.runtime import Context, UserInputError


def feed(node, ctx, tensors, start=0):
    outs = []
    for i, t in enumerate(tensors):
        ctx.index, ctx.pts = start + i, (start + i) / 30
        outs.append(node.process(ctx, x=t))
    return outs


def test_batch_of_three_emits_on_every_third_frame_with_member_indices():
    node, ctx = Batch(Batch.Params(size=3)), Context(name="b")
    node.setup(ctx)
    xs = [torch.full((2, 4, 4), float(i)) for i in range(7)]
    outs = feed(node, ctx, xs)
    emitted = [i for i, o in enumerate(outs) if o is not None]
    assert emitted == [2, 5]
    assert outs[2]["batch"].shape == (3, 2, 4, 4)
    assert torch.equal(outs[5]["batch"][:, 0, 0, 0], torch.tensor([3.0, 4.0, 5.0]))
    assert outs[5]["info"]["indices"] == [3, 4, 5]
    assert outs[5]["info"]["pts"] == pytest.approx([0.1, 4 / 30, 5 / 30])


def test_flush_emits_the_partial_last_batch_once():
    node, ctx = Batch(Batch.Params(size=4)), Context(name="b")
    node.setup(ctx)
    feed(node, ctx, [torch.zeros(3)] * 6)
    last = node.flush(ctx)
    assert last["batch"].shape == (2, 3) and last["info"]["indices"] == [4, 5]
    assert node.flush(ctx) is None


def test_partial_drop_discards_the_last_batch_and_counts_it():
    node, ctx = Batch(Batch.Params(size=4, partial="drop")), Context(name="b")
    node.setup(ctx)
    feed(node, ctx, [torch.zeros(3)] * 5)
    assert node.flush(ctx) is None
    assert node.dropped_partial == 1


def test_finish_without_flush_reports_the_lost_frames():
    logs = []
    node, ctx = Batch(Batch.Params(size=4)), Context(name="b", log=logs.append)
    node.setup(ctx)
    feed(node, ctx, [torch.zeros(3)] * 3)
    node.finish(ctx)
    assert node.dropped_partial == 3 and "3 frame(s)" in logs[0]


def test_empty_packets_do_not_enter_the_batch():
    node, ctx = Batch(Batch.Params(size=2)), Context(name="b")
    node.setup(ctx)
    outs = feed(node, ctx, [torch.ones(1), None, torch.ones(1) * 2])
    assert outs[1] is None
    assert outs[2]["info"]["indices"] == [0, 2]


def test_tensors_of_different_shapes_cannot_be_batched():
    node, ctx = Batch(Batch.Params(size=2)), Context(name="b")
    node.setup(ctx)
    with pytest.raises(UserInputError, match="different shapes"):
        feed(node, ctx, [torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)])


def test_channels_last_batch_layout():
    node, ctx = Batch(Batch.Params(size=2, channels_last=True)), Context(name="b")
    node.setup(ctx)
    out = feed(node, ctx, [torch.rand(3, 5, 6), torch.rand(3, 5, 6)])[1]["batch"]
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()


def test_batch_size_must_be_positive():
    with pytest.raises(Exception):
        Batch.Params(size=0)


def test_passthrough_forwards_the_same_object():
    x = object()
    assert Passthrough().process(Context(name="p"), x=x)["out"] is x


def test_null_sink_counts_non_empty_packets_and_emits_nothing():
    node, ctx = NullSink(), Context(name="s")
    node.setup(ctx)
    assert [node.process(ctx, x=v) for v in (1, None, "a")] == [None, None, None]
    assert node.count == 2


def test_in_a_graph_the_model_after_batch_runs_once_per_full_batch():
    from graphrun.runtime.run import run_graph
    spec = {"name": "batched", "device": "cpu",
            "nodes": {"src": {"kind": "synthetic_scene", "params": {"frames": 10, "width": 64, "height": 48}},
                      "pre": {"kind": "preprocess", "params": {"resize": 32, "crop": 32}},
                      "bat": {"kind": "batch", "params": {"size": 4}},
                      "model": {"kind": "torchvision_model", "params": {"model": "resnet18", "num_classes": 3}},
                      "sink": {"kind": "null_sink"}},
            "edges": ["src.frame -> pre.frame", "pre.tensor -> bat.x", "bat.batch -> model.x",
                      "model.logits -> sink.x"]}
    stats = run_graph(spec, progress=False, log=lambda msg: None).stats
    assert stats["nodes"]["pre"]["packets"] == 10
    assert stats["nodes"]["model"]["packets"] == 3      # frames 0-3, 4-7, and 8-9 emitted by the flush
    assert stats["nodes"]["sink"]["packets"] == 3
    assert stats["frames"] == 10 and stats["drops"] == 0

"""batch: N consecutive tensors -> one (N, ...) tensor on every N-th frame; plumbing nodes."""
import pytest
import torch
from pydantic import ValidationError

from graphrun.nodes.core import NullSink
from graphrun.nodes.models.batch import Batch
from graphrun.runtime import Context, UserInputError
from graphrun.runtime.testing import Harness


def feed(h, tensors):
    """Push the tensors at 30 fps (None: an empty packet); per frame, what the node emitted or None."""
    return [h.push(x=t, pts=h.index / 30) or None for t in tensors]


def test_batch_of_three_emits_on_every_third_frame_with_member_indices():
    h = Harness("batch", size=3)
    xs = [torch.full((2, 4, 4), float(i)) for i in range(7)]
    outs = feed(h, xs)
    emitted = [i for i, o in enumerate(outs) if o is not None]
    assert emitted == [2, 5]
    assert outs[2]["batch"].shape == (3, 2, 4, 4)
    assert torch.equal(outs[5]["batch"][:, 0, 0, 0], torch.tensor([3.0, 4.0, 5.0]))
    assert outs[5]["info"]["indices"] == [3, 4, 5]
    assert outs[5]["info"]["pts"] == pytest.approx([0.1, 4 / 30, 5 / 30])


def test_flush_emits_the_partial_last_batch_once():
    h = Harness("batch", size=4)
    feed(h, [torch.zeros(3)] * 6)
    last = h.flush()
    assert last["batch"].shape == (2, 3) and last["info"]["indices"] == [4, 5]
    assert h.node.flush(h.ctx) is None   # the node itself: the Harness reads None as {}


def test_partial_drop_discards_the_last_batch_and_counts_it():
    h = Harness("batch", size=4, partial="drop")
    feed(h, [torch.zeros(3)] * 5)
    assert h.node.flush(h.ctx) is None
    assert h.node.dropped_partial == 1


def test_finish_without_flush_reports_the_lost_frames():
    h = Harness("batch", size=4)
    feed(h, [torch.zeros(3)] * 3)
    h.finish()
    logs = h.logs
    assert h.node.dropped_partial == 3 and "3 frame(s)" in logs[0]


def test_empty_packets_do_not_enter_the_batch():
    h = Harness("batch", size=2)
    outs = feed(h, [torch.ones(1), None, torch.ones(1) * 2])
    assert outs[1] is None
    assert outs[2]["info"]["indices"] == [0, 2]


def test_tensors_of_different_shapes_cannot_be_batched():
    h = Harness("batch", size=2)
    with pytest.raises(UserInputError, match="different shapes"):
        feed(h, [torch.zeros(3, 4, 4), torch.zeros(3, 4, 5)])


def test_channels_last_batch_layout():
    h = Harness("batch", size=2, channels_last=True)
    out = feed(h, [torch.rand(3, 5, 6), torch.rand(3, 5, 6)])[1]["batch"]
    assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()


def test_batch_size_must_be_positive():
    with pytest.raises(ValidationError):
        Batch.Params(size=0)


def test_passthrough_forwards_the_same_object():
    x = object()
    assert Harness("passthrough").push(x=x)["out"] is x


def test_null_sink_counts_non_empty_packets_and_emits_nothing():
    node, ctx = NullSink(), Context(name="s")   # by hand: process itself is called with an empty packet
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

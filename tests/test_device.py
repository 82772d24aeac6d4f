"""Device placement: CPU runs need nothing; CUDA nodes get streams and events (skipped without a GPU)."""
import pytest
import torch

from graphrun.runtime import Input, Node, Output, register
from graphrun.runtime.device import Placement
from graphrun.runtime.run import run_graph
from graphrun.runtime.types import ANY, TENSOR

import runtime_nodes  # noqa: F401

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@register("test_to_tensor")
class ToTensor(Node):
    """Make a (64,64) tensor filled with the frame's value, on the node's device."""
    x = Input(ANY)
    t = Output(TENSOR)
    devices = ("cpu", "cuda")

    def process(self, ctx, x):
        return {"t": torch.full((64, 64), float(x), device=ctx.device)}


@register("test_tensor_sum")
class TensorSum(Node):
    """Sum a tensor on the node's device (CPU only: receives host copies)."""
    t = Input(TENSOR)
    out = Output(ANY)
    sums: list = []

    def setup(self, ctx):
        TensorSum.sums = []

    def process(self, ctx, t):
        assert t.device.type == "cpu"
        TensorSum.sums.append(float(t.sum()))
        return {"out": float(t.sum())}


GRAPH = {"nodes": {"src": {"kind": "test_count", "params": {"n": 12}}, "make": "test_to_tensor",
                   "sum": "test_tensor_sum"},
         "edges": ["src.out -> make.x", "make.t -> sum.t"]}


def test_cpu_placement_is_a_no_op():
    p = Placement("cpu")
    t = torch.ones(3)
    assert p.receive(t, None) is t and p.mark() is None


def test_a_graph_moves_tensors_to_a_cpu_only_consumer():
    run_graph(GRAPH, device="cpu")
    assert TensorSum.sums == [64 * 64 * float(i) for i in range(12)]


def test_profile_writes_a_torch_profiler_trace_with_one_range_per_node(tmp_path):
    import json
    run_graph(GRAPH, device="cpu", profile=str(tmp_path / "prof.json"))
    events = json.loads((tmp_path / "prof.json").read_text())["traceEvents"]
    names = {e.get("name") for e in events}
    assert {"make", "sum"} <= names


@cuda
def test_cuda_producer_hands_tensors_over_with_events():
    stats = run_graph(GRAPH, device="cuda").stats
    assert stats["nodes"]["make"]["device"].startswith("cuda")
    assert stats["nodes"]["sum"]["device"] == "cpu"
    assert TensorSum.sums == [64 * 64 * float(i) for i in range(12)]


@cuda
def test_host_tensor_to_cuda_node_is_pinned_and_copied_on_its_stream():
    p = Placement("cuda")
    with p.scope():
        t = p.receive(torch.arange(10.0), None)
    assert t.device.type == "cuda"
    assert torch.equal(t.cpu(), torch.arange(10.0))

"""runtime.testing.Harness: one node driven by hand, through the same runner as in a graph."""
import pytest
import torch

from graphrun.runtime import GraphError, Node, Output
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import MASK, SCALAR

import runtime_nodes  # noqa: F401 - registers the test_* nodes


def test_push_returns_outputs_and_skip_shows_as_ctx_skipped():
    with Harness("ema", alpha=0.5) as h:
        assert torch.equal(h.push(prob=torch.ones(2, 2))["prob"], torch.ones(2, 2))
        h.skip(2)
        out = h.push(prob=torch.zeros(2, 2))
        assert h.ctx.skipped == 2 and h.ctx.index == 3
        assert torch.allclose(out["prob"], torch.full((2, 2), 0.125))    # 3 steps of 0.5 decay


def test_bad_parameters_and_missing_inputs_are_clear_errors():
    with pytest.raises(GraphError, match="node 'ema': bad parameters"):
        Harness("ema", alpha=2.0)
    with pytest.raises(TypeError, match=r"required input\(s\) \['prob'\]"):
        Harness("ema").push()
    with pytest.raises(TypeError, match="no input"):
        Harness("ema").push(prob=torch.ones(1), nope=1)


def test_an_empty_required_input_skips_the_call_as_the_runtime_does():
    h = Harness("ema")
    assert h.push(prob=None) == {} and h.stats.empty == 1


def test_outputs_are_checked_against_their_declared_types():
    class Liar(Node):
        """Declares a mask, returns a number."""
        out = Output(MASK)

        def process(self, ctx):
            return {"out": 3.0}

    with pytest.raises(TypeError, match="declared mask.*produced float"):
        Harness(Liar).push()


def test_flush_and_pull():
    h = Harness("test_pairs")
    assert h.push(x=1.0) == {} and h.push(x=2.0) == {"out": 3.0} and h.push(x=5.0) == {}
    assert h.flush() == {"out": 5.0}
    frames = Harness("test_count", n=3, fps=10).pull()
    assert [f["out"] for f in frames] == [0.0, 1.0, 2.0]
    assert Harness("test_count", n=5).pull(limit=2) == [{"out": 0.0}, {"out": 1.0}]


def test_the_function_form_runs_in_the_harness_too():
    from graphrun.runtime import register

    @register("test_harness_double")
    def double(x: SCALAR) -> SCALAR:
        """Twice x."""
        return 2 * x

    assert Harness("test_harness_double").push(x=4.0) == {"out": 8.0}

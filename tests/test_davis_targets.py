"""The stabilizer's targets on the five DAVIS-2016 sequences with OSVOS predictions (real data).

Stabilized J (IoU with ground truth) must beat raw by >= 0.01 on average with no sequence
losing more than 0.01, and the flow-compensated IoU between consecutive masks must rise by
>= 0.03. Skipped when ../shared/data is absent.
"""
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DAVIS = DATA / "davis"

pytestmark = [pytest.mark.davis, pytest.mark.slow]


@pytest.fixture(scope="module")
def results():
    if not (DAVIS / "predictions" / "osvos").is_dir():
        pytest.skip(f"DAVIS data not found in {DAVIS}")
    from graphrun.nodes.metrics import dis_flow, iou, warp_iou
    from graphrun.nodes.stabilize_chain import DAVIS_SEQUENCES, load_davis, stabilize_sequence

    out = {}
    for seq in DAVIS_SEQUENCES:
        _, frames, preds, gts = load_davis(DAVIS, seq, "osvos")
        masks, _ = stabilize_sequence(frames, preds)          # the node defaults = graphs/davis.yaml
        raw = preds >= 0.5
        flows = [dis_flow(frames[t], frames[t - 1], "medium") for t in range(1, len(frames))]
        out[seq] = {
            "J_raw": np.mean([iou(m, g) for m, g in zip(raw, gts)]),
            "J_stab": np.mean([iou(m, g) for m, g in zip(masks, gts)]),
            "W_raw": np.mean([warp_iou(raw[t - 1], raw[t], flows[t - 1]) for t in range(1, len(raw))]),
            "W_stab": np.mean([warp_iou(masks[t - 1], masks[t], flows[t - 1]) for t in range(1, len(masks))]),
        }
    return out


def test_stabilized_osvos_masks_are_more_accurate_on_average(results):
    gain = np.mean([r["J_stab"] - r["J_raw"] for r in results.values()])
    assert gain >= 0.01, results


def test_no_davis_sequence_loses_more_than_a_hundredth_of_j(results):
    worst = min(r["J_stab"] - r["J_raw"] for r in results.values())
    assert worst >= -0.01, results


def test_stabilized_osvos_masks_are_more_stable_under_flow_compensation(results):
    gain = np.mean([r["W_stab"] - r["W_raw"] for r in results.values()])
    assert gain >= 0.03, results


def test_davis_graph_run_by_the_runtime_improves_car_shadow(tmp_path):
    """The same chain as a YAML graph (recurrent loop through a back edge), run end to end."""
    if not (DAVIS / "predictions" / "osvos" / "car-shadow").is_dir():
        pytest.skip(f"DAVIS data not found in {DAVIS}")
    from graphrun.runtime.run import run_graph

    graph = Path(__file__).resolve().parents[1] / "graphs" / "davis.yaml"
    stats = run_graph(graph, overrides=["vars.seq=car-shadow", "out.overlay.enabled=false", "out.report.enabled=false"],
                      out_dir=tmp_path, device="cpu", log=lambda m: None).stats
    summary = stats["results"]["metrics"]
    assert stats["frames"] == 40 and stats["drops"] == 0
    assert summary["stabilized"]["J"] >= summary["raw"]["J"] + 0.01, summary
    assert summary["stabilized"]["warp_iou"] > summary["raw"]["warp_iou"], summary
    assert len(list((tmp_path / "masks" / "stabilized").glob("*.png"))) == 40

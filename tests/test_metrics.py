"""Metric functions on hand-made masks, and the metrics node's metrics.json."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrun.runtime import Context
from graphrun.runtime.types import VideoFrame
from graphrun.nodes.metrics import (Metrics, boundary_f, ghost_runs, iou, seg2bmap, sequence_metrics,
                                    summarize, warp_iou)


def box(h=100, w=100, y=30, x=30, size=40):
    m = np.zeros((h, w), bool)
    m[y:y + size, x:x + size] = True
    return m


def test_iou_is_one_for_two_empty_masks_and_counts_overlap():
    empty = np.zeros((10, 10), bool)
    assert iou(empty, empty) == 1.0
    a = np.zeros((10, 10), bool)
    a[:, :5] = True
    b = np.zeros((10, 10), bool)
    b[:, 5:] = True
    assert iou(a, b) == 0.0
    assert iou(a, a | b) == 0.5


def test_boundary_map_is_the_one_pixel_contour():
    b = seg2bmap(box(size=10))
    assert b.sum() == 40            # DAVIS marks a pixel differing from its E, S or SE neighbour
    assert not b[35, 35] and b[39, 39] and b[29, 29]


def test_boundary_f_tolerates_small_shifts_but_not_large_ones():
    gt = box()
    assert boundary_f(gt, gt) == 1.0
    # 0.008 of the diagonal of 100x100 = 1.13 -> 2 px tolerance
    assert boundary_f(box(x=31), gt) == 1.0
    assert boundary_f(box(x=45), gt) < 0.6
    assert boundary_f(np.zeros_like(gt), gt) == 0.0
    assert boundary_f(np.zeros_like(gt), np.zeros_like(gt)) == 1.0


def test_warp_iou_compensates_motion_that_plain_iou_punishes():
    prev, now = box(x=30), box(x=40)
    flow = np.zeros((100, 100, 2), np.float32)
    flow[..., 0] = -10.0
    assert warp_iou(prev, now, flow) == 1.0
    assert warp_iou(prev, now, np.zeros_like(flow)) == pytest.approx(iou(prev, now))


def test_a_mask_that_outlives_the_object_by_three_frames_is_a_three_frame_ghost():
    gts = [box()] * 5 + [np.zeros((100, 100), bool)] * 6
    masks = [box()] * 8 + [np.zeros((100, 100), bool)] * 3
    assert ghost_runs(masks, gts) == [3]
    assert ghost_runs(gts, gts) == [0]


def test_a_ghost_of_one_object_counts_while_the_other_object_stays():
    a, b = box(size=20, x=5, y=5), box(size=20, x=70, y=70)
    gts = [a | b] * 4 + [a] * 6          # b leaves at frame 4
    masks = [a | b] * 6 + [a] * 4        # the mask keeps b for 2 more frames
    summary, frames = sequence_metrics(masks, gts)
    assert summary["ghost_frames"] == 2
    assert [f["ghost_px"] for f in frames] == [0, 0, 0, 0, 400, 400, 0, 0, 0, 0]
    assert summary["ghost_pixels"] == 800


def test_sequence_summary_of_a_static_mask_is_perfectly_stable():
    masks = [box()] * 5
    summary, frames = sequence_metrics(masks, masks, [np.zeros((100, 100, 2), np.float32)] * 5)
    assert summary["consecutive_iou"] == 1.0 and summary["l1"] == 0.0 and summary["area_cv"] == 0.0
    assert summary["warp_iou"] == 1.0 and summary["J"] == 1.0 and summary["F"] == 1.0
    assert frames[0]["iou_prev"] is None and frames[1]["iou_prev"] == 1.0


def test_area_cv_and_l1_of_a_flickering_mask():
    masks = [box(size=40), box(size=20)] * 3
    summary, _ = sequence_metrics(masks)
    areas = np.array([1600, 400] * 3)
    assert summary["area_cv"] == pytest.approx(areas.std() / areas.mean())
    assert summary["l1"] == pytest.approx(1200 / 10000)
    assert summary["J"] is None and summary["ghost_frames"] is None
    assert summarize([]) ["J"] is None


def _frame(i, img):
    return VideoFrame(image=img, index=i, pts=i / 25, name=f"{i:05d}")


def test_metrics_node_writes_the_documented_json(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.uniform(0, 255, (100, 100, 3))).astype(np.uint8)
    node = Metrics()
    ctx = Context(name="metrics", out_dir=str(tmp_path))
    logged = []
    ctx.log = logged.append
    node.setup(ctx)
    for i in range(4):
        ctx.index = i
        raw = torch.from_numpy(box(size=40 if i % 2 == 0 else 30).astype(np.float32) * 0.9)
        stab = torch.from_numpy(box(size=40))
        out = node.process(ctx, frame=_frame(i, img), raw=raw, stabilized=stab,
                           gt=torch.from_numpy(box(size=40)), info={"threshold": 0.5},
                           info2={"confidence": np.float32(0.75)})
        assert out["record"]["index"] == i
    node.finish(ctx)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert set(data["summary"]) == {"raw", "stabilized", "gt"}
    keys = {"consecutive_iou", "l1", "area_cv", "warp_iou", "J", "F", "ghost_frames", "ghost_pixels"}
    assert set(data["summary"]["stabilized"]) == keys | {"fidelity"}    # + mean IoU with the raw masks
    assert set(data["summary"]["raw"]) == keys
    assert data["summary"]["stabilized"]["J"] == 1.0 and data["summary"]["raw"]["J"] < 1.0
    assert data["summary"]["stabilized"]["warp_iou"] == pytest.approx(1.0)   # static image: own flow ~0
    assert data["summary"]["gt"]["J"] is None
    f1 = data["frames"][1]
    assert f1["name"] == "00001" and set(f1) == {"index", "name", "raw", "stabilized", "gt", "info", "fidelity"}
    assert set(f1["raw"]) == {"iou_prev", "l1_prev", "area", "warp_iou", "J", "F", "ghost_px"}
    assert f1["info"] == {"threshold": 0.5, "confidence": 0.75}
    assert "consecutive_iou" in logged[-1] and "stabilized" in logged[-1]


def test_metrics_node_without_ground_truth_leaves_accuracy_empty(tmp_path):
    node = Metrics()
    ctx = Context(name="metrics", out_dir=str(tmp_path))
    ctx.log = lambda s: None
    node.setup(ctx)
    img = np.zeros((100, 100, 3), np.uint8)
    for i in range(3):
        ctx.index = i
        node.process(ctx, frame=_frame(i, img), raw=torch.from_numpy(box(x=30 + i)),
                     stabilized=torch.from_numpy(box()), flow=torch.zeros(100, 100, 2))
    node.finish(ctx)
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert set(data["summary"]) == {"raw", "stabilized"}
    assert data["summary"]["raw"]["J"] is None and data["summary"]["raw"]["ghost_frames"] is None
    assert data["summary"]["stabilized"]["consecutive_iou"] == 1.0 > data["summary"]["raw"]["consecutive_iou"]


def test_stabilize_graph_runs_end_to_end_and_beats_the_raw_masks(tmp_path):
    from graphrun.runtime.run import run_graph

    run_graph(Path(__file__).resolve().parents[1] / "graphs" / "stabilize.yaml",
              overrides=["source.frames=40", "out.overlay.enabled=false", "out.report.enabled=false",
                         "out.raw_masks.enabled=false"],
              out_dir=tmp_path, quiet=True)
    data = json.loads((tmp_path / "metrics.json").read_text())
    s = data["summary"]
    assert len(data["frames"]) == 40
    assert s["stabilized"]["consecutive_iou"] > s["raw"]["consecutive_iou"]
    assert s["stabilized"]["J"] >= s["raw"]["J"] - 0.01
    assert {"threshold", "confidence", "miss_streak"} <= set(data["frames"][-1]["info"])
    assert len(list((tmp_path / "masks" / "stabilized").glob("*.png"))) == 40


def test_without_ground_truth_the_objective_is_stability_penalized_below_the_fidelity_floor(tmp_path):
    from graphrun.nodes.metrics import Metrics
    img = np.zeros((100, 100, 3), np.uint8)          # the masks' size, so the own flow applies
    node = Metrics(Metrics.Params(min_fidelity=0.95))
    ctx = Context(name="m", out_dir=str(tmp_path))
    ctx.log = lambda msg: None
    node.setup(ctx)
    for i in range(4):
        ctx.index = i
        node.process(ctx, frame=_frame(i, img), raw=torch.from_numpy(box(size=40)),
                     stabilized=torch.from_numpy(box(size=30)))
    node.finish(ctx)
    stab = ctx.results["metrics"]["stabilized"]
    assert stab["J"] is None and stab["fidelity"] < 0.95
    assert ctx.results["objective"] == pytest.approx(stab["warp_iou"] - 2 * (0.95 - stab["fidelity"]))

"""Metric functions on hand-made masks, and the metrics node's metrics.json."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrun.nodes.common import iou
from graphrun.nodes.eval import format_table
from graphrun.nodes.eval.metrics import boundary_f, ghost_runs, seg2bmap, sequence_metrics, summarize, warp_iou
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame


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
    with Harness("metrics", out_dir=str(tmp_path)) as h:
        for i in range(4):
            raw = torch.from_numpy(box(size=40 if i % 2 == 0 else 30).astype(np.float32) * 0.9)
            stab = torch.from_numpy(box(size=40))
            out = h.push(frame=_frame(i, img), raw=raw, stabilized=stab, gt=torch.from_numpy(box(size=40)),
                         info={"threshold": 0.5}, info2={"confidence": np.float32(0.75)})
            assert out["record"]["index"] == i
        h.finish()
    logged = h.logs
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert set(data["summary"]) == {"raw", "stabilized", "gt"}
    keys = {"consecutive_iou", "l1", "area_cv", "warp_iou", "J", "F", "ghost_frames", "ghost_pixels"}
    assert set(data["summary"]["stabilized"]) == keys | {"fidelity", "lag_frames", "lag_frac", "lag_outside_gt_px",
                                                         "frames_worse_than_raw", "empty_share"}
    assert set(data["summary"]["raw"]) == keys
    assert data["summary"]["stabilized"]["J"] == 1.0 and data["summary"]["raw"]["J"] < 1.0
    assert data["summary"]["stabilized"]["warp_iou"] == pytest.approx(1.0)   # static image: own flow ~0
    assert data["summary"]["gt"]["J"] is None
    assert data["run"] == {"frames_done": 4, "frames_expected": None, "interrupted": False, "frames_skipped": 0,
                           "skipped_first": [], "size_changes": [], "warnings": [], "alerts": [],
                           "lag_first_frames": [],
                           "records": "metrics.jsonl"}
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4                                                # one record per frame, as the run went
    f1 = json.loads(lines[1])
    assert f1["name"] == "00001" and set(f1) == {"index", "name", "raw", "stabilized", "gt", "info", "fidelity",
                                                "lag_prev"}
    assert set(f1["raw"]) == {"iou_prev", "l1_prev", "area", "warp_iou", "J", "F", "ghost_px"}
    assert set(f1["stabilized"]) == set(f1["raw"]) | {"worse_than_raw"} and f1["stabilized"]["worse_than_raw"] is False
    assert f1["info"] == {"threshold": 0.5, "confidence": 0.75}
    assert "consecutive_iou" in logged[-1] and "stabilized" in logged[-1]


def test_frames_the_stabilizer_made_much_worse_than_raw_are_flagged_and_counted(tmp_path):
    gt = box()
    stab = {2: box(x=55), 5: np.zeros_like(gt), 7: box(size=36)}   # J 0.23, 0 and 0.81 against raw's 1.0
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        for i in range(9):
            h.push(frame=_frame(i, np.zeros((100, 100, 3), np.uint8)), raw=torch.from_numpy(gt),
                   stabilized=torch.from_numpy(stab.get(i, gt)), gt=torch.from_numpy(gt))
        h.finish()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records if r["stabilized"]["worse_than_raw"]] == [2, 5]     # 7: 0.19 below, not counted
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["stabilized"]["frames_worse_than_raw"] == 2 and "frames_worse_than_raw" not in summary["raw"]
    assert "frames_worse_than_raw" in format_table(summary, 9)


def test_metrics_node_without_ground_truth_leaves_accuracy_empty(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)
    with Harness("metrics", out_dir=str(tmp_path)) as h:
        for i in range(3):
            h.push(frame=_frame(i, img), raw=torch.from_numpy(box(x=30 + i)), stabilized=torch.from_numpy(box()),
                   flow=torch.zeros(100, 100, 2))
        h.finish()
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert set(data["summary"]) == {"raw", "stabilized"}
    assert data["summary"]["raw"]["J"] is None and data["summary"]["raw"]["ghost_frames"] is None
    assert data["summary"]["stabilized"]["frames_worse_than_raw"] is None
    assert data["summary"]["stabilized"]["consecutive_iou"] == 1.0 > data["summary"]["raw"]["consecutive_iou"]


def test_stabilize_graph_runs_end_to_end_and_beats_the_raw_masks(tmp_path):
    from graphrun.runtime.run import run_graph

    run_graph(Path(__file__).resolve().parents[1] / "graphs" / "stabilize.yaml",
              overrides=["source.frames=40", "out.overlay.enabled=false", "out.report.enabled=false",
                         "out.raw_masks.enabled=false"],
              out_dir=tmp_path)
    data = json.loads((tmp_path / "metrics.json").read_text())
    s = data["summary"]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 40 and data["run"]["frames_done"] == 40 and data["run"]["frames_expected"] == 40
    assert s["stabilized"]["consecutive_iou"] > s["raw"]["consecutive_iou"]
    assert s["stabilized"]["J"] >= s["raw"]["J"] - 0.01
    assert {"threshold", "confidence", "miss_streak"} <= set(records[-1]["info"])
    assert len(list((tmp_path / "masks" / "stabilized").glob("*.png"))) == 40


def test_without_ground_truth_the_objective_is_stability_penalized_below_the_fidelity_floor(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)          # the masks' size, so the own flow applies
    with Harness("metrics", out_dir=str(tmp_path), min_fidelity=0.95) as h:
        for i in range(4):
            h.push(frame=_frame(i, img), raw=torch.from_numpy(box(size=40)), stabilized=torch.from_numpy(box(size=30)))
        h.finish()
    stab = h.results["metrics"]["stabilized"]
    assert stab["J"] is None and stab["fidelity"] < 0.95
    assert h.results["objective"] == pytest.approx(stab["warp_iou"] - 2 * (0.95 - stab["fidelity"]))


def test_the_online_summary_equals_the_one_computed_from_every_frame():
    rng = np.random.default_rng(1)
    frames = [{"area": int(a), "iou_prev": float(rng.uniform()) if i else None, "l1_prev": None, "warp_iou": None,
               "J": None, "F": None, "ghost_px": None} for i, a in enumerate(rng.integers(0, 5000, 300))]
    areas = np.array([f["area"] for f in frames], float)
    s = summarize(frames)
    assert s["area_cv"] == pytest.approx(areas.std() / areas.mean(), rel=1e-9)
    assert s["consecutive_iou"] == pytest.approx(np.mean([f["iou_prev"] for f in frames[1:]]), rel=1e-9)


def push_frames(h, n, size=(24, 32), raw=None, stab=None, start=0):
    hgt, wid = size
    img = np.zeros((hgt, wid, 3), np.uint8)
    for i in range(start, start + n):
        r = raw(i) if raw else box(hgt, wid, 4, 4 + i % 3, 10)
        st = stab(i) if stab else box(hgt, wid, 4, 5, 10)
        h.push(frame=_frame(i, img), raw=torch.from_numpy(r), stabilized=torch.from_numpy(st))


def test_the_metrics_node_keeps_no_per_frame_state(tmp_path):
    def sizes(node):
        return {k: len(v) for k, v in vars(node).items() if isinstance(v, (list, dict, set))}

    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 5)
        before = sizes(h.node)
        push_frames(h, 200, start=5)
        assert sizes(h.node) == before
        h.finish()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 205


def test_without_an_output_folder_the_metrics_node_writes_nothing_and_still_publishes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Harness("metrics", flow_preset="off") as h:
        push_frames(h, 6)
        h.finish()
    assert list(tmp_path.iterdir()) == []
    assert h.results["metrics"]["stabilized"]["consecutive_iou"] == 1.0


def test_an_interrupted_run_is_marked_partial_with_frames_done_of_frames_expected(tmp_path):
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 148)
        h.ctx.expected_frames, h.ctx.interrupted = 3100, True      # what the runtime sets before finish
        h.finish()
    run = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert run["interrupted"] and run["frames_done"] == 148 and run["frames_expected"] == 3100
    assert any("partial: 148 of 3100 frames" in line for line in h.logs)


def test_frames_skipped_upstream_are_counted_and_listed(tmp_path):
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 3)
        h.skip(2)                                # frames 3 and 4 never reach the node (on_error: skip upstream)
        push_frames(h, 3, start=5)
        h.finish()
    run = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert run["frames_done"] == 6 and run["frames_skipped"] == 2 and run["skipped_first"] == [3, 4]
    assert any("2 frame(s) never arrived" in w for w in run["warnings"])


def empty(i):
    return np.zeros((24, 32), bool)


@pytest.mark.parametrize("stab, words", [
    (empty, "empty on 20 of the 20 frames where the raw mask is not"),
    (lambda i: box(24, 32, 0, 0, 24), "the raw masks' area"),
    (lambda i: box(24, 32, 14, 20, 10), "agree little with the raw ones"),
])
def test_stabilized_masks_far_from_the_raw_ones_raise_a_warning(tmp_path, stab, words):
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 20, raw=lambda i: box(24, 32, 2, 2, 8), stab=stab)
        h.finish()
    warnings = json.loads((tmp_path / "metrics.json").read_text())["run"]["warnings"]
    assert any(words in w for w in warnings), warnings
    assert any(line.startswith("graphrun: warning: metrics: ") and words in line for line in h.logs)
    assert h.results["warnings"] == warnings


def test_a_stabilizer_that_follows_the_raw_masks_raises_no_warning(tmp_path):
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 20)
        h.finish()
    assert json.loads((tmp_path / "metrics.json").read_text())["run"]["warnings"] == []


def test_a_change_of_frame_size_restarts_the_consecutive_measures_and_is_logged(tmp_path):
    with Harness("metrics", out_dir=str(tmp_path)) as h:
        push_frames(h, 3, size=(24, 32))
        push_frames(h, 3, size=(36, 48), start=3)
        h.finish()
    assert "metrics: frame size changed at frame 3: 32x24 -> 48x36; consecutive measures restart" in h.logs
    run = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert run["size_changes"] == [{"frame": 3, "from": "32x24", "to": "48x36"}]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert records[3]["raw"]["iou_prev"] is None and records[4]["raw"]["iou_prev"] is not None


def test_a_stale_fill_after_a_one_frame_blow_up_counts_as_lag_and_a_filled_miss_does_not(tmp_path):
    """Frame 5: the segmenter blows up (a 2x larger box), frame 6 is right again. A stabilizer
    that keeps the blown-up box on frame 6 lags there; one that fills a one-frame miss does not."""
    obj, big = box(48, 64, 10, 10, 12), box(48, 64, 10, 10, 24)

    def raw(i):
        return big if i == 5 else (np.zeros_like(obj) if i == 12 else obj)

    stale = {5: big, 6: big}
    img, still = np.zeros((48, 64, 3), np.uint8), torch.zeros(48, 64, 2)      # a static scene
    with Harness("metrics", out_dir=str(tmp_path)) as h:
        for i in range(16):
            h.push(frame=_frame(i, img), raw=torch.from_numpy(raw(i)),
                   stabilized=torch.from_numpy(stale.get(i, obj)), flow=still)
        h.finish()
    result = json.loads((tmp_path / "metrics.json").read_text())
    summary = result["summary"]
    assert summary["stabilized"]["lag_frames"] == 1 and result["run"]["lag_first_frames"] == [6]
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[7]["lag_prev"]["index"] == 6 and lines[7]["lag_prev"]["lag"]
    assert not lines[13]["lag_prev"]["lag"]               # frame 12: the miss filled from both neighbours
    assert "lag_frames" in format_table(summary, 16)


def test_raw_masks_passed_through_never_lag(tmp_path):
    with Harness("metrics", out_dir=str(tmp_path), flow_preset="off") as h:
        push_frames(h, 10, stab=lambda i: box(24, 32, 4, 4 + i % 3, 10))
        h.finish()
    assert json.loads((tmp_path / "metrics.json").read_text())["summary"]["stabilized"]["lag_frames"] == 0


@pytest.mark.parametrize("width", [0, 50, 34])
def test_warp_iou_on_every_nth_pixel_estimates_the_full_one_with_a_wired_flow(width):
    """warp_max_width: the previous mask warped by the flow is compared on every n-th pixel (n = 2
    and 3 at 100 px): the same measure, sampled. A box moving 4 px right per frame, the flow says
    so: warp-IoU 1 (on every 3rd pixel the box's edges fall between samples: within 0.05); a flow
    that says 'still' gives the plain IoU of the shifted boxes."""
    img = np.zeros((100, 100, 3), np.uint8)
    moving = torch.full((100, 100, 2), 0.0)
    moving[..., 0] = -4.0                       # backward flow: each pixel came from 4 px to the left
    with Harness("metrics", warp_max_width=width, lag_frac=0.0) as h:
        for i in range(4):
            m = torch.from_numpy(box(x=20 + 4 * i))
            h.push(frame=_frame(i, img), raw=m, stabilized=m, flow=moving)
        h.finish()
    assert h.results["metrics"]["stabilized"]["warp_iou"] == pytest.approx(1.0, abs=0.05 if width == 34 else 1e-6)
    with Harness("metrics", warp_max_width=width, lag_frac=0.0) as h:
        for i in range(4):
            m = torch.from_numpy(box(x=20 + 4 * i))
            h.push(frame=_frame(i, img), raw=m, stabilized=m, flow=torch.zeros(100, 100, 2))
        h.finish()
    assert h.results["metrics"]["stabilized"]["warp_iou"] == pytest.approx(36 / 44, abs=0.03)


def test_the_lag_counts_frame_pixels_when_the_metrics_sample_every_nth_pixel():
    """warp_max_width hands the lag tracker every n-th pixel: its pixel counts stay the frame's."""
    img = np.zeros((200, 200, 3), np.uint8)
    found = {}
    for width in (0, 100):
        with Harness("metrics", warp_max_width=width) as h:
            for i in range(6):
                gt = box(200, 200, y=70, x=40 + 4 * i, size=60)
                stab = gt | box(200, 200, y=70, x=20, size=30) if i == 3 else gt   # a stale region on frame 3
                h.push(frame=_frame(i, img), raw=torch.from_numpy(gt), stabilized=torch.from_numpy(stab),
                       gt=torch.from_numpy(gt), flow=torch.zeros(200, 200, 2))
            h.finish()
        found[width] = h.results["metrics"]["stabilized"]
    assert found[0]["lag_frames"] == found[100]["lag_frames"] == 1
    assert found[100]["lag_outside_gt_px"] == pytest.approx(found[0]["lag_outside_gt_px"], rel=0.1)

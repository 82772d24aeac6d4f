"""The lag metric (nodes/eval/lag.py): what a stabilized mask shows that neither the segmenter nor
the object's motion explains, on hand-made moving squares."""
import numpy as np
import pytest

from graphrun.nodes.eval.lag import LagTracker, frame_lag, invert_flow, sequence_lag, support

H, W, SIZE, SPEED = 60, 120, 16, 4


def square(x, y=20, size=SIZE):
    m = np.zeros((H, W), bool)
    m[y:y + size, max(0, x):max(0, x + size)] = True
    return m


def moving(n=8, x0=10):
    """A square moving right by SPEED px a frame, and its backward flows (t -> t-1) everywhere."""
    masks = [square(x0 + SPEED * t) for t in range(n)]
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0] = -SPEED
    return masks, [None] + [flow] * (n - 1)


def test_inverting_a_constant_backward_flow_gives_the_opposite_forward_flow():
    b = np.zeros((10, 12, 2), np.float32)
    b[..., 0], b[..., 1] = -3.0, 1.5
    f = invert_flow(b)
    assert np.allclose(f[..., 0], 3.0) and np.allclose(f[..., 1], -1.5)


def test_the_raw_masks_themselves_never_lag():
    masks, flows = moving()
    summary, records = sequence_lag(masks, masks, flows)
    assert summary["lag_frames"] == 0 and all(r["lag_px"] == 0 for r in records)


def test_an_average_that_is_not_motion_compensated_trails_the_object_and_lags():
    masks, flows = moving()
    trail = [masks[0]] + [masks[t] | masks[t - 1] | (masks[t - 2] if t > 1 else masks[0]) for t in range(1, 8)]
    summary, _ = sequence_lag(trail, masks, flows, tolerance_px=1)
    assert summary["lag_frames"] >= 5 and summary["lag_frac"] > 0.2


def test_a_one_frame_miss_filled_from_the_previous_frame_is_supported_not_lag():
    masks, flows = moving()
    raws = [m.copy() for m in masks]
    raws[4][:] = False                      # the segmenter misses the object once
    summary, records = sequence_lag(masks, raws, flows, tolerance_px=1)
    assert records[4]["lag_px"] == 0 and summary["lag_frames"] == 0


def test_a_stale_fill_after_a_one_frame_blow_up_is_lag_outside_the_ground_truth():
    masks, flows = moving()
    raws = [m.copy() for m in masks]
    raws[3][5:55, 0:60] = True              # a blow-up at frame 3, gone again at frame 4
    stab = [m.copy() for m in masks]
    stab[3] = raws[3].copy()                # a causal stabilizer shows it (the segmenter said so) ...
    stab[4] = stab[4] | raws[3]             # ... and fills it into frame 4: stale
    summary, records = sequence_lag(stab, raws, flows, gts=masks, tolerance_px=1)
    assert not records[3]["lag"]            # at frame 3 the segmenter itself shows it
    assert records[4]["lag"] and records[4]["lag_outside_gt_px"] > 1000
    assert summary["lag_frame_indices"] == [4]


def test_a_mask_held_after_a_real_disappearance_lags():
    masks, flows = moving()
    raws = [m if t < 4 else np.zeros_like(m) for t, m in enumerate(masks)]
    held = [masks[t] if t < 6 else np.zeros_like(masks[t]) for t in range(8)]
    summary, _ = sequence_lag(held, raws, flows)
    assert summary["lag_frame_indices"] == [4, 5]


def test_support_needs_both_neighbours_to_agree_and_tolerates_boundary_jitter():
    raw = square(40)
    flow = np.zeros((H, W, 2), np.float32)
    extra = square(80)
    assert support(raw, raw_prev=extra, flow_back=flow)[25, 85]          # one neighbour: what it has counts
    s = support(raw, raw_prev=extra, raw_next=raw, flow_back=flow, flow_fwd=flow)
    assert not s[25, 85] and s[25, 45]
    assert support(raw, tolerance_px=2)[25, 38] and not support(raw)[25, 38]


def test_the_tracker_gives_each_record_one_frame_late_and_the_last_at_finish():
    masks, flows = moving(n=3)
    tr = LagTracker()
    assert tr.update(masks[0], masks[0]) is None
    assert tr.update(masks[1], masks[1], flows[1])["lag_px"] == 0
    tr.update(masks[2], masks[2], flows[2])
    assert tr.finish()["lag"] is False and len(tr.records) == 3


@pytest.mark.parametrize("gt", [None, square(30)])
def test_frame_lag_reports_the_fraction_of_the_object(gt):
    raw = square(30)
    stab = raw | square(50)
    rec = frame_lag(stab, raw, gt=gt, tolerance_px=0)
    assert rec["lag_px"] == SIZE * SIZE and rec["lag_frac"] == pytest.approx(1.0) and rec["lag"]
    assert (rec["lag_outside_gt_px"] is None) == (gt is None)


def test_judging_every_nth_pixel_of_a_wide_frame_finds_the_same_lag():
    """LagTracker(max_width=...) subsamples a wide frame; lag frames and their fraction hold."""
    masks, flows = moving(n=8)
    trail = [masks[0]] + [masks[t] | masks[t - 1] | (masks[t - 2] if t > 1 else masks[0]) for t in range(1, 8)]
    full, half = LagTracker(tolerance_px=1), LagTracker(tolerance_px=1, max_width=W // 2)
    for t in range(8):
        for tr in (full, half):
            tr.update(trail[t], masks[t], flows[t] if t else None)
    for tr in (full, half):
        tr.finish()
    a, b = full.summary(), half.summary()
    assert a["lag_frames"] == b["lag_frames"] >= 5
    assert abs(a["lag_frac"] - b["lag_frac"]) < 0.2 * a["lag_frac"]      # a 16-px object at every 2nd pixel

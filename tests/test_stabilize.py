"""The stabilizer's pieces on hand-made inputs, and the whole chain on the synthetic scene."""
import numpy as np
import pytest
import torch

import graphrun
from graphrun.nodes.common import iou
from graphrun.nodes.stabilize.flow import fb_error
from graphrun.nodes.stabilize.flow_warp import FlowWarp
from graphrun.nodes.stabilize.ops import fuse, fusion_weight, gate_components, gaussian_blur, pick_threshold, warp
from graphrun.runtime import Context
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame


def square(h=60, w=80, y=20, x=30, size=16):
    m = np.zeros((h, w), bool)
    m[y:y + size, x:x + size] = True
    return m


def textured(h=96, w=128, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return np.repeat(img.astype(np.uint8)[..., None], 3, axis=2)


# -- warp ---------------------------------------------------------------------------------------

def test_warping_a_shifted_mask_by_its_constant_flow_recovers_it():
    prev = square(x=30, y=20)
    now = square(x=35, y=23)            # the object moved by (+5, +3)
    flow = torch.zeros(60, 80, 2)
    flow[..., 0], flow[..., 1] = -5.0, -3.0   # backward flow: where each pixel of t was in t-1
    warped = warp(torch.from_numpy(prev).float(), flow)
    assert iou(warped.numpy() >= 0.5, now) == 1.0
    assert iou(prev, now) < 0.6


def test_warp_brings_zeros_in_from_outside_the_frame():
    prev = torch.ones(10, 10)
    flow = torch.zeros(10, 10, 2)
    flow[..., 0] = 20.0
    assert float(warp(prev, flow).max()) == 0.0
    assert float(warp(prev, flow, padding="border").min()) == 1.0


def test_flow_warp_node_gives_none_without_a_previous_map():
    node, ctx = FlowWarp(), Context(name="warp")   # called directly: the Harness leaves None outputs out
    node.setup(ctx)
    assert node.process(ctx, prev=None, flow=torch.zeros(5, 5, 2)) == {"warped": None}
    out = node.process(ctx, prev=torch.ones(5, 5) * 0.5, flow=torch.zeros(5, 5, 2))["warped"]
    assert out.dtype == torch.float32 and torch.allclose(out, torch.full((5, 5), 0.5))


def test_gaussian_blur_keeps_a_constant_map_and_its_mass():
    x = torch.zeros(21, 21)
    x[10, 10] = 1.0
    y = gaussian_blur(x, 2.0)
    assert abs(float(y.sum()) - 1.0) < 1e-4 and float(y[10, 10]) < 0.1
    assert torch.allclose(gaussian_blur(torch.full((9, 9), 0.3), 1.5), torch.full((9, 9), 0.3), atol=1e-6)


# -- flow ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_optical_flow_measures_a_known_translation_backward(method):
    img = textured()
    moved = np.roll(img, shift=(2, 3), axis=(0, 1))   # content moves right 3, down 2
    with Harness("optical_flow", method=method, preset="medium") as h:
        first = h.push(frame=VideoFrame(img, 0, 0.0, "0"))
        out = h.push(frame=VideoFrame(moved, 1, 0.04, "1"))
    assert float(first["flow"].abs().max()) == 0.0 and torch.isinf(first["fb_error"]).all()
    centre = out["flow"][20:-20, 20:-20]
    assert abs(float(centre[..., 0].median()) + 3.0) < 0.3
    assert abs(float(centre[..., 1].median()) + 2.0) < 0.3
    assert float(out["fb_error"][20:-20, 20:-20].median()) < 0.5


def test_optical_flow_restarts_after_too_many_dropped_frames():
    with Harness("optical_flow", max_skipped=2) as h:
        h.push(frame=VideoFrame(textured(), 0, 0.0, "0"))
        h.skip(4)
        out = h.push(frame=VideoFrame(textured(seed=1), 5, 0.2, "5"))
    assert float(out["flow"].abs().max()) == 0.0 and torch.isinf(out["fb_error"]).all()


def test_fb_error_is_zero_for_consistent_flows_and_large_otherwise():
    b = np.zeros((8, 8, 2), np.float32)
    b[..., 0] = -2.0
    f = -b
    assert float(fb_error(b, f).max()) < 1e-5
    assert float(fb_error(b, b).min()) == pytest.approx(4.0)


# -- fusion, ema, threshold --------------------------------------------------------------------

def test_fusion_weight_uses_fill_and_remove_weights_and_distrusts_inconsistent_flow():
    cur = torch.tensor([[0.0, 1.0]])
    wrp = torch.tensor([[1.0, 0.0]])
    beta = fusion_weight(cur, wrp, beta_fill=0.7, beta_remove=0.2)
    assert torch.allclose(beta, torch.tensor([[0.7, 0.2]]))
    beta_fb = fusion_weight(cur, wrp, fb_error=torch.tensor([[0.0, 100.0]]), beta_fill=0.7, beta_remove=0.2,
                            fb_sigma=1.0)
    assert float(beta_fb[0, 0]) == pytest.approx(0.7) and float(beta_fb[0, 1]) < 1e-6
    assert torch.allclose(fuse(cur, wrp, beta), torch.tensor([[0.7, 0.8]]))


def test_confident_current_prediction_lowers_trust_in_the_warp():
    cur = torch.tensor([[0.5, 1.0]])
    wrp = torch.tensor([[1.0, 1.0]])
    beta = fusion_weight(cur, wrp, beta_fill=0.6, beta_remove=0.6, conf_gamma=1.0)
    assert float(beta[0, 0]) == pytest.approx(0.6) and float(beta[0, 1]) == pytest.approx(0.0)


def test_a_low_segmenter_score_makes_the_fusion_keep_the_previous_map():
    cur = torch.ones(4, 4)                   # a new detection everywhere ...
    wrp = torch.zeros(4, 4)                  # ... where there was nothing
    with Harness("motion_fusion", beta_fill=0.5, beta_remove=0.3, score_ref=0.6, max_fill=0) as h:   # score alone
        sure = h.push(current=cur, warped=wrp, score=0.9)["fused"]
        doubtful = h.push(current=cur, warped=wrp, score=0.15)["fused"]
    assert float(sure.mean()) == pytest.approx(0.7)
    assert float(doubtful.mean()) == pytest.approx(0.7 * 0.25)


def test_motion_fusion_passes_the_current_map_at_the_first_frame():
    cur = torch.rand(6, 6)
    assert torch.equal(Harness("motion_fusion").push(current=cur, warped=None)["fused"], cur)


def test_ema_is_an_exponential_average_and_counts_dropped_frames():
    with Harness("ema", alpha=0.5) as h:
        assert float(h.push(prob=torch.ones(2, 2))["prob"][0, 0]) == 1.0
        assert float(h.push(prob=torch.zeros(2, 2))["prob"][0, 0]) == 0.5
        assert float(h.push(prob=torch.zeros(2, 2))["prob"][0, 0]) == 0.25
        h.skip(1)  # one dropped frame: the new value weighs 1 - 0.5**2
        assert float(h.push(prob=torch.ones(2, 2))["prob"][0, 0]) == pytest.approx(0.25 + 0.75 * 0.75)


def test_pick_threshold_keeps_the_area_near_the_target_within_bounds():
    prob = torch.linspace(0, 1, 101).repeat(10, 1)   # area(>= t) falls as t rises
    th, area = pick_threshold(prob, target_area=float((prob >= 0.42).sum()), lo=0.3, hi=0.7, penalty=0.0)
    assert th == pytest.approx(0.4, abs=0.051) and th < 0.5
    th_hi, _ = pick_threshold(prob, target_area=0.0, lo=0.4, hi=0.6, penalty=0.0)
    assert th_hi == pytest.approx(0.6)
    assert pick_threshold(prob, None)[0] == 0.5


def test_adaptive_threshold_reports_the_threshold_it_used():
    prob = torch.full((10, 10), 0.45)
    with Harness("adaptive_threshold", smooth_sigma=0.0, penalty=0.0, lo=0.3, hi=0.7) as h:
        out = h.push(prob=prob, warped=torch.ones(10, 10))   # the object was everywhere
    assert out["mask"].dtype == torch.bool and bool(out["mask"].all())
    assert out["info"]["threshold"] <= 0.45 and out["info"]["target_area"] == 100


# -- guards --------------------------------------------------------------------------------------

def test_area_guard_rejects_a_far_blob_that_appears_for_a_single_frame():
    obj = square()
    outs = []
    with Harness("area_guard", confirm_frames=3) as h:
        for t in range(6):
            m = obj.copy()
            if t == 3:
                m[45:58, 2:12] = True   # a distractor far from the object
            outs.append(h.push(mask=torch.from_numpy(m))["mask"].numpy())
    assert all(np.array_equal(o, obj) for o in outs)


def test_area_guard_accepts_a_far_region_once_confirmed_for_n_frames():
    obj = square()
    kept = []
    with Harness("area_guard", confirm_frames=3) as h:
        for t in range(6):
            m = obj.copy()
            if t >= 1:
                m[45:58, 2:12] = True
            kept.append(bool(h.push(mask=torch.from_numpy(m))["mask"].numpy()[50, 5]))
    assert kept == [False, False, False, True, True, True]


def test_gate_keeps_a_far_region_that_dominates_the_near_ones():
    prev = square(size=4)
    mask = np.zeros_like(prev)
    mask[30:58, 40:78] = True          # the object re-appeared elsewhere, much larger
    kept, _, info = gate_components(mask, prev, None, near_frac=0.2, confirm_frames=30)
    assert kept.sum() == mask.sum() and info["rejected_px"] == 0


def test_area_guard_holds_the_previous_object_during_an_area_jump():
    obj = square()
    big = square(y=10, x=20, size=36)   # touches the object: not a far blob, an area jump
    with Harness("area_guard", jump_ratio=1.5, confirm_frames=2, near_frac=2.0) as h:
        h.push(mask=torch.from_numpy(obj))
        held = [h.push(mask=torch.from_numpy(big)) for _ in (1, 2, 3)]
    assert [h["info"]["held"] for h in held] == [True, True, False]
    assert np.array_equal(held[0]["mask"].numpy(), obj) and np.array_equal(held[2]["mask"].numpy(), big)


def test_anti_ghost_clears_the_mask_soon_after_the_score_drops():
    obj = torch.from_numpy(square())
    prob = obj.float()
    shown = []
    with Harness("anti_ghost", max_miss=1) as h:
        for t in range(8):
            score = 0.9 if t < 4 else 0.0
            out = h.push(mask=obj, prob=prob, score=score)
            shown.append(bool(out["mask"].any()))
    assert shown == [True] * 4 + [True, False, False, False]   # one missed frame tolerated, then cleared
    assert float(out["prob"].max()) == 0.0 and out["info"]["miss_streak"] == 4
    assert out["info"]["confidence"] < 0.1


def test_anti_ghost_removes_only_the_component_the_segmenter_no_longer_sees():
    a, b = square(x=5, y=5, size=10), square(x=50, y=30, size=10)
    mask = torch.from_numpy(a | b)
    raw = torch.from_numpy(a).float()          # the segmenter sees only a
    with Harness("anti_ghost", max_miss=1) as h:
        for _ in range(3):
            out = h.push(mask=mask, prob=mask.float(), raw=raw)
    assert np.array_equal(out["mask"].numpy(), a)
    assert float(out["prob"][35, 55]) == 0.0 and float(out["prob"][10, 10]) == 1.0


# -- the chain -------------------------------------------------------------------------------------

def run_stabilizer(frames, probs, overrides=(), scores=None):
    """The shipped stabilizer subgraph fed from Python: (bool masks, per-frame info dicts)."""
    inputs = {"frame": frames, "current": probs}
    if scores is not None:
        inputs["score"] = scores
    g = graphrun.load("stabilizer", set=list(overrides))
    items = list(g.iterate(["mask", "threshold_info", "guard_info", "ghost_info"], inputs=inputs, executor="inline"))
    masks = [d["mask"].numpy() for d in items]
    infos = [{**d["threshold_info"], **d["guard_info"], **d["ghost_info"]} for d in items]
    return masks, infos


def test_the_chain_removes_single_frame_flicker_on_a_static_object():
    img = textured(60, 80)
    obj = square()
    probs = []
    for t in range(10):
        p = obj.astype(np.float32)
        if t == 4:
            p[30:34, 30:46] = 0.0          # a hole for one frame
        if t == 6:
            p[48:58, 60:75] = 1.0          # a false blob for one frame
        probs.append(p)
    masks, infos = run_stabilizer([img] * 10, probs)
    assert iou(probs[4] >= 0.5, obj) == 0.75 and iou(probs[6] >= 0.5, obj) < 0.65
    for t in range(10):
        assert iou(masks[t], obj) > 0.93, t
    assert {"threshold", "confidence", "miss_streak", "rejected_px"} <= set(infos[-1])


@pytest.mark.slow
def test_default_synthetic_scene_meets_the_stability_and_accuracy_targets():
    """graphs/stabilize.yaml itself, run through the Python API: the numbers are the graph's."""
    result = graphrun.load("stabilize", set=["out.raw_masks.enabled=false", "out.stab_masks.enabled=false",
                                             "out.overlay.enabled=false", "out.report.enabled=false"]).run(
        executor="inline")
    raw, stab = result.results["metrics"]["raw"], result.results["metrics"]["stabilized"]
    assert stab["consecutive_iou"] >= 0.93
    assert stab["l1"] * 5 <= raw["l1"]
    assert stab["area_cv"] < raw["area_cv"]
    assert stab["J"] >= raw["J"]
    assert stab["ghost_frames"] <= 3

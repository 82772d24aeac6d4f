"""The stabilizer with look-ahead (offline window, realtime fixed lag) and without, on hand-made
sequences run through the shipped subgraph: glitches of the segmenter are undone, real changes are
not held, and nothing lags behind."""
import numpy as np
import pytest
import torch
from test_stabilize import run_stabilizer, square, textured

import graphrun
from graphrun.nodes.common import iou
from graphrun.nodes.stabilize.ops import future_maps, glitch_filter
from graphrun.runtime.testing import Harness

H, W = 60, 80
CAUSAL, LOOKAHEAD = 0, (1, 2)


def static_scene(n=10, edit=None):
    """A static textured scene with a 16x16 object; ``edit(t, p)`` changes the raw map of frame t."""
    img = textured(H, W)
    obj = square()
    probs = []
    for t in range(n):
        p = obj.astype(np.float32)
        if edit is not None:
            edit(t, p)
        probs.append(p)
    return [img] * n, probs, obj


def moving_scene(n=14, speed=4, x0=30):
    """A textured object moving right by ``speed`` px a frame over a textured background, leaving
    the frame at the end; the raw maps are exact."""
    bg, fg = textured(H, W, seed=1), textured(16, 16, seed=2)
    frames, probs, gts = [], [], []
    for t in range(n):
        x = x0 + speed * t
        m = np.zeros((H, W), bool)
        m[20:36, max(0, x):min(W, x + 16)] = True
        img = bg.copy()
        if x < W:
            img[20:36, max(0, x):min(W, x + 16)] = fg[:, max(0, -x):min(16, W - x)]     # the texture moves along
        frames.append(img)
        probs.append(m.astype(np.float32))
        gts.append(m)
    return frames, probs, gts


def stabilize(frames, probs, lookahead, extra=()):
    return run_stabilizer(frames, probs, [f"vars.lookahead={lookahead}", *extra])[0]


# -- the look-ahead's pure functions ---------------------------------------------------------------

def test_future_maps_bring_the_next_frames_back_along_the_forward_flow():
    m = torch.zeros(20, 30)
    m[5:10, 12:18] = 1.0                       # in frame t+1 the object is 2 px further right
    fwd = torch.zeros(20, 30, 2)
    fwd[..., 0] = 2.0                          # flow t -> t+1: every pixel moves 2 px right
    (back, rel), = future_maps([{"current": m, "forward": fwd, "fb_error": torch.zeros(20, 30)}])
    assert torch.equal(back[5:10, 10:16] >= 0.5, torch.ones(5, 6, dtype=torch.bool))
    assert float(rel[:, :27].min()) == 1.0 and float(rel[:, -1].max()) == 0.0   # from outside: no evidence
    assert future_maps([{"current": m, "forward": None}]) == []                   # a restart ends the window


def test_the_glitch_filter_judges_whole_regions_by_what_the_next_frames_say():
    past = torch.zeros(20, 30)
    past[5:15, 5:15] = 1.0
    cur = past.clone()
    cur[5:15, 15:25] = 1.0                     # the segmenter adds a region ...
    cur[12:15, 5:15] = 0.0                     # ... and drops another
    gone_again = [(past.clone(), torch.ones(20, 30))]
    out, new_past, info = glitch_filter(cur, past, gone_again, min_frac=0.05)
    assert torch.equal(out, past) and torch.equal(new_past, past) and info == {"removed_px": 100, "filled_px": 30}
    stays = [(cur.clone(), torch.ones(20, 30))]
    out, new_past, info = glitch_filter(cur, past, stays, min_frac=0.05, release_frac=0.0)
    assert torch.equal(out, cur) and info == {"removed_px": 0, "filled_px": 0}
    assert torch.equal(new_past, cur)          # confirmed changes enter the past: the fusion will not undo them
    out, new_past, _ = glitch_filter(cur, past, stays, min_frac=0.05)    # release_frac 0.5 of the object
    assert torch.equal(new_past[5:15, 15:25], cur[5:15, 15:25])          # the confirmed addition enters at once
    assert torch.equal(new_past[12:15, 5:15], past[12:15, 5:15])         # a small confirmed drop: left to the fusion
    unreliable = [(past.clone(), torch.zeros(20, 30))]                 # no trust in the warp: a real change
    assert torch.equal(glitch_filter(cur, past, unreliable, min_frac=0.05)[0], cur)


def test_a_drop_is_a_miss_when_any_one_of_the_next_frames_has_it_back():
    past = torch.zeros(20, 30)
    past[5:15, 5:15] = 1.0
    cur = torch.zeros(20, 30)                  # a miss of two frames: empty now and in frame t+1 ...
    ones, trusted = torch.ones(20, 30), torch.full((20, 30), 0.9)       # the warp back: 90% reliable
    back_in_two = [(torch.zeros(20, 30), trusted), (past.clone(), trusted)]    # ... back in frame t+2
    out, _, info = glitch_filter(cur, past, back_in_two, min_frac=0.05)
    assert torch.equal(out, past) and info["filled_px"] == 100           # bridged from both sides
    out, new_past, _ = glitch_filter(cur, past, back_in_two, min_frac=0.05, bridge=False)
    assert torch.equal(out, cur) and torch.equal(new_past, cur)          # the window's mean (0.45) alone
    never_back = [(torch.zeros(20, 30), ones), (torch.zeros(20, 30), ones)]
    out, new_past, _ = glitch_filter(cur, past, never_back, min_frac=0.05)
    assert torch.equal(out, cur) and torch.equal(new_past, cur)          # a real disappearance: released at once
    blob = cur.clone()
    blob[5:15, 15:25] = 1.0                    # an addition is still judged by the window's mean
    twice_gone = [(past.clone(), ones), (blob.clone(), ones), (past.clone(), ones)]
    assert glitch_filter(blob, past, twice_gone, min_frac=0.05)[2]["removed_px"] == 100


def test_a_glitch_filter_without_look_ahead_passes_the_map_through():
    cur = torch.rand(6, 6)
    with Harness("glitch_filter") as h:
        out = h.push(current=cur, warped=torch.zeros(6, 6))
    assert torch.equal(out["prob"], cur) and out["info"] == {"removed_px": 0, "filled_px": 0}


# -- behaviour of the whole stabilizer -------------------------------------------------------------

@pytest.mark.parametrize("lookahead", LOOKAHEAD)
def test_with_look_ahead_a_one_frame_blow_up_leaves_no_trace_not_even_on_its_own_frame(lookahead):
    def blow_up(t, p):
        if t == 4:
            p[8:52, 18:62] = 1.0               # 4x the object's area for one frame, touching it
    frames, probs, obj = static_scene(edit=blow_up)
    masks = stabilize(frames, probs, lookahead)
    assert all(np.array_equal(m, masks[0]) for m in masks), [int(m.sum()) for m in masks]
    assert iou(masks[5], obj) > 0.95


def test_causally_a_one_frame_blow_up_does_not_become_the_next_frames_target_or_fill():
    def blow_up(t, p):
        if t == 4:
            p[8:52, 18:62] = 1.0
    frames, probs, obj = static_scene(edit=blow_up)
    masks, infos = run_stabilizer(frames, probs, ["vars.lookahead=0"])
    assert masks[4].sum() > 3 * obj.sum()                  # shown: the segmenter said so, nothing contradicts it yet
    assert infos[5]["target_area"] < 1.5 * obj.sum()       # not the blown-up area ...
    assert infos[5]["threshold"] >= 0.5                    # ... so the threshold does not drop to keep it
    assert iou(masks[5], obj) > 0.75 and iou(masks[6], obj) > 0.9


@pytest.mark.parametrize("lookahead, at_least", [(CAUSAL, 0.7), (1, 0.95), (2, 0.95)])
def test_a_one_frame_miss_is_filled(lookahead, at_least):
    def miss(t, p):
        if t == 4:
            p[:] = 0.0
    frames, probs, obj = static_scene(edit=miss)
    masks = stabilize(frames, probs, lookahead)
    assert iou(masks[4], obj) > at_least          # causally from the warped past (beta_fill), ahead in full
    assert iou(masks[5], obj) > 0.95


@pytest.mark.parametrize("lookahead, gap", [(2, 2), (3, 2), (3, 3)])
def test_a_miss_of_several_frames_is_bridged_when_the_look_ahead_sees_the_object_back(lookahead, gap):
    def miss(t, p):
        if 4 <= t < 4 + gap:
            p[:] = 0.0
    frames, probs, obj = static_scene(n=12, edit=miss)
    masks = stabilize(frames, probs, lookahead)
    assert all(iou(m, obj) > 0.95 for m in masks), [int(m.sum()) for m in masks]
    if 2 * (gap - 1) > lookahead:             # the window's mean alone is below 0.5 at the first missed frame
        old = stabilize(frames, probs, lookahead, ["glitch.bridge=false"])
        assert not any(m.any() for m in old[4 + 1:4 + gap])


@pytest.mark.parametrize("lookahead", (CAUSAL, *LOOKAHEAD))
def test_a_one_frame_blob_far_from_the_object_is_removed(lookahead):
    def blob(t, p):
        if t == 4:
            p[44:58, 60:76] = 1.0
    frames, probs, obj = static_scene(edit=blob)
    masks = stabilize(frames, probs, lookahead)
    assert all(iou(m, obj) > 0.95 for m in masks)


@pytest.mark.parametrize("lookahead", LOOKAHEAD)
def test_with_look_ahead_a_one_frame_blob_touching_the_object_is_removed_too(lookahead):
    def blob(t, p):
        if t == 4:
            p[30:46, 40:60] = 1.0              # attached to the object: area_guard cannot tell
    frames, probs, obj = static_scene(edit=blob)
    masks = stabilize(frames, probs, lookahead)
    assert iou(masks[4], obj) > 0.95


@pytest.mark.parametrize("lookahead", (*LOOKAHEAD, 3))
def test_with_look_ahead_a_real_disappearance_is_not_held_for_a_single_frame(lookahead):
    def vanish(t, p):
        if t >= 5:
            p[:] = 0.0
    frames, probs, _ = static_scene(edit=vanish)
    masks = stabilize(frames, probs, lookahead)
    assert masks[4].any() and not any(m.any() for m in masks[5:])


def test_causally_a_real_disappearance_is_held_at_most_the_tolerated_misses():
    def vanish(t, p):
        if t >= 5:
            p[:] = 0.0
    frames, probs, _ = static_scene(edit=vanish)
    masks = stabilize(frames, probs, CAUSAL)
    assert not any(m.any() for m in masks[7:])             # anti_ghost: max_miss 1, then cleared


@pytest.mark.parametrize("lookahead", LOOKAHEAD)
def test_with_look_ahead_an_object_leaving_the_frame_leaves_no_ghost_and_the_mask_follows_it(lookahead):
    frames, probs, gts = moving_scene()
    masks = stabilize(frames, probs, lookahead)
    for t, (m, g) in enumerate(zip(masks, gts)):
        if g.sum() > 64:
            assert iou(m, g) > 0.8, t
        elif not g.any():
            assert not m.any(), t                            # gone as soon as the object is


def test_causally_an_object_leaving_the_frame_leaves_a_ghost_of_at_most_the_tolerated_misses():
    from graphrun.nodes.eval.metrics import ghost_runs

    frames, probs, gts = moving_scene()
    masks = stabilize(frames, probs, CAUSAL)
    assert all(iou(m, g) > 0.8 for m, g in zip(masks, gts) if g.sum() > 64)
    assert max(ghost_runs(masks, gts)) <= 1                  # anti_ghost.max_miss


@pytest.mark.parametrize("lookahead", (CAUSAL, *LOOKAHEAD))
def test_the_stabilized_mask_of_a_moving_object_does_not_lag(lookahead):
    from graphrun.nodes.eval.lag import sequence_lag

    frames, probs, gts = moving_scene(n=10)
    flows = [None] + [np.tile(np.array([-4.0, 0.0], np.float32), (H, W, 1))] * 9
    masks = stabilize(frames, probs, lookahead)
    summary, _ = sequence_lag(masks, [p >= 0.5 for p in probs], flows, gts=gts)
    assert summary["lag_frames"] == 0, summary


def test_in_realtime_the_look_ahead_is_a_fixed_lag_reported_in_the_summary():
    g = graphrun.Graph("rt")
    src = g.add("synthetic_scene", name="src", frames=24, width=96, height=72, fps=30)
    seg = g.add("bg_subtract", name="seg")
    stab = g.add("stabilizer", name="stab", lookahead=1)
    g.connect(src.frame, seg.frame)
    g.connect(src.background, seg.background)
    g.connect(src.frame, stab.frame)
    g.connect(seg.prob, stab.current)
    sink = g.add("null_sink", name="sink")
    g.connect(stab.mask, sink.x)
    stats = g.run(mode="realtime", executor="fused").stats
    assert stats["lag_frames"] == 1
    assert stats["lag_ms"] == pytest.approx(1000.0 / 30, rel=0.05)          # one frame at 30 fps
    assert stats["frames"] + stats["drops"] == 24

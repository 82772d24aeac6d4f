"""The stabilizer never makes a frame much worse than the segmenter (stabilized J more than 0.2 below
the raw mask's J), on hand-made sequences through the shipped subgraph that reproduce the three ways it
used to: a large false region dropped at once, an object that comes back after near-empty frames, and
(with look-ahead) a correct detection just before an empty frame."""
import numpy as np
import pytest
import torch
from test_stabilize import run_stabilizer, square, textured

from graphrun.nodes.common import iou
from graphrun.nodes.eval.metrics import worse_than_raw
from graphrun.nodes.stabilize.ops import decisive_changes, glitch_filter

H, W = 60, 80


def much_worse_frames(probs, gts, lookahead=0, extra=()):
    """Indices of the frames whose stabilized J is more than 0.2 below the raw mask's."""
    masks, _ = run_stabilizer([textured(H, W)] * len(probs), probs, [f"vars.lookahead={lookahead}", *extra])
    return [t for t, (m, p, g) in enumerate(zip(masks, probs, gts))
            if worse_than_raw(iou(m, g), iou(p >= 0.5, g))]


@pytest.mark.parametrize("lookahead", [0, 1])
@pytest.mark.parametrize("level", [1.0, 0.8])
def test_a_large_false_region_the_segmenter_drops_at_once_is_not_kept(lookahead, level):
    obj = square()
    false = np.zeros((H, W), bool)
    false[8:52, 46:76] = True                  # a false region 5x the object's area, touching it
    probs = [((obj | false) if t < 6 else obj).astype(np.float32) * level for t in range(12)]
    assert iou(probs[6] >= 0.5, obj) == 1.0
    assert much_worse_frames(probs, [obj] * 12, lookahead) == []


@pytest.mark.parametrize("lookahead", [0, 1])
@pytest.mark.parametrize("level", [1.0, 0.8])
def test_an_object_that_comes_back_after_near_empty_frames_regrows_at_once(lookahead, level):
    obj = square(size=24, y=16, x=28)
    speck = np.zeros((H, W), bool)
    speck[27:29, 39:41] = True                 # near-empty frames: the segmenter finds 4 px of the object
    probs = [(obj if t < 4 or t >= 9 else speck).astype(np.float32) * level for t in range(14)]
    assert much_worse_frames(probs, [obj] * 14, lookahead) == []


@pytest.mark.parametrize("lookahead", [0, 1])
def test_an_object_that_comes_back_elsewhere_is_not_dropped_for_a_stale_distractor(lookahead):
    obj, blob = square(size=20, y=30, x=52), square(size=6, y=6, x=6)
    probs = [(blob | square(size=20, y=30, x=10) if t < 4 else blob if t < 8 else blob | obj).astype(np.float32)
             for t in range(14)]
    gts = [square(size=20, y=30, x=10) if t < 4 else np.zeros((H, W), bool) if t < 8 else obj for t in range(14)]
    assert much_worse_frames(probs, gts, lookahead) == []


@pytest.mark.parametrize("lookahead", [1, 2])
def test_look_ahead_keeps_an_isolated_correct_detection_before_an_empty_frame(lookahead):
    obj = square()
    empty = np.zeros((H, W), bool)
    shown = {3, 7}                             # the segmenter finds the object on these frames only
    probs = [(obj if t in shown else empty).astype(np.float32) for t in range(12)]
    assert much_worse_frames(probs, [obj] * 12, lookahead) == []


# -- the pure functions behind it ------------------------------------------------------------------

def test_decisive_changes_are_drops_and_additions_larger_than_what_is_left_but_not_a_miss():
    obj, false = torch.from_numpy(square()).float(), torch.zeros(H, W)
    false[8:52, 46:76] = 1.0
    drops, adds = decisive_changes(obj, torch.maximum(obj, false))          # the false region dropped
    assert adds is None and torch.equal(drops, false.bool())
    hole = obj.clone()
    hole[20:24, 30:46] = 0.0                                                # a hole: the fusion's fill
    assert decisive_changes(hole, obj) == (None, None)
    assert decisive_changes(torch.zeros(H, W), obj) == (None, None)         # all gone: a miss, filled
    drops, adds = decisive_changes(obj, torch.zeros(H, W))                  # found on an empty past
    assert drops is None and torch.equal(adds, obj.bool())
    assert decisive_changes(obj, torch.maximum(obj, false), max_fill=0) == (None, None)


def test_the_glitch_filter_never_removes_a_detection_on_an_empty_past():
    cur, empty = torch.from_numpy(square()).float(), torch.zeros(H, W)
    gone_next = [(empty, torch.ones(H, W))]
    out, _, info = glitch_filter(cur, empty, gone_next, min_frac=0.05)
    assert torch.equal(out, cur) and info["removed_px"] == 0
    out, _, info = glitch_filter(cur, empty, gone_next, min_frac=0.05, lone_frac=0.0)   # the old rule
    assert torch.equal(out, empty) and info["removed_px"] == 256


@pytest.mark.parametrize("lookahead", [0, 1])
def test_an_object_found_again_is_not_dropped_for_a_distractor_that_stayed(lookahead):
    distractor, obj, found = square(size=16, y=4, x=60), square(size=20, y=30, x=4), square(size=12, y=40, x=34)
    probs = [(distractor | obj if t < 4 else distractor if t < 9 else distractor | found).astype(np.float32)
             for t in range(16)]                # missed on frames 4-8, found again (smaller than the distractor)
    gts = [obj if t < 9 else found for t in range(16)]
    assert much_worse_frames(probs, gts, lookahead) == []

import numpy as np
import pytest
import torch

from graphrun.nodes.common import iou
from graphrun.nodes.io.synthetic import Scene, SyntheticScene, render_scene
from graphrun.runtime.registry import get
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame


@pytest.fixture(scope="module")
def default_scene():
    return render_scene()


def test_synthetic_scene_is_registered_with_frame_gt_and_background_outputs():
    cls = get("synthetic_scene")
    assert cls is SyntheticScene
    assert set(cls.outputs) == {"frame", "gt", "background"}


def test_same_seed_gives_identical_frames_and_another_seed_does_not():
    a, ga = render_scene(frames=5, width=96, height=64, seed=3)
    b, gb = render_scene(frames=5, width=96, height=64, seed=3)
    c, _ = render_scene(frames=5, width=96, height=64, seed=4)
    assert np.array_equal(a, b) and np.array_equal(ga, gb)
    assert not np.array_equal(a, c)


def test_source_yields_rgb_frames_named_by_index_with_bool_gt_and_pts_from_fps():
    h = Harness("synthetic_scene", frames=4, width=80, height=60, fps=25.0)
    outs = h.pull()
    assert len(outs) == 4 == h.node.length() and h.node.fps() == 25.0
    frame, gt, plate = outs[-1]["frame"], outs[-1]["gt"], outs[-1]["background"]
    assert isinstance(frame, VideoFrame) and frame.image.shape == (60, 80, 3) and frame.image.dtype == np.uint8
    assert frame.name == "00003" and frame.index == 3 and h.pts[-1] == pytest.approx(3 / 25.0)
    assert gt.dtype == torch.bool and tuple(gt.shape) == (60, 80)
    assert plate.image.shape == (60, 80, 3)


def test_ground_truth_changes_little_between_consecutive_frames(default_scene):
    _, gt = default_scene
    ious = [iou(gt[t], gt[t - 1]) for t in range(1, len(gt))]
    assert np.mean(ious) > 0.95 and min(ious) > 0.93
    assert gt.mean() > 0.03  # objects are really there


def test_blob_leaves_the_frame_and_nothing_is_foreground_near_the_right_edge_after(default_scene):
    _, gt = default_scene
    w = gt.shape[2]
    right = gt[:, :, int(0.85 * w):]
    assert right[:20].any()           # the blob is there at the start
    assert not right[80:].any()       # and gone, for good, after it left
    scene = Scene(SyntheticScene.Params())
    cx, _, a, _, _ = scene.pose(2, 80)
    assert cx - 1.3 * a > w


def test_post_hides_objects_from_the_ground_truth_while_they_pass_behind(default_scene):
    _, gt = default_scene
    scene = Scene(SyntheticScene.Params())
    assert not gt[:, scene.bar].any()
    bar_cols = np.nonzero(scene.bar.any(0))[0]
    left, right = bar_cols[0] - 1, bar_cols[-1] + 1
    # some frame has the ellipse on both sides of the post at once (split by it)
    assert any(gt[t, :, left].any() and gt[t, :, right].any() for t in range(len(gt)))


def test_without_noise_and_flicker_pixels_off_the_objects_equal_the_clean_plate():
    frames, gt = render_scene(frames=3, noise=0, flicker=0)
    plate = Scene(SyntheticScene.Params(noise=0, flicker=0)).plate()
    import cv2
    near = cv2.dilate(gt[2].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    diff = np.abs(frames[2].astype(int) - plate.astype(int)).max(axis=2)
    assert diff[~near].max() <= 1
    assert diff[gt[2]].mean() > 10


def test_flicker_changes_the_brightness_of_the_static_background_over_time():
    calm, _ = render_scene(frames=30, noise=0, flicker=0)
    flick, _ = render_scene(frames=30, noise=0, flicker=0.08)
    corner = (slice(0, 20), slice(0, 20))
    assert np.std([f[corner].mean() for f in calm]) < 0.01
    assert np.std([f[corner].mean() for f in flick]) > 1.0


def test_a_shorter_scene_is_the_start_of_a_longer_one():
    short, gshort = render_scene(frames=6, width=96, height=64)
    long, glong = render_scene(frames=20, width=96, height=64)
    assert np.array_equal(short, long[:6]) and np.array_equal(gshort, glong[:6])

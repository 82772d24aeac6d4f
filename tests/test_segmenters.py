from pathlib import Path

import numpy as np
import pytest
import torch

from graphrun.nodes.common import iou
from graphrun.nodes.io.synthetic import Scene, SyntheticScene, render_scene
from graphrun.nodes.models.maskrcnn import MaskRCNN, default_weights_file
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import Instances, VideoFrame

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def vf(img, i=0):
    return VideoFrame(image=img, index=i, pts=i / 30, name=f"{i:05d}")


def run_bg(frames, plate=None, **params):
    probs, scores = [], []
    with Harness("bg_subtract", **params) as h:
        for i, f in enumerate(frames):
            out = h.push(frame=vf(f, i), background=None if plate is None else vf(plate))
            probs.append(out["prob"])
            scores.append(out["score"])
    return probs, scores


# ---------------------------------------------------------------------------------------------
# bg_subtract
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic_run():
    frames, gt = render_scene()
    plate = Scene(SyntheticScene.Params()).plate()
    probs, scores = run_bg(frames, plate)
    return frames, gt, probs, scores


def test_bg_subtract_outputs_a_float32_probability_map_and_a_float_score(synthetic_run):
    frames, _, probs, scores = synthetic_run
    p = probs[10]
    assert p.dtype == torch.float32 and tuple(p.shape) == frames.shape[1:3]
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    assert 0 < ((p > 0.05) & (p < 0.95)).sum()  # soft edges
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)


def test_bg_subtract_with_clean_plate_segments_the_synthetic_scene_but_flickers(synthetic_run):
    _, gt, probs, _ = synthetic_run
    masks = [p.numpy() > 0.5 for p in probs]
    J = np.mean([iou(m, g) for m, g in zip(masks, gt)])
    raw_ci = np.mean([iou(masks[t], masks[t - 1]) for t in range(1, len(masks))])
    gt_ci = np.mean([iou(gt[t], gt[t - 1]) for t in range(1, len(gt))])
    assert 0.75 < J < 0.97                 # decent, not perfect
    assert raw_ci < gt_ci - 0.08           # flickers more than the objects move
    assert iou(masks[0], gt[0]) > 0.8      # the plate makes frame 0 usable already


def test_bg_subtract_score_is_lower_on_frames_it_gets_wrong(synthetic_run):
    _, gt, probs, scores = synthetic_run
    J = np.array([iou(p.numpy() > 0.5, g) for p, g in zip(probs, gt)])
    assert np.corrcoef(scores, J)[0, 1] > 0.3


def moving_square(n=60, size=(60, 80), start=35):
    rng = np.random.default_rng(0)
    bg = rng.integers(60, 120, size=(*size, 3)).astype(np.uint8)
    frames, gts = [], []
    for t in range(n):
        f = bg.astype(np.int16) + rng.integers(-3, 4, size=bg.shape)
        g = np.zeros(size, bool)
        if t >= start:
            x = 5 + (t - start)
            g[20:40, x:x + 20] = True
            f[g] = 220
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        gts.append(g)
    return frames, gts


def test_bg_subtract_without_plate_learns_the_background_during_warmup_with_score_zero():
    frames, gts = moving_square()
    probs, scores = run_bg(frames, warmup=20, min_area=10)
    assert scores[:20] == [0.0] * 20
    assert float(probs[0].max()) == 0.0       # no background known yet: not a full-frame mask
    assert all(s == 0.0 for s in scores[20:35])             # static scene: nothing found
    assert all(float(p.max()) < 0.5 for p in probs[20:35])
    assert all(s > 0.3 for s in scores[36:])
    assert np.mean([iou(p.numpy() > 0.5, g) for p, g in zip(probs[36:], gts[36:])]) > 0.8


def test_bg_subtract_at_half_scale_returns_full_size_maps():
    frames, gts = moving_square(n=45)
    probs, _ = run_bg(frames, warmup=20, scale=0.5, min_area=3)
    assert tuple(probs[-1].shape) == gts[-1].shape
    assert iou(probs[-1].numpy() > 0.5, gts[-1]) > 0.6


def test_bg_subtract_max_width_caps_the_working_size_only_for_wide_frames():
    frames, gts = moving_square(n=45)
    width = frames[0].shape[1]
    capped, _ = run_bg(frames, warmup=20, max_width=width // 2, min_area=3)
    half, _ = run_bg(frames, warmup=20, scale=0.5, min_area=3)
    assert all(torch.equal(a, b) for a, b in zip(capped, half))       # the same as scale 0.5
    wide_cap, _ = run_bg(frames, warmup=20, max_width=width * 2, min_area=3)
    full, _ = run_bg(frames, warmup=20, min_area=3)
    assert all(torch.equal(a, b) for a, b in zip(wide_cap, full))     # narrower frames: untouched
    assert tuple(capped[-1].shape) == gts[-1].shape


def test_bg_subtract_rejects_a_clean_plate_of_another_size():
    frames, _ = moving_square(n=1)
    with Harness("bg_subtract") as h, pytest.raises(UserInputError, match="background image"):
        h.push(frame=vf(frames[0]), background=vf(np.zeros((10, 10, 3), np.uint8)))


@pytest.mark.skipif(not (DATA / "videos" / "traffic.avi").is_file(), reason="shared data not available")
def test_bg_subtract_finds_cars_on_the_traffic_video():
    import av

    with av.open(str(DATA / "videos" / "traffic.avi")) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(140), c.decode(video=0))]
    probs, scores = run_bg(frames, scale=0.5)
    assert float((probs[0] > 0.5).float().mean()) < 0.3      # frame 0 is not the whole frame
    fg = np.array([float((p > 0.5).float().mean()) for p in probs[30:]])
    assert 0.005 < fg.mean() < 0.3          # cars, not the whole road
    assert max(scores[30:]) > 0.5


# ---------------------------------------------------------------------------------------------
# maskrcnn
# ---------------------------------------------------------------------------------------------

SMALL = dict(min_size=64, max_size=96, max_detections=5)


@pytest.fixture(scope="module")
def random_maskrcnn():
    with Harness("maskrcnn", weights="none", score_threshold=0.0, **SMALL) as h:
        yield h


def test_maskrcnn_with_random_weights_outputs_prob_score_and_instances_of_the_frame_size(random_maskrcnn):
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = random_maskrcnn.push(frame=vf(img))
    assert out["prob"].dtype == torch.float32 and tuple(out["prob"].shape) == (48, 64)
    assert isinstance(out["score"], float)
    inst = out["instances"]
    assert isinstance(inst, Instances) and 1 <= len(inst) <= 5
    assert tuple(inst.masks.shape) == (len(inst), 48, 64)
    assert len(inst.class_names) == len(inst)


class FakeDetector:
    """Stands in for the torchvision model: fixed detections for a 20x20 frame."""

    def __init__(self, labels, scores, boxes_x):
        self.labels, self.scores, self.boxes_x = labels, scores, boxes_x

    def __call__(self, images):
        n = len(self.labels)
        masks = torch.zeros(n, 1, 20, 20)
        for i, x in enumerate(self.boxes_x):
            masks[i, 0, 5:15, x:x + 5] = 0.9
        return [{"boxes": torch.zeros(n, 4), "labels": torch.tensor(self.labels),
                 "scores": torch.tensor(self.scores), "masks": masks}]


def test_maskrcnn_follows_the_instance_that_overlaps_the_previous_mask(random_maskrcnn):
    h, node = random_maskrcnn, random_maskrcnn.node
    model = node.model
    try:
        node.model = FakeDetector(labels=[1, 1, 3], scores=[0.9, 0.7, 0.99], boxes_x=[0, 12, 6])
        img = np.zeros((20, 20, 3), np.uint8)
        first = h.push(frame=vf(img))
        assert first["score"] == pytest.approx(0.9)         # best person (the car is ignored)
        prev = torch.zeros(20, 20)
        prev[5:15, 12:17] = 1.0
        second = h.push(frame=vf(img), prev=prev)
        assert second["score"] == pytest.approx(0.7)        # the person that overlaps prev
        assert float(second["prob"][10, 14]) == pytest.approx(0.9)
        assert len(second["instances"]) == 3
    finally:
        node.model = model


def test_maskrcnn_gives_zero_prob_and_score_when_no_instance_of_the_class(random_maskrcnn):
    h, node = random_maskrcnn, random_maskrcnn.node
    model = node.model
    try:
        node.model = FakeDetector(labels=[3], scores=[0.95], boxes_x=[2])
        out = h.push(frame=vf(np.zeros((20, 20, 3), np.uint8)))
        assert out["score"] == 0.0 and float(out["prob"].abs().sum()) == 0.0
        assert tuple(out["prob"].shape) == (20, 20)
    finally:
        node.model = model


def test_maskrcnn_loads_a_local_state_dict(tmp_path, random_maskrcnn):
    state = {k: v.clone() for k, v in random_maskrcnn.node.model.state_dict().items()}
    key = "roi_heads.box_predictor.cls_score.bias"
    state[key] = torch.arange(len(state[key]), dtype=torch.float32)
    path = tmp_path / "tiny_maskrcnn.pth"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, path)  # half: smaller
    with Harness("maskrcnn", weights=str(path), **SMALL) as loaded:
        assert torch.equal(loaded.node.model.state_dict()[key], state[key])
    path.unlink()


def test_maskrcnn_rejects_a_file_that_is_not_its_state_dict(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(UserInputError, match="not a maskrcnn_resnet50_fpn state_dict"):
        Harness("maskrcnn", weights=str(path), **SMALL).setup()
    with pytest.raises(UserInputError, match="is not a file, a URL or a weight set"):
        Harness("maskrcnn", weights=str(tmp_path / "missing.pth"), **SMALL).setup()


def test_maskrcnn_default_weights_missing_from_the_hub_cache_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHRUN_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    path, url = default_weights_file()
    assert str(path).startswith(str(tmp_path))
    with pytest.raises(UserInputError) as err:
        Harness("maskrcnn", weights="DEFAULT", **SMALL).setup()
    msg = str(err.value)
    assert path.name in msg and str(path.parent) in msg and "graphrun weights fetch maskrcnn" in msg
    assert "weights=" in msg
    assert not path.exists()  # nothing was downloaded


def test_maskrcnn_names_a_close_class_when_the_class_is_unknown():
    with pytest.raises(UserInputError, match="did you mean 'person'"):
        Harness("maskrcnn", weights="none", class_name="persn", **SMALL).setup()
    assert MaskRCNN._class_id(3, ["__background__", "person", "bicycle", "car"]) == 3

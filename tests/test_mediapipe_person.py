"""mediapipe_person: a real person segmenter whose weights ship in the mediapipe wheel (optional extra)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrun.nodes.common import iou
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DANCE = DATA / "davis" / "JPEGImages" / "480p" / "dance-twirl"


def has_mediapipe() -> bool:
    try:
        from mediapipe.python.solutions import selfie_segmentation  # noqa: F401
    except ImportError:
        return False
    return True


needs_mediapipe = pytest.mark.skipif(not has_mediapipe(), reason="the mediapipe extra is not installed")
needs_data = pytest.mark.skipif(not DANCE.is_dir(), reason="shared data not available")


def vf(img, i=0):
    return VideoFrame(image=img, index=i, pts=i / 25, name=f"{i:05d}")


def davis_frame(i=10):
    from PIL import Image
    img = np.array(Image.open(DANCE / f"{i:05d}.jpg").convert("RGB"))
    gt = np.array(Image.open(DATA / "davis" / "Annotations" / "480p" / "dance-twirl" / f"{i:05d}.png")) > 0
    return img, gt


def test_without_the_extra_the_node_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)     # import mediapipe -> ImportError
    with pytest.raises(UserInputError) as err:
        Harness("mediapipe_person").setup()
    assert str(err.value) == "mediapipe_person needs the optional extra: pip install -e '.[mediapipe]'"


def test_the_node_is_listed_and_validated_without_mediapipe_imported():
    from graphrun.nodes.models.mediapipe_person import MediaPipePerson
    assert MediaPipePerson.Params(model="pose").model == "pose"
    with pytest.raises(Exception, match="selfie"):
        MediaPipePerson.Params(model="hair")


@needs_mediapipe
@needs_data
@pytest.mark.parametrize("model", ["selfie", "selfie_landscape", "pose"])
def test_each_model_finds_the_dancer_as_a_probability_map_of_the_frame_size(model):
    img, gt = davis_frame()
    with Harness("mediapipe_person", model=model) as h:
        out = h.push(frame=vf(img))
    prob = out["prob"]
    assert prob.dtype == torch.float32 and tuple(prob.shape) == img.shape[:2]
    assert 0.0 <= float(prob.min()) and float(prob.max()) <= 1.0
    assert iou(prob.numpy() > 0.5, gt) > 0.5
    assert isinstance(out["score"], float) and out["score"] > 0.5


@needs_mediapipe
@pytest.mark.parametrize("model", ["selfie", "pose"])
def test_a_frame_without_a_person_scores_zero(model):
    grey = np.full((120, 160, 3), 128, np.uint8)
    with Harness("mediapipe_person", model=model) as h:
        out = h.push(frame=vf(grey))
    assert out["score"] == 0.0 and float(out["prob"].max()) < 0.5


@needs_mediapipe
def test_a_change_of_frame_size_restarts_the_model_and_says_so():
    rng = np.random.default_rng(0)
    with Harness("mediapipe_person") as h:
        first = h.push(frame=vf(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), 0))
        second = h.push(frame=vf(rng.integers(0, 255, (90, 200, 3), dtype=np.uint8), 1))
        same = h.push(frame=vf(rng.integers(0, 255, (90, 200, 3), dtype=np.uint8), 2))
    assert tuple(first["prob"].shape) == (120, 160) and tuple(second["prob"].shape) == (90, 200)
    assert tuple(same["prob"].shape) == (90, 200)
    assert h.logs == ["mediapipe_person 'mediapipe_person': frame size changed from 160x120 to 200x90 at frame 1: "
                      "model restarted"]

"""torchvision_model: shapes per task, batch = per-frame, weights from the torch cache (never the network here)."""
import pytest
import torch
from pydantic import ValidationError

from graphrun.nodes.models.torchvision_model import TorchvisionModel, weights_cache_path
from graphrun.runtime import UserInputError
from graphrun.runtime.testing import Harness


def make(**params):
    return Harness("torchvision_model", **params).setup()


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch hub folder, offline: a cache miss fails at once instead of downloading."""
    monkeypatch.setenv("GRAPHRUN_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path))
    yield tmp_path
    torch.hub.set_dir(old)


def test_classifier_gives_logits_for_a_frame_and_for_a_batch_consistently():
    torch.manual_seed(0)
    h = make(model="resnet18", num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    batch = h.push(x=x)["logits"]
    single = h.push(x=x[1])["logits"]
    assert batch.shape == (2, 10) and single.shape == (10,)
    assert torch.allclose(batch[1], single, atol=1e-4)


def test_input_size_resizes_before_the_model():
    import torch.nn.functional as F
    torch.manual_seed(0)
    h = make(model="resnet18", num_classes=5, input_size=32)
    x = torch.randn(3, 50, 40)
    out = h.push(x=x)["logits"]
    small = F.interpolate(x[None], size=(32, 32), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        expected = h.node.model(small)[0]
    assert torch.allclose(out, expected, atol=1e-5)


def test_segmentation_model_gives_per_pixel_logits():
    out = make(model="lraspp_mobilenet_v3_large", num_classes=3).push(x=torch.randn(2, 3, 64, 64))["logits"]
    assert out.shape == (2, 3, 64, 64)


def test_detection_model_gives_boxes_scores_labels():
    h = make(model="fasterrcnn_mobilenet_v3_large_320_fpn")
    one = h.push(x=torch.rand(3, 64, 64))
    assert set(one) == {"detections"}
    assert set(one["detections"]) == {"boxes", "scores", "labels"}
    assert one["detections"]["boxes"].shape[-1] == 4
    many = h.push(x=torch.rand(2, 3, 64, 64))["detections"]
    assert len(many["boxes"]) == 2


def test_default_weights_missing_from_the_cache_is_a_user_error_naming_the_file(hub_dir):
    with pytest.raises(UserInputError, match="not in the torch cache") as err:
        make(model="mobilenet_v3_small", weights="DEFAULT")
    assert str(hub_dir) in str(err.value)


def test_cached_weights_are_loaded_without_network(hub_dir):
    import torchvision.models as M
    torch.manual_seed(1)
    reference = M.mobilenet_v3_small().eval()
    path = weights_cache_path(M.MobileNet_V3_Small_Weights.DEFAULT)
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    h = make(model="mobilenet_v3_small", weights="DEFAULT")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        expected = reference(x)
    assert torch.allclose(h.push(x=x)["logits"], expected, atol=1e-5)


def test_unknown_weight_set_is_a_user_error():
    with pytest.raises(UserInputError, match="IMAGENET1K_V1"):
        make(model="resnet18", weights="COCO_V9")


def test_unknown_model_name_is_rejected_with_a_suggestion():
    with pytest.raises(ValidationError, match="resnet18"):
        TorchvisionModel.Params(model="resnt18")


def test_num_classes_needs_random_weights():
    with pytest.raises(ValidationError, match="num_classes"):
        TorchvisionModel.Params(model="resnet18", weights="DEFAULT", num_classes=3)


def test_a_tensor_that_is_not_an_image_is_a_user_error():
    h = make(model="resnet18", num_classes=2)
    with pytest.raises(UserInputError, match="3,H,W"):
        h.push(x=torch.zeros(4, 8, 8))


def test_bfloat16_channels_last_model_runs_on_cpu():
    h = make(model="resnet18", num_classes=4, dtype="bfloat16", channels_last=True)
    out = h.push(x=torch.randn(2, 3, 32, 32))["logits"]
    assert out.dtype == torch.bfloat16 and out.shape == (2, 4)

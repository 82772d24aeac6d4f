"""preprocess: torchvision semantics, OpenCV and torch backends agreeing, batch = per-frame."""
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from graphrun.nodes.models.preprocess import Preprocess
from graphrun.nodes.models.preprocess_ops import crop_box, preprocess_batch, preprocess_image, resized_size
from graphrun.runtime import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

LSB = 1 / 255 / 0.224  # one grey level after ImageNet normalization (roughly)


def smooth_image(h=240, w=320, seed=0):
    """A natural-looking image: smooth gradients plus blurred noise (no aliasing-prone texture)."""
    import cv2
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3)).astype(np.float32) * 255
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = np.stack([xx / w * 255, yy / h * 255, (xx + yy) / (w + h) * 255], axis=2)
    img = 0.5 * cv2.GaussianBlur(noise, (0, 0), 4) + 0.5 * grad
    return np.clip(img, 0, 255).astype(np.uint8)


def torchvision_reference(img, resize, crop, antialias=True):
    """The same transform written with torchvision.transforms.v2 (an independent implementation)."""
    import torchvision.transforms.v2.functional as TF
    x = torch.from_numpy(img).permute(2, 0, 1)
    x = TF.resize(x, resize, antialias=antialias)
    if crop is not None:
        x = TF.center_crop(x, crop)
    x = TF.to_dtype(x, torch.float32, scale=True)
    return TF.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def test_short_side_resize_keeps_aspect_ratio_like_torchvision():
    assert resized_size(480, 640, 256) == (256, 341)
    assert resized_size(640, 480, 256) == (341, 256)
    assert resized_size(480, 640, (100, 50)) == (100, 50)
    assert resized_size(480, 640, None) == (480, 640)


def test_center_crop_box_is_rounded_like_torchvision():
    assert crop_box(256, 341, 224) == (16, 58, 224, 224)
    assert crop_box(10, 11, (4, 5)) == (3, 3, 4, 5)
    assert crop_box(10, 11, None) == (0, 0, 10, 11)


def test_torch_backend_matches_torchvision_transforms():
    img = smooth_image(300, 400)
    ref = torchvision_reference(img, 256, 224)
    out = preprocess_image(img, resize=256, crop=224, backend="torch")
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=1e-5)


def test_opencv_backend_is_within_one_grey_level_of_the_reference_without_antialias():
    img = smooth_image(300, 400)
    ref = torchvision_reference(img, 256, 224, antialias=False)
    out = preprocess_image(img, resize=256, crop=224, antialias=False, backend="opencv")
    assert (out - ref).abs().max() <= 1.1 * LSB


def test_opencv_area_downscale_is_close_to_the_antialiased_reference():
    img = smooth_image(480, 640)
    ref = torchvision_reference(img, 120, 112)
    out = preprocess_image(img, resize=120, crop=112, backend="opencv")
    diff = (out - ref).abs()
    assert diff.mean() < 0.5 * LSB and diff.max() < 4 * LSB


def test_auto_backend_on_cpu_gives_the_reference_result_for_antialiased_downscaling():
    img = smooth_image(480, 640)
    out = preprocess_image(img, resize=120, crop=112)
    assert torch.allclose(out, torchvision_reference(img, 120, 112), atol=1e-5)


def test_upscaling_with_both_backends_agrees():
    img = smooth_image(60, 80)
    a = preprocess_image(img, resize=(120, 160), crop=None, backend="opencv")
    b = preprocess_image(img, resize=(120, 160), crop=None, backend="torch")
    assert a.shape == b.shape == (3, 120, 160)
    assert (a - b).abs().max() <= 1.1 * LSB


def test_batch_function_equals_per_frame_processing():
    imgs = np.stack([smooth_image(120, 160, seed=s) for s in range(3)])
    for backend in ("torch", "opencv"):
        batch = preprocess_batch(torch.from_numpy(imgs), resize=64, crop=56, backend=backend)
        single = torch.stack([preprocess_image(i, resize=64, crop=56, backend=backend) for i in imgs])
        assert batch.shape == (3, 3, 56, 56)
        assert torch.allclose(batch, single, atol=1e-5)


def test_batch_function_rejects_a_chw_batch():
    with pytest.raises(UserInputError, match="B,H,W,3"):
        preprocess_batch(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_mean_and_std_are_applied_to_unit_range_values():
    img = np.full((4, 4, 3), 255, np.uint8)
    out = preprocess_image(img, resize=None, crop=None, mean=(0.5, 0.0, 1.0), std=(0.5, 1.0, 2.0))
    assert torch.allclose(out[:, 0, 0], torch.tensor([1.0, 1.0, 0.0]))


def test_float16_output_and_channels_last_layout():
    img = smooth_image(40, 50)
    out = preprocess_image(img, resize=None, crop=None, dtype="float16", channels_last=True)
    assert out.dtype == torch.float16 and out.shape == (3, 40, 50)
    assert out.stride() == (1, 50 * 3, 3)  # HWC in memory
    ref = preprocess_image(img, resize=None, crop=None)
    assert torch.allclose(out.float(), ref, atol=1e-2)


def test_crop_larger_than_the_resized_image_is_a_user_error():
    with pytest.raises(UserInputError, match="crop"):
        preprocess_image(smooth_image(40, 50), resize=32, crop=64)


def test_grey_and_rgba_images_become_three_channels():
    g = smooth_image(20, 30)[..., 0]
    out = preprocess_image(g, resize=None, crop=None, mean=(0, 0, 0), std=(1, 1, 1))
    assert out.shape == (3, 20, 30) and torch.equal(out[0], out[2])
    rgba = np.dstack([smooth_image(20, 30), np.zeros((20, 30), np.uint8)])
    assert preprocess_image(rgba, resize=None, crop=None).shape == (3, 20, 30)


def test_non_uint8_or_badly_shaped_images_are_user_errors():
    with pytest.raises(UserInputError, match="uint8"):
        preprocess_image(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(UserInputError, match="HxWx3"):
        preprocess_image(np.zeros((8, 8, 5), np.uint8))


def test_opencv_backend_on_cuda_is_refused():
    with pytest.raises(UserInputError, match="opencv"):
        preprocess_image(smooth_image(8, 8), resize=None, crop=None, device="cuda", backend="opencv")


def test_node_accepts_numpy_and_torch_frames_alike():
    img = smooth_image(100, 120)
    with Harness("preprocess", resize=64, crop=(48, 56)) as h:
        a = h.push(frame=VideoFrame(img, 0, 0.0, "00000"))["tensor"]
        b = h.push(frame=VideoFrame(torch.from_numpy(img), 1, 0.033, "00001"))["tensor"]
    assert a.shape == (3, 48, 56)
    assert torch.allclose(a, b, atol=1e-5)


def test_params_reject_zero_sizes_and_zero_std():
    with pytest.raises(ValidationError):
        Preprocess.Params(resize=0)
    with pytest.raises(ValidationError):
        Preprocess.Params(crop=(10, 0))
    with pytest.raises(ValidationError):
        Preprocess.Params(std=(0.2, 0.0, 0.2))
    assert Preprocess.Params(resize=[10, 12]).resize == (10, 12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path_matches_cpu_path():
    img = smooth_image(300, 400)
    cpu = preprocess_image(img, resize=256, crop=224, backend="torch")
    gpu = preprocess_image(img, resize=256, crop=224, device="cuda")
    assert gpu.device.type == "cuda"
    diff = (gpu.cpu() - cpu).abs()  # the CPU kernel resizes uint8 with fixed-point weights and rounds; CUDA does not
    assert diff.max() <= 1.1 * LSB and diff.mean() <= 0.3 * LSB

"""A chain at a working size and back (work_size / frame_size), and the stabilizer's ``work_width``."""
import numpy as np
import pytest
import torch

import graphrun
from graphrun.nodes.common import iou
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

OUTPUTS_OFF = ["out.raw_masks.enabled=false", "out.stab_masks.enabled=false", "out.overlay.enabled=false",
               "out.report.enabled=false"]


def frame(h=480, w=640, index=0):
    rng = np.random.default_rng(index)
    return VideoFrame(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), index, index / 25, f"{index:05d}")


@pytest.mark.parametrize("max_width,width", [(0, 640), (640, 640), (1000, 640)])
def test_work_size_passes_frames_that_are_narrow_enough_through_untouched(max_width, width):
    f = frame(w=width)
    prob = torch.rand(480, width)
    with Harness("work_size", max_width=max_width) as h:
        out = h.push(frame=f, map=prob)
    assert out["frame"] is f and out["full"] is f
    assert out["map"].shape == prob.shape and torch.equal(out["map"], prob)


def test_work_size_shrinks_the_frame_and_its_map_keeping_the_aspect_and_the_timing():
    f = frame(480, 640, index=7)
    prob = torch.zeros(480, 640)
    prob[100:300, 200:400] = 1.0
    with Harness("work_size", max_width=320) as h:
        out = h.push(frame=f, map=prob)
    small = out["frame"]
    assert small.size == (240, 320) and (small.index, small.pts, small.name) == (7, f.pts, f.name)
    assert out["full"] is f
    m = out["map"]
    assert tuple(m.shape) == (240, 320) and m.dtype == torch.float32
    assert float(m.sum()) == pytest.approx(float(prob.sum()) / 4, rel=1e-3)   # area averaging keeps the mass


def test_frame_size_grows_a_mask_with_smooth_edges_to_the_frame_it_is_given():
    small = np.zeros((240, 320), bool)
    yy, xx = np.mgrid[:240, :320]
    small[(yy - 120) ** 2 / 80 ** 2 + (xx - 160) ** 2 / 50 ** 2 <= 1] = True
    with Harness("frame_size") as h:
        out = h.push(like=frame(), mask=torch.from_numpy(small), prob=torch.from_numpy(small.astype(np.float32)))
    big = out["mask"].numpy()
    assert big.dtype == bool and big.shape == (480, 640)
    blocks = np.repeat(np.repeat(small, 2, 0), 2, 1)
    assert iou(big, blocks) > 0.98 and (big != blocks).any()        # the same object, not 2x2 blocks
    assert abs(int(big.sum()) - 4 * int(small.sum())) < 0.01 * big.sum()
    assert tuple(out["prob"].shape) == (480, 640)


def test_frame_size_passes_a_mask_already_at_the_frames_size():
    m = torch.zeros(480, 640, dtype=torch.bool)
    with Harness("frame_size") as h:
        out = h.push(like=frame(), mask=m)
    assert out["mask"] is m and "prob" not in out


def test_the_stabilizer_at_half_size_gives_full_size_masks_as_accurate_as_at_full_size():
    """The synthetic scene at 640x480: work_width 320 runs the chain on a quarter of the pixels."""
    scores = {}
    for width in (0, 320):
        result = graphrun.load("stabilize", set=["source.width=640", "source.height=480", "source.frames=40",
                                                 "seg.max_width=0", f"stab.work_width={width}",
                                                 *OUTPUTS_OFF]).run(executor="inline", log=lambda m: None)
        scores[width] = result.results["metrics"]["stabilized"]["J"]
    assert scores[0] > 0.8
    assert abs(scores[320] - scores[0]) < 0.02, scores


def test_a_cheaper_preset_for_the_forward_backward_check_leaves_the_flow_itself_alone():
    import cv2

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (96, 128)).astype(np.float32), (0, 0), 2.0)
    img = np.repeat(((img - img.min()) / np.ptp(img) * 255).astype(np.uint8)[..., None], 3, axis=2)
    moved = np.roll(img, shift=(2, 3), axis=(0, 1))
    outs = {}
    for check in (None, "ultrafast"):
        with Harness("optical_flow", preset="medium", fb_preset=check) as h:
            h.push(frame=VideoFrame(img, 0, 0.0, "0"))
            outs[check] = h.push(frame=VideoFrame(moved, 1, 0.04, "1"))
    assert torch.equal(outs[None]["flow"], outs["ultrafast"]["flow"])
    assert not torch.equal(outs[None]["forward"], outs["ultrafast"]["forward"])
    assert float(outs["ultrafast"]["fb_error"][20:-20, 20:-20].median()) < 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_working_size_on_cuda_matches_the_cpu():
    """The torch path (CUDA tensors): shrinking and growing agree with OpenCV's on the CPU."""
    from graphrun.nodes.core import resize_image, resize_mask

    prob = torch.zeros(480, 640)
    prob[100:300, 200:400] = 1.0
    small_cpu, small_gpu = resize_image(prob, 240, 320, True), resize_image(prob.cuda(), 240, 320, True)
    assert small_gpu.is_cuda and torch.allclose(small_gpu.cpu(), small_cpu, atol=1e-5)
    m = small_cpu >= 0.5
    big_cpu, big_gpu = resize_mask(m, 480, 640), resize_mask(m.cuda(), 480, 640)
    assert big_gpu.is_cuda and iou(big_gpu.cpu().numpy(), big_cpu.numpy()) > 0.99

"""The stabilizer's CPU fast paths give exactly what the plain formulas give (speed only, same masks)."""
import cv2
import numpy as np
import torch

from graphrun.nodes.common import remap, remap_binary, sample_points
from graphrun.nodes.stabilize.ops import area, at_least, component_support, fusion_weight, gate_components


def _float_remap_at_half(mask, points):
    return cv2.remap(mask.astype(np.float32), points, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0) >= 0.5


def test_a_binary_mask_warped_on_its_bytes_matches_the_float_warp_at_every_sub_pixel_step():
    """All 16 patterns of a 2x2 neighbourhood, sampled at every 1/32 px (OpenCV's interpolation
    steps) and at random points in and beyond the frame."""
    rng = np.random.default_rng(0)
    steps = np.concatenate([1 + np.arange(33) / 32.0, rng.uniform(-1.0, 5.0, 400)]).astype(np.float32)
    xs, ys = np.meshgrid(steps, steps)
    points = np.ascontiguousarray(np.stack([xs, ys], -1))
    for pattern in range(16):
        mask = np.zeros((4, 4), bool)
        mask[1, 1], mask[1, 2], mask[2, 1], mask[2, 2] = [(pattern >> k) & 1 for k in range(4)]
        assert np.array_equal(remap_binary(mask, points), _float_remap_at_half(mask, points)), pattern
    big = rng.random((120, 160)) > 0.6
    flow = rng.uniform(-20, 20, (120, 160, 2)).astype(np.float32)
    pts = sample_points(flow)
    assert np.array_equal(remap_binary(big, pts), _float_remap_at_half(big, pts))


def test_remap_of_several_channels_in_one_call_equals_a_channel_at_a_time():
    rng = np.random.default_rng(1)
    pts = sample_points(rng.uniform(-8, 8, (60, 80, 2)).astype(np.float32))
    for channels in (2, 3, 4, 6):
        field = rng.random((60, 80, channels)).astype(np.float32)
        for border in ("replicate", "zeros"):
            mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
            each = np.stack([cv2.remap(np.ascontiguousarray(field[..., c]), pts, None, cv2.INTER_LINEAR,
                                       borderMode=mode, borderValue=0) for c in range(channels)], -1)
            assert np.array_equal(remap(field, pts, border), each)


def test_counts_and_thresholds_on_the_cpu_equal_torch_s():
    x = torch.rand(97, 131)
    for level in (0.4, 0.45, 0.5, 0.55, 0.6, 1.0 / 3.0):
        assert area(x, level) == int((x >= level).sum())
        assert torch.equal(at_least(x, level), x >= level)
    assert area(x >= 0.5) == int((x >= 0.5).sum())


def test_fusion_weight_is_bitwise_the_formula():
    g = torch.Generator().manual_seed(2)
    cur, warped = torch.rand(50, 70, generator=g), torch.rand(50, 70, generator=g)
    fb = torch.rand(50, 70, generator=g) * 5
    fb[0, :5] = float("inf")
    want = torch.where(warped > cur, torch.full_like(cur, 0.6), torch.full_like(cur, 0.3))
    want = (want * torch.exp(-fb / 2.0)).clamp_(0.0, 1.0)
    assert torch.equal(fusion_weight(cur, warped, fb, None, 0.6, 0.3, 2.0), want)


def _components_full(mask):
    n, lab = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    return n, lab


def test_component_support_on_the_bounding_box_equals_the_full_frame_means():
    rng = np.random.default_rng(3)
    mask = np.zeros((80, 100), bool)
    mask[10:30, 20:45] = True
    mask[50:70, 60:62] = True
    mask[5, 90] = True
    raw = rng.random((80, 100)).astype(np.float32)
    lab, support = component_support(mask, raw)
    n, ref = _components_full(mask)
    assert len(support) == n
    for i in range(1, n):               # the same components (their numbering may differ)
        comp = ref == i
        labels = np.unique(lab[comp])
        assert len(labels) == 1 and np.array_equal(lab == labels[0], comp)
        assert support[labels[0]] == np.bincount(np.zeros(int(comp.sum()), np.int64), weights=raw[comp])[0] / comp.sum()
    assert np.isclose(support[0], raw[~mask].mean())
    lab0, support0 = component_support(np.zeros((8, 8), bool), raw[:8, :8])
    assert not lab0.any() and len(support0) == 1


def test_gate_components_keeps_the_mask_when_every_part_touches_the_previous_one():
    mask = np.zeros((60, 80), bool)
    mask[10:30, 10:30] = True
    mask[40:50, 50:70] = True
    prev = np.zeros_like(mask)
    prev[25:35, 25:35] = True
    prev[45, 55] = True
    kept, counter, info = gate_components(mask, prev)
    assert np.array_equal(kept, mask) and kept is not mask and not counter.any()
    assert info == {"rejected_px": 0, "accepted_far": False}
    prev[45, 55] = False                # the second part is now far from the previous object: waits
    kept, counter, info = gate_components(mask, prev)
    assert info["rejected_px"] == 200 and not kept[40:50, 50:70].any() and counter[45, 55] == 1


def test_a_flow_resized_in_one_pass_is_the_per_channel_scaling_bit_for_bit():
    from graphrun.nodes.common import resize_flow
    rng = np.random.default_rng(3)
    for (h0, w0), (h, w) in (((360, 480), (480, 640)), ((270, 480), (480, 854)), ((50, 70), (101, 97))):
        flow = rng.normal(0, 6, (h0, w0, 2)).astype(np.float32)
        want = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        want[..., 0] *= w / w0
        want[..., 1] *= h / h0
        got = resize_flow(flow, h, w)
        assert got.dtype == np.float32 and np.array_equal(got, want), (h, w)

"""A change of frame size inside a stream: every shipped node that sees frames or per-pixel maps copes.

Each node gets three frames of 32x24 then three of 48x36. A node that keeps per-pixel state
restarts at the change and says so in one log line naming itself, the frame and both sizes;
``batch`` refuses to stack two sizes in one batch (one line naming both shapes; the runtime adds
the node and the frame)."""
import numpy as np
import pytest
import torch

from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame


def frame(i, h, w):
    img = np.full((h, w, 3), 80, np.uint8)
    img[h // 4:h // 2, (2 * i) % (w // 2):(2 * i) % (w // 2) + w // 4] = 220
    return VideoFrame(image=img, index=i, pts=i / 25, name=f"{i:05d}")


def prob(i, h, w):
    p = torch.zeros(h, w)
    p[h // 4:h // 2, w // 4:w // 2] = 0.9
    return p


INPUTS = {   # kind: (params, inputs of frame i at size h x w, logs a reset)
    "optical_flow": ({}, lambda i, h, w: {"frame": frame(i, h, w)}, True),
    "flow_warp": ({}, lambda i, h, w: {"prev": prob(i, 24, 32), "flow": torch.zeros(h, w, 2)}, False),
    "motion_fusion": ({}, lambda i, h, w: {"current": prob(i, h, w), "warped": prob(i, 24, 32),
                                           "fb_error": torch.zeros(h, w), "score": 0.8}, False),
    "ema": ({}, lambda i, h, w: {"prob": prob(i, h, w)}, True),
    "adaptive_threshold": ({}, lambda i, h, w: {"prob": prob(i, h, w)}, True),
    "area_guard": ({}, lambda i, h, w: {"mask": prob(i, h, w) > 0.5, "flow": torch.zeros(h, w, 2)}, True),
    "anti_ghost": ({}, lambda i, h, w: {"mask": prob(i, h, w) > 0.5, "prob": prob(i, h, w),
                                        "raw": prob(i, h, w), "score": 0.9}, True),
    "bg_subtract": ({"warmup": 1}, lambda i, h, w: {"frame": frame(i, h, w)}, True),
    "preprocess": ({}, lambda i, h, w: {"frame": frame(i, h, w)}, False),
    "metrics": ({}, lambda i, h, w: {"frame": frame(i, h, w), "raw": prob(i, h, w), "stabilized": prob(i, h, w)},
                True),
    "mask_writer": ({}, lambda i, h, w: {"frame": frame(i, h, w), "mask": prob(i, h, w)}, False),
    "overlay_writer": ({}, lambda i, h, w: {"frame": frame(i, h, w), "raw": prob(i, h, w),
                                            "stabilized": prob(i, h, w)}, True),
    "report": ({}, lambda i, h, w: {"frame": frame(i, h, w), "raw": prob(i, h, w), "stabilized": prob(i, h, w)},
               True),
    "passthrough": ({}, lambda i, h, w: {"x": frame(i, h, w)}, False),
    "null_sink": ({}, lambda i, h, w: {"x": frame(i, h, w)}, False),
}


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_every_shipped_node_copes_with_a_frame_size_change(tmp_path, kind):
    params, make, resets = INPUTS[kind]
    with Harness(kind, out_dir=str(tmp_path), **params) as h:
        for i in range(6):
            h.push(**make(i, *((24, 32) if i < 3 else (36, 48))))
        h.flush()
        h.finish()
    said = [line for line in h.logs if "frame size changed" in line]
    if resets:
        assert said and said[0].startswith(f"{kind}: frame size changed at frame 3: 32x24 -> 48x36; "), h.logs
    else:
        assert not said


def test_maskrcnn_copes_with_a_frame_size_change():
    with Harness("maskrcnn", weights="none", min_size=64, max_size=96) as h:
        prev = None
        for i in range(4):
            hw = (24, 32) if i < 2 else (36, 48)
            out = h.push(frame=frame(i, *hw), prev=prev)
            assert tuple(out["prob"].shape) == hw
            prev = out["prob"]


def test_batch_refuses_a_size_change_inside_a_batch_in_one_line_naming_both_shapes():
    from graphrun.runtime.errors import UserInputError

    with Harness("batch", size=4) as h:
        h.push(x=torch.zeros(3, 24, 32))
        h.push(x=torch.zeros(3, 36, 48))
        h.push(x=torch.zeros(3, 36, 48))
        with pytest.raises(UserInputError, match=r"different shapes \[\(3, 24, 32\), \(3, 36, 48\)\]"):
            h.push(x=torch.zeros(3, 36, 48))           # the batch is stacked when full

import json
import re

import numpy as np
import pytest
import torch

from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

N = 12


def square(x, h=24, w=32):
    m = torch.zeros(h, w)
    m[6:16, x:x + 10] = 1.0
    return m


def feed(tmp_path, with_gt=True, with_info=False, **params):
    """Object moves 1 px/frame; raw misses it at frame 5 and is offset at frame 8."""
    h = Harness("report", out_dir=str(tmp_path), **params)
    for i in range(N):
        img = np.full((24, 32, 3), 90, np.uint8)
        frame = VideoFrame(image=img, index=i, pts=i / 30, name=f"{i:05d}")
        gt = square(2 + i) > 0.5
        raw = torch.zeros(24, 32) if i == 5 else square(2 + i + (6 if i == 8 else 0))
        stab = square(2 + i)
        info = ({"threshold": 0.5, "confidence": 0.1 if i == 5 else 0.9, "miss_streak": int(i == 5)}
                if with_info else None)
        h.push(frame=frame, raw=raw, stabilized=stab, gt=gt if with_gt else None, info=info)
    return h


def metrics_json(tmp_path, frames=True):
    data = {"summary": {"raw": {"consecutive_iou": 0.61, "l1": 0.08, "area_cv": 0.3, "J": 0.71, "F": None,
                                "ghost_frames": 4},
                        "stabilized": {"consecutive_iou": 0.955, "l1": 0.01, "area_cv": 0.1, "J": 0.93,
                                       "ghost_frames": 1},
                        "gt": {"consecutive_iou": 0.97, "area_cv": 0.05}}}
    if frames:
        data["frames"] = [{"index": i, "name": f"{i:05d}",
                           "raw": {"iou_prev": 0.6 if i else None, "area": 100 + i, "J": 0.7},
                           "stabilized": {"iou_prev": 0.95 if i else None, "area": 100, "J": 0.93, "l1_prev": 0.01},
                           "gt": {"area": 100},
                           "info": {"threshold": 0.4 + 0.01 * i, "confidence": 0.8, "miss_streak": 0}}
                          for i in range(N)]
    (tmp_path / "metrics.json").write_text(json.dumps(data))


def linked_files(page):
    return re.findall(r"(?:src|href)='([^']+)'", page)


def test_report_renders_summary_plots_gallery_and_video_from_metrics_json(tmp_path):
    metrics_json(tmp_path)
    feed(tmp_path).finish()
    page = (tmp_path / "report.html").read_text()
    assert "0.955" in page and "0.710" in page and "<td>4</td>" in page     # summary values
    assert "<td class='best'>0.955</td>" in page                             # stabilized is better
    assert "<video src='overlay.mp4'" in page
    for rel in linked_files(page):
        if rel != "overlay.mp4":
            assert (tmp_path / rel).is_file(), rel
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"j.png", "consecutive_iou.png", "area.png", "state.png", "l1.png"} <= plots
    assert "missing" not in page
    assert "http" not in page                                                # offline: nothing fetched


def test_report_gallery_shows_the_frame_stabilization_fixed_and_the_worst_raw_frames(tmp_path):
    feed(tmp_path, gallery_size=1).finish()
    names = sorted(p.name for p in (tmp_path / "gallery").iterdir())
    assert names == ["failed_00008.png", "helped_00005.png"]   # missed frame helped most; next worst is 8
    import cv2
    img = cv2.imread(str(tmp_path / "gallery" / "helped_00005.png"))
    assert img.shape[0] == 24 and img.shape[1] == 3 * 32 + 2 * 3          # raw | stabilized | gt


def test_report_without_metrics_json_says_so_and_still_plots_what_it_measured(tmp_path):
    feed(tmp_path, with_info=True).finish()
    page = (tmp_path / "report.html").read_text()
    assert "metrics.json is missing" in page and "No summary" in page
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"j.png", "consecutive_iou.png", "area.png", "state.png"} <= plots


def test_report_tolerates_metrics_json_with_missing_keys_and_nulls(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"summary": {"raw": {"J": None, "consecutive_iou": 0.5}, "stabilized": {}},
         "frames": [{"index": 0}, {"index": 1, "raw": {"iou_prev": 0.5}}]}))
    feed(tmp_path, with_gt=False).finish()
    page = (tmp_path / "report.html").read_text()
    assert "0.500" in page and "&ndash;" in page
    assert (tmp_path / "plots" / "consecutive_iou.png").is_file()
    assert not (tmp_path / "plots" / "j.png").exists()                     # no gt, no J curve


def test_report_without_ground_truth_picks_gallery_frames_by_flicker(tmp_path):
    feed(tmp_path, with_gt=False, gallery_size=1).finish()
    page = (tmp_path / "report.html").read_text()
    assert "consecutive IoU gain" in page
    assert len(list((tmp_path / "gallery").iterdir())) == 2


def test_report_needs_an_output_directory():
    with pytest.raises(UserInputError, match="needs --out"):
        Harness("report").setup()

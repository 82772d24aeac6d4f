"""bg_subtract needs a static camera: it measures the camera's motion and warns once when it moves."""
from pathlib import Path

import numpy as np
import pytest

from graphrun.nodes.io.synthetic import render_scene
from graphrun.nodes.models.camera_motion import CameraMotion
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
needs_videos = pytest.mark.skipif(not (VIDEOS / "dancer.mp4").is_file(), reason="shared data not available")


def read_video(name, n=40):
    import av
    with av.open(str(VIDEOS / name)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def bg_subtract_logs(frames, **params):
    with Harness("bg_subtract", scale=0.5, **params) as h:
        for i, f in enumerate(frames):
            h.push(frame=VideoFrame(image=f, index=i, pts=i / 25, name=f"{i:05d}"))
    return h.logs, h.results.get("warnings", [])


def test_a_pan_of_a_textured_picture_measures_its_shift_per_frame():
    rng = np.random.default_rng(0)
    world = (rng.random((140, 400, 3)) * 255).astype(np.uint8)
    world = np.repeat(np.repeat(world, 2, axis=0), 2, axis=1)          # texture coarser than a pixel
    frames = [world[:240, 3 * t:3 * t + 320] for t in range(30)]         # 3 px per frame of a 320 px width
    shift = None
    motion = CameraMotion(30)
    for f in frames:
        shift = motion.update(np.ascontiguousarray(f)) or shift
    assert shift == pytest.approx(3 / 320, rel=0.1)
    assert motion.update(frames[0]) is None                               # measured once


@needs_videos
def test_bg_subtract_on_a_moving_camera_warns_once_naming_the_frames_and_the_graphs_to_use():
    logs, warnings = bg_subtract_logs(read_video("dancer.mp4"))
    assert len(warnings) == 1 and logs == [f"graphrun: warning: {warnings[0]}"]
    msg = warnings[0]
    assert "the camera moves in frames 00000-00029" in msg
    assert "graphs/stabilize_person.yaml" in msg and "graphs/stabilize_maskrcnn.yaml" in msg


@needs_videos
def test_bg_subtract_names_the_video_file_when_the_source_announced_it():
    frames = read_video("dancer.mp4", 31)
    with Harness("bg_subtract", scale=0.5) as h:
        h.results["inputs"] = {"source": {"kind": "video_file", "path": str(VIDEOS / "dancer.mp4")}}
        for i, f in enumerate(frames):
            h.push(frame=VideoFrame(image=f, index=i, pts=i / 25, name=f"{i:05d}"))
    assert f"the camera moves in {VIDEOS / 'dancer.mp4'} (" in h.results["warnings"][0]


@needs_videos
def test_bg_subtract_on_the_static_traffic_camera_does_not_warn():
    assert bg_subtract_logs(read_video("traffic.avi")) == ([], [])


def test_bg_subtract_on_the_static_synthetic_scene_does_not_warn():
    frames, _ = render_scene(frames=40)
    assert bg_subtract_logs(list(frames)) == ([], [])


@needs_videos
def test_the_check_can_be_turned_off():
    assert bg_subtract_logs(read_video("dancer.mp4"), camera_check=0) == ([], [])

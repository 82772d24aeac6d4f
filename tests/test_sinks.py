import media
import numpy as np
import pytest
import torch

from graphrun.nodes.io.decode import backend_available
from graphrun.nodes.sinks.mask_writer import MaskWriter
from graphrun.nodes.sinks.overlay_writer import OverlayWriter, side_by_side
from graphrun.runtime import Context
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame


def vf(i, h=30, w=40, fps=25.0):
    img = np.full((h, w, 3), 40 + 5 * i, np.uint8)
    return VideoFrame(image=img, index=i, pts=i / fps, name=f"{i:05d}")


def square(h=30, w=40, x=5, value=1.0):
    p = torch.zeros(h, w)
    p[8:20, x:x + 12] = value
    return p


def read_png(path):
    import cv2
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_mask_writer_writes_one_png_per_frame_named_after_the_frame_only_at_finish(tmp_path):
    final = tmp_path / "masks" / "raw_masks"
    with Harness("mask_writer", out_dir=str(tmp_path), subdir="raw_masks") as h:
        for i in range(3):
            h.push(frame=vf(i), mask=square(x=5 + i, value=0.8))
        assert not final.exists()
        h.finish()
    assert sorted(p.name for p in final.iterdir()) == ["00000.png", "00001.png", "00002.png"]
    png = read_png(final / "00001.png")
    assert png.dtype == np.uint8 and png.shape == (30, 40)
    assert set(np.unique(png)) == {0, 255}
    assert png[10, 6] == 255 and png[10, 5] == 0
    assert [p.name for p in (tmp_path / "masks").iterdir()] == ["raw_masks"]  # no temporary left


def test_mask_writer_saves_bool_masks_as_0_255_and_probabilities_as_8_bit_when_not_binarized(tmp_path):
    with Harness("mask_writer", out_dir=str(tmp_path), subdir="soft", binarize="none") as h:
        h.push(frame=vf(0), mask=square(value=0.5))
        h.push(frame=vf(1), mask=square() > 0.5)
        h.finish()
    soft, hard = read_png(tmp_path / "masks/soft/00000.png"), read_png(tmp_path / "masks/soft/00001.png")
    assert set(np.unique(soft)) == {0, 128}
    assert set(np.unique(hard)) == {0, 255}


def test_mask_writer_closed_before_finish_leaves_no_mask_folder(tmp_path):
    h = Harness("mask_writer", out_dir=str(tmp_path))
    h.push(frame=vf(0), mask=square())
    h.close()  # an error upstream: finish never came
    assert not (tmp_path / "masks").exists() or list((tmp_path / "masks").iterdir()) == []


def test_sinks_without_an_output_directory_say_they_need_out():
    for cls in (MaskWriter, OverlayWriter):   # by hand: the error names the node, here 'my_sink'
        with pytest.raises(UserInputError, match=r"'my_sink'.*needs --out"):
            cls().setup(Context(name="my_sink"))


def decode(path):
    import av
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return s.codec_context.name, s.average_rate, s.pix_fmt, frames


def test_overlay_writer_encodes_raw_and_stabilized_side_by_side_at_the_frames_rate(tmp_path):
    def low_square(x):    # below each panel's label box (its top ~22 rows; the glyphs differ by OpenCV version)
        p = torch.zeros(60, 40)
        p[34:46, x:x + 12] = 1.0
        return p

    with Harness("overlay_writer", out_dir=str(tmp_path)) as h:
        for i in range(6):
            h.push(frame=vf(i, h=60, fps=25.0), raw=low_square(5), stabilized=low_square(20))
        assert not (tmp_path / "overlay.mp4").exists()
        h.finish()
    codec, rate, pix_fmt, frames = decode(tmp_path / "overlay.mp4")
    assert codec in ("h264", "mpeg4") and pix_fmt == "yuv420p"
    assert float(rate) == pytest.approx(25.0)
    assert len(frames) == 6
    assert frames[0].shape == (60, 84, 3)   # two 40-px panels + 4-px separator
    left, right = frames[3][:, :40].astype(int), frames[3][:, 44:].astype(int)
    # raw (orange) tint at x=5..17 on the left, stabilized (green) tint at x=20..32 on the right
    assert left[40, 10, 0] > left[40, 10, 1] + 25
    assert right[40, 26, 1] > right[40, 26, 0] + 25
    assert abs(right[40, 10] - left[40, 30]).max() < 30   # untinted background alike
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.mp4"]


def test_overlay_writer_closed_before_finish_leaves_no_video(tmp_path):
    h = Harness("overlay_writer", out_dir=str(tmp_path), fps=10)
    for i in range(3):
        h.push(frame=vf(i), raw=square(), stabilized=square())
    h.close()
    assert list(tmp_path.iterdir()) == []


def test_overlay_frames_have_even_size_and_respect_max_width():
    img = np.zeros((31, 45, 3), np.uint8)
    out = side_by_side(img, torch.zeros(31, 45), torch.ones(31, 45) > 0, max_width=0)
    assert out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0
    big = np.zeros((200, 400, 3), np.uint8)
    out = side_by_side(big, torch.zeros(200, 400), None, max_width=100)
    assert out.shape[1] <= 100 and out.shape[1] % 2 == 0


# -- the overlay's timing follows the source ----------------------------------------------------
BACKENDS = [b for b in ("pyav", "opencv", "decord") if backend_available(b)]


def overlay_of(video, tmp_path, backend, **params):
    """video_file (one backend) -> overlay_writer, as in a graph; returns the written file and the logs."""
    frames = Harness("video_file", path=str(video), backend=backend).pull()
    with Harness("overlay_writer", out_dir=str(tmp_path), **params) as h:
        for f in frames:
            m = torch.zeros(f["frame"].image.shape[:2])
            h.push(frame=f["frame"], raw=m, stabilized=m)
        h.finish()
    return tmp_path / "overlay.mp4", h.logs, [f["frame"].pts for f in frames]


@pytest.mark.parametrize("packed", [False, True], ids=["xvid", "xvid-packed-bframes"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_overlay_of_a_25_fps_xvid_avi_plays_at_25_fps_whatever_the_decoder(tmp_path, backend, packed):
    video = media.make_xvid_avi(tmp_path / "road.avi", n=40, fps=25, packed=packed)
    out, logs, _ = overlay_of(video, tmp_path / "out", backend)
    rate, duration, times = media.video_timing(out)
    assert rate == pytest.approx(25.0, rel=0.01)
    assert duration == pytest.approx(40 / 25, abs=0.05) and len(times) == 40
    assert "25 fps" in logs[-1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_overlay_of_a_variable_frame_rate_video_keeps_each_frames_time(tmp_path, backend):
    times_ms = [0, 40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440, 480, 520, 560, 600, 640, 680,
                780, 880, 980, 1080, 1180, 1280, 1320, 1360]                  # 25 fps, then 10 fps, then 25 again
    video = media.make_vfr_mp4(tmp_path / "phone.mp4", times_ms)
    out, logs, _ = overlay_of(video, tmp_path / "out", backend)
    _, _, times = media.video_timing(out)
    assert times == pytest.approx([t / 1000 for t in times_ms], abs=0.002)
    assert "variable rate" in logs[-1]


def test_overlay_fps_parameter_forces_a_constant_rate(tmp_path):
    with Harness("overlay_writer", out_dir=str(tmp_path), fps=10) as h:
        for i in range(5):
            h.push(frame=vf(i, fps=25.0), raw=square(), stabilized=square())
        h.finish()
    rate, duration, times = media.video_timing(tmp_path / "overlay.mp4")
    assert rate == pytest.approx(10.0) and times == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


def test_overlay_scales_frames_after_a_size_change_to_the_first_size_and_says_so(tmp_path):
    with Harness("overlay_writer", out_dir=str(tmp_path)) as h:
        for i in range(6):
            hw = (30, 40) if i < 3 else (45, 60)
            h.push(frame=vf(i, *hw), raw=square(*hw), stabilized=square(*hw))
        h.finish()
    assert ("overlay_writer: frame size changed at frame 3: 40x30 -> 60x45; frames scaled to the video's first "
            "size") in h.logs
    _, _, _, frames = decode(tmp_path / "overlay.mp4")
    assert len(frames) == 6 and {f.shape for f in frames} == {(30, 84, 3)}

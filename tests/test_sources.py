"""Video/image sources, decoder backends, random access, mask folders and live sources."""
import functools
import http.server
import socket
import threading
import warnings
from pathlib import Path

import media
import numpy as np
import pytest

from graphrun.nodes.io.decode import BACKENDS, DecodeWarning, backend_available, open_decoder, probe, read_clip
from graphrun.nodes.io.live import Camera, StreamURL
from graphrun.nodes.io.mask_folder import MaskFolder
from graphrun.nodes.io.video_file import VideoFile
from graphrun.runtime import Context, GraphError
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEOS = DATA / "videos"
av = pytest.importorskip("av")
ALL = [b for b in BACKENDS if backend_available(b)]


def shared(name: str) -> Path:
    p = DATA / name
    if not p.exists():
        pytest.skip(f"shared data absent: {p}")
    return p


def square_frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 3] = (200, 40, 40)   # a fixed red block: orientation is visible
    img[h // 2:, w // 2:] = (40, 200, 40)
    x = (2 * i) % (w - 10)
    img[10:20, x:x + 10] = 255                 # a moving white square
    return img


def make_video(path: Path, n: int = 20, w: int = 64, h: int = 48, fps: int = 10, rotation: int = 0,
               gop: int = 0, audio: bool = False) -> Path:
    """A small H.264 file with a moving square (optionally a rotation tag, short GOPs, an audio track)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "10"}
        if gop:
            s.gop_size = gop
        if rotation:
            s.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=8000)
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(square_frame(i, w, h), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
        if a is not None:
            samples = np.zeros((1, 8000 * n // fps), np.float32)
            fr = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            fr.sample_rate = 8000
            for p in a.encode(fr):
                out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


@pytest.fixture(scope="module")
def vids(tmp_path_factory):
    d = tmp_path_factory.mktemp("vids")
    return {"plain": make_video(d / "plain.mp4"),
            "gop": make_video(d / "gop.mp4", n=40, gop=6),
            "rot90": make_video(d / "rot90.mp4", n=6, rotation=90),
            "rot180": make_video(d / "rot180.mp4", n=6, rotation=180),
            "audio": make_video(d / "audio.mp4", n=20, audio=True)}


def decode_all(path, backend):
    with open_decoder(path, backend) as dec:
        return list(dec.frames())


def ctx():
    """For the nodes the Harness cannot take: a mask_folder parameter and a camera one are named like
    Harness arguments (``kind``, ``device``)."""
    return Context(name="n", log=lambda m: None)


# -- backends -----------------------------------------------------------------------------------
def test_every_backend_gives_the_same_frames_and_increasing_pts(vids):
    ref = decode_all(vids["plain"], "pyav")
    assert len(ref) == 20
    truth = np.stack([square_frame(i) for i in range(20)]).astype(np.int16)
    assert np.abs(np.stack([f for f, _, _ in ref]) - truth).mean() < 3  # it is the video we encoded
    for b in ALL:
        got = decode_all(vids["plain"], b)
        assert len(got) == 20, b
        assert [i for _, _, i in got] == list(range(20))
        pts = [p for _, p, _ in got]
        assert pts[0] == pytest.approx(0.0, abs=1e-6) and np.all(np.diff(pts) > 0), b
        assert pts[1] == pytest.approx(0.1, abs=1e-3)
        diff = np.abs(np.stack([f for f, _, _ in got]).astype(np.int16) - np.stack([f for f, _, _ in ref]))
        assert diff.mean() < 1.0, b
        assert got[0][0].dtype == np.uint8 and got[0][0].shape == (48, 64, 3)


@pytest.mark.davis
@pytest.mark.parametrize("name,count", [("dancer.mp4", 117), ("pancake.mkv", 310), ("traffic.avi", 374)])
def test_every_backend_agrees_on_the_shared_videos(name, count):
    path = shared(f"videos/{name}")
    decs = [open_decoder(path, b) for b in ALL]
    n = 0
    try:
        for frames in zip(*(d.frames() for d in decs)):
            ref = frames[0][0].astype(np.int16)
            for img, pts, idx in frames[1:]:
                assert idx == n and np.abs(img.astype(np.int16) - ref).mean() < 1.0
                assert pts == pytest.approx(frames[0][1], abs=0.002)
            n += 1
        for d in decs:  # nobody has frames left over
            assert next(iter(d.frames(start=n)), None) is None
    finally:
        for d in decs:
            d.close()
    assert n == count


@pytest.mark.parametrize("backend", ALL)
def test_audio_track_is_ignored(vids, backend):
    frames = decode_all(vids["audio"], backend)
    assert len(frames) == 20 and frames[0][0].shape == (48, 64, 3)


@pytest.mark.davis
def test_pancake_audio_is_skipped_and_every_video_frame_decodes():
    path = shared("videos/pancake.mkv")
    with av.open(str(path)) as c:
        assert c.streams.audio  # the file really has audio
    for b in ALL:
        assert sum(1 for _ in open_decoder(path, b)) == 310, b


@pytest.mark.parametrize("backend", ALL)
def test_rotation_tag_is_applied_like_ffmpeg_does(vids, backend):
    # rotation=90 (counter-clockwise) on a 64x48 picture shows 48 wide, 64 high
    frames = decode_all(vids["rot90"], backend)
    assert len(frames) == 6
    for i, (img, _, _) in enumerate(frames):
        assert img.shape == (64, 48, 3) and img.flags["C_CONTIGUOUS"]
        assert np.abs(img.astype(np.int16) - np.rot90(square_frame(i), 1)).mean() < 3
    img = decode_all(vids["rot180"], backend)[0][0]
    assert img.shape == (48, 64, 3)
    assert np.abs(img.astype(np.int16) - np.rot90(square_frame(0), 2)).mean() < 3
    clip = read_clip(vids["rot90"], 2, 3, backend=backend)
    assert clip.shape == (3, 64, 48, 3)


@pytest.mark.davis
@pytest.mark.parametrize("backend", ALL)
def test_rotated_mov_comes_out_320_wide_and_568_high(backend):
    path = shared("videos/rotated_90.mov")
    frames = decode_all(path, backend)
    assert len(frames) == 3 and frames[0][0].shape == (568, 320, 3)
    raw = next(av.open(str(path)).decode(video=0)).to_ndarray(format="rgb24")  # 568 wide, unrotated
    assert raw.shape == (320, 568, 3)
    assert np.abs(frames[0][0].astype(np.int16) - np.rot90(raw, -1)).mean() < 1  # turned clockwise


@pytest.mark.davis
@pytest.mark.parametrize("backend", ALL)
def test_corrupted_file_gives_its_good_frames_and_a_warning_or_a_clean_error(backend):
    path = shared("videos/corrupted.mp4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frames = decode_all(path, backend)
        except UserInputError as exc:
            assert "corrupted.mp4" in str(exc)
            return
    assert 0 < len(frames) <= 50
    msgs = [str(w.message) for w in caught if issubclass(w.category, DecodeWarning)]
    assert msgs and all("corrupted.mp4" in m for m in msgs)


@pytest.mark.parametrize("backend", ALL)
def test_damaged_middle_of_a_file_does_not_hang_or_crash(tmp_path, backend):
    data = bytearray(make_video(tmp_path / "ok.mp4", n=30, gop=10).read_bytes())
    start = data.find(b"mdat") + 400  # clobber part of the compressed pictures
    data[start:start + 600] = bytes(600)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DecodeWarning)
        try:
            frames = decode_all(bad, backend)
        except UserInputError as exc:
            assert "bad.mp4" in str(exc)
            return
    assert len(frames) <= 30


@pytest.mark.parametrize("backend", ALL)
def test_truncated_and_garbage_files_are_user_errors_naming_the_file(tmp_path, backend):
    whole = make_video(tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])  # the index (moov) is at the end: unreadable
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 50)
    for path in (cut, junk):
        with pytest.raises(UserInputError, match=path.name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DecodeWarning)
                decode_all(path, backend)


def decode_warnings(path, backend):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = decode_all(path, backend)
    return frames, [str(w.message) for w in caught if issubclass(w.category, DecodeWarning)]


@pytest.mark.parametrize("backend", [b for b in ("pyav", "opencv") if b in ALL])
def test_a_truncated_file_that_still_opens_warns_how_many_frames_of_how_many_decoded(tmp_path, backend):
    cut = media.truncated_copy(media.make_mkv(tmp_path / "clip.mkv", n=90), tmp_path / "cut.mkv", 0.6)
    frames, msgs = decode_warnings(cut, backend)
    assert 0 < len(frames) < 80
    assert msgs == [f"{cut}: decoding stopped at frame {len(frames)} of 90 (damaged or truncated file)"]


@pytest.mark.davis
def test_a_truncated_real_video_decoded_by_pyav_warns_like_opencv(tmp_path):
    cut = media.truncated_copy(shared("videos/pancake.mkv"), tmp_path / "pancake.mkv")
    found = {}
    for backend in ("pyav", "opencv"):
        frames, msgs = decode_warnings(cut, backend)
        found[backend] = msgs[-1].replace(str(cut), "") if msgs else None
        assert len(frames) < 311
    assert found["pyav"] == found["opencv"] and "of 311 (damaged or truncated file)" in found["pyav"]


def test_the_video_file_source_logs_decoding_problems_as_run_warnings(tmp_path):
    cut = media.truncated_copy(media.make_mkv(tmp_path / "clip.mkv", n=90), tmp_path / "cut.mkv", 0.6)
    h = Harness("video_file", path=str(cut))
    frames = h.pull()
    line = f"decoding stopped at frame {len(frames)} of 90 (damaged or truncated file)"
    assert any(m.startswith("graphrun: warning: ") and line in m for m in h.logs)
    assert any(line in w for w in h.results["warnings"])
    assert h.results["inputs"]["video_file"]["path"] == str(cut)


@pytest.mark.parametrize("packed", [False, True], ids=["xvid", "xvid-packed-bframes"])
@pytest.mark.parametrize("backend", ALL)
def test_every_backend_times_an_xvid_avi_with_b_frames_at_its_frame_rate(tmp_path, backend, packed):
    video = media.make_xvid_avi(tmp_path / "road.avi", n=30, fps=25, packed=packed)
    pts = [p for _, p, _ in open_decoder(video, backend).frames()]
    assert len(pts) == 30
    assert np.diff(pts) == pytest.approx([0.04] * 29, abs=1e-6)       # decord's own are garbage, FFmpeg's shuffled


@pytest.mark.parametrize("backend", ALL)
def test_a_frame_size_change_inside_a_stream_comes_out_as_decoded(tmp_path, backend):
    import cv2

    video = media.make_size_change_ts(tmp_path / "tv.ts", n=8)
    frames = [rgb for rgb, _, _ in decode_all(video, backend)]
    sizes = [f.shape[:2] for f in frames]
    if backend == "pyav":
        assert sizes[:8] == [(120, 160)] * 8 and set(sizes[8:]) == {(144, 256)}
    elif backend == "opencv":        # OpenCV scales every frame to the first size
        assert set(sizes) == {(120, 160)}
        ref = cv2.resize(media.moving_box(12, 256, 144), (160, 120), interpolation=cv2.INTER_AREA)
        assert np.abs(frames[12].astype(int) - ref).mean() < 4
    else:                            # a known limit: decord repeats first-size frames (documented)
        assert set(sizes) == {(120, 160)}


def test_errors_from_ffmpeg_show_its_words_not_an_errno_number(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 50)
    with pytest.raises(UserInputError) as err:
        open_decoder(junk, "pyav")
    assert "Invalid data found when processing input" in str(err.value) and "Errno" not in str(err.value)


@pytest.mark.parametrize("backend", ALL + ["auto"])
def test_missing_file_error_names_the_path(tmp_path, backend):
    missing = tmp_path / "nowhere" / "clip.mp4"
    with pytest.raises(UserInputError, match="nowhere/clip.mp4"):
        open_decoder(missing, backend)
    with pytest.raises(UserInputError, match="nowhere/clip.mp4"):
        read_clip(missing, 0, 4, backend=backend)


def test_unknown_backend_is_a_user_error(vids):
    with pytest.raises(UserInputError, match="unknown video backend"):
        open_decoder(vids["plain"], "gstreamer")


# -- random access ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ALL)
def test_read_clip_returns_the_frames_a_sequential_decode_gives_at_those_indices(vids, backend):
    seq = np.stack([f for f, _, _ in decode_all(vids["gop"], "pyav")])  # 40 frames, keyframe every 6
    for start, num, stride in [(0, 4, 1), (13, 5, 2), (36, 4, 1), (5, 4, 9), (31, 2, 1), (2, 3, 1)]:
        clip = read_clip(vids["gop"], start, num, stride, backend=backend)
        want = seq[start:start + num * stride:stride]
        assert clip.shape == want.shape and clip.dtype == np.uint8
        assert np.abs(clip.astype(np.int16) - want).mean() < 1.0, (backend, start, num, stride)


@pytest.mark.parametrize("backend", ALL)
def test_one_decoder_serves_clips_in_any_order(vids, backend):
    seq = np.stack([f for f, _, _ in decode_all(vids["gop"], "pyav")])
    rng = np.random.default_rng(0)
    with open_decoder(vids["gop"], backend) as dec:
        for _ in range(8):
            idx = sorted(rng.choice(40, size=4, replace=False).tolist(), reverse=bool(rng.integers(2)))
            got = dec.get_batch(idx)
            assert np.abs(got.astype(np.int16) - seq[idx]).mean() < 1.0, (backend, idx)
        # frames() after random access restarts cleanly
        assert len(list(dec.frames(start=35))) == 5


@pytest.mark.parametrize("backend", ALL)
def test_read_clip_past_the_end_is_a_user_error(vids, backend):
    with pytest.raises(UserInputError, match="plain.mp4"):
        read_clip(vids["plain"], 18, 4, backend=backend)
    with pytest.raises(UserInputError):
        read_clip(vids["plain"], 0, 0)


# -- video_file node ----------------------------------------------------------------------------
def run_source(h: Harness) -> list:
    """Every frame the source emits; the source is closed after."""
    with h:
        return [out["frame"] for out in h.pull()]


@pytest.mark.parametrize("backend", ["auto"] + ALL)
def test_video_file_emits_named_frames_from_start_up_to_max_frames(vids, backend):
    h = Harness("video_file", path=str(vids["plain"]), backend=backend, start=5, max_frames=4)
    assert h.node.length() == 4 and h.node.fps() == pytest.approx(10.0)
    frames = run_source(h)
    assert [f.name for f in frames] == ["00005", "00006", "00007", "00008"]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[0].pts == pytest.approx(0.5, abs=1e-3)
    assert isinstance(frames[0], VideoFrame) and frames[0].image.shape == (48, 64, 3)
    seq = decode_all(vids["plain"], "pyav")
    assert np.abs(frames[2].image.astype(np.int16) - seq[7][0]).mean() < 1.0


def test_video_file_can_emit_torch_tensors(vids):
    import torch
    frames = run_source(Harness("video_file", path=str(vids["plain"]), as_tensor=True,
                                pin_memory=torch.cuda.is_available()))
    assert len(frames) == 20
    assert isinstance(frames[0].image, torch.Tensor) and frames[0].image.dtype == torch.uint8
    assert tuple(frames[0].image.shape) == (48, 64, 3)


def test_video_file_rejects_pin_memory_without_tensors(vids):
    with pytest.raises(Exception, match="pin_memory"):
        VideoFile(path=str(vids["plain"]), pin_memory=True)


def test_video_file_missing_path_fails_at_setup_naming_it(tmp_path):
    with pytest.raises(UserInputError, match="gone.mp4"):
        Harness("video_file", path=str(tmp_path / "gone.mp4")).setup()


def test_video_file_runs_in_a_graph_into_a_null_sink(vids):
    from graphrun.runtime.run import run_graph
    g = {"name": "decode", "nodes": {"src": {"kind": "video_file", "params": {"path": str(vids["plain"])}},
                                     "sink": {"kind": "null_sink"}},
         "edges": ["src.frame -> sink.x"]}
    assert run_graph(g).stats["frames"] == 20


@pytest.mark.davis
def test_video_file_metadata_of_the_shared_videos():
    for name, fps, n in [("dancer.mp4", 25, 117), ("traffic.avi", 30, 374)]:
        node = VideoFile(path=str(shared(f"videos/{name}")))
        assert node.fps() == pytest.approx(fps) and node.length() == n
    info = probe(shared("videos/pancake.mkv"))  # mkv stores no count: estimated from the duration
    assert info.fps == pytest.approx(30) and abs(info.num_frames - 310) <= 2


# -- image_folder -------------------------------------------------------------------------------
def write_images(d: Path, names, ext=".jpg"):
    import cv2
    d.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        cv2.imwrite(str(d / f"{n}{ext}"), square_frame(i)[..., ::-1])
    return d


def test_image_folder_reads_files_in_name_order_named_by_stem(tmp_path):
    d = write_images(tmp_path / "seq", ["00002", "00000", "00001", "00010"])
    (d / "notes.txt").write_text("not an image")
    h = Harness("image_folder", path=str(d), fps=25)
    assert h.node.length() == 4 and h.node.fps() == 25
    frames = run_source(h)
    assert [f.name for f in frames] == ["00000", "00001", "00002", "00010"]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert frames[1].pts == pytest.approx(1 / 25)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    # RGB, not BGR: the block at the top left is red
    r, g, b = frames[0].image[5, 5].astype(int)
    assert r > 150 and g < 90 and b < 90
    later = run_source(Harness("image_folder", path=str(d), start=1, max_frames=2))
    assert [f.name for f in later] == ["00001", "00002"]


def test_image_folder_falls_back_to_png(tmp_path):
    d = write_images(tmp_path / "pngs", ["a", "b"], ext=".png")
    assert [f.name for f in run_source(Harness("image_folder", path=str(d)))] == ["a", "b"]


def test_image_folder_empty_or_missing_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="empty"):
        Harness("image_folder", path=str(tmp_path / "empty")).setup()
    with pytest.raises(UserInputError, match="nothere"):
        Harness("image_folder", path=str(tmp_path / "nothere")).setup()


@pytest.mark.davis
def test_image_folder_reads_a_davis_sequence():
    d = shared("davis/JPEGImages/480p/blackswan")
    frames = run_source(Harness("image_folder", path=str(d), max_frames=3))
    assert [f.name for f in frames] == ["00000", "00001", "00002"]
    assert frames[0].image.shape == (480, 854, 3)


# -- mask_folder --------------------------------------------------------------------------------
def frame(name="00000", h=6, w=8):
    return VideoFrame(image=np.zeros((h, w, 3), np.uint8), index=0, pts=0.0, name=name)


def save_palette(path: Path, arr: np.ndarray):
    from PIL import Image
    im = Image.fromarray(arr.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12))
    im.save(path)


def mask_node(d, **kw):
    node = MaskFolder(path=str(d), **kw)
    node.setup(ctx())
    return node


def test_palette_mask_with_two_labels_is_their_union(tmp_path):
    a = np.zeros((6, 8), np.uint8)
    a[1, 1] = 1
    a[4, 6] = 2
    save_palette(tmp_path / "00000.png", a)
    out = mask_node(tmp_path).process(ctx(), frame())
    assert out["mask"].dtype.is_floating_point is False and out["mask"].shape == (6, 8)
    assert out["mask"].nonzero().tolist() == [[1, 1], [4, 6]]
    assert out["prob"].dtype.__str__() == "torch.float32" and float(out["prob"].sum()) == 2.0


def test_label_picks_one_palette_index(tmp_path):
    a = np.zeros((6, 8), np.uint8)
    a[1, 1] = 1
    a[4, 6] = 2
    save_palette(tmp_path / "00000.png", a)
    out = mask_node(tmp_path, label=2).process(ctx(), frame())
    assert out["mask"].nonzero().tolist() == [[4, 6]]


def test_grey_probability_map_is_value_over_255_and_thresholded(tmp_path):
    from PIL import Image
    a = np.array([[0, 64, 127, 128, 200, 255, 10, 30]] * 6, np.uint8)
    Image.fromarray(a, mode="L").save(tmp_path / "00000.png")
    out = mask_node(tmp_path).process(ctx(), frame())
    assert np.allclose(out["prob"].numpy(), a / 255.0, atol=1e-6)
    assert out["mask"][0].tolist() == [False, False, False, True, True, True, False, False]
    out = mask_node(tmp_path, threshold=0.2).process(ctx(), frame())
    assert out["mask"][0].tolist() == [False, True, True, True, True, True, False, False]
    out = mask_node(tmp_path, kind="binary").process(ctx(), frame())
    assert out["mask"][0].tolist() == [False] + [True] * 7


def test_grey_image_of_only_0_and_255_is_a_binary_mask(tmp_path):
    from PIL import Image
    a = np.zeros((6, 8), np.uint8)
    a[2:4, 2:5] = 255
    Image.fromarray(a, mode="L").save(tmp_path / "00000.png")
    out = mask_node(tmp_path).process(ctx(), frame())
    assert int(out["mask"].sum()) == 6 and set(out["prob"].unique().tolist()) == {0.0, 1.0}


def test_missing_mask_is_empty_or_an_error_naming_the_file(tmp_path):
    out = mask_node(tmp_path, missing="empty").process(ctx(), frame("00042", 5, 7))
    assert out["mask"].shape == (5, 7) and not out["mask"].any() and float(out["prob"].sum()) == 0
    with pytest.raises(UserInputError, match="00042.png"):
        mask_node(tmp_path).process(ctx(), frame("00042"))


def test_mask_of_another_size_is_resized_to_the_frame_or_refused(tmp_path):
    a = np.zeros((3, 4), np.uint8)
    a[0, 0] = 1
    save_palette(tmp_path / "00000.png", a)
    out = mask_node(tmp_path).process(ctx(), frame(h=6, w=8))
    assert out["mask"].shape == (6, 8) and out["mask"][:2, :2].all() and int(out["mask"].sum()) == 4
    with pytest.raises(UserInputError, match="00000.png"):
        mask_node(tmp_path, resize=False).process(ctx(), frame(h=6, w=8))


def test_mask_folder_rejects_a_label_on_probability_maps(tmp_path):
    with pytest.raises(Exception, match="label"):
        MaskFolder(path=str(tmp_path), kind="probability", label=1)


@pytest.mark.davis
def test_mask_folder_reads_davis_predictions_and_annotations():
    f = VideoFrame(image=np.zeros((480, 854, 3), np.uint8), index=0, pts=0.0, name="00000")
    rvos = mask_node(shared("davis/predictions/rvos/bmx-trees")).process(ctx(), f)
    from PIL import Image
    raw = np.array(Image.open(DATA / "davis/predictions/rvos/bmx-trees/00000.png"))
    assert len(np.unique(raw)) > 2 and int(rvos["mask"].sum()) == int((raw != 0).sum())
    gt = mask_node(shared("davis/Annotations/480p/bmx-trees")).process(ctx(), f)
    assert gt["mask"].any() and set(gt["prob"].unique().tolist()) <= {0.0, 1.0}
    mp = mask_node(shared("davis/predictions/mediapipe_pose/dance-twirl")).process(ctx(), f)
    assert 0.0 < float(mp["prob"].max()) <= 1.0 and len(mp["prob"].unique()) > 2


# -- live sources -------------------------------------------------------------------------------
@pytest.fixture
def http_dir(tmp_path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield tmp_path, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_stream_url_decodes_an_http_stream(http_dir):
    d, base = http_dir
    ts = d / "live.ts"
    with av.open(str(ts), "w") as out:  # MPEG-TS: a streamable format, like a live feed
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(15):
            for p in s.encode(av.VideoFrame.from_ndarray(square_frame(i), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert StreamURL.live
    frames = run_source(Harness("stream_url", url=f"{base}/live.ts", timeout=5))
    assert len(frames) == 15 and frames[0].image.shape == (48, 64, 3)
    assert frames[0].pts == 0.0 and frames[1].pts == pytest.approx(0.1, abs=1e-3)
    assert np.abs(frames[3].image.astype(np.int16) - square_frame(3)).mean() < 4


def test_stream_url_bad_urls_fail_quickly_with_a_user_error(http_dir):
    _, base = http_dir
    for url in (f"{base}/missing.ts", "http://127.0.0.1:1/x.ts", "rtsp://127.0.0.1:1/cam"):
        with pytest.raises(UserInputError, match="cannot open stream"):
            Harness("stream_url", url=url, timeout=2).setup()


def test_stream_url_that_never_answers_times_out():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    try:
        with pytest.raises(UserInputError, match="timeout"):
            Harness("stream_url", url=f"http://127.0.0.1:{silent.getsockname()[1]}/feed", timeout=0.5).setup()
    finally:
        silent.close()


def test_camera_that_does_not_exist_is_a_user_error():
    assert Camera.live
    with pytest.raises(UserInputError, match="camera 57"):
        Camera(device=57).setup(ctx())


def test_live_sources_are_refused_offline():
    from graphrun.runtime.run import run_graph
    g = {"mode": "offline", "nodes": {"cam": {"kind": "camera"}, "sink": {"kind": "null_sink"}},
         "edges": ["cam.frame -> sink.x"]}
    with pytest.raises(GraphError, match="live"):
        run_graph(g)

"""ClipDataset with torch DataLoaders (worker processes) and the dataloader_source node."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrun.nodes.io.dataloader import ClipDataset, DataLoaderSource, make_loader
from graphrun.nodes.io.decode import backend_available, open_decoder, read_clip
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness

from test_sources import make_video

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIP_BACKENDS = [b for b in ("pyav", "opencv", "decord") if backend_available(b)]


@pytest.fixture(scope="module")
def vids(tmp_path_factory):
    d = tmp_path_factory.mktemp("loader")
    return {"a": make_video(d / "a.mp4", n=20, gop=5), "b": make_video(d / "b.mp4", n=13, gop=4),
            "small": make_video(d / "small.mp4", n=10, w=32, h=24)}


def all_frames(path):
    with open_decoder(path, "pyav") as dec:
        return np.stack([f for f, _, _ in dec.frames()])


def test_clips_tile_each_video_and_hold_the_right_frames(vids):
    ds = ClipDataset([vids["a"], vids["b"]], clip_len=4, backend="pyav")
    # a: 20 frames -> clips at 0,4,8,12,16; b: 13 frames -> 0,4,8
    assert ds.clips == [(0, 0), (0, 4), (0, 8), (0, 12), (0, 16), (1, 0), (1, 4), (1, 8)]
    assert len(ds) == 8 and ds.frame_counts == [20, 13]
    frames_b = all_frames(vids["b"])
    clip = ds[6]
    assert isinstance(clip, torch.Tensor) and clip.dtype == torch.uint8 and tuple(clip.shape) == (4, 48, 64, 3)
    assert np.abs(clip.numpy().astype(np.int16) - frames_b[4:8]).mean() < 1.0


def test_stride_and_step_choose_the_frames_of_each_clip(vids):
    ds = ClipDataset([vids["a"]], clip_len=3, stride=2, step=7, backend="pyav")
    assert [ds.clip_indices(i) for i in range(len(ds))] == [[0, 2, 4], [7, 9, 11], [14, 16, 18]]
    frames = all_frames(vids["a"])
    assert np.abs(ds[1].numpy().astype(np.int16) - frames[[7, 9, 11]]).mean() < 1.0


def test_dataset_with_no_room_for_a_clip_is_a_user_error(vids):
    with pytest.raises(UserInputError, match="no clip"):
        ClipDataset([vids["small"]], clip_len=11)
    with pytest.raises(UserInputError, match="nothing_here"):
        ClipDataset([str(Path(vids["a"]).parent / "nothing_here.mp4")], clip_len=2)
    with pytest.raises(UserInputError, match="no video matches"):
        ClipDataset([str(Path(vids["a"]).parent / "*.mkv")], clip_len=2)


def test_glob_patterns_expand_to_sorted_files(vids):
    ds = ClipDataset(str(Path(vids["a"]).parent / "[ab].mp4"), clip_len=4)
    assert [Path(p).name for p in ds.paths] == ["a.mp4", "b.mp4"]


@pytest.mark.parametrize("backend", CLIP_BACKENDS)
def test_dataloader_with_two_workers_gives_the_same_clips_as_no_workers(vids, backend):
    ds = ClipDataset([vids["a"], vids["b"]], clip_len=4, backend=backend)
    ref = list(make_loader(ds, batch_size=2, num_workers=0))
    ds_used_pickled = pickle.loads(pickle.dumps(ds))  # picklable after use: decoders are not pickled
    got = list(make_loader(ds_used_pickled, batch_size=2, num_workers=2, prefetch_factor=2,
                           persistent_workers=True, pin_memory=True))
    assert len(got) == len(ref) == 4
    for a, b in zip(ref, got):
        assert a.shape == b.shape and torch.equal(a, b)
    assert tuple(ref[0].shape) == (2, 4, 48, 64, 3)


def test_transform_is_applied_to_each_clip(vids):
    ds = ClipDataset([vids["a"]], clip_len=2, transform=lambda c: c.permute(0, 3, 1, 2).float() / 255)
    x = ds[0]
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 3, 48, 64) and float(x.max()) <= 1.0


@pytest.mark.davis
def test_clip_dataset_over_the_shared_videos_matches_read_clip():
    vids = [DATA / "videos" / n for n in ("dancer.mp4", "traffic.avi")]
    if not all(v.exists() for v in vids):
        pytest.skip("shared data absent")
    ds = ClipDataset(vids, clip_len=8, step=50)
    assert ds.frame_counts == [117, 374]
    i = len(ds) - 1
    v, s = ds.clips[i]
    assert torch.equal(ds[i], torch.from_numpy(read_clip(vids[v], s, 8, backend="pyav")))


# -- dataloader_source --------------------------------------------------------------------------
def run_node(**params):
    with Harness("dataloader_source", **params) as h:
        return h.node, h.pull()


def test_dataloader_source_yields_every_frame_of_every_clip_named_by_frame_number(vids):
    node, outs = run_node(paths=[str(vids["a"])], clip_len=5, batch_size=2, output="frames")
    assert node.length() == 20 and node.fps() == pytest.approx(10.0)
    frames = [o["frame"] for o in outs]
    assert [f.name for f in frames] == [f"{i:05d}" for i in range(20)]
    assert [f.index for f in frames] == list(range(20))
    seq = all_frames(vids["a"])
    assert np.abs(frames[13].image.numpy().astype(np.int16) - seq[13]).mean() < 1.0


def test_dataloader_source_batches_are_b_t_h_w_3_uint8(vids):
    node, outs = run_node(paths=[str(vids["a"]), str(vids["b"])], clip_len=4, batch_size=3, num_workers=2,
                          prefetch_factor=2)
    batches = [o["batch"] for o in outs]
    assert [tuple(b.shape) for b in batches] == [(3, 4, 48, 64, 3), (3, 4, 48, 64, 3), (2, 4, 48, 64, 3)]
    assert node.length() == 3 and batches[0].dtype == torch.uint8


def test_dataloader_source_with_several_videos_prefixes_names_with_the_file(vids):
    _, outs = run_node(paths=[str(vids["a"]), str(vids["b"])], clip_len=4, step=12, output="frames")
    assert [o["frame"].name for o in outs][:5] == ["a_00000", "a_00001", "a_00002", "a_00003", "a_00012"]


def test_videos_of_different_sizes_cannot_share_a_batch(vids):
    with pytest.raises(UserInputError, match="different frame sizes"):
        run_node(paths=[str(vids["a"]), str(vids["small"])], clip_len=10, batch_size=3)


def test_worker_options_without_workers_are_refused():
    with pytest.raises(Exception, match="prefetch_factor"):
        DataLoaderSource(paths="x.mp4", prefetch_factor=4)
    with pytest.raises(Exception, match="persistent_workers"):
        DataLoaderSource(paths="x.mp4", persistent_workers=True)


def test_dataloader_source_runs_in_a_graph(vids):
    from graphrun.runtime.run import run_graph
    g = {"nodes": {"src": {"kind": "dataloader_source",
                           "params": {"paths": str(vids["a"]), "clip_len": 4, "num_workers": 2, "output": "frames"}},
                   "sink": {"kind": "null_sink"}},
         "edges": ["src.frame -> sink.x"]}
    assert run_graph(g).stats["frames"] == 20

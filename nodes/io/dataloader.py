"""The ``dataloader_source`` node and ``ClipDataset``: video clips decoded in torch DataLoader workers.

``ClipDataset`` cuts every video of a list into clips of ``clip_len`` frames (``stride`` apart
inside a clip, a new clip every ``step`` frames) and decodes a clip with ``read_clip``'s random
access. It is picklable and opens its decoders lazily in each worker process, so it works with
``DataLoader(num_workers>0, pin_memory, prefetch_factor, persistent_workers)``: the workers decode
in parallel with the graph, which is how to keep a GPU model fed when decoding is the bottleneck.
"""
from __future__ import annotations

import glob
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Literal, Optional, Sequence, Union

from pydantic import Field, model_validator
from torch.utils.data import Dataset

from graphrun.runtime import Emit, NodeParams, Output, Source, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import BATCH, FRAME, VideoFrame

from .decode import CLIP_ORDER, check_file, open_decoder, resolve_backend


def expand_paths(paths: Union[str, Sequence[str]]) -> list[str]:
    """A list of files, or a glob pattern (or a list of patterns), to a sorted list of files."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[str] = []
    for item in items:
        item = os.fspath(item)
        if any(ch in item for ch in "*?["):
            found = sorted(glob.glob(os.path.expanduser(item)))
            if not found:
                raise UserInputError(f"no video matches '{item}'")
            out.extend(found)
        else:
            out.append(check_file(item))
    if not out:
        raise UserInputError("no video paths given")
    return out


def count_frames(path: str, backend: str) -> int:
    """Exact frame count: PyAV's packet index (no decoding) when installed, else the backend's."""
    try:
        with open_decoder(path, "pyav") as dec:
            return dec.num_frames
    except UserInputError:
        raise
    except Exception:  # PyAV missing: trust the chosen backend
        with open_decoder(path, backend, order=CLIP_ORDER) as dec:
            return int(dec.num_frames or 0)


class ClipDataset(Dataset):
    """A map-style torch Dataset of ``(T,H,W,3)`` uint8 clips over a list of videos.

    Args:
        paths: video files (or glob patterns).
        clip_len: frames per clip (T).
        stride: distance between the frames of a clip (2 = every other frame).
        step: distance between the first frames of consecutive clips (default ``clip_len*stride``:
            back-to-back clips, no overlap).
        backend: decoder for random access (``auto`` = PyAV, else OpenCV, else decord).
        transform: optional callable applied to each clip tensor.
        frame_counts: known frame counts (skips counting; one per path).
        threads: decoder threads per open video (1: the parallelism comes from DataLoader
            workers, and frame threads only add latency to short clips after a seek).

    ``clips[i] = (video_index, first_frame)``; ``clip_indices(i)`` lists its frame numbers.
    """

    def __init__(self, paths, clip_len: int, stride: int = 1, step: Optional[int] = None,
                 backend: str = "auto", transform: Optional[Callable] = None,
                 frame_counts: Optional[Sequence[int]] = None, threads: int = 1):
        if clip_len < 1 or stride < 1 or (step is not None and step < 1):
            raise UserInputError(f"ClipDataset: clip_len, stride and step must be >= 1 "
                                 f"(got {clip_len}, {stride}, {step})")
        self.paths = expand_paths(paths)
        self.clip_len, self.stride = int(clip_len), int(stride)
        self.step = int(step) if step else self.clip_len * self.stride
        self.backend = resolve_backend(backend, CLIP_ORDER)
        self.transform = transform
        self.threads = threads
        counts = list(frame_counts) if frame_counts is not None else [count_frames(p, self.backend)
                                                                       for p in self.paths]
        self.frame_counts = counts
        span = (self.clip_len - 1) * self.stride + 1
        self.clips: list[tuple[int, int]] = [(v, s) for v, n in enumerate(counts)
                                             for s in range(0, n - span + 1, self.step)]
        if not self.clips:
            raise UserInputError(f"no clip of {self.clip_len} frames (stride {self.stride}) fits in "
                                 f"{', '.join(self.paths)} ({counts} frames)")
        self._decoders: OrderedDict = OrderedDict()
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.clips)

    def clip_indices(self, i: int) -> list[int]:
        _, s = self.clips[i]
        return list(range(s, s + self.clip_len * self.stride, self.stride))

    def _decoder(self, v: int):
        if self._pid != os.getpid():  # forked into a worker: never share the parent's decoders
            self._decoders, self._pid = OrderedDict(), os.getpid()
        dec = self._decoders.get(v)
        if dec is None:
            dec = open_decoder(self.paths[v], self.backend, threads=self.threads, order=CLIP_ORDER)
            self._decoders[v] = dec
            while len(self._decoders) > 4:  # keep a few files open per worker
                self._decoders.popitem(last=False)[1].close()
        else:
            self._decoders.move_to_end(v)
        return dec

    def __getitem__(self, i: int):
        import torch

        if i < 0:
            i += len(self)
        v, _ = self.clips[i]
        clip = torch.from_numpy(self._decoder(v).get_batch(self.clip_indices(i)))
        return self.transform(clip) if self.transform is not None else clip

    def close(self) -> None:
        for dec in self._decoders.values():
            dec.close()
        self._decoders.clear()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_decoders"] = OrderedDict()  # decoders are opened again, lazily, in each process
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._pid = os.getpid()


def make_loader(dataset: ClipDataset, batch_size: int = 1, num_workers: int = 0, pin_memory: bool = False,
                prefetch_factor: Optional[int] = None, persistent_workers: bool = False,
                shuffle: bool = False, **kw):
    """A DataLoader over ``dataset`` with the options checked (prefetch/persistent need workers)."""
    import multiprocessing as mp

    import torch
    from torch.utils.data import DataLoader

    from . import decode

    dataset.close()  # workers open their own decoders; none stays open in this process
    if (num_workers > 0 and "multiprocessing_context" not in kw and dataset.backend == "decord"
            and mp.get_start_method(allow_none=True) in (None, "fork") and decode.decord_readers_open()):
        # forking while a decord reader is open can deadlock the workers inside decord
        kw["multiprocessing_context"] = "forkserver"
    if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
        prefetch_factor, persistent_workers = None, False  # only meaningful with worker processes
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      pin_memory=bool(pin_memory and torch.cuda.is_available()),
                      prefetch_factor=prefetch_factor, persistent_workers=persistent_workers, **kw)


@register("dataloader_source")
class DataLoaderSource(Source):
    """Decode video clips in DataLoader worker processes and emit batches or single frames.

    ``output: batches`` emits one ``(B,T,H,W,3)`` uint8 tensor per DataLoader batch on ``batch``;
    ``output: frames`` emits every frame of every clip as a VideoFrame on ``frame`` (name =
    frame number, prefixed by the file stem when there are several videos). Use it to decode in
    parallel processes (``num_workers``) with pinned memory for fast copies to a GPU.
    """

    batch = Output(BATCH, doc="(B,T,H,W,3) uint8 torch tensor (output: batches)")
    frame = Output(FRAME, doc="VideoFrame per frame of each clip (output: frames)")

    class Params(NodeParams):
        paths: Union[str, list[str]] = Field(..., description="video files, or a glob pattern")
        clip_len: int = Field(8, ge=1, le=4096, description="frames per clip")
        stride: int = Field(1, ge=1, description="frame step inside a clip")
        step: Optional[int] = Field(None, ge=1, description="frames between clip starts (null = clip_len*stride)")
        batch_size: int = Field(1, ge=1, le=4096, description="clips per batch")
        num_workers: int = Field(0, ge=0, le=64, description="decoding worker processes (0 = in this thread)")
        pin_memory: bool = Field(False, description="batches in pinned memory (needs CUDA; ignored without)")
        prefetch_factor: Optional[int] = Field(None, ge=1, description="batches prefetched per worker (null = 2)")
        persistent_workers: bool = Field(False, description="keep worker processes between epochs")
        output: Literal["batches", "frames"] = Field("batches", description="emit batches, or single frames")
        backend: Literal["auto", "pyav", "decord", "opencv"] = Field("auto", description="clip decoder")
        fps: Optional[float] = Field(None, gt=0, description="frame rate for pts (null = the first video's)")

        @model_validator(mode="after")
        def _workers_options(self):
            if self.num_workers == 0 and self.prefetch_factor is not None:
                raise ValueError("prefetch_factor needs num_workers > 0")
            if self.num_workers == 0 and self.persistent_workers:
                raise ValueError("persistent_workers needs num_workers > 0")
            return self

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._ds: Optional[ClipDataset] = None
        self._it = None
        self._fps = None

    def dataset(self) -> ClipDataset:
        if self._ds is None:
            p = self.params
            self._ds = ClipDataset(p.paths, p.clip_len, p.stride, p.step, backend=p.backend)
        return self._ds

    def setup(self, ctx):
        self.dataset()

    def fps(self):
        if self.params.fps:
            return self.params.fps
        if self._fps is None:
            from .decode import probe
            self._fps = probe(self.dataset().paths[0]).fps
        return self._fps

    def length(self):
        ds, p = self.dataset(), self.params
        if p.output == "frames":
            return len(ds) * ds.clip_len
        return -(-len(ds) // p.batch_size)

    def generate(self, ctx):
        p, ds = self.params, self.dataset()
        loader = make_loader(ds, p.batch_size, p.num_workers, p.pin_memory, p.prefetch_factor,
                             p.persistent_workers)
        fps = self.fps() or 30.0
        multi = len(ds.paths) > 1
        stems = [Path(x).stem for x in ds.paths]
        self._it = iter(loader)
        clip = 0
        out_index = 0
        while True:
            try:
                batch = next(self._it)
            except StopIteration:
                break
            except RuntimeError as exc:
                if "stack expects each tensor to be equal size" in str(exc):
                    raise UserInputError("dataloader_source: the videos have different frame sizes; use "
                                         "batch_size: 1 or output: frames") from None
                raise
            if p.output == "batches":
                v, s = ds.clips[clip]
                clip += batch.shape[0]
                yield Emit({"batch": batch}, pts=s / fps)
                continue
            for b in range(batch.shape[0]):
                v, _ = ds.clips[clip]
                for t, fi in enumerate(ds.clip_indices(clip)):
                    name = f"{stems[v]}_{fi:05d}" if multi else f"{fi:05d}"
                    yield Emit({"frame": VideoFrame(image=batch[b, t], index=out_index, pts=fi / fps,
                                                    name=name)}, pts=out_index / fps)
                    out_index += 1
                clip += 1
        self.close()

    def close(self):
        it, self._it = self._it, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        if self._ds is not None:
            self._ds.close()

"""Video decoder backends (PyAV, decord, OpenCV) behind one interface, and ``read_clip``.

Every backend yields RGB ``HxWx3 uint8`` numpy frames with their pts in seconds, decodes only the
video stream, honours the display-rotation tag (the frame comes out the way a player shows it,
like ``ffmpeg`` does), names the file in every error and never hangs on a damaged file: it yields
the frames that decode and warns (``DecodeWarning``) about the rest.

``Decoder.get_batch(indices)`` is random access: decord's ``get_batch``; PyAV seeks to the
keyframe before the first wanted frame and decodes forward (no seek while the next wanted frame is
reachable without passing a keyframe); OpenCV grabs forward or sets ``CAP_PROP_POS_FRAMES``.

Default backend (``auto``): PyAV, then OpenCV, then decord, chosen by measurement
(``bench/decode.py``; bench/README.md "## Decode"). Decoding whole files to RGB on 2 cores,
PyAV (frame threads, swscale on one thread) ties OpenCV and beats it on 3 of 4 files (frames/s,
PyAV / OpenCV / decord: dancer 640x480 1814 / 1606 / 1432, pancake 426x240 5657 / 4945 / 4388,
traffic 640x360 5269 / 5359 / 3661, 720p H.264 726 / 614 / 548). All three give pixel-identical
frames on intact files. PyAV is also the robust one: exact frame indices from packet pts for
random access, damaged packets skipped like ``ffmpeg`` does (49 of the 50 frames of
``corrupted.mp4``; OpenCV stops at 28, decord at 21), no fork hazard in DataLoader workers, and
it is the backend of ``stream_url``. PyAV's documented ``to_ndarray(format="rgb24")`` with
swscale's automatic threads is 1.4-1.9x slower (up to 3.8x on a busy host: thread start-up and
contention per frame), hence ``threads=1`` there. Random access (``read_clip``,
``ClipDataset``) uses the same order.
"""
from __future__ import annotations

import bisect
import math
import os
import re
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from graphrun.runtime.errors import UserInputError

BACKENDS = ("pyav", "decord", "opencv")
# Preference order of ``backend="auto"`` for sequential decoding (measured: see the docstring).
AUTO_ORDER = ("pyav", "opencv", "decord")
# Preference order for random access / clips (read_clip, ClipDataset).
CLIP_ORDER = ("pyav", "opencv", "decord")
MAX_BAD_PACKETS = 25  # PyAV: give up after this many consecutive undecodable packets
# Open decord readers of this process. A process forked while one is open (DataLoader workers)
# can deadlock inside decord, so make_loader (dataloader.py) checks this before forking workers.
_LIVE_DECORD: "weakref.WeakSet" = weakref.WeakSet()


def decord_readers_open() -> int:
    """How many decord readers are open in this process (see ``_LIVE_DECORD``)."""
    return sum(1 for d in list(_LIVE_DECORD) if getattr(d, "_vr", None) is not None)


class DecodeWarning(UserWarning):
    """A video decoded only in part (damaged or truncated file)."""


def _default_warn(msg: str) -> None:
    warnings.warn(msg, DecodeWarning, stacklevel=3)


def _words(exc: BaseException) -> str:
    """A decoder error in the system's words, without FFmpeg's errno number."""
    words = getattr(exc, "strerror", None)
    return str(words) if words else re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc))


def ended_early(done: int, expected: Optional[int]) -> bool:
    """Whether a stream that gave ``done`` frames stopped well before the ``expected`` count (2%
    slack: an expected count estimated from the duration is not exact)."""
    return bool(expected) and done < 0.98 * expected - 1


class BestEffortPts:
    """Frame timestamps as FFmpeg's ``best_effort_timestamp`` picks them, made strictly increasing.

    A frame's pts is used unless pts have gone backwards more often than dts (then its dts is).
    AVI files with DivX/XviD "packed" B-frames attach each pts to the wrong frame (1, 3, 2, 5, 4...)
    while their dts count up; an AVI stores one chunk per frame slot and no presentation time, so
    with ``prefer_dts`` (AVI) the dts is used from the first frame on. A time that does not come
    after the previous frame's (a timestamp discontinuity in a stream) becomes the previous plus
    one frame period, so every frame of a stream has a later pts than the one before."""

    def __init__(self, fps: Optional[float], prefer_dts: bool = False):
        self.period = 1.0 / fps if fps else None
        self.prefer_dts = prefer_dts
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = None
        self.last_time: Optional[float] = None

    def pick(self, pts, dts):
        """FFmpeg's guess_correct_pts: the raw timestamp (stream units) to trust for this frame."""
        if self.prefer_dts and dts is not None:
            return dts
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts

    def increasing(self, t: Optional[float], index: int) -> float:
        """``t`` (seconds), or one frame period after the previous frame when it is missing, not
        finite or not later than it."""
        last = self.last_time
        ok = t is not None and math.isfinite(t) and t >= 0
        if last is None:
            t = t if ok else (index * self.period if self.period else float(index))
        elif not ok or t <= last + 1e-6:
            t = last + (self.period or 1.0)
        self.last_time = t
        return t


def _import_decord():
    """Import decord, after OpenCV: decord loads its bundled zlib 1.2.3 globally, and an OpenCV
    imported after it then fails to read any PNG ("libpng error: bad parameters to zlib")."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        pass
    import decord

    return decord


def backend_available(name: str) -> bool:
    """Whether the decoder library of backend ``name`` imports."""
    try:
        if name == "pyav":
            import av  # noqa: F401
        elif name == "decord":
            _import_decord()
        elif name == "opencv":
            import cv2  # noqa: F401
        else:
            return False
    except ImportError:
        return False
    return True


def resolve_backend(backend: str, order: Sequence[str] = AUTO_ORDER) -> str:
    """Map ``auto`` to the first importable backend of ``order``; check an explicit name."""
    if backend == "auto":
        for name in order:
            if backend_available(name):
                return name
        raise UserInputError("no video decoder installed: pip install av (or opencv-python-headless)")
    if backend not in BACKENDS:
        raise UserInputError(f"unknown video backend '{backend}': choose one of auto, {', '.join(BACKENDS)}")
    if not backend_available(backend):
        raise UserInputError(f"video backend '{backend}' is not installed (pip install "
                             f"{ {'pyav': 'av', 'decord': 'decord', 'opencv': 'opencv-python-headless'}[backend]})")
    return backend


def quarter_turns(frame) -> int:
    """A PyAV frame's display rotation as a number of quarter turns counter-clockwise (0-3)."""
    return int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def pyav_rgb(frame, turns: Optional[int] = None) -> np.ndarray:
    """A PyAV video frame as RGB ``HxWx3 uint8``, turned by ``turns`` quarter turns (None: its own
    display rotation, so it comes out the way a player shows it)."""
    try:  # one swscale thread: "auto" threads cost 2-10x more per frame (thread start-up, contention)
        rgb = frame.to_ndarray(format="rgb24", threads=1)
    except TypeError:  # PyAV < 14 has no threads option
        rgb = frame.to_ndarray(format="rgb24")
    k = quarter_turns(frame) if turns is None else turns
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def check_file(path) -> str:
    """``path`` as a string if it is an existing file; else a UserInputError naming it."""
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise UserInputError(f"video file not found: {p}")
    if not p.is_file():
        raise UserInputError(f"not a video file (is a directory?): {p}")
    return str(p)


# ---------------------------------------------------------------------------------------------
@dataclass
class VideoInfo:
    """What the container says, before decoding anything (sizes are the coded ones)."""

    path: str
    width: int
    height: int
    fps: Optional[float]
    num_frames: Optional[int]  # from the container; an estimate (duration x fps) when not stored
    duration: Optional[float]
    codec: str
    exact_count: bool  # True if the container stores the frame count


def probe(path) -> VideoInfo:
    """Read container metadata with PyAV (no decoding). Raises UserInputError for bad files."""
    import av

    path = check_file(path)
    try:
        with av.open(path) as c:
            if not c.streams.video:
                raise UserInputError(f"no video stream in {path}")
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate or s.base_rate
            fps = float(rate) if rate else None
            duration = None
            if s.duration is not None and s.time_base is not None:
                duration = float(s.duration * s.time_base)
            elif c.duration is not None:
                duration = c.duration / 1_000_000
            exact = bool(s.frames and s.frames > 0)
            n = int(s.frames) if exact else (int(round(duration * fps)) if duration and fps else None)
            cc = s.codec_context
            return VideoInfo(path, int(cc.width), int(cc.height), fps, n, duration, cc.name, exact)
    except UserInputError:
        raise
    except Exception as exc:  # av.error.* (InvalidDataError ...) and OSError
        raise UserInputError(f"cannot read video {path}: {_words(exc)}") from None


# ---------------------------------------------------------------------------------------------
class Decoder:
    """Base of the backends. Iterate for ``(rgb, pts)``; ``frames()`` adds the frame index."""

    name = ""

    def __init__(self, path, threads: int = 0, warn: Optional[Callable[[str], None]] = None):
        self.path = check_file(path)
        self.threads = int(threads)
        self.warn = warn or _default_warn

    # -- API ----------------------------------------------------------------------------------
    def frames(self, start: int = 0, count: Optional[int] = None) -> Iterator[tuple[np.ndarray, float, int]]:
        """Yield ``(rgb, pts_seconds, index)`` from frame ``start`` on, at most ``count`` frames."""
        raise NotImplementedError

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as one ``(T,H,W,3)`` uint8 array."""
        raise NotImplementedError

    @property
    def num_frames(self) -> Optional[int]:
        """Exact number of frames (may read the whole file's index: PyAV)."""
        raise NotImplementedError

    @property
    def frame_count_hint(self) -> Optional[int]:
        """Frame count from the container's metadata, without reading the file (may be an estimate)."""
        return self.num_frames

    @property
    def fps(self) -> Optional[float]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __iter__(self):
        for rgb, pts, _ in self.frames():
            yield rgb, pts

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- helpers ------------------------------------------------------------------------------
    def _check_indices(self, indices) -> list[int]:
        idx = [int(i) for i in indices]
        if not idx:
            raise UserInputError(f"{self.path}: no frame indices asked for")
        n = self.num_frames
        bad = [i for i in idx if i < 0 or (n is not None and i >= n)]
        if bad:
            raise UserInputError(f"{self.path}: frame {bad[0]} is out of range (the video has {n} frames)")
        return idx

    @staticmethod
    def _stack(frames_by_index: dict, indices: list[int]) -> np.ndarray:
        first = frames_by_index[indices[0]]
        out = np.empty((len(indices),) + first.shape, dtype=np.uint8)
        for k, i in enumerate(indices):
            out[k] = frames_by_index[i]
        return out


# ---------------------------------------------------------------------------------------------
class PyAVDecoder(Decoder):
    """PyAV (FFmpeg) with frame+slice threading (``thread_type="AUTO"``, ``threads`` 0 = auto).

    The reference backend: frame indices come from the packets' pts (an index of the whole file is
    read lazily, without decoding, the first time random access is needed); a damaged packet is
    skipped (like ``ffmpeg``) with a warning, and decoding gives up after many in a row.
    """

    name = "pyav"

    def __init__(self, path, threads: int = 0, warn=None):
        super().__init__(path, threads, warn)
        import av

        self._av = av
        try:
            self._c = av.open(self.path)
        except Exception as exc:
            raise UserInputError(f"cannot open video {self.path}: {_words(exc)}") from None
        if not self._c.streams.video:
            self._c.close()
            raise UserInputError(f"no video stream in {self.path}")
        self._s = self._c.streams.video[0]
        self._s.thread_type = "AUTO"
        self._s.codec_context.thread_count = self.threads
        tb = self._s.time_base
        self._tb = float(tb) if tb else None
        self._t0 = self._s.start_time or 0
        rate = self._s.average_rate or self._s.guessed_rate
        self._fps = float(rate) if rate else None
        self._rot_k: Optional[int] = None
        self._pts_index: Optional[list] = None  # sorted pts of all video packets = frame index -> pts
        self._key_index: Optional[list] = None  # frame indices of keyframes, sorted
        self._gen = None                        # live decode generator (random access)
        self._next = 0                          # index of the next frame _gen will give
        self._bad_total = 0
        self._fresh = True                      # nothing demuxed yet: no need to rewind

    # -- metadata -----------------------------------------------------------------------------
    @property
    def fps(self):
        return self._fps

    @property
    def num_frames(self) -> int:
        self._build_index()
        return len(self._pts_index)

    @property
    def frame_count_hint(self):
        if self._pts_index is not None:
            return len(self._pts_index)
        s = self._s
        if s.frames and s.frames > 0:
            return int(s.frames)
        dur = None
        if s.duration is not None and self._tb:
            dur = s.duration * self._tb
        elif self._c.duration is not None:
            dur = self._c.duration / 1_000_000
        return int(round(dur * self._fps)) if dur and self._fps else None

    def _build_index(self):
        if self._pts_index is not None:
            return
        pts, keys = [], []
        if not self._fresh:
            self._rewind()
        self._fresh = False
        try:
            for pkt in self._c.demux(self._s):
                if pkt.size == 0:
                    continue
                p = pkt.pts if pkt.pts is not None else pkt.dts
                if p is None:
                    continue
                pts.append(p)
                if pkt.is_keyframe:
                    keys.append(p)
        except self._av.error.FFmpegError as exc:
            self.warn(f"{self.path}: stopped reading the packet index early ({_words(exc)})")
        pts = sorted(set(pts))
        self._pts_index = pts
        self._key_index = sorted(bisect.bisect_left(pts, k) for k in set(keys)) or [0]
        self._rewind()

    def _rewind(self):
        """Back to the first frame (seek, or reopen the file if the container cannot seek)."""
        self._gen = None
        self._next = 0
        try:
            self._c.seek(self._t0, stream=self._s, backward=True, any_frame=False)
        except self._av.error.FFmpegError:
            self._c.close()
            self._c = self._av.open(self.path)
            self._s = self._c.streams.video[0]
            self._s.thread_type = "AUTO"
            self._s.codec_context.thread_count = self.threads

    # -- decoding -----------------------------------------------------------------------------
    def _decode(self) -> Iterator:
        """av.VideoFrame objects from the current demux position; skips damaged packets."""
        av = self._av
        bad = 0
        self._fresh = False
        try:
            for pkt in self._c.demux(self._s):
                try:
                    out = pkt.decode()
                except av.error.FFmpegError as exc:
                    bad += 1
                    self._bad_total += 1
                    if self._bad_total == 1:
                        self.warn(f"{self.path}: damaged data near pts {pkt.pts} skipped ({_words(exc)}); "
                                  f"frames after it may show artifacts")
                    if bad >= MAX_BAD_PACKETS:
                        self.warn(f"{self.path}: {bad} undecodable packets in a row, stopping here")
                        return
                    continue
                bad = 0
                yield from out
        except av.error.FFmpegError as exc:  # demuxer error: a truncated container
            self.warn(f"{self.path}: stopped reading at a damaged or truncated spot ({_words(exc)})")

    def _to_rgb(self, frame) -> np.ndarray:
        if self._rot_k is None:
            self._rot_k = quarter_turns(frame)
        return pyav_rgb(frame, self._rot_k)

    def _pts_s(self, frame, index: int, clock: "BestEffortPts") -> float:
        raw = clock.pick(frame.pts, frame.dts)
        t = (raw - self._t0) * self._tb if raw is not None and self._tb else None
        return clock.increasing(t, index)

    def _index_of(self, frame, fallback: int) -> int:
        p = frame.pts
        if p is None or not self._pts_index:
            return fallback
        i = bisect.bisect_left(self._pts_index, p)
        if i < len(self._pts_index) and self._pts_index[i] == p:
            return i
        return max(i - 1, 0) if i > 0 else 0

    def frames(self, start=0, count=None):
        start = int(start)
        if start > 0:
            n = self.num_frames
            if start >= n:
                return
            self._seek_to(start)
            gen, mapped = self._gen, True
        else:
            if not self._fresh:
                self._rewind()
            gen, mapped = self._decode(), self._pts_index is not None
        self._gen = None
        emitted, counter = 0, start
        clock = BestEffortPts(self._fps, prefer_dts="avi" in (self._c.format.name or "").split(","))
        for frame in gen:
            idx = self._index_of(frame, counter) if mapped else counter
            if idx < start:
                continue
            counter = idx + 1
            yield self._to_rgb(frame), self._pts_s(frame, idx, clock), idx
            emitted += 1
            if count is not None and emitted >= count:
                return
        hint = self.frame_count_hint
        if hint is not None and ended_early(counter, hint if count is None else min(hint, start + count)):
            self.warn(f"{self.path}: decoding stopped at frame {counter} of {hint} (damaged or truncated file)")

    def _seek_to(self, target: int):
        """Position the decoder so that ``_gen`` yields frame ``target`` soon."""
        k = self._key_index[max(bisect.bisect_right(self._key_index, target) - 1, 0)]
        if self._gen is not None and self._next <= target and k <= self._next:
            return  # decoding forward is cheaper than seeking back to the same keyframe
        self._c.seek(int(self._pts_index[k]), stream=self._s, backward=True, any_frame=False)
        self._gen = self._decode()
        self._next = k

    def get_batch(self, indices):
        idx = self._check_indices(indices)
        got: dict[int, np.ndarray] = {}
        last = None
        for target in sorted(set(idx)):
            if target in got:
                continue
            self._seek_to(target)
            frame_rgb = None
            for frame in self._gen:
                fi = self._index_of(frame, self._next)
                if fi < target:
                    self._next = fi + 1
                    continue
                self._next = fi + 1
                frame_rgb = self._to_rgb(frame)
                if fi > target:  # the wanted frame did not decode: repeat its successor
                    self.warn(f"{self.path}: frame {target} could not be decoded; using frame {fi}")
                    got[fi] = frame_rgb
                break
            if frame_rgb is None:
                if last is None:
                    raise UserInputError(f"{self.path}: frame {target} could not be decoded")
                self.warn(f"{self.path}: frame {target} could not be decoded (damaged file); repeating the last one")
                frame_rgb = last
                self._gen = None
            got[target] = last = frame_rgb
        return self._stack(got, idx)

    def close(self):
        c = getattr(self, "_c", None)
        if c is not None:
            self._gen = None
            self._c = None
            c.close()


# ---------------------------------------------------------------------------------------------
class DecordDecoder(Decoder):
    """decord ``VideoReader``: sequential ``next()`` for streams, batched ``get_batch`` for clips.

    decord applies the rotation tag itself; for 90-degree rotations it returns rows padded to a
    wider stride (a ``H x W x 4``-looking array) at some widths, which is repaired here. It cannot
    follow a change of frame size inside a stream (it repeats frames of the first size, with only
    a message on stderr): use PyAV or OpenCV for such streams (broadcast .ts captures).
    """

    name = "decord"

    def __init__(self, path, threads: int = 0, warn=None):
        super().__init__(path, threads, warn)
        decord = self._decord = _import_decord()
        try:
            self._vr = decord.VideoReader(self.path, num_threads=self.threads)
        except Exception as exc:
            raise UserInputError(f"cannot open video {self.path}: {_first_line(exc)}") from None
        _LIVE_DECORD.add(self)
        self._n = len(self._vr)
        self._ts = None
        try:
            shape = self._vr[0].shape if self._n else None
            self._vr.seek(0)
        except decord.DECORDError as exc:
            self.close()
            raise UserInputError(f"{self.path}: the first frame cannot be decoded (damaged file? "
                                 f"{_first_line(exc)})") from None
        self._fix = shape is not None and shape[-1] != 3
        self._hw = None
        if self._fix:  # padded rows: learn the display width from the container's coded size
            info = probe(self.path)
            h = int(shape[0])
            w = info.height if h == info.width and h != info.height else info.width
            self._hw = (h, w)

    @property
    def fps(self):
        fps = self._vr.get_avg_fps()
        return float(fps) if fps else None

    @property
    def num_frames(self):
        return self._n

    def _timestamps(self):
        """Every frame's pts; decord's own when they are finite and increasing (they are garbage,
        -3.7e17, for AVI files with B-frames), else frame number / fps."""
        if self._ts is None:
            try:
                ts = self._vr.get_frame_timestamp(np.arange(self._n))[:, 0].astype(float)
            except Exception:
                ts = None
            if ts is None or not (np.isfinite(ts).all() and (ts >= 0).all() and (np.diff(ts) > 0).all()):
                ts = np.arange(self._n) / (self.fps or 30.0)
            self._ts = ts
        return self._ts

    def _repair(self, arr: np.ndarray) -> np.ndarray:
        if not self._fix:
            return arr
        h, w = self._hw
        lead = arr.shape[:-3]
        arr = arr.reshape(lead + (h, -1))[..., : w * 3]
        return np.ascontiguousarray(arr.reshape(lead + (h, w, 3)))

    def frames(self, start=0, count=None):
        start = int(start)
        if start >= self._n:
            return
        stop = self._n if count is None else min(self._n, start + int(count))
        ts = self._timestamps()
        vr = self._vr
        try:
            vr.seek_accurate(start) if start else vr.seek(0)
        except self._decord.DECORDError as exc:
            raise UserInputError(f"{self.path}: cannot seek to frame {start}: {_first_line(exc)}") from None
        for i in range(start, stop):
            try:
                arr = vr.next().asnumpy()
            except StopIteration:
                self.warn(f"{self.path}: stream ended after {i} of {self._n} frames")
                return
            except self._decord.DECORDError as exc:
                self.warn(f"{self.path}: decoding stopped at frame {i} of {self._n} (damaged or truncated "
                          f"file: {_first_line(exc)})")
                return
            yield self._repair(arr), float(ts[i]), i

    def get_batch(self, indices):
        idx = self._check_indices(indices)
        try:
            if self._fix:  # get_batch cannot copy padded rows: one frame at a time
                return np.stack([self._repair(self._vr[i].asnumpy()) for i in idx])
            arr = self._vr.get_batch(idx).asnumpy()
        except self._decord.DECORDError as exc:
            raise UserInputError(f"{self.path}: frames {idx[0]}..{idx[-1]} could not be decoded (damaged file? "
                                 f"{_first_line(exc)})") from None
        return self._repair(arr)

    def close(self):
        self._vr = None
        _LIVE_DECORD.discard(self)


def _first_line(exc) -> str:
    """decord errors are multi-line C++ traces: keep the last message, without the log prefixes."""
    import re

    s = " ".join(str(exc).split("Stack trace")[0].split())
    s = re.split(r"\[\d\d:\d\d:\d\d\] \S+?:\d+: ", s)[-1]
    return (s or type(exc).__name__)[-200:]


# ---------------------------------------------------------------------------------------------
class OpenCVDecoder(Decoder):
    """OpenCV ``VideoCapture`` (its FFmpeg backend): BGR frames converted to RGB.

    OpenCV applies the rotation tag (``CAP_PROP_ORIENTATION_AUTO``). It stops silently on a
    damaged file, so a stream that ends well before the container's frame count is reported.
    After a change of frame size inside a stream it scales every frame to the first size.
    """

    name = "opencv"

    def __init__(self, path, threads: int = 0, warn=None):
        super().__init__(path, threads, warn)
        import cv2

        self._cv2 = cv2
        params = [cv2.CAP_PROP_N_THREADS, self.threads] if self.threads > 0 else []
        self._cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG, params)
        if not self._cap.isOpened():
            self._cap.release()
            raise UserInputError(f"cannot open video {self.path} with OpenCV")
        self._cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)     # the default from OpenCV 5 on, off in 4.x
        self._n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        f = self._cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(f) if f and f > 0 else None
        self._pos = 0

    @property
    def fps(self):
        return self._fps

    @property
    def num_frames(self):
        return self._n

    def _seek(self, target: int):
        cv2 = self._cv2
        if target < self._pos or target - self._pos > 32:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, target)
            self._pos = target
        while self._pos < target:
            if not self._cap.grab():
                return False
            self._pos += 1
        return True

    def _read(self):
        ok, bgr = self._cap.read()
        if not ok:
            return None, None
        pts = self._cap.get(self._cv2.CAP_PROP_POS_MSEC) / 1000.0
        self._pos += 1
        return self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB), pts

    def frames(self, start=0, count=None):
        start = int(start)
        if not self._seek(start):
            return
        i = start
        clock = BestEffortPts(self._fps)
        while count is None or i - start < count:
            rgb, pts = self._read()
            if rgb is None:
                break
            yield rgb, clock.increasing(pts, i), i
            i += 1
        if count is None and ended_early(i, self._n):
            self.warn(f"{self.path}: decoding stopped at frame {i} of {self._n} (damaged or truncated file)")

    def get_batch(self, indices):
        idx = self._check_indices(indices)
        got = {}
        for target in sorted(set(idx)):
            rgb = None
            if self._seek(target):
                rgb, _ = self._read()
            if rgb is None:
                raise UserInputError(f"{self.path}: frame {target} could not be decoded "
                                     f"(the container says {self._n} frames)")
            got[target] = rgb
        return self._stack(got, idx)

    def close(self):
        cap = getattr(self, "_cap", None)
        if cap is not None:
            self._cap = None
            cap.release()


_CLASSES = {"pyav": PyAVDecoder, "decord": DecordDecoder, "opencv": OpenCVDecoder}


def open_decoder(path, backend: str = "auto", threads: int = 0, warn=None,
                 order: Sequence[str] = AUTO_ORDER) -> Decoder:
    """Open ``path`` with ``backend`` (``auto`` = fastest installed, see module docstring)."""
    path = check_file(path)
    return _CLASSES[resolve_backend(backend, order)](path, threads=threads, warn=warn)


def iter_frames(path, backend: str = "auto", threads: int = 0, start: int = 0,
                max_frames: Optional[int] = None, warn=None) -> Iterator[tuple[np.ndarray, float]]:
    """Generator of ``(rgb, pts)`` over a video file."""
    with open_decoder(path, backend, threads, warn) as dec:
        for rgb, pts, _ in dec.frames(start, max_frames):
            yield rgb, pts


def read_clip(path, start: int, num_frames: int, stride: int = 1, backend: str = "auto",
              threads: int = 0, decoder: Optional[Decoder] = None) -> np.ndarray:
    """Frames ``start, start+stride, ...`` (``num_frames`` of them) as a ``(T,H,W,3)`` uint8 array.

    ``backend="auto"`` uses PyAV (seek to the keyframe before the first frame, decode forward;
    exact indices from packet pts). Pass an open ``decoder`` to reuse it across calls (then its
    backend is used).
    """
    if num_frames < 1 or stride < 1 or start < 0:
        raise UserInputError(f"read_clip({path}): need start >= 0, num_frames >= 1, stride >= 1 "
                             f"(got {start}, {num_frames}, {stride})")
    indices = list(range(int(start), int(start) + int(num_frames) * int(stride), int(stride)))
    if decoder is not None:
        return decoder.get_batch(indices)
    with open_decoder(path, backend, threads, order=CLIP_ORDER) as dec:
        return dec.get_batch(indices)

"""Small real video files made by the tests: XviD AVI (plain or with DivX-style packed B-frames),
a stream whose frame size changes, a variable-frame-rate MP4, a truncated copy."""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np


def moving_box(i: int, w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 70, np.uint8)
    img[: h // 4, : w // 4] = (200, 60, 40)
    s = max(8, h // 4)
    x = (3 * i) % max(1, w - s)
    img[h // 3:h // 3 + s, x:x + s] = 230
    return img


def _nvop(time_bits: int = 5) -> bytes:
    """An MPEG-4 Part 2 'not coded' VOP, the placeholder packed-bitstream AVIs store after a P+B packet."""
    bits = "00000000" "00000000" "00000001" "10110110" + "01" + "0" + "1" + "0" * time_bits + "1" + "0"
    bits += "0" + "1" * ((8 - (len(bits) + 1) % 8) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def make_xvid_avi(path: Path, n: int = 40, w: int = 160, h: int = 120, fps: int = 25, packed: bool = False) -> Path:
    """An MPEG-4 Part 2 video tagged XVID in an AVI at ``fps``, with B-frames. ``packed``: stored the
    way DivX/XviD did (each P-frame and the next B-frame in one packet, then a 'not coded' VOP),
    which makes FFmpeg attach pts to the wrong frames."""
    import av

    enc = av.CodecContext.create("mpeg4", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps)
    enc.max_b_frames = 1
    enc.gop_size = 12
    enc.codec_tag = "XVID"
    packets = []
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(moving_box(i, w, h), format="rgb24")
        frame.pts = i
        packets += [bytes(p) for p in enc.encode(frame)]
    packets += [bytes(p) for p in enc.encode(None)]

    def vop_type(b: bytes) -> str:
        k = b.find(b"\x00\x00\x01\xb6")
        return "IPBS"[b[k + 4] >> 6] if k >= 0 else "?"

    chunks = []
    if packed:
        i = 0
        while i < len(packets):
            if i + 1 < len(packets) and vop_type(packets[i]) in "IP" and vop_type(packets[i + 1]) == "B":
                chunks += [packets[i] + packets[i + 1], _nvop()]
                i += 2
            else:
                chunks.append(packets[i])
                i += 1
        k = chunks[0].find(b"\x00\x00\x01\xb6")   # DivX's "packed" marker, which XviD writes too
        chunks[0] = chunks[0][:k] + b"\x00\x00\x01\xb2DivX503b1393p" + chunks[0][k:]
    with av.open(str(path), "w", format="avi") as out:
        s = out.add_stream("mpeg4", rate=fps)
        s.width, s.height = w, h
        s.codec_context.codec_tag = "XVID"
        s.codec_context.extradata = enc.extradata
        s.time_base = Fraction(1, fps)
        if packed:
            for j, c in enumerate(chunks):
                p = av.Packet(c)
                p.stream, p.time_base, p.dts, p.pts = s, s.time_base, j, j
                p.is_keyframe = vop_type(c) == "I"
                out.mux(p)
        else:
            dts = 0
            for c in packets:
                p = av.Packet(c)
                p.stream, p.time_base, p.dts, p.pts = s, s.time_base, dts, dts
                p.is_keyframe = vop_type(c) == "I"
                out.mux(p)
                dts += 1
    return path


def _ts_part(w: int, h: int, n: int, start: int, fps: int) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(start, start + n):
            f = av.VideoFrame.from_ndarray(moving_box(i, w, h), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def make_size_change_ts(path: Path, first=(160, 120), second=(256, 144), n: int = 12, fps: int = 25) -> Path:
    """An MPEG-TS whose frame size changes after ``n`` frames (two encodes, one after the other, as a
    broadcast stream does at a programme change)."""
    path.write_bytes(_ts_part(*first, n, 0, fps) + _ts_part(*second, n, n, fps))
    return path


def make_vfr_mp4(path: Path, times_ms: list, w: int = 96, h: int = 64) -> Path:
    """An H.264 MP4 whose frames are shown at ``times_ms`` (milliseconds, increasing): variable rate."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.codec_context.max_b_frames = 0
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(moving_box(i, w, h), format="rgb24")
            f.pts, f.time_base = int(t), Fraction(1, 1000)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def make_mkv(path: Path, n: int = 90, w: int = 96, h: int = 64, fps: int = 30) -> Path:
    """An H.264 Matroska file (the container stores a duration, not a frame count)."""
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(moving_box(i, w, h), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def truncated_copy(src: Path, dst: Path, fraction: float = 1 / 3) -> Path:
    """The first ``fraction`` of ``src``'s bytes: a download or a copy cut short."""
    data = Path(src).read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def video_timing(path: Path) -> tuple[float, float, list[float]]:
    """(average frame rate, duration in seconds, every frame's time) of a video, read with PyAV."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        times = [float(f.time) for f in c.decode(video=0)]
        dur = float(s.duration * s.time_base) if s.duration else c.duration / 1e6
        return float(s.average_rate), dur, times

"""Decoding throughput: frames/s of each backend, of graphrun's source node, and of yardsticks.

    python bench/decode.py [--reps 5] [--device cpu|cuda] [--videos a.mp4 ...]

For each video (../shared/data/videos/{dancer.mp4, pancake.mkv, traffic.avi} when present, and
a 1280x720 H.264 clip of 300 frames generated into bench/out/), every method decodes the whole
video to RGB24 ``HxWx3`` uint8 frames (the yardstick ``ffmpeg -f null`` stops at YUV):

* plain library loops, written the way each library's documentation shows them:
  PyAV (``thread_type="AUTO"``, ``to_ndarray(format="rgb24")`` as is, and with one swscale
  thread), decord (``next()`` and ``get_batch`` of 32), OpenCV (``read`` + ``cvtColor`` BGR->RGB);
* graphrun's decoders (``open_decoder(path, backend).frames()``);
* graphrun's ``video_file`` source into a ``null_sink`` run by the graph runtime (``run_graph``),
  with ``backend: auto`` and with each backend;
* yardsticks: ``ffmpeg -i F -f null -``, ``ffmpeg -i F -pix_fmt rgb24 -f rawvideo`` to /dev/null,
  ``gst-launch-1.0 playbin flags=video video-sink="videoconvert ! video/x-raw,format=RGB ! fakesink"``
  (skipped when not installed; their times include process start-up).

Repetitions are interleaved (every method once, then again) and the median is reported. The
goal checked at the end: graphrun's source node into a null sink >= 0.9x the fastest plain loop.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SHARED = ROOT.parent / "shared" / "data" / "videos"


# -- the test clip ------------------------------------------------------------------------------
def make_720p(path: Path, n: int = 300) -> Path:
    """A 1280x720 30 fps H.264 clip with moving gradients and a moving box (x264 defaults)."""
    import av

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp4")
    yy, xx = np.mgrid[0:720, 0:1280]
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23"}
        for i in range(n):
            img = np.empty((720, 1280, 3), np.uint8)
            img[..., 0] = (xx + 4 * i) % 256
            img[..., 1] = (2 * yy + 3 * i) % 256
            img[..., 2] = ((xx // 40 + yy // 40 + i // 10) % 2) * 200
            img[200 + i % 300: 300 + i % 300, 100 + 3 * i: 260 + 3 * i] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    tmp.rename(path)
    return path


# -- plain library loops ------------------------------------------------------------------------
def pyav_loop(path, **to_ndarray_kw) -> int:
    import av

    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            frame.to_ndarray(format="rgb24", **to_ndarray_kw)
            n += 1
    return n


def decord_next(path) -> int:
    from graphrun.nodes.io.decode import _import_decord

    decord = _import_decord()
    vr = decord.VideoReader(str(path))
    n = 0
    for _ in range(len(vr)):
        vr.next().asnumpy()
        n += 1
    return n


def decord_batch(path, size: int = 32) -> int:
    from graphrun.nodes.io.decode import _import_decord

    decord = _import_decord()
    vr = decord.VideoReader(str(path))
    total = len(vr)
    for i in range(0, total, size):
        vr.get_batch(list(range(i, min(total, i + size)))).asnumpy()
    return total


def opencv_loop(path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        n += 1
    cap.release()
    return n


# -- graphrun -----------------------------------------------------------------------------------
def graphrun_decoder(path, backend) -> int:
    from graphrun.nodes.io.decode import open_decoder

    with open_decoder(path, backend) as dec:
        return sum(1 for _ in dec.frames())


def graphrun_graph(path, backend, device="cpu", as_tensor=False) -> int:
    from graphrun.runtime.run import run_graph

    params = {"path": str(path), "backend": backend}
    if as_tensor:
        params.update(as_tensor=True, pin_memory=device.startswith("cuda"))
    g = {"name": "decode", "mode": "offline", "device": device,
         "nodes": {"src": {"kind": "video_file", "params": params}, "sink": {"kind": "null_sink"}},
         "edges": ["src.frame -> sink.x"]}
    return int(run_graph(g).stats["frames"])


# -- yardsticks ---------------------------------------------------------------------------------
def run_cmd(cmd: list[str]) -> None:
    try:
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    except subprocess.TimeoutExpired:  # gst-launch very rarely stalls at EOS with an unlinked audio pad
        raise RuntimeError(f"{cmd[0]} did not finish in 30 s") from None
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr.decode(errors='replace')[-300:]}")


def ffmpeg_null(path):
    run_cmd(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"])


def ffmpeg_rgb(path):
    run_cmd(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-pix_fmt", "rgb24",
             "-f", "rawvideo", "-y", "/dev/null"])


def gst_rgb(path):
    # playbin flags=video: only the video stream is decoded (a plain decodebin with an unlinked
    # audio pad stalls at EOS now and then on pancake.mkv / traffic.avi)
    run_cmd(["gst-launch-1.0", "-q", "playbin", f"uri={Path(path).resolve().as_uri()}", "flags=video",
             "video-sink=videoconvert ! video/x-raw,format=RGB ! fakesink sync=false"])


def methods(device: str) -> list[tuple[str, str, callable]]:
    """(group, label, fn(path) -> frames or None)."""
    from graphrun.nodes.io.decode import backend_available

    m = [("plain", "pyav loop (to_ndarray as is)", lambda p: pyav_loop(p)),
         ("plain", "pyav loop (to_ndarray threads=1)", lambda p: pyav_loop(p, threads=1))]
    if backend_available("decord"):
        m += [("plain", "decord next()", decord_next), ("plain", "decord get_batch(32)", decord_batch)]
    if backend_available("opencv"):
        m += [("plain", "opencv read+cvtColor", opencv_loop)]
    backends = [b for b in ("pyav", "decord", "opencv") if backend_available(b)]
    m += [("decoder", f"graphrun decoder {b}", lambda p, b=b: graphrun_decoder(p, b)) for b in backends]
    m += [("graph", "graph video_file(auto) -> null_sink", lambda p: graphrun_graph(p, "auto", device))]
    m += [("graph", f"graph video_file({b}) -> null_sink", lambda p, b=b: graphrun_graph(p, b, device))
          for b in backends]
    if device.startswith("cuda"):
        m += [("graph", "graph video_file(auto, tensor+pinned) -> null_sink",
               lambda p: graphrun_graph(p, "auto", device, as_tensor=True))]
    if shutil.which("ffmpeg"):
        m += [("yardstick", "ffmpeg -f null (YUV, no RGB)", ffmpeg_null),
              ("yardstick", "ffmpeg -pix_fmt rgb24 rawvideo", ffmpeg_rgb)]
    if shutil.which("gst-launch-1.0"):
        m += [("yardstick", "gst-launch playbin (video) ! RGB ! fakesink", gst_rgb)]
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="repetitions per method (median reported)")
    ap.add_argument("--device", default="cpu", help="graph device (decoding itself is on the CPU)")
    ap.add_argument("--videos", nargs="*", help="videos to use instead of the default set")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            print("--device cuda asked but CUDA is not available", file=sys.stderr)
            return 2

    if args.videos:
        videos = [Path(v) for v in args.videos]
    else:
        videos = [SHARED / n for n in ("dancer.mp4", "pancake.mkv", "traffic.avi") if (SHARED / n).exists()]
        t = time.perf_counter()
        videos.append(make_720p(OUT / "gen720.mp4"))
        print(f"test clip: {videos[-1]} ({time.perf_counter() - t:.1f} s)")
    import av
    counts = {}
    for v in videos:
        with av.open(str(v)) as c:
            counts[v] = sum(1 for _ in c.decode(video=0))

    ms = methods(args.device)
    times: dict = {(label, v): [] for _, label, _ in ms for v in videos}
    failed: dict = {}
    t_all = time.perf_counter()
    for v in videos:
        for _, label, fn in ms:  # warm-up: file cache, imports, first-use costs
            try:
                fn(v)
            except Exception as exc:  # noqa: BLE001 - a yardstick may not handle a file
                failed[(label, v)] = str(exc).splitlines()[0][:120]
    for _ in range(args.reps):
        for v in videos:
            for _, label, fn in ms:
                if (label, v) in failed:
                    continue
                t = time.perf_counter()
                try:
                    n = fn(v)
                except Exception as exc:  # noqa: BLE001 - reported under the table
                    failed[(label, v)] = str(exc).splitlines()[0][:120]
                    continue
                dt = time.perf_counter() - t
                if n is not None and n != counts[v]:
                    failed[(label, v)] = f"decoded {n} frames, expected {counts[v]}"
                times[(label, v)].append(dt)
    wall = time.perf_counter() - t_all

    fps = {k: (counts[k[1]] / statistics.median(ts) if ts and k not in failed else float("nan"))
           for k, ts in times.items()}
    names = [v.name for v in videos]
    w = max(len(label) for _, label, _ in ms)
    print(f"\nframes/s to RGB, median of {args.reps} (2-core CPU unless noted; higher is better)")
    print(f"{'method':<{w}}  " + "  ".join(f"{n:>12}" for n in names))
    for _, label, _ in ms:
        print(f"{label:<{w}}  " + "  ".join(f"{fps[(label, v)]:12.0f}" for v in videos))
    print(f"{'(frames, size)':<{w}}  " + "  ".join(f"{counts[v]:>5} {_size(v):>6}" for v in videos))
    for (label, v), why in failed.items():
        print(f"  note: {label} on {v.name}: {why}")

    plain = [label for g, label, _ in ms if g == "plain"]
    print("\ngraph video_file(auto) -> null_sink vs the fastest plain loop (goal >= 0.90):")
    ratios = {}
    for v in videos:
        best = max(plain, key=lambda lb: np.nan_to_num(fps[(lb, v)]))
        r = fps[("graph video_file(auto) -> null_sink", v)] / fps[(best, v)]
        ratios[v.name] = {"ratio": r, "fastest_plain": best}
        print(f"  {v.name:>12}: {r:.2f}  (fastest plain: {best}, {fps[(best, v)]:.0f} f/s)")
    print(f"\nbench wall time {wall:.0f} s")

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "decode.json").write_text(json.dumps(
        {"reps": args.reps, "device": args.device, "frames": {v.name: counts[v] for v in videos},
         "fps": {f"{label} | {v.name}": fps[(label, v)] for (label, v) in fps}, "ratios": ratios,
         "failed": {f"{label} | {v.name}": why for (label, v), why in failed.items()}}, indent=1))
    plot(ms, videos, fps, OUT / "decode.png")
    print(f"wrote {OUT / 'decode.png'} and {OUT / 'decode.json'}")
    return 0


def _size(v: Path) -> str:
    import av
    with av.open(str(v)) as c:
        cc = c.streams.video[0].codec_context
        return f"{cc.width}x{cc.height}"


def plot(ms, videos, fps, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"plain": "#4c72b0", "decoder": "#55a868", "graph": "#c44e52", "yardstick": "#8c8c8c"}
    fig, axes = plt.subplots(1, len(videos), figsize=(4.2 * len(videos), 0.32 * len(ms) + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    labels = [label for _, label, _ in ms]
    y = np.arange(len(ms))[::-1]
    for ax, v in zip(axes, videos):
        vals = [np.nan_to_num(fps[(label, v)]) for label in labels]
        ax.barh(y, vals, color=[colors[g] for g, _, _ in ms])
        ax.set_title(f"{v.name} ({_size(v)})", fontsize=9)
        ax.set_xlabel("frames/s to RGB")
        for yi, val in zip(y, vals):
            ax.text(val, yi, f" {val:.0f}", va="center", fontsize=7)
        ax.margins(x=0.18)
    axes[0].set_yticks(y)
    axes[0].set_yticklabels(labels, fontsize=8)
    fig.suptitle("graphrun decode: plain loops (blue), graphrun decoders (green), graph runtime (red), "
                 "yardsticks (grey)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

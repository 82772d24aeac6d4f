"""Memory of graphs/stabilize.yaml with every output: flat over a long run, and the peak on a 4K input.

    python bench/memory.py [--frames 10000] [--size 160x120] [--fourk-frames 30]

Two runs, each in a fresh process so that each peak is its own:

* long: the synthetic scene for ``--frames`` frames at ``--size``, all outputs written (metrics,
  records, mask PNGs, overlay video, report). A probe node on the source's thread samples the
  process's resident memory (VmRSS) every 1% of the frames; printed at 10%, 50% and 100% of the
  run, with the ratio 100% / 10% (the budget: within 10%, i.e. nothing kept per frame), and after
  the run (the report's plots drawn).
* 4k: a 3840x2160 H.264 clip of ``--fourk-frames`` frames made here, run with
  ``--set source.kind=video_file``; prints the peak resident memory (VmHWM) of the run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAPH = ROOT / "graphs" / "stabilize.yaml"


def status_kb(key: str) -> int:
    """A line of /proc/self/status in KiB (VmRSS: now, VmHWM: peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def probe_class(every: int, samples: list):
    from graphrun.runtime import Input, Node
    from graphrun.runtime.types import FRAME

    class RssProbe(Node):
        """Samples the process's resident memory every ``every`` frames."""

        frame = Input(FRAME)

        def process(self, ctx, frame):
            if ctx.index % every == 0:
                samples.append((ctx.index, status_kb("VmRSS") / 1024, time.perf_counter()))

    return RssProbe


def run_with_probe(overrides: list[str], frames: int, out: str) -> tuple[list, dict]:
    import graphrun

    g = graphrun.load(GRAPH, set=overrides)
    samples: list = []
    probe = g.add(probe_class(max(1, frames // 100), samples), name="rss_probe")
    g.connect(g.node("source").frame, probe.frame)
    result = g.run(out=out)
    return samples, result.stats


def part_long(frames: int, size: str) -> dict:
    w, h = (int(v) for v in size.split("x"))
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        samples, stats = run_with_probe([f"source.frames={frames}", f"source.width={w}", f"source.height={h}"],
                                        frames, out)
        secs = time.perf_counter() - t
        jsonl = sum(1 for _ in open(Path(out) / "metrics.jsonl"))

    def at(frac):
        target = frac * frames
        return min(samples, key=lambda s: abs(s[0] - target))[1]

    return {"frames": stats["frames"], "records": jsonl, "seconds": round(secs, 1),
            "rss_mb": {"10%": round(at(0.1), 1), "50%": round(at(0.5), 1), "100%": round(at(1.0), 1)},
            "ratio_100_10": round(at(1.0) / at(0.1), 3), "after_finish_mb": round(status_kb("VmRSS") / 1024, 1),
            "peak_mb": round(status_kb("VmHWM") / 1024, 1)}


def make_4k(path: Path, n: int) -> Path:
    import av
    import numpy as np

    w, h = 3840, 2160
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast"}
        base = np.full((h, w, 3), 90, np.uint8)
        for i in range(n):
            img = base.copy()
            x = 400 + 40 * i
            img[700:1300, x:x + 600] = (220, 180, 60)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def part_4k(frames: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_4k(Path(tmp) / "uhd.mp4", frames)
        before = status_kb("VmHWM") / 1024
        t = time.perf_counter()
        samples, stats = run_with_probe(["source.kind=video_file", f"source.path={clip}"], frames, str(Path(tmp) / "o"))
        return {"frames": stats["frames"], "seconds": round(time.perf_counter() - t, 1),
                "peak_mb": round(status_kb("VmHWM") / 1024, 1), "peak_before_run_mb": round(before, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--size", default="160x120")
    ap.add_argument("--fourk-frames", type=int, default=30)
    ap.add_argument("--part", choices=("long", "4k"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.part:
        res = part_long(a.frames, a.size) if a.part == "long" else part_4k(a.fourk_frames)
        print(json.dumps(res))
        return
    args = [sys.executable, __file__, "--frames", str(a.frames), "--size", a.size,
            "--fourk-frames", str(a.fourk_frames)]
    long = json.loads(subprocess.run(args + ["--part", "long"], check=True, capture_output=True,
                                     text=True).stdout.strip().splitlines()[-1])
    r = long["rss_mb"]
    print(f"long run: graphs/stabilize.yaml, synthetic {a.size}, {long['frames']} frames in {long['seconds']} s, "
          f"all outputs ({long['records']} records in metrics.jsonl)")
    print(f"  RSS MiB while running, at 10% {r['10%']}, 50% {r['50%']}, 100% {r['100%']}: 100%/10% = "
          f"{long['ratio_100_10']}; after finish (plots drawn) {long['after_finish_mb']}, peak {long['peak_mb']}")
    uhd = json.loads(subprocess.run(args + ["--part", "4k"], check=True, capture_output=True,
                                    text=True).stdout.strip().splitlines()[-1])
    print(f"4K run: 3840x2160 H.264, {uhd['frames']} frames in {uhd['seconds']} s: peak RSS {uhd['peak_mb']} MiB "
          f"(process before the run: {uhd['peak_before_run_mb']} MiB)")


if __name__ == "__main__":
    main()

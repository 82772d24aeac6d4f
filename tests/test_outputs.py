"""Outputs you can trust, end to end through the shipped graphs: a size change, an interrupted run,
frames skipped on error."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import media

import graphrun
from graphrun.runtime import Input, Node, Output, register
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.types import PROB_MAP

ROOT = Path(__file__).resolve().parents[1]
STABILIZE = ROOT / "graphs" / "stabilize.yaml"


def test_a_frame_size_change_mid_stream_runs_the_whole_stabilize_graph_and_says_where(tmp_path, capsys):
    video = media.make_size_change_ts(tmp_path / "tv.ts", first=(160, 120), second=(256, 144), n=10)
    code = main([str(STABILIZE), "--set", "source.kind=video_file", f"source.path={video}",
                 "--out", str(tmp_path / "out"), "-q"])
    out = capsys.readouterr()
    assert code == 0, out.err
    resets = [line for line in out.out.splitlines() if "frame size changed at frame 10: 160x120 -> 256x144" in line]
    assert {line.split(":")[0] for line in resets} >= {"seg", "stab.flow", "stab.thresh", "stab.guard", "stab.ghost",
                                                       "out.metrics", "out.overlay", "out.report"}
    run = json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]
    assert run["frames_done"] == 20 and run["size_changes"] == [{"frame": 10, "from": "160x120", "to": "256x144"}]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<title>tv.ts — stabilize</title>" in page and "160x120, 256x144 from frame 10" in page
    assert len(list((tmp_path / "out" / "masks" / "stabilized").glob("*.png"))) == 20


def test_an_interrupted_run_writes_metrics_and_a_report_marked_partial(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", str(STABILIZE), "-q", "--out", str(out),
                             "--set", "source.frames=3100", "source.width=96", "source.height=72",
                             "out.overlay.enabled=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180

    def measured():                 # the records are on disk as the run goes (wherever it stages them)
        return max((len(p.read_text().splitlines()) for p in tmp_path.rglob("metrics.jsonl")), default=0)

    while measured() < 10 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    run = json.loads((out / "metrics.json").read_text())["run"]
    done = run["frames_done"]
    assert run["interrupted"] and run["frames_expected"] == 3100 and 10 <= done < 3100
    assert len((out / "metrics.jsonl").read_text().splitlines()) == done
    assert f"partial: {done} of 3100 frames" in stdout
    assert f"Partial run: {done} of 3100 frames" in (out / "report.html").read_text()


@register("test_flaky_prob")
class FlakyProb(Node):
    """Passes a probability map on, failing at frames 3 and 4."""

    prob_in = Input(PROB_MAP, name="prob")
    prob_out = Output(PROB_MAP, name="prob")

    def process(self, ctx, prob):
        if ctx.index in (3, 4):
            raise RuntimeError("flaky")
        return {"prob": prob}


def test_frames_skipped_on_error_are_in_the_metrics_summary(tmp_path):
    g = graphrun.Graph("skips")
    src = g.add("synthetic_scene", name="src", frames=12, width=64, height=48)
    seg = g.add("bg_subtract", name="seg")
    flaky = g.add(FlakyProb, name="flaky", on_error="skip")
    metrics = g.add("metrics", name="metrics", flow_preset="off")
    g.connect(src.frame, seg.frame)
    g.connect(src.background, seg.background)
    g.connect(seg.prob, flaky.prob)
    g.connect(src.frame, metrics.frame)
    g.connect(flaky.prob, metrics.raw)
    g.connect(seg.prob, metrics.stabilized)
    result = g.run(out=tmp_path, executor="inline")
    run = json.loads((tmp_path / "metrics.json").read_text())["run"]
    assert run["frames_done"] == 10 and run["frames_skipped"] == 2 and run["skipped_first"] == [3, 4]
    assert result.results["metrics_run"]["frames_skipped"] == 2
    assert result.stats["nodes"]["flaky"]["errors"] == 2



def test_a_truncated_video_is_reported_in_the_log_metrics_and_report(tmp_path, capsys):
    cut = media.truncated_copy(media.make_mkv(tmp_path / "clip.mkv", n=90), tmp_path / "cut.mkv", 0.6)
    code = main([str(STABILIZE), "--set", "source.kind=video_file", f"source.path={cut}", "out.overlay.enabled=false",
                 "--out", str(tmp_path / "out"), "-q"])
    out = capsys.readouterr()
    assert code == 0
    run = json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]
    words = f"{cut}: decoding stopped at frame {run['frames_done']} of 90 (damaged or truncated file)"
    assert f"graphrun: warning: {words}" in out.out + out.err
    assert words in run["warnings"]
    assert words in (tmp_path / "out" / "report.html").read_text().split("<h2>Settings</h2>")[0]


def test_a_one_frame_video_gives_an_overlay_at_its_own_frame_rate(tmp_path):
    import av
    clip = tmp_path / "one.mp4"
    with av.open(str(clip), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for p in [*s.encode(av.VideoFrame.from_ndarray(media.moving_box(0, 96, 64), format="rgb24")), *s.encode()]:
            out.mux(p)
    assert main([str(STABILIZE), "-q", "--set", "source.kind=video_file", f"source.path={clip}",
                 "--out", str(tmp_path / "out")]) == 0
    fps, _, times = media.video_timing(tmp_path / "out" / "overlay.mp4")
    assert fps == 25.0 and len(times) == 1


def test_a_size_change_inside_a_ts_reports_frames_done_and_expected_that_agree(tmp_path):
    clip = media.make_size_change_ts(tmp_path / "tv.ts", n=30)       # the container holds no frame count
    assert main([str(STABILIZE), "-q", "--set", "source.kind=video_file", f"source.path={clip}",
                 "out.overlay.enabled=false", "--out", str(tmp_path / "out")]) == 0
    run = json.loads((tmp_path / "out" / "metrics.json").read_text())["run"]
    assert run["frames_done"] == run["frames_expected"] == 60 and not run["interrupted"]
    assert "Partial run" not in (tmp_path / "out" / "report.html").read_text()

"""--record / --view: the recording read back with Rerun's own reader, the observer's bounds, the
declared taps, the web viewer's page in headless Chromium, the realtime progress figures."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

import graphrun
from graphrun.runtime.node import Node, Output
from graphrun.runtime.types import FRAME

rr = pytest.importorskip("rerun", reason="the `view` extra (rerun-sdk) is not installed")
dataframe = pytest.importorskip("rerun.dataframe")

FRAMES = 16


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    path = folder / "run.rrd"
    result = graphrun.load("stabilize", set=[f"source.frames={FRAMES}"]).run(out=folder / "out", record=path)
    return path, result


def _rows_per_frame(rec, entity: str, column: str) -> list:
    table = rec.view(index="frame", contents=entity).select().read_all()
    frames = table.column("frame").to_pylist()
    values = table.column(f"{entity}:{column}").to_pylist()
    return sorted(f for f, v in zip(frames, values) if v is not None)


def test_recording_holds_frames_masks_and_series(recording):
    path, result = recording
    assert result.stats["frames"] == FRAMES
    rec = dataframe.load_recording(str(path))
    entities = {c.entity_path for c in rec.schema().component_columns()}
    every_frame = list(range(FRAMES))
    # the frames (JPEG) and the mask layers over them, one row per frame
    assert _rows_per_frame(rec, "/video/source.frame", "Blob") == every_frame
    for layer in ("/video/seg.prob", "/video/stab.ghost.mask", "/video/source.gt"):
        assert _rows_per_frame(rec, layer, "ImageBuffer") == every_frame, layer
    # time series with a row each frame: metrics, per-node ms, latency, drops, queue fill
    series = sorted(e for e in entities if e.split("/")[1] in ("metrics", "nodes", "run", "queues"))
    full = [e for e in series if _rows_per_frame(rec, e, "Scalar") == every_frame]
    assert len(full) >= 8, full
    for wanted in ("/metrics/out.metrics.record/stabilized/J", "/metrics/out.metrics.record/raw/J",
                   "/nodes/stab.flow/ms", "/run/latency_ms", "/run/drops"):
        assert wanted in full, wanted
    # the media-time timeline next to the frame index
    assert "media_time" in [c.name for c in rec.schema().index_columns()]


def test_recording_values_are_the_runs(recording):
    """The recorded J of the stabilized masks is the metrics node's own figure (its summary's mean)."""
    path, result = recording
    rec = dataframe.load_recording(str(path))
    j = rec.view(index="frame", contents="/metrics/out.metrics.record/stabilized/J").select().read_all()
    values = [v[0] for v in j.column("/metrics/out.metrics.record/stabilized/J:Scalar").to_pylist() if v]
    mean = result.results["metrics"]["stabilized"]["J"]
    assert sum(values) / len(values) == pytest.approx(mean, abs=1e-3)


def test_rerun_cli_reads_the_recording(recording):
    from graphrun.runtime.frontends.view.viewer import rerun_executable
    path, _ = recording
    out = subprocess.run([rerun_executable(), "rrd", "print", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "video/source.frame" in out.stdout and "graphrun" in out.stdout


def test_the_recorder_drops_instead_of_stalling(tmp_path):
    """A writer that cannot keep up loses events (counted, one warning), never frames of the run."""
    from graphrun.runtime.frontends.view.rerun_sink import RerunSink, open_streams
    from graphrun.runtime.observe import Observer
    from graphrun.runtime.options import RunOptions
    from graphrun.runtime.run import load_graph, run_built
    lines = []
    observer = Observer(RerunSink(open_streams(str(tmp_path / "small.rrd"), None)), capacity=8)
    graph = load_graph("stabilize", [f"source.frames={FRAMES}"])
    result = run_built(graph, RunOptions(out=str(tmp_path / "out"), observer=observer))
    observer.close(lines.append)
    assert result.stats["frames"] == FRAMES
    assert observer.dropped > 0
    assert any("dropped" in line for line in lines)


def test_taps_must_name_an_output():
    with pytest.raises(TypeError, match="taps"):
        type("BadTaps", (Node,), {"frame": Output(FRAME), "taps": {"fram": "image"}})
    with pytest.raises(TypeError, match="image, segmentation, scalars"):
        type("BadKind", (Node,), {"frame": Output(FRAME), "taps": {"frame": "video"}})


def test_bad_record_path_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "graphrun", "stabilize", "-q", "--set", "source.frames=2",
                          "--out", str(tmp_path / "o"), "--record", str(tmp_path / "no" / "such" / "x.rrd")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--record" in out.stderr


def test_record_does_not_overwrite_other_files(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    out = subprocess.run([sys.executable, "-m", "graphrun", "stabilize", "-q", "--set", "source.frames=2",
                          "--out", str(tmp_path / "o"), "--record", str(other)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "not overwritten" in out.stderr
    assert other.read_text() == "mine"


def test_without_the_extra_the_error_names_it(tmp_path):
    code = ("import sys; sys.modules['rerun'] = None; from graphrun.runtime.frontends.cli import main; "
            f"sys.exit(main(['stabilize', '-q', '--out', {str(tmp_path / 'o')!r}, '--record', 'x.rrd']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "graphrun[view]" in out.stderr and "Traceback" not in out.stderr


def test_analytics_are_off_for_the_viewers_graphrun_starts(tmp_path, monkeypatch):
    import json

    from graphrun.runtime.frontends.view.viewer import analytics_off_env, rerun_executable
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    env = analytics_off_env()
    out = subprocess.run([rerun_executable(), "analytics", "config"], env=env, capture_output=True, text=True,
                         timeout=60)
    text = out.stdout + out.stderr
    config = json.loads(text[text.index("{"):text.rindex("}") + 1])
    assert config["analytics_enabled"] is False
    assert config["config_file_path"].startswith(str(tmp_path))


def test_web_viewer_serves_on_localhost_only(tmp_path):
    """--view without a display: the web viewer on 127.0.0.1 (its page and its data port), nothing else."""
    import urllib.request

    from graphrun.runtime.frontends.view import viewer as viewers
    graphrun.load("stabilize", set=["source.frames=4"]).run(out=tmp_path / "out", view="web")
    v = viewers.web_viewer()
    assert v is not None and v.url.startswith("http://127.0.0.1:")
    page = urllib.request.urlopen(v.url, timeout=10).read().decode()
    assert "re_viewer" in page or "rerun" in page.lower()
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    mine = [line for line in listening.splitlines() if f"pid={v.process.pid}," in line]
    assert mine and all("127.0.0.1:" in line.split()[3] for line in mine), mine


@pytest.mark.slow
def test_web_viewer_page_loads_in_headless_chromium(tmp_path):
    """The page, its WebAssembly bundle and the app start (it puts its canvas in the page). Rendering
    is not checked: on Chromium's SwiftShader WebGL2 (6 colour attachments) rerun 0.22's wgpu, which
    needs 8, shows its own error page instead; examples/viewer.png is the native viewer under Xvfb."""
    browser = pytest.importorskip("browser")
    if browser.CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from graphrun.runtime.frontends.view import viewer as viewers
    graphrun.load("stabilize", set=["source.frames=4"]).run(out=tmp_path / "out", view="web")
    v = viewers.web_viewer()
    with browser.Page(v.url) as page:
        deadline = time.monotonic() + 60
        started = False
        while time.monotonic() < deadline and not started:
            time.sleep(1)
            # the WebAssembly app has started once it put its canvas in the page
            started = bool(page.evaluate("document.querySelector('canvas') !== null"))
        assert started, page.evaluate("document.body.innerText.slice(0, 300)")
        assert page.evaluate("document.title") == "Rerun Viewer"
        assert page.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"


def test_realtime_progress_shows_drops_and_p99(tmp_path):
    """The progress line of a realtime run carries drops and p99 latency while it runs."""
    code = ("from graphrun.runtime.frontends.cli import main; import sys; "
            f"sys.exit(main(['stabilize', '--mode', 'realtime', '--out', {str(tmp_path / 'o')!r}, "
            "'--set', 'source.frames=60']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "drops " in out.stderr and "p99 " in out.stderr


def test_iterate_records_too(tmp_path):
    path = tmp_path / "it.rrd"
    g = graphrun.load("stabilize", set=["source.frames=6"])
    masks = [item["stab.mask"] for item in g.iterate("stab.mask", out=tmp_path / "out", record=path)]
    assert len(masks) == 6
    rec = dataframe.load_recording(str(path))
    assert _rows_per_frame(rec, "/video/stab.ghost.mask", "ImageBuffer") == list(range(6))


@pytest.mark.slow
def test_view_with_a_display_streams_to_the_native_viewer(tmp_path):
    """Under Xvfb (a display): ``--view`` picks the native viewer, which opens its port on 127.0.0.1
    and takes the run's stream."""
    import shutil
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed")
    code = ("import sys\n"
            "from graphrun.runtime.frontends.view import observing\n"
            "from graphrun.runtime.run import load_graph, run_built\n"
            "from graphrun.runtime.options import RunOptions\n"
            "with observing(view=True) as (observer, viewer):\n"
            "    graph = load_graph('stabilize', ['source.frames=8'])\n"
            "    run_built(graph, RunOptions(out=sys.argv[1], observer=observer))\n"
            "print('viewer', viewer.kind, viewer.tcp, observer.written, observer.dropped)\n"
            "viewer.stop()\n")
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code, str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("viewer "))
    _, kind, tcp, written, dropped = line.split()
    assert kind == "native" and tcp.startswith("127.0.0.1:")
    assert int(written) > 8 * 10 and int(dropped) == 0

"""The ``display`` sink: an OpenCV window where one can open (here: under Xvfb with an OpenCV that has
highgui), else one line pointing to ``--view``."""
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from graphrun.nodes.sinks.display import no_window_reason

GRAPH = """
name: show
nodes:
  source: {kind: synthetic_scene, params: {frames: 3, width: 96, height: 64}}
  show:   {kind: display}
edges:
  - source.frame -> show.frame
  - source.gt -> show.mask
"""


def without_display():
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


def test_without_a_display_a_run_ends_with_one_line_that_points_to_view(tmp_path):
    (tmp_path / "show.yaml").write_text(GRAPH)
    proc = subprocess.run([sys.executable, "-m", "graphrun", str(tmp_path / "show.yaml"), "-q", "--out",
                           str(tmp_path / "out")], env=without_display(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "display 'show'" in lines[0] and "--view" in lines[0] and "Traceback" not in proc.stderr


def test_the_reason_is_the_missing_display_or_a_headless_opencv(monkeypatch):
    import cv2
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    reason = no_window_reason()
    if sys.platform.startswith("linux"):
        assert reason is not None
    if reason and "highgui" in reason:            # the detection agrees with OpenCV itself
        with pytest.raises(cv2.error):
            cv2.namedWindow("graphrun-test")


@pytest.fixture
def xvfb():
    """A virtual X server on a free display number; its DISPLAY value."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    number, deadline = b"", time.monotonic() + 20
    try:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(read, 16)
            if not chunk:
                break
            number += chunk
        if not number.strip():
            pytest.fail("Xvfb did not report its display within 20 s")
        yield f":{number.strip().decode()}"
    finally:
        os.close(read)
        server.terminate()
        server.wait(timeout=10)


WINDOW = textwrap.dedent("""
    import sys
    import numpy as np, torch, cv2
    from graphrun.nodes.sinks.display import no_window_reason
    reason = no_window_reason()
    if reason:
        print("SKIP", reason); sys.exit(0)
    from graphrun.runtime.testing import Harness
    from graphrun.runtime.types import VideoFrame
    with Harness("display", title="graphrun", max_width=120) as h:
        for i in range(3):
            mask = torch.zeros(60, 160); mask[10:40, 20 + i:60 + i] = 1
            h.push(frame=VideoFrame(np.full((60, 160, 3), 90, np.uint8), i, i / 25, str(i)), mask=mask)
            visible = cv2.getWindowProperty("graphrun", cv2.WND_PROP_VISIBLE)
            x, y, w, hh = cv2.getWindowImageRect("graphrun")
            print("WINDOW", visible, w, hh, flush=True)
""")


def test_under_xvfb_the_frames_show_in_a_window_scaled_to_max_width(xvfb):
    proc = subprocess.run([sys.executable, "-c", WINDOW], env={**without_display(), "DISPLAY": xvfb},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if proc.stdout.startswith("SKIP"):
        pytest.skip(f"no window possible here: {proc.stdout[5:].strip()} (the window path needs opencv-python)")
    shown = [line.split() for line in proc.stdout.splitlines() if line.startswith("WINDOW")]
    assert len(shown) == 3
    for _, visible, w, h in shown:
        assert float(visible) >= 1 and (int(w), int(h)) == (120, 45)     # 160x60 scaled to 120 wide

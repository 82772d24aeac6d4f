"""--out never loses a file graphrun did not write: a user's folder is refused, the input is never
inside what is replaced, a second signal still leaves --out in place marked partial, a mount point
or the current folder is staged inside, unwritable --trace/--stats are refused before the run."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import make_mkv

from graphrun.runtime.frontends.cli import main

TESTS = Path(__file__).resolve().parent
STABILIZE = TESTS.parent / "graphs" / "stabilize.yaml"
SMALL = ["--set", "source.frames=4", "source.width=64", "source.height=48"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_an_out_holding_the_users_files_or_the_input_is_refused_and_nothing_is_deleted(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    video = make_mkv(folder / "precious.mkv", n=6)
    (folder / "notes.txt").write_text("mine")
    as_input = ["--set", "source.kind=video_file", f"source.path={video}"]
    assert main([str(STABILIZE), "-q", *as_input, "--out", str(folder)]) == 2
    assert f"--out {folder}: holds the input {video}" in one_error_line(capsys)
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(folder)]) == 2
    line = one_error_line(capsys)
    assert "not a graphrun output folder and not empty (notes.txt, precious.mkv)" in line
    assert "choose a new or empty folder" in line
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "precious.mkv"]
    assert video.stat().st_size > 0 and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    out = tmp_path / "run"                       # a graphrun output: replaced whole, ...
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out)]) == 0
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    kept = out / "overlay.mp4"                   # ... unless it holds the input ...
    assert main([str(STABILIZE), "-q", "--set", "source.kind=video_file", f"source.path={kept}", "--out",
                 str(out)]) == 2
    assert "holds the input" in one_error_line(capsys) and kept.stat().st_size > 0
    (out / "mine.txt").write_text("mine")        # ... or a file the user put there
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out)]) == 2
    assert "holds files graphrun did not write (mine.txt)" in one_error_line(capsys)
    assert (out / "mine.txt").read_text() == "mine"


SLOW_FINISH = """\
plugins: [runtime_nodes]
nodes:
  src: {kind: test_count, params: {n: 100000}}
  slow: {kind: test_slow, params: {delay: 0.01, marker: STARTED}}
  sink: {kind: test_slow_finish, params: {marker: FINISHING}}
edges: [src.out -> slow.x, slow.out -> sink.x]
"""


@pytest.mark.parametrize("executor", ["fused", "inline"])
def test_a_second_sigint_while_outputs_are_finished_leaves_out_in_place_marked_partial(tmp_path, executor):
    graph = tmp_path / "g.yaml"
    graph.write_text(SLOW_FINISH.replace("STARTED", str(tmp_path / "started"))
                     .replace("FINISHING", str(tmp_path / "finishing")))
    env = dict(os.environ, PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", str(graph), "-q", "--executor", executor,
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)          # drain: the sink then takes an hour to finish
        while not (tmp_path / "finishing").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)          # while the outputs are finished
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 5.0
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert (out / "frames.txt").read_text().splitlines()[:2] == ["0", "1"]
    assert "partial" in (out / "FAILED.txt").read_text()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []    # no staging, no lock


@pytest.fixture
def mount_point(tmp_path):
    """A tmpfs mounted at tmp_path/mnt (root only; skipped elsewhere); ``mount(ro=True)`` read-only."""
    mounted = []

    def mount(ro=False, name="mnt"):
        point = tmp_path / name
        point.mkdir()
        opts = "ro,size=1m" if ro else "size=64m"
        if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)],
                                                           capture_output=True, timeout=10).returncode != 0:
            pytest.skip("cannot mount a tmpfs here (not root)")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=10)


def test_out_at_a_mount_point_is_staged_inside_it_and_a_read_only_one_is_refused_before_the_run(
        tmp_path, mount_point, capsys):
    point = mount_point()
    for _ in range(2):                            # the second run replaces the first's files in place
        assert main([str(STABILIZE), "-q", *SMALL, "--out", str(point)]) == 0
    assert os.path.ismount(point)
    assert {"metrics.json", "report.html", ".graphrun"} <= {p.name for p in point.iterdir()}
    assert not [p for p in point.iterdir() if ".staging-" in p.name or ".old-" in p.name or p.suffix == ".lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnt"]        # nothing on the parent file system
    capsys.readouterr()

    ro = mount_point(ro=True, name="ro")
    t0 = time.monotonic()
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(ro)]) == 2
    assert f"--out {ro}: Read-only file system" in one_error_line(capsys)
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(ro / "sub")]) == 2
    assert "Read-only file system" in one_error_line(capsys)
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(tmp_path / "o"), "--trace", str(ro / "t.json")]) == 2
    assert f"--trace {ro / 't.json'}: Read-only file system" in one_error_line(capsys)
    assert main([str(STABILIZE), "-q", *SMALL, "--out", str(tmp_path / "o"), "--stats", str(ro / "s.json")]) == 2
    assert f"--stats {ro / 's.json'}: Read-only file system" in one_error_line(capsys)
    assert time.monotonic() - t0 < 30 and not (tmp_path / "o").exists()      # refused before running


def test_out_dot_runs_in_place_and_the_current_folder_survives(tmp_path, monkeypatch, capsys):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for _ in range(2):
        assert main([str(STABILIZE), "-q", *SMALL, "--out", "."]) == 0
    assert Path.cwd() == here and here.is_dir()
    assert (here / "metrics.json").is_file() and (here / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]
    assert not [p for p in here.iterdir() if ".staging-" in p.name or ".old-" in p.name]


def test_trace_and_stats_that_cannot_be_written_are_refused_before_the_run(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "o"
    for flag in ("--trace", "--stats", "--profile"):
        assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out), flag, str(tmp_path / "afile" / "t.json")]) == 2
        assert f"{flag} {tmp_path / 'afile' / 't.json'}: {tmp_path / 'afile'} is a file" in one_error_line(capsys)
        assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out), flag, str(tmp_path)]) == 2
        assert f"{flag} {tmp_path}: is a folder" in one_error_line(capsys)
    assert not out.exists()
    stats = out / "stats.json"                    # beside the outputs: listed as graphrun's, so replaced later
    for _ in range(2):
        assert main([str(STABILIZE), "-q", *SMALL, "--out", str(out), "--stats", str(stats)]) == 0
    assert stats.is_file()


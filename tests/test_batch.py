"""graphrun batch: inputs, folders, one failing input, index and summaries, resume, Ctrl-C, a real local Ray."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import graphrun
from graphrun.runtime import cache
from graphrun.runtime.errors import GraphError, UserInputError
from graphrun.runtime.frontends.batch import check_uses_input
from graphrun.runtime.frontends.batch.inputs import BatchInput, discover
from graphrun.runtime.frontends.batch.plan import assign_folders
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.run import prepare, read_spec
from graphrun.runtime.spec import from_dict, to_dict

av = pytest.importorskip("av")

TINY = """
name: tiny
vars: {input: none.mp4}
nodes:
  src: {kind: video_file, params: {path: "${input}"}}
  seg: bg_subtract
  stab: stabilizer
  metrics: metrics
edges:
  - src.frame -> seg.frame
  - {from: src.frame, to: stab.frame, queue: true}
  - seg.prob -> stab.current
  - seg.score -> stab.score
  - src.frame -> metrics.frame
  - seg.prob -> metrics.raw
  - stab.mask -> metrics.stabilized
headline: {rank: metrics.stabilized.warp_iou, baseline: metrics.raw.warp_iou}
"""


def make_video(path: Path, seed: int, frames: int = 30) -> Path:
    """A small H.264 clip of the synthetic scene (moving objects on a static background)."""
    from graphrun.nodes.synthetic import render_scene
    images, _ = render_scene(seed=seed, frames=frames, width=160, height=120)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=15)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for img in images:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three small videos and one broken file in one folder."""
    d = tmp_path_factory.mktemp("videos")
    for seed in range(3):
        make_video(d / f"clip{seed}.mp4", seed)
    (d / "broken.mp4").write_bytes(b"this is not a video" * 50)
    return d


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def local_batch(videos, tiny, tmp_path_factory):
    return graphrun.batch(tiny, [videos], out=tmp_path_factory.mktemp("local") / "out", executor="local", jobs=2)


@pytest.fixture(scope="module")
def local_ray():
    """A real Ray on this machine, 2 CPUs, shut down after the module's tests."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_batch(local_ray, videos, tiny, tmp_path_factory):
    return graphrun.batch(tiny, [videos], out=tmp_path_factory.mktemp("ray") / "out", executor="ray")


def by_name(result):
    return {r["name"]: r for r in result.rows}


# -- inputs and folders ------------------------------------------------------------------------

def test_folders_globs_and_list_files_name_each_input_once_in_sorted_order(tmp_path):
    for name in ("b.mp4", "a.mkv", "notes.md"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mp4").write_bytes(b"")
    (tmp_path / "list.txt").write_text("# my clips\nsub/c.mp4\n\nb.mp4\nkite-surf\n")
    items = discover([str(tmp_path), str(tmp_path / "**" / "c.mp4"), str(tmp_path / "list.txt")])
    values = [i.value for i in items]
    assert values == sorted(values) and len(values) == len(set(values))
    assert {Path(v).name for v in values} == {"a.mkv", "b.mp4", "c.mp4", "kite-surf"}
    assert str(tmp_path / "sub" / "c.mp4") in values          # list entries are relative to the list
    assert "kite-surf" in values                              # not a file: a value as given


def test_a_csv_list_carries_per_input_set_values(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "list.csv").write_text("input,set,seg.class_name,note\n"
                                       "a.mp4,\"stab.fuse.beta_fill=0.9 vars.start=3\",car,first\n"
                                       "a.mp4,,,same file without sets\n")
    with_sets, plain = sorted(discover([str(tmp_path / "list.csv")]), key=lambda i: len(i.sets), reverse=True)
    assert with_sets.sets == ("stab.fuse.beta_fill=0.9", "vars.start=3", "seg.class_name=car")
    assert plain.sets == () and plain.value == with_sets.value == str(tmp_path / "a.mp4")


def test_a_folder_without_videos_a_glob_matching_nothing_and_a_bad_csv_are_errors_naming_them(tmp_path):
    with pytest.raises(UserInputError, match=f"folder {tmp_path} has no videos"):
        discover([str(tmp_path)])
    with pytest.raises(UserInputError, match="glob '.*nothing-\\*.mp4' matches nothing"):
        discover([str(tmp_path / "nothing-*.mp4")])
    (tmp_path / "list.csv").write_text("file,x\na.mp4,1\n")
    with pytest.raises(UserInputError, match="list.csv: the first row must name the columns"):
        discover([str(tmp_path / "list.csv")])


def test_folders_and_globs_leave_out_every_graphrun_output_folder_but_a_named_file_is_taken(tmp_path, tiny):
    clips = tmp_path / "in"
    (clips / "day1").mkdir(parents=True)
    make_video(clips / "day1" / "a.mp4", 0, frames=6)
    stabilize = Path(graphrun.__file__).resolve().parent / "graphs" / "stabilize.yaml"
    assert main([str(stabilize), "-q", "--set", "source.frames=4", "source.width=64", "source.height=48",
                 "--out", str(clips / "old_run")]) == 0                       # an earlier run's overlay.mp4
    graphrun.batch(tiny, [clips / "day1"], out=clips / "old_batch", jobs=1)   # an earlier batch's folders
    (clips / "old_batch" / "a" / "copy.mp4").write_bytes((clips / "day1" / "a.mp4").read_bytes())
    assert (clips / "old_run" / "overlay.mp4").is_file()
    assert [i.value for i in discover([str(clips / "**" / "*.mp4")])] == [str(clips / "day1" / "a.mp4")]
    with pytest.raises(UserInputError, match="matches only files inside graphrun output folders"):
        discover([str(clips / "old_run")])
    with pytest.raises(UserInputError, match="glob '.*' matches only files inside graphrun output folders"):
        discover([str(clips / "old_batch" / "*" / "*.mp4")])
    named = clips / "old_run" / "overlay.mp4"
    assert [i.value for i in discover([str(named)])] == [str(named)]


def test_output_folders_are_unique_and_keep_their_names_when_the_batch_grows():
    items = sorted([BatchInput("/a/clip.mp4"), BatchInput("/b/clip.mp4"), BatchInput("/c/Clip.mov")],
                   key=lambda i: i.key)
    first = assign_folders(items)
    assert [first[i.key] for i in items] == ["clip", "clip-2", "Clip-3"]
    grown = sorted(items + [BatchInput("/0/clip.mp4")], key=lambda i: i.key)
    second = assign_folders(grown, known=first)
    assert {k: second[k] for k in first} == first and second["/0/clip.mp4"] == "clip-4"


def test_shipped_graphs_read_their_input_variable_and_others_are_refused_before_anything_runs():
    check_uses_input(prepare(read_spec("stabilize_maskrcnn")), "input")
    check_uses_input(prepare(read_spec("stabilize")), "input")           # its when: binds the video source
    check_uses_input(prepare(read_spec("davis")), "seq")
    with pytest.raises(GraphError, match=r"graph 'davis' does not use \$\{input\}"):
        check_uses_input(prepare(read_spec("davis")), "input")


# -- a batch, locally and on Ray ---------------------------------------------------------------

def test_one_broken_file_fails_alone_with_a_one_line_error_and_the_others_complete(local_batch):
    rows = by_name(local_batch)
    assert sorted(rows) == ["broken", "clip0", "clip1", "clip2"]
    assert [rows[n]["status"] for n in ("clip0", "clip1", "clip2")] == ["ok"] * 3
    assert rows["broken"]["status"] == "failed" and "broken.mp4" in rows["broken"]["error"]
    assert "\n" not in rows["broken"]["error"] and local_batch.exit_code == 1
    out = local_batch.out
    for n in ("clip0", "clip1", "clip2"):
        assert json.loads((out / n / "DONE.json").read_text())["frames"] == 30
        assert (out / n / "metrics.json").is_file()
    assert not (out / "broken" / "DONE.json").exists()
    assert "broken.mp4" in (out / "broken" / "FAILED.txt").read_text()


def test_the_index_and_the_summaries_have_a_row_per_input_with_the_published_metrics(local_batch):
    out = local_batch.out
    page = (out / "index.html").read_text()
    assert all(f'href="{n}/"' in page for n in ("broken", "clip0", "clip1", "clip2"))
    assert "data:image/png;base64," in page and "<script>" in page and "stabilized.<br>warp_iou" in page
    assert "gain.<br>warp_iou" in page                          # the declared headline: figure, baseline, gain
    lines = (out / "summary.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].split(",").index("metrics.stabilized.warp_iou") < \
        lines[0].split(",").index("metrics.raw.warp_iou")     # the headline's figures lead the columns
    summary = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in summary["rows"]] == ["broken", "clip0", "clip1", "clip2"]
    assert all("metrics.stabilized.warp_iou" in r["metrics"] for r in summary["rows"] if r["status"] == "ok")
    assert all(r["headline"]["rank"] == "metrics.stabilized.warp_iou" for r in summary["rows"] if r["status"] == "ok")
    inputs = json.loads((out / "batch.json").read_text())["inputs"]
    assert {Path(e["input"]).stem: e["folder"] for e in inputs} == {n: n for n in ("broken", "clip0", "clip1", "clip2")}


def test_ray_gives_the_same_per_video_metrics_as_the_local_pool(local_batch, ray_batch):
    local, ray = by_name(local_batch), by_name(ray_batch)
    assert {n: r["status"] for n, r in ray.items()} == {n: r["status"] for n, r in local.items()}
    assert ray["broken"]["error"] == local["broken"]["error"]
    for name in ("clip0", "clip1", "clip2"):
        assert ray[name]["frames"] == local[name]["frames"] == 30
        assert ray[name]["metrics"] == pytest.approx(local[name]["metrics"], abs=1e-6)
        assert ray[name]["worker"] != local[name]["worker"]


def test_resume_on_the_command_line_skips_the_done_inputs_and_runs_the_failed_one_again(ray_batch, tiny, videos,
                                                                                         capsys):
    out = ray_batch.out
    done = {n: (out / n / "DONE.json").stat().st_mtime_ns for n in ("clip0", "clip1", "clip2")}
    failed_before = (out / "broken" / "FAILED.txt").stat().st_mtime_ns
    time.sleep(0.01)
    code = main(["batch", str(tiny), str(videos), "--out", str(out), "--executor", "ray", "--resume", "-q"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "3 ok (3 from an earlier run), 1 failed" in printed and "failed: broken" in printed
    assert {n: (out / n / "DONE.json").stat().st_mtime_ns for n in done} == done
    assert (out / "broken" / "FAILED.txt").stat().st_mtime_ns > failed_before
    assert json.loads((out / "summary.json").read_text())["rows"][1]["resumed"] is True


def test_a_graph_built_in_python_runs_each_csv_row_with_its_own_set_values(tmp_path, videos):
    g = graphrun.Graph("built", vars={"input": "none.mp4"})
    src = g.add("video_file", name="src", path="${input}")
    seg = g.add("bg_subtract", name="seg")
    m = g.add("metrics", name="m")
    g.connect(src.frame, seg.frame)
    g.connect(src.frame, m.frame)
    g.connect(seg.prob, m.raw)
    g.connect(seg.prob, m.stabilized)
    (tmp_path / "list.csv").write_text(f"input,src.max_frames\n{videos / 'clip0.mp4'},\n{videos / 'clip0.mp4'},12\n")
    result = graphrun.batch(g, tmp_path / "list.csv", out=tmp_path / "out", jobs=2)
    assert result.exit_code == 0
    assert sorted((r["name"], r["frames"], r["sets"]) for r in result.rows) == [
        ("clip0", 30, []), ("clip0-2", 12, ["src.max_frames=12"])]


def test_a_graph_that_does_not_read_the_input_is_a_one_line_error_and_exit_code_2(tmp_path, videos, capsys):
    graph = tmp_path / "fixed.yaml"
    graph.write_text(TINY.replace('"${input}"', str(videos / "clip0.mp4")))
    code = main(["batch", str(graph), str(videos), "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("graphrun: error: graph 'tiny' does not use ${input}")
    assert not (tmp_path / "out").exists()


CRASH_PLUGIN = '''
import os
from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.types import FRAME

@register("test_crash_on")
class CrashOn(Node):
    """Kills its process at the first frame of a video whose path holds "crash"."""
    frame = Input(FRAME)
    class Params(NodeParams):
        path: str = ""
    def process(self, ctx, frame):
        if "crash" in self.params.path:
            os._exit(3)
'''


def test_a_worker_process_that_dies_fails_its_input_and_the_batch_goes_on(tmp_path, videos):
    (tmp_path / "crash_node.py").write_text(CRASH_PLUGIN)
    graph = tmp_path / "crashy.yaml"
    graph.write_text(TINY.replace("nodes:\n", "plugins: [./crash_node.py]\nnodes:\n  crash: {kind: test_crash_on, "
                                  "params: {path: \"${input}\"}}\n")
                     .replace("edges:\n", "edges:\n  - src.frame -> crash.frame\n"))
    os.symlink(videos / "clip1.mp4", tmp_path / "crash.mp4")
    result = graphrun.batch(graph, [videos / "clip0.mp4", tmp_path / "crash.mp4"], out=tmp_path / "out", jobs=1)
    rows = by_name(result)
    assert rows["clip0"]["status"] == "ok"
    assert rows["crash"]["status"] == "failed" and "worker process died" in rows["crash"]["error"]


@pytest.mark.slow
def test_ctrl_c_lets_the_running_input_finish_lists_the_rest_as_not_run_and_exits_130(tmp_path, videos, tiny):
    for i in range(6):
        os.symlink(videos / f"clip{i % 3}.mp4", tmp_path / f"v{i}.mp4")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", "batch", str(tiny), str(tmp_path), "--out", str(out),
                             "--jobs", "1", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(out.glob("*/DONE.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopping: no new inputs" in stderr
    rows = json.loads((out / "summary.json").read_text())["rows"]
    statuses = [r["status"] for r in rows]
    assert set(statuses) <= {"ok", "pending"} and "pending" in statuses and statuses.count("ok") >= 1
    assert len(list(out.glob("*/DONE.json"))) == statuses.count("ok")


def _descendants(pid: int) -> set:
    """Every process below ``pid`` (read from /proc)."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_the_fork_server_and_the_workers_die_with_a_driver_killed_with_sigkill(tmp_path, videos, tiny):
    for i in range(4):
        os.symlink(videos / f"clip{i % 3}.mp4", tmp_path / f"v{i}.mp4")
    proc = subprocess.Popen([sys.executable, "-m", "graphrun", "batch", str(tiny), str(tmp_path), "--out",
                             str(tmp_path / "out"), "--jobs", "2", "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        helpers: set = set()
        while len(helpers) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)          # the resource tracker, the fork server and its two workers
            helpers = _descendants(proc.pid)
        assert len(helpers) >= 4, helpers
        proc.kill()
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while any(_alive(p) for p in helpers) and time.monotonic() - t0 < 5:
            time.sleep(0.1)
        left = [p for p in helpers if _alive(p)]
    finally:
        for p in _descendants(proc.pid) | helpers:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    assert not left, f"still running 5 s after the driver was killed: {left}"


def _graphrun_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if line.startswith("graphrun")]


def test_a_ray_address_that_refuses_or_never_answers_is_one_line_and_sigterm_is_heard(tmp_path, videos, tiny):
    pytest.importorskip("ray")
    import socket
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()                     # accepts TCP, never speaks Ray's protocol
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    cmd = [sys.executable, "-m", "graphrun", "batch", str(tiny), str(videos / "clip0.mp4"),
           "--out", str(tmp_path / "o"), "--executor", "ray", "-q", "--address"]
    try:
        t0 = time.monotonic()
        done = subprocess.run([*cmd, f"127.0.0.1:{refused}"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and time.monotonic() - t0 < 30
        assert _graphrun_lines(done.stderr) == [
            f"graphrun: error: cannot reach the Ray cluster at 127.0.0.1:{refused}: Connection refused"]
        env = dict(os.environ, GRAPHRUN_RAY_CONNECT_TIMEOUT="3")
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        done = subprocess.run([*cmd, address], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2 and time.monotonic() - t0 < 30
        assert _graphrun_lines(done.stderr) == [
            f"graphrun: error: cannot reach the Ray cluster at {address}: no answer within 3 s "
            f"(GRAPHRUN_RAY_CONNECT_TIMEOUT to wait longer)"]
        env["GRAPHRUN_RAY_CONNECT_TIMEOUT"] = "600"
        proc = subprocess.Popen([*cmd, address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline, connected = time.monotonic() + 60, 0
            silent.settimeout(0.5)
            while connected < 2 and proc.poll() is None and time.monotonic() < deadline:
                try:                             # graphrun's probe, then Ray: it is waiting now
                    silent.accept()
                    connected += 1
                except socket.timeout:
                    pass
            time.sleep(1.0)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert time.monotonic() - t0 < 5 and proc.returncode == 130, err
        assert _graphrun_lines(err) == ["graphrun: interrupted"]
    finally:
        silent.close()


# -- the pieces it needs in the engine ---------------------------------------------------------

def test_resources_are_a_graph_key_checked_set_by_override_and_written_back():
    spec = from_dict({"name": "g", "resources": {"cpus": 2, "gpus": 0.5}, "nodes": {"a": "test"}, "edges": []})
    assert spec.resources == {"cpus": 2, "gpus": 0.5} and to_dict(spec)["resources"] == {"cpus": 2, "gpus": 0.5}
    g = graphrun.load("stabilize", set=["resources.cpus=3"])
    assert g.spec.resources == {"cpus": 3}
    with pytest.raises(GraphError, match="resources.cpus must be a number > 0"):
        graphrun.load("stabilize", set=["resources.cpus=0"])
    with pytest.raises(GraphError, match="unknown resources key 'gpu'.*did you mean 'gpus'"):
        from_dict({"name": "g", "resources": {"gpu": 1}, "nodes": {"a": "test"}, "edges": []})


def test_the_process_cache_gives_one_object_per_key_builds_it_once_and_stays_bounded(monkeypatch):
    import threading
    cache.clear()
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.05)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.shared(("model", 1), build))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got)
    monkeypatch.setenv("GRAPHRUN_CACHE_SIZE", "2")
    for k in range(3):
        cache.shared(("other", k), object)
    assert cache.cached_keys() == [("other", 1), ("other", 2)]
    with pytest.raises(ZeroDivisionError):
        cache.shared("bad", lambda: 1 / 0)
    assert "bad" not in cache.cached_keys()
    cache.clear()


# -- stabilize FOLDER, warnings, what the ranking trusts ---------------------------------------

def test_batch_stabilize_on_a_folder_runs_each_video_and_its_rows_carry_the_runs_own_warnings(videos, tmp_path, capsys):
    code = main(["batch", "stabilize", str(videos / "clip0.mp4"), str(videos / "clip1.mp4"), "--out",
                 str(tmp_path / "b"), "--set", "out.overlay.enabled=false", "--jobs", "2", "-q"])
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert code == 0 and [r["status"] for r in summary["rows"]] == ["ok", "ok"]
    for r in summary["rows"]:
        run = json.loads((tmp_path / "b" / r["name"] / "metrics.json").read_text())["run"]
        assert r["frames"] == 30 and r["alerts"] == run["alerts"]           # the video, not the synthetic scene
        assert r["warnings"][:len(run["warnings"])] == [a["message"] for a in run["alerts"]]
        assert "metrics.stabilized.empty_share" in r["metrics"] and "metrics.stabilized.fidelity" in r["metrics"]
        assert all(w in printed for w in r["warnings"][:4])
    header = (tmp_path / "b" / "summary.csv").read_text().splitlines()[0].split(",")
    assert {"flagged", "alerts", "warnings"} <= set(header)


OWN = {"rank": "q.after", "baseline": "q.before", "beside": ["q.fidelity"]}


def row(name, after, fidelity, alerts=(), status="ok"):
    return {"name": name, "input": f"{name}.mp4", "status": status, "error": "", "frames": 10, "fps": 1.0,
            "seconds": 1.0, "report": "", "headline": OWN, "alerts": list(alerts),
            "warnings": [a["message"] for a in alerts],
            "metrics": {"q.after": after, "q.before": 0.5, "q.fidelity": fidelity}}


LEFT_BEHIND = {"code": "empty_stabilized", "node": "out.metrics", "value": 0.62, "limit": 0.25, "limits_trust": True,
               "message": "out.metrics: the stabilized mask is empty on 31 of the 50 frames where the raw mask is not"}
HARMLESS = {"code": "no_timestamps", "node": "src", "value": None, "limit": None, "limits_trust": False,
            "message": "src: the frames carry no timestamps"}


def test_a_flagged_input_is_ranked_last_and_marked_however_large_its_gain_with_the_figures_beside_it():
    from graphrun.runtime.frontends.batch import BatchResult, index
    rows = [row("tiny_raw", 0.85, 0.42, [LEFT_BEHIND]), row("calm", 0.6, 0.95, [HARMLESS]), row("steady", 0.7, 0.9),
            row("gone", 0.0, 0.0, status="failed")]
    assert [r["name"] for r in index.ranked(rows)] == ["gone", "calm", "steady", "tiny_raw"]
    page = index.to_html(rows, {"graph": "own"})
    head = page[page.index("<thead>"):page.index("</thead>")]
    assert head.index("gain.<br>after") < head.index("q.<br>fidelity") < head.index("warnings / error")
    start = page.index('<tr class="flagged">')
    flagged_row = page[start:page.index("</tr>", start)]
    assert "tiny_raw" in flagged_row and "flagged" in flagged_row and "empty_stabilized 0.62" in flagged_row
    assert page.count('<tr class="flagged">') == 1 and LEFT_BEHIND["message"] in page
    assert "calm" not in flagged_row and HARMLESS["message"] in page      # shown, but it does not flag
    csv_rows = index.to_csv(rows).splitlines()
    header = csv_rows[0].split(",")
    tiny = next(line for line in csv_rows if line.startswith("tiny_raw"))
    assert header.index("flagged") < header.index("alerts") < header.index("warnings")
    assert ",1,empty_stabilized," in tiny and LEFT_BEHIND["message"] in tiny
    text = BatchResult(Path("/tmp/x"), rows, seconds=1.0).summary()
    assert "1 flagged" in text and "flagged: tiny_raw:" in text and LEFT_BEHIND["message"] in text
    assert "warnings: calm:" in text


def test_the_page_fits_a_1280_px_window(tmp_path):
    """A long name and a long error wrap instead of pushing the last column off-screen (headless Chromium)."""
    import shutil
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium to lay the page out")
    from graphrun.runtime.frontends.batch import index
    rows = [row(f"camera_{i:02d}_2024-06-01_a_rather_long_clip_name", 0.6 + i / 100, 0.9) for i in range(3)]
    rows.append({**row("broken_" + "x" * 60, 0.0, 0.0, status="failed"),
                 "error": "node 'source' (video_file) failed at setup: " + "/a/long/path" * 12 + ".mp4: invalid"})
    rows.append(row("left_behind", 0.95, 0.3, [LEFT_BEHIND]))
    page = index.to_html(rows, {"graph": "own"}).replace(
        "</script>", "</script><script>document.title = String(document.documentElement.scrollWidth);</script>")
    (tmp_path / "index.html").write_text(page)
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                          "--dump-dom", (tmp_path / "index.html").as_uri()], capture_output=True, text=True, timeout=60)
    width = int(out.stdout.split("<title>")[1].split("</title>")[0])
    assert width <= 1280


def test_a_stop_that_comes_as_the_last_running_input_ends_is_still_announced(capsys):
    """The driver's race: Ctrl-C lands while ``poll`` hands back the only running input; the loop
    then ends at once, and the user must still read that the batch stopped (no silent exit)."""
    from graphrun.runtime.frontends.batch.driver import Progress, drive

    class OneSlot:                      # the executor interface drive() uses, run synchronously
        slots = 1

        def __init__(self):
            self.jobs = []

        def submit(self, job):
            self.jobs.append(job)

        def running(self):
            return list(self.jobs)

        def poll(self, timeout):
            os.kill(os.getpid(), signal.SIGINT)      # Ctrl-C while the input finishes
            time.sleep(0.05)
            done, self.jobs = self.jobs, []
            return [(job, {"status": "ok", "frames": 1}) for job in done]

        def interrupt(self):
            pass

        def close(self, force=False):
            pass

    rows, stopped = drive(OneSlot(), ["a", "b", "c"], Progress(3, 0, enabled=False))
    assert stopped and len(rows) == 1
    assert "stopping: no new inputs" in capsys.readouterr().err

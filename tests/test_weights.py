"""Model weights the torchvision way: downloaded once into the torch cache, with a progress bar.

Downloads come from an HTTP server on 127.0.0.1 started by the test: no test leaves the machine
(the ones that name torchvision's own weights set GRAPHRUN_OFFLINE)."""
import http.server
import socket
import threading

import pytest
import torch

from graphrun.nodes.models.weights import OFFLINE_ENV, checkpoints_dir
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.frontends.cli import main
from graphrun.runtime.testing import Harness

CHECKPOINT = "tiny_mobilenet_v3_small_3cls.pth"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache for this test; downloads allowed (from 127.0.0.1 only)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    return tmp_path / "torch"


@pytest.fixture(scope="module")
def reference():
    import torchvision.models as M
    torch.manual_seed(3)
    return M.mobilenet_v3_small(num_classes=3).eval()


@pytest.fixture
def server(tmp_path, reference):
    """A local HTTP server with one small checkpoint; ``server.gets`` counts the requests."""
    root = tmp_path / "served"
    root.mkdir()
    torch.save(reference.state_dict(), root / CHECKPOINT)
    gets = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self):
            gets.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.gets = gets
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mobilenet(weights):
    return Harness("torchvision_model", model="mobilenet_v3_small", num_classes=3, weights=weights).setup()


def test_weights_from_a_url_are_downloaded_once_into_the_torch_cache_with_a_progress_bar(
        torch_home, server, reference, capfd):
    url = server.url + CHECKPOINT
    first = mobilenet(url)
    err = capfd.readouterr().err
    cached = torch_home / "hub" / "checkpoints" / CHECKPOINT
    assert cached.is_file() and checkpoints_dir() == cached.parent
    assert server.gets == ["/" + CHECKPOINT]
    assert "100%" in err                                     # torch hub's progress bar
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(first.push(x=x)["logits"], reference(x)[0], atol=1e-5)
    mobilenet(url)                                           # second run: read from the cache
    assert server.gets == ["/" + CHECKPOINT]


def test_a_download_that_fails_is_one_line_naming_the_cache_file_and_the_fetch_command(torch_home, server):
    for url in (server.url + "missing.pth", f"http://127.0.0.1:{closed_port()}/gone.pth"):
        with pytest.raises(UserInputError) as err:
            mobilenet(url)
        msg = str(err.value)
        name = url.rsplit("/", 1)[1]
        assert "\n" not in msg and msg.startswith("torchvision_model: ")
        assert str(torch_home / "hub" / "checkpoints" / name) in msg
        assert "graphrun weights fetch torchvision_model" in msg and url in msg
    assert list((torch_home / "hub" / "checkpoints").iterdir()) == []    # no partial file kept


def test_a_local_weights_file_is_read_directly(tmp_path, reference):
    path = tmp_path / "mine.pth"
    torch.save({"model": reference.state_dict(), "epoch": 3}, path)        # a training checkpoint
    h = mobilenet(str(path))
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(h.push(x=x)["logits"], reference(x)[0], atol=1e-5)


def test_offline_and_not_cached_maskrcnn_says_where_the_file_goes_and_how_to_fetch_it(torch_home, monkeypatch):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(UserInputError) as err:
        Harness("maskrcnn", weights="DEFAULT", min_size=64, max_size=96).setup()
    msg = str(err.value)
    cache = torch_home / "hub" / "checkpoints" / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    assert "\n" not in msg and msg.startswith("maskrcnn: ")
    assert str(cache) in msg and "graphrun weights fetch maskrcnn" in msg
    assert not cache.exists()


def test_graphrun_weights_fetch_downloads_and_list_shows_the_cached_file(torch_home, server, capsys):
    url = server.url + CHECKPOINT
    args = ["weights", "fetch", "torchvision_model", "--set", "model=mobilenet_v3_small", "num_classes=3",
            "--weights", url]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert str(torch_home / "hub" / "checkpoints" / CHECKPOINT) in out
    assert main(args) == 0 and len(server.gets) == 1                 # already cached
    assert main(["weights", "list"]) == 0
    assert CHECKPOINT in capsys.readouterr().out


def test_graphrun_weights_fetch_offline_exits_2_with_one_line(torch_home, monkeypatch, capsys):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    assert main(["weights", "fetch", "maskrcnn"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "maskrcnn_resnet50_fpn_coco" in err
    assert main(["weights", "fetch", "bg_subtract"]) == 2
    assert "no weights to fetch" in capsys.readouterr().err


# -- downloads that stall, garbage, wrong files --------------------------------------------------

@pytest.fixture
def bad_server(tmp_path):
    """/stall.pth: headers and 10 bytes, then nothing; /garbage.pth: bytes that are no torch file;
    ``bad_server.asked`` is set once a request came."""
    import time as _time
    asked, release = threading.Event(), threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.set()
            body = b"this is an HTML error page, not weights\n" * 100
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) if self.path == "/garbage.pth" else 10**6))
            self.end_headers()
            if self.path == "/garbage.pth":
                self.wfile.write(body)
                return
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            release.wait(60)
            _time.sleep(0.1)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.asked = asked
    yield httpd
    release.set()
    httpd.shutdown()
    httpd.server_close()


def cache_files(torch_home):
    d = torch_home / "hub" / "checkpoints"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_a_stalled_download_times_out_in_one_line_and_leaves_no_partial_file(torch_home, bad_server, monkeypatch):
    import time

    from graphrun.nodes.models import weights
    monkeypatch.setattr(weights, "DOWNLOAD_STALL_S", 1.0)
    t0 = time.monotonic()
    with pytest.raises(UserInputError) as err:
        mobilenet(bad_server.url + "stall.pth")
    assert time.monotonic() - t0 < 10
    msg = str(err.value)
    assert "\n" not in msg and "the download from" in msg and "timed out" in msg
    assert cache_files(torch_home) == []


def test_a_downloaded_file_that_is_not_weights_is_refused_before_it_enters_the_cache(torch_home, bad_server, capsys):
    url = bad_server.url + "garbage.pth"
    with pytest.raises(UserInputError, match=f"the file downloaded from {url} is not a PyTorch weights file"):
        mobilenet(url)
    assert cache_files(torch_home) == []
    assert main(["weights", "list"]) == 0 and "0 file(s)" in capsys.readouterr().out


def test_a_local_file_that_is_not_weights_is_one_line_naming_it_and_never_advises_weights_only_false(tmp_path):
    from pathlib import PurePosixPath
    garbage, objects = tmp_path / "notes.pth", tmp_path / "pickled.pth"
    garbage.write_text("not a checkpoint")
    torch.save({"net": PurePosixPath("a")}, objects)     # a pickled object, not a tensor
    for path, says in ((garbage, "is not a PyTorch weights file"), (objects, "holds Python objects besides tensors")):
        with pytest.raises(UserInputError) as err:
            mobilenet(str(path))
        msg = str(err.value)
        assert "\n" not in msg and str(path) in msg and says in msg and "weights_only" not in msg


def test_weights_fetch_checks_a_state_dict_against_the_model(tmp_path, torch_home, capsys):
    import torchvision.models as M
    wrong = tmp_path / "five_classes.pth"
    torch.save(M.mobilenet_v3_small(num_classes=5).state_dict(), wrong)
    args = ["weights", "fetch", "torchvision_model", "--set", "model=mobilenet_v3_small", "num_classes=3"]
    assert main([*args, "--weights", str(wrong)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "are not a mobilenet_v3_small state_dict" in err[0] and "num_classes" in err[0]
    right = tmp_path / "three_classes.pth"
    torch.save(M.mobilenet_v3_small(num_classes=3).state_dict(), right)
    assert main([*args, "--weights", str(right)]) == 0


def test_offline_weights_fetch_says_what_to_do_on_a_machine_without_network(torch_home, monkeypatch, capsys):
    monkeypatch.setenv(OFFLINE_ENV, "1")
    assert main(["weights", "fetch", "maskrcnn"]) == 2
    err = capsys.readouterr().err.strip()
    cache = torch_home / "hub" / "checkpoints"
    assert "\n" not in err and f"copy maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth into {cache}" in err
    assert "weights=/path/to/file.pth" in err and "on a machine with network access" in err


def _graphrun(args, torch_home, **kw):
    import os
    import subprocess
    import sys
    env = dict(os.environ, TORCH_HOME=str(torch_home))
    env.pop(OFFLINE_ENV, None)
    return subprocess.Popen([sys.executable, "-m", "graphrun", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_during_weights_fetch_ends_it_at_once_and_removes_the_partial_file(torch_home, bad_server, sig):
    import signal
    import time
    proc = _graphrun(["weights", "fetch", "torchvision_model", "--set", "model=mobilenet_v3_small", "num_classes=3",
                      "--weights", bad_server.url + "stall.pth"], torch_home)
    try:
        assert bad_server.asked.wait(60)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 5 and proc.returncode == 130, err
    lines = [line.split("graphrun: ", 1)[1] for line in err.splitlines() if "graphrun: " in line]  # after the bar
    assert lines == ["interrupted"], err
    assert cache_files(torch_home) == []


def test_sigterm_while_a_graph_downloads_its_weights_ends_the_run_and_cleans_up(tmp_path, torch_home, bad_server):
    import signal
    import time
    out = tmp_path / "o"
    proc = _graphrun(["launch", f"synthetic_scene frames=3 width=64 height=48 ! maskrcnn "
                      f"weights={bad_server.url}stall.pth ! null_sink", "-q", "--out", str(out)], torch_home)
    try:
        assert bad_server.asked.wait(90)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert time.monotonic() - t0 < 5 and proc.returncode != 0, err
    lines = [line.split("graphrun: ", 1)[1] for line in err.splitlines() if "graphrun: " in line]
    lines = [line for line in lines if "SIGTERM" not in line]
    assert len(lines) == 1 and "download" in lines[0] and "stopped" in lines[0], err
    assert cache_files(torch_home) == []
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]      # no lock, no staging
    assert "Traceback" not in err

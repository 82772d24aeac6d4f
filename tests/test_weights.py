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

"""Start a Rerun viewer for a run, on this machine only: the native viewer where a display exists,
else Rerun's web viewer served on 127.0.0.1. Usage analytics are off in every Rerun process
graphrun starts (rerun 0.22 reads them from ``$XDG_CONFIG_HOME/rerun/analytics.json``: graphrun
gives its viewers a config folder of its own that says ``analytics_enabled: false``)."""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from graphrun.runtime.errors import UserInputError

HOST = "127.0.0.1"
START_WAIT = 15.0           # seconds a viewer gets to open its port
VIEW_MODES = ("auto", "native", "web")
_web: Optional["Viewer"] = None


@dataclass
class Viewer:
    """A running viewer process: SDKs connect to ``tcp`` (host:port); ``url`` is the web viewer's page."""

    process: subprocess.Popen
    tcp: str
    url: Optional[str] = None

    @property
    def kind(self) -> str:
        return "web" if self.url else "native"

    def wait(self, say=None) -> None:
        """Keep a web viewer serving until Ctrl-C or SIGTERM (or until it exits), then stop it."""
        if self.url is None or self.process.poll() is not None:
            return
        (say or _stderr)(f"graphrun: the web viewer keeps serving at {self.url} (Ctrl-C to stop it)")
        stop = threading.Event()
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in old:
            signal.signal(s, lambda *_: stop.set())
        try:
            while not stop.wait(0.5) and self.process.poll() is None:
                pass
        finally:
            for s, h in old.items():
                signal.signal(s, h)
            self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def analytics_off_env() -> dict:
    """The environment for a Rerun process with usage analytics off (a config folder of graphrun's)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "graphrun" / "rerun-config"
    config = cache / "rerun" / "analytics.json"
    try:
        current = json.loads(config.read_text())
    except (OSError, ValueError):
        current = {}
    if current.get("analytics_enabled") is not False or "config_file_path" not in current:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"analytics_enabled": False, "analytics_id": str(uuid.uuid4()), "metadata": {},
                                      "config_file_path": str(config),
                                      "data_dir_path": str(cache / "analytics-data")}))
    return {**os.environ, "XDG_CONFIG_HOME": str(cache)}


def rerun_executable() -> str:
    """The ``rerun`` binary that the installed rerun-sdk ships."""
    import importlib.util
    spec = importlib.util.find_spec("rerun_cli")
    if spec is not None and spec.submodule_search_locations:
        exe = Path(list(spec.submodule_search_locations)[0]) / "rerun"
        if exe.is_file():
            return str(exe)
    raise UserInputError("--view: the rerun viewer binary is missing from rerun-sdk (reinstall "
                         "graphrun's `view` extra: pip install 'graphrun[view]')")


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def start(mode: str = "auto", say=None) -> Viewer:
    """A native viewer (``native``, or ``auto`` with a display) or a web viewer on 127.0.0.1."""
    if mode not in VIEW_MODES:
        raise UserInputError(f"--view {mode!r}: give one of {', '.join(VIEW_MODES)}")
    say = say or _stderr
    if mode == "native" or (mode == "auto" and has_display()):
        try:
            return _start(["--expect-data-soon"], None)
        except UserInputError as exc:
            if mode == "native":
                raise
            say(f"graphrun: warning: {exc}; serving the web viewer instead")
    global _web
    if _web is not None and _web.process.poll() is None:
        return _web                      # one web viewer per process: every run goes to the same page
    web, ws = free_port(), free_port()
    url = f"http://{HOST}:{web}/?url=ws://{HOST}:{ws}"
    _web = _start(["--serve-web", "--web-viewer-port", str(web), "--ws-server-port", str(ws)], url)
    say(f"graphrun: web viewer: {url}")
    return _web


def web_viewer() -> Optional[Viewer]:
    """The web viewer this process serves (None if none runs)."""
    return _web if _web is not None and _web.process.poll() is None else None


def _start(args: list, url: Optional[str]) -> Viewer:
    port = free_port()
    cmd = [rerun_executable(), "--bind", HOST, "--port", str(port), *args]
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=analytics_off_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=errors)
    deadline = time.monotonic() + START_WAIT
    while not _listening(port):
        if proc.poll() is not None:
            errors.seek(0)
            err = errors.read().decode(errors="replace").strip().splitlines()
            raise UserInputError(f"the rerun viewer did not start: {err[-1] if err else f'exit {proc.returncode}'}")
        if time.monotonic() > deadline:
            proc.kill()
            raise UserInputError(f"the rerun viewer did not open port {port} in {START_WAIT:.0f} s")
        time.sleep(0.05)
    errors.close()
    viewer = Viewer(proc, f"{HOST}:{port}", url)
    if url is not None:
        atexit.register(viewer.stop)       # a web viewer lives as long as this process
    return viewer


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)

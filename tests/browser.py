"""Headless Chromium over the DevTools protocol (tornado's websocket client): open a page, let a
WebAssembly app start, evaluate JavaScript, take a screenshot. For tests of the web viewer; every
host but 127.0.0.1 is unresolvable inside it, so nothing leaves the machine."""
from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Optional

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GL_FLAGS = ("--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page:
    """A page in a headless Chromium: ``evaluate(js)``, ``screenshot()``; a context manager."""

    def __init__(self, url: str, size: str = "1280,800", start_timeout: float = 30.0, flags: tuple = GL_FLAGS):
        self.port = _port()
        self.profile = tempfile.TemporaryDirectory(prefix="graphrun-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", *flags, f"--remote-debugging-port={self.port}",
             "--remote-debugging-address=127.0.0.1",
             "--remote-allow-origins=*", f"--window-size={size}", f"--user-data-dir={self.profile.name}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.loop = asyncio.new_event_loop()
        self.ws = None
        self.n = 0
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2))
                page = next(t for t in tabs if t["type"] == "page")
                break
            except (OSError, StopIteration, ValueError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("chromium did not start its DevTools endpoint") from None
                time.sleep(0.2)
        from tornado.websocket import websocket_connect

        async def connect():
            return await websocket_connect(page["webSocketDebuggerUrl"], max_message_size=64 << 20)
        try:
            self.ws = self.loop.run_until_complete(asyncio.wait_for(connect(), 10))
        except BaseException:
            self.close()
            raise

    def call(self, method: str, timeout: float = 30.0, **params) -> dict:
        self.n += 1
        n = self.n

        async def go():
            await self.ws.write_message(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                msg = await self.ws.read_message()
                if msg is None:
                    raise RuntimeError("chromium closed the DevTools connection")
                reply = json.loads(msg)
                if reply.get("id") == n:
                    return reply.get("result", {})
        return self.loop.run_until_complete(asyncio.wait_for(go(), timeout))

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path: Optional[str] = None) -> bytes:
        png = base64.b64decode(self.call("Page.captureScreenshot", timeout=60)["data"])
        if path:
            with open(path, "wb") as f:
                f.write(png)
        return png

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.loop.close()
        self.profile.cleanup()   # chromium has exited: its profile folder can go

    def __enter__(self) -> "Page":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Model weights the way torchvision users expect them: the torch hub cache, filled on first use.

A node's ``weights`` parameter names one of: ``none`` (random init), ``DEFAULT`` or a weight set
of torchvision's enum (``COCO_V1``, ``IMAGENET1K_V1``), an ``http(s)://`` URL, or a local file.
Enum members and URLs go through ``torch.hub.load_state_dict_from_url``: downloaded once, with a
progress bar, into ``<torch hub dir>/checkpoints`` (``$TORCH_HOME/hub``, default
``~/.cache/torch/hub``), read from there afterwards. A download that fails (no network, a bad
URL, a hash mismatch) is a one-line :class:`UserInputError` naming the node, the cache file and
the command that pre-fetches it. ``GRAPHRUN_OFFLINE=1`` forbids downloads: a cache miss is then
that error at once.

Nodes whose weights can be fetched ahead of a run implement the optional classmethod
``fetch_weights(params) -> Path``; ``graphrun weights fetch KIND`` calls it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional
from urllib.error import URLError
from urllib.parse import urlparse

from graphrun.runtime.errors import UserInputError

OFFLINE_ENV = "GRAPHRUN_OFFLINE"


def checkpoints_dir() -> Path:
    """The torch hub checkpoint folder (where torchvision keeps downloaded weights)."""
    import torch
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_path(url: str) -> Path:
    """Where torch hub keeps (or would keep) the file downloaded from ``url``."""
    return checkpoints_dir() / os.path.basename(urlparse(url).path)


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def offline_advice(path: Path, fetch: str) -> str:
    """What to do on a machine without network access: copy the file in, or name a local one."""
    return (f"on a machine with network access run '{fetch}' (or download the file) and copy {path.name} "
            f"into {path.parent} here, or pass weights=/path/to/file.pth (--set NODE.weights=... in a graph)")


@contextmanager
def downloading(node: str, what: str, url: str, fetch: str):
    """Around a download of ``url`` into the torch cache: yields the cache path; a cache miss while
    offline, or a failed download, becomes one line naming ``node``, ``what``, the cache file and
    what to do (``fetch``: the command that pre-fetches it)."""
    path = cache_path(url)
    if not path.is_file() and offline():
        raise UserInputError(f"{node}: {what} not in the torch cache ({path}) and {OFFLINE_ENV} is set; "
                             f"{offline_advice(path, fetch)}")
    try:
        yield path
    except (URLError, OSError) as exc:   # HTTPError, a timeout included
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise UserInputError(f"{node}: {what} not in the torch cache ({path}) and the download from {url} "
                             f"failed ({reason}); {offline_advice(path, fetch)}") from None


def _unwrap(state: Any) -> Any:
    """A training checkpoint ``{"model": state_dict, ...}`` -> the state_dict."""
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], dict):
                return state[key]
    return state


def load_state_dict(spec: str, *, node: str, fetch: str, enum=None) -> Optional[dict]:
    """The state_dict named by ``spec`` (see the module doc); None for ``none``.

    ``enum`` is the torchvision ``WeightsEnum`` of the model (its member names are accepted);
    ``fetch`` is the command that pre-fetches, for the error message.
    """

    spec = spec.strip()
    if spec.lower() == "none":
        return None
    if enum is not None and spec in enum.__members__:
        w = enum[spec]
        with downloading(node, f"weights {spec} ({type(w).__name__}.{w.name})", w.url, fetch) as path:
            return read_state_dict(fetch_url(w.url, path, node, check_hash=True), node)
    if is_url(spec):
        with downloading(node, f"weights {os.path.basename(urlparse(spec).path)}", spec, fetch) as path:
            return read_state_dict(fetch_url(spec, path, node), node)
    path = Path(spec).expanduser()
    if not path.is_file():
        names = f"{', '.join(m for m in enum.__members__)}, " if enum is not None else ""
        raise UserInputError(f"{node}: weights '{spec}' is not a file, a URL or a weight set "
                             f"(choose none, {names}an http(s):// URL or a .pth path)")
    return read_state_dict(path, node)


def read_state_dict(path: Path, node: str, source: str = "") -> dict:
    """The state_dict in a torch file (a training checkpoint's ``model`` unwrapped), read with
    ``weights_only``; a file that is not one is one line naming it (never the advice to load it
    with ``weights_only=False``, which would run whatever code it holds)."""
    import pickle

    import torch

    what = source or str(path)
    try:
        state = _unwrap(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - any unreadable file: one line
        if isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in str(exc):
            raise UserInputError(f"{node}: {what} holds Python objects besides tensors; graphrun reads only "
                                 f"plain state_dicts (torch.save(model.state_dict(), path))") from None
        raise UserInputError(f"{node}: {what} is not a PyTorch weights file (torch.save(model.state_dict(), "
                             f"path) writes one)") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"{node}: {what} is a torch file but not a state_dict (a mapping of names to "
                             f"tensors)")
    return state


DOWNLOAD_STALL_S = float(os.environ.get("GRAPHRUN_DOWNLOAD_TIMEOUT", "20"))
_CHUNK = 1 << 20


def fetch_url(url: str, dest: Path, node: str, check_hash: bool = False) -> Path:
    """``dest`` (the cache file), downloaded from ``url`` if it is not there yet.

    The download goes to ``dest.partial`` and moves into place only once it is whole, its SHA-256
    matches the name (``check_hash``, torch hub's ``name-<sha256 prefix>.pth``) and it reads as a
    state_dict; a failure, a stall of ``DOWNLOAD_STALL_S`` seconds (``GRAPHRUN_DOWNLOAD_TIMEOUT``),
    Ctrl-C, or a stop of the run removes the ``.partial``. The transfer runs on a helper thread
    so that this one hears signals and the run's stop."""
    import threading

    from graphrun.runtime import interrupts

    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    interrupts.remove_at_abrupt_exit(partial)
    outcome: dict = {}
    thread = threading.Thread(target=_transfer, args=(url, partial, outcome), name="graphrun:download", daemon=True)
    try:
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
            if interrupts.requested():
                raise UserInputError(f"{node}: the download from {url} was stopped (the run is stopping); "
                                     f"nothing was kept in {dest.parent}")
        if "error" in outcome:
            raise outcome["error"]
        if check_hash:
            _check_hash(partial, url, node, dest)
        read_state_dict(partial, node, source=f"the file downloaded from {url}")
        os.replace(partial, dest)
    finally:
        outcome["abandoned"] = True
        try:
            partial.unlink()
        except OSError:
            pass
        interrupts.forget(partial)
    return dest


def _transfer(url: str, partial: Path, outcome: dict) -> None:
    """Thread body: ``url`` into ``partial`` with a progress bar (stops early once abandoned)."""
    from urllib.request import urlopen

    from tqdm import tqdm

    try:
        with urlopen(url, timeout=DOWNLOAD_STALL_S) as resp, open(partial, "wb") as f:
            total = resp.headers.get("Content-Length")
            with tqdm(total=int(total) if total and total.isdigit() else None, unit="B", unit_scale=True,
                      unit_divisor=1024, desc=partial.name[:-len(".partial")]) as bar:
                while not outcome.get("abandoned") and (chunk := resp.read(_CHUNK)):
                    f.write(chunk)
                    bar.update(len(chunk))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        outcome["error"] = exc


def _check_hash(path: Path, url: str, node: str, dest: Path) -> None:
    import hashlib
    import re

    m = re.search(r"-([a-f0-9]+)\.", dest.name)
    if not m:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    if not digest.hexdigest().startswith(m.group(1)):
        raise UserInputError(f"{node}: the file downloaded from {url} is damaged (SHA-256 does not match "
                             f"its name); nothing was kept in {dest.parent}: try again")


def apply_state_dict(net, state: Optional[dict], *, node: str, weights: str, expected: str, hint: str = ""):
    """Load ``state`` into ``net`` (nothing when None); a mismatch is one line: ``{node}: weights
    {weights} are not {expected} (the first line of torch's complaint){hint}``. Returns ``net``."""
    if state is None:
        return net
    try:
        net.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - any mismatch: one line
        first = str(exc).strip().splitlines()[0][:200]
        raise UserInputError(f"{node}: weights {weights} are not {expected} ({first}){hint}") from None
    return net


def cached_files() -> list[tuple[Path, int]]:
    """The checkpoint files in the torch hub cache, with their sizes in bytes."""
    d = checkpoints_dir()
    if not d.is_dir():
        return []
    return [(f, f.stat().st_size) for f in sorted(d.iterdir()) if f.is_file() and not f.name.endswith(".partial")]

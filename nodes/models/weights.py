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


@contextmanager
def downloading(node: str, what: str, url: str, fetch: str):
    """Around a torch hub download of ``url``: yields the cache path; a cache miss while offline,
    or a failed download, becomes one line naming ``node``, ``what``, the cache file and ``fetch``
    (the command that pre-fetches it)."""
    path = cache_path(url)
    advice = (f"pre-fetch with network access: {fetch} (or put the file there, or pass "
              f"weights=/path/to/file.pth)")
    if not path.is_file() and offline():
        raise UserInputError(f"{node}: {what} not in the torch cache ({path}) and {OFFLINE_ENV} is set; {advice}")
    try:
        yield path
    except URLError as exc:   # HTTPError included
        reason = getattr(exc, "reason", exc)
        raise UserInputError(f"{node}: {what} not in the torch cache ({path}) and the download from {url} "
                             f"failed ({reason}); {advice}") from None
    except RuntimeError as exc:
        if "hash" not in str(exc):
            raise
        raise UserInputError(f"{node}: the file downloaded from {url} is damaged (SHA-256 does not match "
                             f"its name); nothing was kept in {path.parent}: try again") from None


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
    import torch

    spec = spec.strip()
    if spec.lower() == "none":
        return None
    if enum is not None and spec in enum.__members__:
        w = enum[spec]
        with downloading(node, f"weights {spec} ({type(w).__name__}.{w.name})", w.url, fetch):
            return w.get_state_dict(progress=True, check_hash=True)
    if is_url(spec):
        with downloading(node, f"weights {os.path.basename(urlparse(spec).path)}", spec, fetch):
            return _unwrap(torch.hub.load_state_dict_from_url(spec, progress=True, map_location="cpu"))
    path = Path(spec).expanduser()
    if not path.is_file():
        names = f"{', '.join(m for m in enum.__members__)}, " if enum is not None else ""
        raise UserInputError(f"{node}: weights '{spec}' is not a file, a URL or a weight set "
                             f"(choose none, {names}an http(s):// URL or a .pth path)")
    try:
        return _unwrap(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - any unreadable file: one line
        raise UserInputError(f"{node}: cannot read weights file {path}: {exc}") from None


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

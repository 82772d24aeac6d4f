"""``graphrun weights``: pre-fetch a node's model weights into the torch cache, or list what is cached.

    graphrun weights fetch maskrcnn                       torchvision's COCO Mask R-CNN
    graphrun weights fetch torchvision_model --set model=resnet18 --weights DEFAULT
    graphrun weights list                                 the torch hub checkpoint folder

The runtime knows no model: a node kind that has weights to fetch implements the optional
classmethod ``fetch_weights(params) -> Path`` (download if need be, return the local file).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserInputError


def add_parser(sub) -> None:
    w = sub.add_parser("weights", help="pre-fetch a node's model weights into the torch cache, or list them")
    wsub = w.add_subparsers(dest="action", required=True)
    fetch = wsub.add_parser("fetch", help="download a node kind's weights now (e.g. graphrun weights fetch maskrcnn)")
    fetch.add_argument("kind", help="a node kind with weights (maskrcnn, torchvision_model, ...)")
    fetch.add_argument("--weights", help="the node's weights parameter (default: the node's default)")
    fetch.add_argument("--set", dest="params", action="append", default=[], nargs="+", metavar="PARAM=VALUE",
                       help="other node parameters the weights depend on (torchvision_model: model=resnet18)")
    wsub.add_parser("list", help="the checkpoint files in the torch cache")


def _parse_params(groups: list) -> dict:
    import yaml
    params = {}
    for item in (i for g in groups for i in g):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"weights fetch: --set {item!r} is not PARAM=VALUE")
        params[key.strip()] = yaml.safe_load(value)
    return params


def checkpoints() -> tuple[Path, list]:
    """The torch hub checkpoint folder (where torchvision and the nodes keep weights) and its
    complete files with their sizes in bytes (downloads in progress, ``.partial``, left out)."""
    import torch
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.endswith(".partial")) \
        if folder.is_dir() else []
    return folder, [(f, f.stat().st_size) for f in files]


def cmd_weights(args: argparse.Namespace) -> int:
    if args.action == "list":
        folder, files = checkpoints()
        print(f"{folder}: {len(files)} file(s)")
        for path, size in files:
            print(f"  {path.name}  {size / 2**20:.1f} MiB")
        return 0
    from ..registry import get
    cls = get(args.kind)
    hook = getattr(cls, "fetch_weights", None)
    if hook is None:
        raise UserInputError(f"weights fetch: node '{args.kind}' has no weights to fetch")
    params = _parse_params(args.params)
    if args.weights is not None:
        params["weights"] = args.weights
    try:
        validated = cls.Params(**params)
    except Exception as exc:  # noqa: BLE001 - pydantic's message, on one line
        raise UserInputError(f"weights fetch: {args.kind}: bad parameters: {exc}") from None
    path = hook(validated)
    size = path.stat().st_size / 2**20 if path.is_file() else 0.0
    print(f"{args.kind}: {path} ({size:.1f} MiB)")
    return 0

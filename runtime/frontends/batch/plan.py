"""Where each input's outputs go, and what a resumed batch finds there.

``DIR/<stem>/`` per input, made unique (``clip``, ``clip-2``, ...) in the order of the sorted
inputs. ``DIR/batch.json`` keeps that mapping (and the graph it ran), so a resumed or extended
batch maps every input it saw before to the same folder. In each folder ``DONE.json`` (the
input's summary row, written last and atomically) marks a complete run; ``FAILED.txt`` holds the
one-line error of a failed or interrupted one.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ...errors import UserInputError
from .inputs import BatchInput

MANIFEST = "batch.json"
DONE = "DONE.json"
FAILED = "FAILED.txt"
BATCH_FILES = ("index.html", "summary.csv", "summary.json", MANIFEST)   # beside the input folders


def read_manifest(out: Path) -> dict:
    """``DIR/batch.json`` as a dict (empty when the folder holds no batch yet)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{path} is not a batch manifest ({exc}); remove it or use another --out") from None
    if not isinstance(data, dict) or not isinstance(data.get("inputs"), list):
        raise UserInputError(f"{path} is not a batch manifest; remove it or use another --out")
    return data


def known_folders(manifest: dict) -> dict:
    """input key -> folder name, from a manifest."""
    return {BatchInput(e["input"], tuple(e.get("sets") or ())).key: e["folder"] for e in manifest.get("inputs", [])}


def assign_folders(inputs: list[BatchInput], known: dict | None = None) -> dict:
    """input key -> a folder name unique in the batch (case-insensitively): inputs seen before keep
    theirs, new ones take their stem, or ``stem-2``, ``stem-3``, ... in the order given (sorted)."""
    known = dict(known or {})
    folders = {i.key: known[i.key] for i in inputs if i.key in known}
    taken = {name.lower() for name in known.values()} | {name.lower() for name in BATCH_FILES}
    for item in inputs:
        if item.key in folders:
            continue
        name, n = item.stem, 2
        while name.lower() in taken:
            name, n = f"{item.stem}-{n}", n + 1
        taken.add(name.lower())
        folders[item.key] = name
    return folders


def write_manifest(out: Path, info: dict, inputs: list[BatchInput], folders: dict, previous: dict) -> None:
    """Write ``DIR/batch.json``: ``info`` (graph, variable, overrides) and every input's folder,
    keeping the entries of inputs an earlier run had and this one does not."""
    entries = [{"input": i.value, "sets": list(i.sets), "folder": folders[i.key]} for i in inputs]
    current = {i.key for i in inputs}
    for e in previous.get("inputs", []):
        if BatchInput(e["input"], tuple(e.get("sets") or ())).key not in current:
            entries.append(e)
    data = {**info, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "inputs": entries}
    write_atomic(Path(out) / MANIFEST, json.dumps(data, indent=1))


def read_done(folder: Path) -> dict | None:
    """The summary row in ``folder/DONE.json``, or None when the input is not complete there."""
    path = Path(folder) / DONE
    try:
        row = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and row.get("status") == "ok" else None


def write_atomic(path: Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

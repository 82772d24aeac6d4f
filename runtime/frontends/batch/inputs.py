"""The inputs of a batch: files, folders of videos, globs, and list files (text or CSV).

* an existing file is one input (its absolute path), except a list file: ``.txt``/``.lst``/``.list``
  (one input per line, ``#`` comments) or ``.csv``/``.tsv`` (a header row with a column ``input``
  or ``path``; a column ``set`` carries per-input ``--set`` items separated by spaces, and a
  column named like a ``--set`` key, ``seg.class_name`` or ``vars.start``, sets that key);
* a folder stands for the videos directly inside it (``*.mp4``, ``*.mkv``, ...);
* a glob (``clips/**/*.mp4``) for what it matches, folders included as inputs;
* anything else is an input as given: a value for the graph variable (a DAVIS sequence name
  with ``--input-var seq``), or a missing file, which then fails alone with its error.

Entries of a list file that name a path relative to the list's folder are read from there.
"""
from __future__ import annotations

import csv
import glob
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ...errors import UserInputError
from ...outdir import is_graphrun_output

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".wmv",
                    ".flv", ".3gp")
LIST_EXTENSIONS = (".txt", ".lst", ".list")
TABLE_EXTENSIONS = (".csv", ".tsv")
INPUT_COLUMNS = ("input", "path")
SET_COLUMN = "set"


@dataclass(frozen=True)
class BatchInput:
    """One input of the batch: ``value`` (an absolute path, or a value as given) and its own
    ``--set`` items (from a CSV row)."""

    value: str
    sets: tuple = ()

    @property
    def key(self) -> str:
        """What identifies the input across runs of the batch (``batch.json``, ``--resume``)."""
        return self.value if not self.sets else f"{self.value} [{' '.join(self.sets)}]"

    @property
    def stem(self) -> str:
        """The name of its output folder before it is made unique: the file's stem, or the value."""
        looks_like_path = "/" in self.value or Path(self.value).suffix.lower() in VIDEO_EXTENSIONS
        name = Path(self.value.rstrip("/")).stem if looks_like_path else self.value
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "input"

    @property
    def label(self) -> str:
        """How messages name it: the file's name, or the value as given."""
        return Path(self.value).name if "/" in self.value else self.value


def discover(args: Iterable[str], extensions: tuple = VIDEO_EXTENSIONS) -> list[BatchInput]:
    """The inputs named by ``args`` (see the module doc), without repeats, sorted by key.

    Raises UserInputError (naming the argument) for a folder without videos, a glob that matches
    nothing, an unreadable list file, or no inputs at all."""
    found: dict[str, BatchInput] = {}
    for arg in args:
        for item in _expand(str(arg), extensions):
            found.setdefault(item.key, item)
    if not found:
        raise UserInputError("no inputs: give video files, folders, globs or a list file (.txt, .csv)")
    return sorted(found.values(), key=lambda i: i.key)


def _expand(arg: str, extensions: tuple) -> list[BatchInput]:
    path = Path(arg).expanduser()
    if path.is_dir():
        videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in extensions)
        if not videos:
            raise UserInputError(f"folder {arg} has no videos ({', '.join(extensions[:5])}, ...); "
                                 f"use a glob such as '{arg.rstrip('/')}/**/*.mp4' for subfolders")
        return [BatchInput(_absolute(p)) for p in _not_outputs(videos, arg, "folder")]
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in LIST_EXTENSIONS:
            return read_list(path)
        if suffix in TABLE_EXTENSIONS:
            return read_table(path)
        return [BatchInput(_absolute(path))]
    if glob.has_magic(arg):
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches:
            raise UserInputError(f"glob '{arg}' matches nothing")
        return [BatchInput(_absolute(Path(m))) for m in _not_outputs([Path(m) for m in matches], arg, "glob")]
    return [BatchInput(arg)]


def _not_outputs(paths: list, arg: str, what: str) -> list:
    """``paths`` less those inside a folder graphrun wrote (the overlay.mp4 of an earlier run or
    batch): a folder or a glob never takes graphrun's outputs as inputs; naming a file does."""
    marked: dict = {}

    def in_output(p: Path) -> bool:
        for folder in Path(os.path.abspath(p)).parents:
            if folder not in marked:
                marked[folder] = is_graphrun_output(folder)
            if marked[folder]:
                return True
        return False

    kept = [p for p in paths if not in_output(p)]
    if paths and not kept:
        raise UserInputError(f"{what} '{arg}' matches only files inside graphrun output folders ({len(paths)}); "
                             f"name them one by one to use them as inputs")
    return kept


def _absolute(path: Path) -> str:
    """An absolute path with symbolic links kept (a folder of links named per clip keeps those names)."""
    return os.path.abspath(path)


def _entry(text: str, base: Path) -> str:
    """A list entry: a path relative to the list's folder or to the current one (made absolute)
    when it exists, else the text as given."""
    p = Path(text).expanduser()
    for candidate in ((base / p) if not p.is_absolute() else p, p):
        if candidate.exists():
            return _absolute(candidate)
    return text


def read_list(path: Path) -> list[BatchInput]:
    """A text file with one input per line (blank lines and ``#`` comments skipped)."""
    lines = _read(path).splitlines()
    entries = [line.strip() for line in lines]
    return [BatchInput(_entry(e, path.parent)) for e in entries if e and not e.startswith("#")]


def read_table(path: Path) -> list[BatchInput]:
    """A CSV (or TSV) file with a header: ``input`` (or ``path``), optional ``set`` and ``node.param`` columns."""
    text = _read(path)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    rows = [r for r in rows if any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        raise UserInputError(f"{path}: the list is empty")
    header = [c.strip() for c in rows[0]]
    column = next((header.index(c) for c in INPUT_COLUMNS if c in header), None)
    if column is None:
        raise UserInputError(f"{path}: the first row must name the columns, one of them 'input' (or 'path'); "
                             f"got {', '.join(header)}")
    set_keys = {i: h for i, h in enumerate(header) if "." in h and "=" not in h}
    items = []
    for n, row in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
        if not cells[column]:
            raise UserInputError(f"{path}:{n}: no {header[column]}")
        sets = []
        if SET_COLUMN in header and cells[header.index(SET_COLUMN)]:
            try:
                sets = shlex.split(cells[header.index(SET_COLUMN)])
            except ValueError as exc:
                raise UserInputError(f"{path}:{n}: column set: {exc}") from None
            bad = [s for s in sets if "=" not in s]
            if bad:
                raise UserInputError(f"{path}:{n}: column set: '{bad[0]}' must look like node.param=value")
        sets += [f"{key}={cells[i]}" for i, key in set_keys.items() if cells[i] != ""]
        items.append(BatchInput(_entry(cells[column], path.parent), tuple(sets)))
    return items


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read the list {path}: {exc}") from None

"""Writing into the run's output folder (``--out``): the check, temporary names, atomic writes.

Nodes write to a hidden temporary name and rename it at the end, so a run that fails or is
interrupted leaves no complete-looking output.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path

from graphrun.runtime.errors import UserInputError

_TEMP_IDS = itertools.count()


def needs_out(ctx, kind: str) -> Path:
    """The run's output folder (created if missing); a UserInputError naming the node without ``--out``."""
    if not ctx.out_dir:
        raise UserInputError(f"node '{ctx.name}' ({kind}) needs --out: an output directory to write into")
    out = Path(ctx.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def frame_name(frame) -> str:
    """What names a frame's files and records: its own name, else its index (``00042``)."""
    return str(frame.name) if getattr(frame, "name", "") else f"{int(frame.index):05d}"


def hidden_temp(final: Path) -> Path:
    """A hidden name beside ``final``, unique in this process, to write into before renaming."""
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{next(_TEMP_IDS)}"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_temp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

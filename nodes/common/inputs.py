"""What a run reads: sources announce their input (``ctx.results["inputs"]``) so reports can name it."""
from __future__ import annotations


def announce_input(ctx, kind: str, **info) -> None:
    """Publish this source's input under ``ctx.results["inputs"][node name]``: its kind and plain
    JSON values (path, fps, width, height, frames)."""
    entry = {"kind": kind}
    for k, v in info.items():
        if v is None or isinstance(v, (str, int, float, bool)):
            entry[k] = v
        else:
            entry[k] = str(v)
    ctx.results.setdefault("inputs", {})[ctx.name] = entry


def announced_inputs(ctx) -> list[dict]:
    """What the sources announced, in order: ``[{node, kind, path, fps, ...}]`` ([] when none did)."""
    announced = ctx.results.get("inputs")
    if not isinstance(announced, dict):
        return []
    return [{"node": n, **v} for n, v in announced.items() if isinstance(v, dict)]

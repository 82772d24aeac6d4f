"""What a report states about its run, read from ``ctx.graph`` and ``ctx.results`` (each key optional).

The runtime gives ``ctx.graph``: ``name``, ``path`` (the graph file), ``mode``, ``device``,
``executor`` and ``settings`` (per node its ``kind`` and the ``params`` that differ from the
kind's defaults; a plain ``{node: {param: value}}`` is read too). Sources publish their input
under ``ctx.results["inputs"]`` (``announce_input``). A key that is missing is left out of the
report, nothing fails.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..common import announced_inputs

MAX_VALUE_CHARS = 80


def node_settings(ctx) -> dict[str, tuple[Optional[str], dict]]:
    """{node: (kind or None, {param: value that differs from the default})} from ``ctx.graph``."""
    raw = (ctx.graph or {}).get("settings")
    out = {}
    if not isinstance(raw, dict):
        return out
    for node, v in raw.items():
        if not isinstance(v, dict):
            continue
        if isinstance(v.get("params"), dict):
            out[str(node)] = (v.get("kind"), v["params"])
        else:
            out[str(node)] = (None, v)
    return out


def run_inputs(ctx) -> list[dict]:
    """What the sources read: ``[{node, kind, path, fps, frames, ...}]`` (announced, else from the
    settings of the nodes whose ``path`` parameter was set)."""
    found = announced_inputs(ctx)
    if found:
        return found
    for node, (kind, params) in node_settings(ctx).items():
        if isinstance(params.get("path"), str) and kind in (None, "video_file", "image_folder"):
            found.append({"node": node, "kind": kind, "path": params["path"]})
    return found


def input_name(ctx) -> Optional[str]:
    """A short name of the input: the video's file name, the sequence's folder name."""
    ins = run_inputs(ctx)
    if not ins or not isinstance(ins[0].get("path"), str):
        return None
    path = ins[0]["path"]
    if ins[0].get("kind") == "synthetic_scene":
        return path
    return Path(path).name or path


def report_title(ctx) -> str:
    """``dancer.mp4 — stabilize``: the input, then the graph; ``graphrun report`` without either."""
    name = input_name(ctx)
    graph = (ctx.graph or {}).get("name")
    graph = graph if isinstance(graph, str) and graph and graph != "harness" else None
    parts = [p for p in (name, graph) if p]
    return " — ".join(parts) if parts else "graphrun report"


def short_value(value) -> str:
    """A parameter value on one line, cut at MAX_VALUE_CHARS."""
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def flat_params(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """``[("fuse.beta_fill", "0.95"), ...]``: nested dicts (a subgraph's nodes) spelled with dots."""
    out = []
    for k, v in params.items():
        if isinstance(v, dict) and v:
            out += flat_params(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", short_value(v)))
    return out

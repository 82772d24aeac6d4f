"""Warnings a node raises about its run: logged at once and kept for the report and batch.

Each warning is kept twice in ``ctx.results``, with the same words: ``warnings``, the lines as
logged (``graphrun: warning: <message>``), and ``alerts``, the structured form that metrics.json
(``run.alerts``), the report and batch read::

    {"code": "low_fidelity", "node": "out.metrics", "message": "out.metrics: the stabilized ...",
     "value": 0.586, "limit": 0.7}

``code`` is a stable identifier (the list with its meaning: ``nodes/eval/checks.py`` ``CODES``),
``message`` the logged line, ``value`` / ``limit`` the measured figure and the threshold it
crossed (None when the warning has no figure), ``limits_trust`` False for the few codes that
do not make the run's figures doubtful (``HARMLESS_CODES``; batch ranks the others' inputs last).
"""
from __future__ import annotations

import os
import re
from typing import Optional

MAX_WARNINGS = 50   # kept in the results; the log has them all
HARMLESS_CODES = ("no_timestamps",)   # warnings that leave the run's figures as trustworthy as without


def warn(ctx, msg: str, code: str = "node_warning", value: Optional[float] = None,
         limit: Optional[float] = None) -> None:
    """Log ``graphrun: warning: <msg>`` and keep it (once) in the run's ``warnings`` and ``alerts``."""
    ctx.log(f"graphrun: warning: {msg}")
    kept = ctx.results.setdefault("warnings", [])
    if msg not in kept and len(kept) < MAX_WARNINGS:
        kept.append(msg)
        ctx.results.setdefault("alerts", []).append(
            {"code": code, "node": ctx.name, "message": msg,
             "value": None if value is None else round(float(value), 5),
             "limit": None if limit is None else float(limit), "limits_trust": code not in HARMLESS_CODES})


def warnings_of(ctx) -> list[str]:
    """The warnings published so far in this run (the logged lines)."""
    kept = ctx.results.get("warnings")
    return [str(w) for w in kept] if isinstance(kept, list) else []


def alerts_of(ctx) -> list[dict]:
    """The warnings published so far in this run, structured (see the module's docstring)."""
    kept = ctx.results.get("alerts")
    return [dict(a) for a in kept if isinstance(a, dict)] if isinstance(kept, list) else []


def os_words(exc: BaseException) -> str:
    """An OSError (or a PyAV error) in the system's words, without its errno number: ``Permission denied``."""
    words = getattr(exc, "strerror", None)
    if not words and isinstance(getattr(exc, "errno", None), int) and exc.errno > 0:
        words = os.strerror(exc.errno)
    if words:
        return str(words)
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)) or type(exc).__name__

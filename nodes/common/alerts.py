"""Warnings a node raises about its run: logged at once and kept for the report (``ctx.results["warnings"]``)."""
from __future__ import annotations

import os
import re

MAX_WARNINGS = 50   # kept in the results; the log has them all


def warn(ctx, msg: str) -> None:
    """Log ``graphrun: warning: <msg>`` and add ``msg`` to the run's published ``warnings`` (once)."""
    ctx.log(f"graphrun: warning: {msg}")
    kept = ctx.results.setdefault("warnings", [])
    if msg not in kept and len(kept) < MAX_WARNINGS:
        kept.append(msg)


def warnings_of(ctx) -> list[str]:
    """The warnings published so far in this run."""
    kept = ctx.results.get("warnings")
    return [str(w) for w in kept] if isinstance(kept, list) else []


def os_words(exc: BaseException) -> str:
    """An OSError (or a PyAV error) in the system's words, without its errno number: ``Permission denied``."""
    words = getattr(exc, "strerror", None)
    if not words and isinstance(getattr(exc, "errno", None), int) and exc.errno > 0:
        words = os.strerror(exc.errno)
    if words:
        return str(words)
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)) or type(exc).__name__

"""Watch a run: ``--record run.rrd`` writes a Rerun recording, ``--view`` streams it to a live viewer.

The engine side is generic (runtime/observe.py: the nodes' declared taps and the run's figures,
handed off the hot path); this package turns them into Rerun data. Rerun is imported only here
and only when asked for: it is the optional extra ``view`` (``pip install 'graphrun[view]'``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional, Union

from graphrun.runtime.errors import UserInputError

EXTRA_HINT = "pip install 'graphrun[view]' (rerun-sdk 0.22)"


def _import_rerun():
    try:
        import rerun  # noqa: F401
    except ImportError:
        raise UserInputError(f"--record/--view need Rerun, the optional extra `view`: {EXTRA_HINT}") from None


def view_mode(view: Union[bool, str, None]) -> Optional[str]:
    """``True`` -> ``auto``; ``False``/None -> None; a mode name as given."""
    if view is True:
        return "auto"
    return view or None


@contextmanager
def observing(record: Optional[str] = None, view: Union[bool, str, None] = None, log=None):
    """An Observer for a run that writes ``record`` and/or streams to a viewer (None when neither);
    on leaving, what is queued is written and the recording closed. Yields ``(observer, viewer)``."""
    mode = view_mode(view)
    if record is None and mode is None:
        yield None, None
        return
    _import_rerun()
    from graphrun.runtime.observe import Observer

    from . import viewer as viewers
    from .rerun_sink import FLUSH_LIVE_S, FLUSH_S, RerunSink, open_streams
    viewer = viewers.start(mode) if mode is not None else None
    try:
        sink = RerunSink(open_streams(record, viewer), flush_s=FLUSH_S if viewer is None else FLUSH_LIVE_S)
        observer = Observer(sink)
    except BaseException:
        if viewer is not None:
            viewer.stop()
        raise
    try:
        yield observer, viewer
    finally:
        observer.close(log)


__all__ = ["observing", "view_mode", "EXTRA_HINT"]

"""A process-wide cache of expensive objects (loaded models) shared by the runs of one process.

A batch worker (``graphrun batch``) runs many inputs in one process; a node that builds a model
in ``setup`` asks this cache for it, so the second input reuses the first one's model::

    from graphrun.runtime.cache import shared
    key = ("maskrcnn", weights_path, min_size, str(ctx.device), "float32")
    self.model = shared(key, lambda: build_the_model())

The key must name everything the object depends on (parameters, device, dtype): two callers with
equal keys get the *same* object, so it must not be changed after it is built (an ``eval()``
model used under ``inference_mode`` is fine). Thread-safe: concurrent callers with one key build
it once. Bounded: the least recently used entries beyond ``max_entries()`` are dropped (the
objects are freed when their last user lets go); ``GRAPHRUN_CACHE_SIZE=0`` disables caching.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_SIZE = 4

_entries: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()                   # guards _entries and _building
_building: dict[Hashable, threading.Lock] = {}   # one lock per key being built


def max_entries() -> int:
    """How many objects the cache keeps: ``GRAPHRUN_CACHE_SIZE`` (default 4; 0 = no caching)."""
    try:
        return max(0, int(os.environ.get("GRAPHRUN_CACHE_SIZE", DEFAULT_SIZE)))
    except ValueError:
        return DEFAULT_SIZE


def shared(key: Hashable, factory: Callable[[], Any]) -> Any:
    """The object cached under ``key``, built by ``factory()`` the first time (once, even when
    several threads ask at once). A factory that raises caches nothing."""
    size = max_entries()
    if size == 0:
        return factory()
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
        build_lock = _building.setdefault(key, threading.Lock())
    with build_lock:
        with _lock:
            if key in _entries:             # built by another thread while we waited
                _entries.move_to_end(key)
                return _entries[key]
        try:
            value = factory()
        except BaseException:
            with _lock:
                _building.pop(key, None)
            raise
        with _lock:
            _entries[key] = value
            _building.pop(key, None)
            while len(_entries) > size:
                _entries.popitem(last=False)
        return value


def clear() -> None:
    """Drop every cached object."""
    with _lock:
        _entries.clear()


def cached_keys() -> list:
    """The cached keys, least recently used first."""
    with _lock:
        return list(_entries)

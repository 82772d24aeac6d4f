"""The node registry: names to Node classes, filled by decorators, entry points and plugin files.

* ``@register("name")`` on a Node class, or ``@register("name", outputs=...)`` on a function.
* Installed packages register through the entry-point group ``graphrun.nodes``: each entry point
  is a module (imported; it registers on import) or a Node class (registered under the entry name).
* A graph's ``plugins:`` list names modules or ``.py`` files (relative to the graph file).
* Subgraphs (graphs used as nodes) are registered by name too: ``register_subgraph("name", path)``
  or ``@subgraph("name")`` on a function that returns a ``graphrun.Graph``; the YAML files in the
  package's ``graphs/subgraphs/`` are registered under their file names.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Callable, Optional

from .errors import GraphError
from .node import Node, function_node

_REGISTRY: dict[str, type[Node]] = {}
_SUBGRAPHS: dict[str, object] = {}     # name -> Path of a YAML file, or a function returning a Graph
_BUILTINS_LOADED = False
_ENTRY_POINTS_LOADED = False
ENTRY_POINT_GROUP = "graphrun.nodes"


def register(name: str, *, outputs: Optional[dict] = None, replace: bool = False) -> Callable:
    """Decorator: register a Node class, or a plain function (see ``function_node``), as ``name``."""

    def deco(obj):
        cls = obj if inspect.isclass(obj) else function_node(obj, outputs=outputs)
        add(name, cls, replace=replace)
        return obj if inspect.isclass(obj) else cls

    return deco


def add(name: str, cls: type[Node], replace: bool = False) -> None:
    if not (inspect.isclass(cls) and issubclass(cls, Node)):
        raise GraphError(f"cannot register '{name}': {cls!r} is not a graphrun Node")
    old = _REGISTRY.get(name)
    if old is not None and old is not cls and not replace and _qualname(old) != _qualname(cls):
        raise GraphError(f"node kind '{name}' is registered twice: by {_qualname(old)} and by {_qualname(cls)}")
    cls.kind = name
    _REGISTRY[name] = cls


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_subgraph(name: str, source) -> None:
    """Register a subgraph: a YAML file (path) or a function returning a ``graphrun.Graph``."""
    if name in _REGISTRY:
        raise GraphError(f"cannot register subgraph '{name}': a node kind has that name")
    _SUBGRAPHS[name] = Path(source) if isinstance(source, (str, Path)) else source


def subgraph(name: str) -> Callable:
    """Decorator: register a function that builds a subgraph (a MediaPipe-style builder function).
    Its keyword arguments are the subgraph's parameters; it returns a ``graphrun.Graph`` with
    declared ``inputs`` and ``outputs``."""

    def deco(fn):
        register_subgraph(name, fn)
        return fn

    return deco


def shipped_graphs_dir() -> Path:
    """The package's ``graphs/`` folder (ready graphs; subgraphs in ``graphs/subgraphs/``)."""
    return Path(importlib.import_module("graphrun").__file__).resolve().parent / "graphs"


def shipped_graphs() -> dict[str, Path]:
    """The graphs that run by name (``graphrun stabilize``): name -> file, sorted by name."""
    return {p.stem: p for p in sorted(shipped_graphs_dir().glob("*.yaml"))}


def load_builtins() -> None:
    """Import the built-in node library, the shipped subgraphs and installed plugins (once)."""
    global _BUILTINS_LOADED, _ENTRY_POINTS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        importlib.import_module("graphrun.nodes")
        for path in sorted((shipped_graphs_dir() / "subgraphs").glob("*.yaml")):
            _SUBGRAPHS.setdefault(path.stem, path)
    if not _ENTRY_POINTS_LOADED:
        _ENTRY_POINTS_LOADED = True
        from importlib.metadata import entry_points
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must not break every graph
                print(f"graphrun: warning: plugin entry point '{ep.name}' failed to load: {exc}", file=sys.stderr)
                continue
            if inspect.isclass(obj) and issubclass(obj, Node) and ep.name not in _REGISTRY:
                add(ep.name, obj)


def load_plugin(ref: str, base_dir: Optional[Path] = None) -> None:
    """Import a plugin: a module name or a path to a .py file (relative to ``base_dir``)."""
    if ref.endswith(".py") or "/" in ref:
        path = Path(ref)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise GraphError(f"plugin file not found: {path}")
        mod_name = f"graphrun_plugin_{path.stem}_{abs(hash(str(path.resolve()))) % 10**8}"
        if mod_name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except GraphError:
            raise
        except Exception as exc:
            del sys.modules[mod_name]
            raise GraphError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            importlib.import_module(ref)
        except ModuleNotFoundError as exc:
            raise GraphError(f"plugin module '{ref}' not found ({exc})") from exc


def get(name: str) -> type[Node]:
    load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        hint = " (a subgraph: use it as a graph node, or graphrun inspect)" if name in _SUBGRAPHS else \
            suggest(name, list(_REGISTRY) + list(_SUBGRAPHS))
        raise GraphError(f"unknown node kind '{name}'{hint}") from None


def find_subgraph(kind: str, base_dir: Optional[Path] = None):
    """What ``kind`` names if it is a subgraph: a YAML Path or a builder function; None for a node kind.

    A kind ending in ``.yaml``/``.yml`` or holding a ``/`` is a file (relative to ``base_dir``);
    otherwise a registered node kind wins over a registered subgraph of the same name."""
    if kind.endswith((".yaml", ".yml")) or "/" in kind:
        path = Path(kind).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise GraphError(f"subgraph file not found: {path}")
        return path
    load_builtins()
    if kind in _REGISTRY:
        return None
    return _SUBGRAPHS.get(kind)


def all_subgraphs() -> dict:
    load_builtins()
    return dict(sorted(_SUBGRAPHS.items()))


def get_at(name: str, where: str, node: str) -> type[Node]:
    """``get`` with the file location and node name in the error."""
    try:
        return get(name)
    except GraphError as exc:
        raise GraphError(f"{where}: node '{node}': {exc}") from None


def all_nodes() -> dict[str, type[Node]]:
    load_builtins()
    return dict(sorted(_REGISTRY.items()))


def suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""

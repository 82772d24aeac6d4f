"""gst-launch-style pipelines: ``graphrun launch "video_file path=a.mp4 ! preprocess resize=224 ! null_sink"``.

* An element is ``KIND [name=NAME] [param=value ...]`` (values read as YAML: ``224``, ``true``,
  ``[1, 2]``; quote values with spaces). ``KIND`` may be a subgraph.
* ``a ! b`` links ``a`` to ``b``: the output of ``a`` and the open input of ``b`` whose types fit
  (the only ones, for single-port nodes). ``name.port`` picks a port: ``src.frame ! seg.frame``.
* A chain may start from a named element (``src. ! flow`` or ``src.frame ! flow``) and end in one
  (``... ! stab.current``); chains are separated by spaces, as in gst-launch.
* ``queue [capacity=N] [policy=drop_oldest]`` between two elements makes that link a queue (a
  thread boundary), like GStreamer's ``queue`` element.

The result is an ordinary :class:`graphrun.Graph`, validated like YAML; ``--print-yaml`` writes it.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Optional

import yaml

from .. import registry
from ..errors import GraphError
from ..spec import POLICIES, check_capacity, check_choice
from .api import Graph, PortRef


@dataclass
class _Element:
    text: str
    kind: Optional[str] = None        # a new node of this kind ...
    ref: Optional[str] = None         # ... or a reference to a named one
    port: Optional[str] = None
    params: dict = field(default_factory=dict)
    queue: Optional[dict] = None      # the ``queue`` pseudo-element: link attributes


def parse(text: str, name: str = "launch") -> Graph:
    """Build a Graph from a gst-launch-style description."""
    chains = _chains(_tokens(text))
    g = Graph(name)
    for chain in chains:
        prev: Optional[tuple[str, Optional[str]]] = None
        link: dict = {}
        for el in chain:
            if el.queue is not None:
                if prev is None:
                    raise GraphError(f"launch: 'queue' must come between two elements: {el.text}")
                link = el.queue
                continue
            if el.ref is not None:
                if el.ref not in g.spec.nodes:
                    raise GraphError(f"launch: no element named '{el.ref}' before '{el.text}'"
                                     f"{registry.suggest(el.ref, g.spec.nodes)}")
                node = el.ref
            else:
                label = el.params.pop("name", None)
                try:
                    node = g.add(el.kind, name=label, **el.params).name
                except GraphError as exc:
                    raise GraphError(f"launch: {el.text}: {exc}") from None
            if prev is not None:
                _link(g, prev, (node, el.port), link)
            prev, link = (node, el.port), {}
        if link:
            raise GraphError("launch: 'queue' must be followed by an element")
    g.validate()
    return g


def _tokens(text: str) -> list[str]:
    lex = shlex.shlex(text, posix=True, punctuation_chars="!")
    lex.whitespace_split = True
    try:
        return list(lex)
    except ValueError as exc:
        raise GraphError(f"launch: {exc}") from None


def _chains(tokens: list[str]) -> list[list[_Element]]:
    chains: list[list[_Element]] = []
    current: list[_Element] = []
    expect_element = True
    for tok in tokens:
        if tok == "!":
            if expect_element:
                raise GraphError("launch: '!' must come between two elements")
            expect_element = True
            continue
        if "=" in tok and not expect_element and current:
            key, _, raw = tok.partition("=")
            el = current[-1]
            if el.ref is not None:
                raise GraphError(f"launch: '{tok}': a reference to '{el.ref}' takes no parameters")
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
            (el.queue if el.queue is not None else el.params)[key] = value
            el.text += f" {tok}"
            continue
        if not expect_element:          # an element not after '!': a new chain (gst-launch)
            chains.append(current)
            current = []
        current.append(_element(tok))
        expect_element = False
    if expect_element and current:
        raise GraphError("launch: the description ends with '!'")
    if current:
        chains.append(current)
    if not chains:
        raise GraphError("launch: empty pipeline")
    return chains


def _element(tok: str) -> _Element:
    if tok == "queue":
        return _Element(tok, queue={"queue": True})
    if "." in tok and not tok.endswith((".yaml", ".yml")) and "/" not in tok:
        ref, _, port = tok.partition(".")
        return _Element(tok, ref=ref, port=port or None)
    return _Element(tok, kind=tok)


def _link(g: Graph, src: tuple, dst: tuple, attrs: dict) -> None:
    (sn, sp), (dn, dp) = src, dst
    outs = g.node(sn).outputs
    ins = g.node(dn).inputs
    linked = {e.dst_port for e in g.spec.edges if e.dst == dn}
    out_ports = [sp] if sp else list(outs)
    in_ports = [dp] if dp else [p for p in ins if p not in linked]
    in_ports.sort(key=lambda p: ins[p].optional if p in ins else False)     # required inputs first
    for o in out_ports:
        for i in in_ports:
            if o in outs and i in ins and outs[o].type.compatible_with(ins[i].type):
                capacity, policy = attrs.get("capacity"), attrs.get("policy")
                unknown = set(attrs) - {"queue", "capacity", "policy"}
                if unknown:
                    raise GraphError(f"launch: queue has no property {sorted(unknown)[0]} (capacity, policy)")
                if capacity is not None:
                    check_capacity(capacity, "launch: queue capacity")
                if policy is not None:
                    check_choice(policy, POLICIES, "launch: queue policy")
                g.connect(PortRef(sn, o), PortRef(dn, i), capacity=capacity, policy=policy,
                          queue=bool(attrs.get("queue")))
                return
    want_o = ", ".join(f"{p} ({outs[p].type})" for p in out_ports if p in outs) or f"none ({sp}?)"
    want_i = ", ".join(f"{p} ({ins[p].type})" for p in in_ports if p in ins) or f"none ({dp}?)"
    raise GraphError(f"launch: cannot link {sn} to {dn}: no output of {sn} [{want_o}] fits an open input of "
                     f"{dn} [{want_i}]; name the ports (node.port)")

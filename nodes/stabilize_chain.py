"""The stabilizer chain run directly on arrays, without a graph (benches, tests, tuning).

:func:`stabilize_sequence` calls the same nodes, in the same order and with the same wiring, as
graphs/stabilize.yaml and graphs/davis.yaml, so numbers measured with it are those of the graphs.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
import torch

from graphrun.runtime import Context
from graphrun.runtime.types import VideoFrame

from .io.davis import DAVIS_SEQUENCES, load_davis  # noqa: F401  (defined here before; old imports keep working)
from .stabilize import AdaptiveThreshold, AntiGhost, AreaGuard, FlowWarp, MotionFusion, OpticalFlow

# node name in the graphs -> node class; parameters are overridden as {"fuse": {"beta_fill": 0.6}}
CHAIN = {"flow": OpticalFlow, "warp": FlowWarp, "fuse": MotionFusion, "thresh": AdaptiveThreshold,
         "guard": AreaGuard, "ghost": AntiGhost}


def make_chain(params: Optional[dict] = None) -> dict:
    """Instantiate the chain's nodes with ``params`` ({node name: {param: value}}) over defaults."""
    params = params or {}
    unknown = set(params) - set(CHAIN)
    if unknown:
        raise KeyError(f"unknown stabilizer node(s) {sorted(unknown)}; known: {sorted(CHAIN)}")
    return {name: cls(cls.Params(**params.get(name, {}))) for name, cls in CHAIN.items()}


def stabilize_sequence(frames: Iterable, probs: Iterable, params: Optional[dict] = None,
                       scores: Optional[Iterable] = None, device: str = "cpu") -> tuple[list, list]:
    """Stabilize a sequence. ``frames``: HxWx3 uint8 RGB arrays; ``probs``: (H,W) float maps in
    [0,1] or bool masks. Returns (list of bool numpy masks, list of info dicts per frame)."""
    nodes = make_chain(params)
    ctxs = {name: Context(name=name, device=torch.device(device)) for name in nodes}
    for name, node in nodes.items():
        node.setup(ctxs[name])
    masks, infos = [], []
    prev_prob = None  # the back edge: ghost.prob of frame t-1
    score_it = iter(scores) if scores is not None else None
    try:
        for i, (img, p) in enumerate(zip(frames, probs)):
            for c in ctxs.values():
                c.index = i
            raw = torch.as_tensor(np.asarray(p, np.float32)).to(device)
            score = next(score_it) if score_it is not None else None
            fr = VideoFrame(image=img, index=i, pts=float(i), name=f"{i:05d}")
            f = nodes["flow"].process(ctxs["flow"], frame=fr)
            w = nodes["warp"].process(ctxs["warp"], prev=prev_prob, flow=f["flow"])["warped"]
            fused = nodes["fuse"].process(ctxs["fuse"], current=raw, warped=w, fb_error=f["fb_error"],
                                          flow=f["flow"], score=score)["fused"]
            th = nodes["thresh"].process(ctxs["thresh"], prob=fused, warped=w)
            g = nodes["guard"].process(ctxs["guard"], mask=th["mask"], flow=f["flow"])
            out = nodes["ghost"].process(ctxs["ghost"], mask=g["mask"], prob=fused, raw=raw, score=score)
            prev_prob = out["prob"]
            masks.append(out["mask"].cpu().numpy().astype(bool))
            infos.append({**th["info"], **g["info"], **out["info"]})
        for name, node in nodes.items():
            node.finish(ctxs[name])
    finally:
        for node in nodes.values():
            node.close()
    return masks, infos


"""The ``metrics`` node: stability and accuracy of raw vs stabilized masks over a run, into metrics.json."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.types import FLOW, FRAME, MASK, RECORD, TENSOR

from ..common import DIS_PRESETS, binarize, frame_name, iou, to_gray, to_numpy, write_atomic
from .metrics import GhostTracker, dis_flow, frame_stats, mean_defined, summarize

STREAMS = ("raw", "stabilized", "gt")
SUMMARY_KEYS = ("consecutive_iou", "l1", "area_cv", "warp_iou", "J", "F", "ghost_frames", "ghost_pixels", "fidelity")


def _jsonable(v):
    """Plain JSON value of a number, tensor scalar, numpy value, list or dict (else its str)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return _jsonable(v.item())
    if hasattr(v, "detach") and getattr(v, "numel", lambda: 2)() == 1:
        return _jsonable(v.detach().cpu().item())
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return str(v)


def _round(d: dict) -> dict:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in d.items()}


def format_table(summary: dict, frames: int) -> str:
    """The compact text table printed at the end of a run."""
    cols = [c for c in STREAMS if c in summary]
    lines = [f"metrics over {frames} frames".ljust(18) + "".join(f"{c:>12}" for c in cols)]
    for k in SUMMARY_KEYS:
        vals = [summary[c].get(k) for c in cols]
        if all(v is None for v in vals):
            continue
        cells = "".join(f"{'-':>12}" if v is None else (f"{v:>12d}" if isinstance(v, int) else f"{v:>12.4f}")
                        for v in vals)
        lines.append(f"  {k:<16}{cells}")
    return "\n".join(lines)


@register("metrics")
class Metrics(Node):
    """Measure temporal stability and accuracy of raw vs stabilized masks; write metrics.json.

    Per stream (raw, stabilized, and the ground truth itself when connected): IoU and mean L1
    between consecutive masks, area coefficient of variation, flow-compensated IoU (IoU of the
    flow-warped mask t-1 with mask t: stability that does not punish motion), and with ground
    truth J (IoU; both empty = 1), the DAVIS boundary F-measure and ghosts (mask pixels left where
    an object just disappeared; ``ghost_frames`` = longest run after a departure). Probability
    maps are binarized at ``threshold``. Without a ``flow`` input the node computes DIS flow on the
    frames itself (independent of the stabilizer's own flow, which would flatter it).
    At finish: ``<out>/metrics.json`` {summary: {raw, stabilized, gt}, frames: [...]} and a table
    in the log. ``record`` (one per frame) can feed ``report.metrics`` so the report runs after."""

    frame = Input(FRAME, doc="the video frame (name, and flow when none is connected)")
    raw = Input(TENSOR, doc="raw segmenter probability map or mask (H,W)")
    stabilized = Input(TENSOR, doc="stabilized mask or probability map (H,W)")
    gt = Input(MASK, optional=True, doc="ground-truth mask")
    flow = Input(FLOW, optional=True, doc="backward flow t -> t-1 for the warp IoU (default: own DIS flow)")
    info = Input(RECORD, optional=True, doc="per-frame values to store (threshold, confidence, ...)")
    info2 = Input(RECORD, optional=True, doc="more per-frame values to store")
    record = Output(RECORD, doc="this frame's metrics record (as in metrics.json)")
    stateless = False

    class Params(NodeParams):
        threshold: float = Field(0.5, gt=0.0, lt=1.0, description="binarize probability maps at this value")
        bound_th: float = Field(0.008, gt=0.0, le=100.0,
                                description="F-measure boundary tolerance: fraction of the diagonal (<1) or px")
        flow_preset: str = Field("medium", pattern="^(ultrafast|fast|medium|off)$",
                                 description="DIS preset of the own flow (when no flow input); off = no warp-IoU")
        flow_scale: float = Field(1.0, gt=0.05, le=1.0, description="own flow computed at this scale")
        ghost_min_pixels: int = Field(0, ge=0, description="a ghost frame has more than this many pixels")
        min_fidelity: float = Field(0.8, ge=0.0, le=1.0,
                                    description="without ground truth, the tuning objective (stabilized warp-IoU) "
                                                "is penalized when mean IoU(stabilized, raw) falls below this")
        filename: str = Field("metrics.json", description="file written in the output directory")

    def setup(self, ctx):
        self._frames: list[dict] = []
        self._prev: dict = {}
        self._prev_gray = None
        self._dis = None
        self._ghosts = {s: GhostTracker(min_pixels=self.params.ghost_min_pixels) for s in STREAMS}
        self._has_gt = False

    def _own_flow(self, frame) -> Optional[np.ndarray]:
        import cv2

        gray = to_gray(frame.image)
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape:
            return None
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.params.flow_preset])
        return dis_flow(gray, prev, scale=self.params.flow_scale, dis=self._dis)

    def process(self, ctx, frame, raw, stabilized, gt=None, flow=None, info=None, info2=None):
        p = self.params
        masks = {"raw": binarize(raw, p.threshold), "stabilized": binarize(stabilized, p.threshold)}
        g = None
        if gt is not None:
            g = binarize(gt, p.threshold)
            masks["gt"] = g
            self._has_gt = True
        if flow is not None:
            fl = to_numpy(flow)
        else:
            fl = None if p.flow_preset == "off" else self._own_flow(frame)
        rec = {"index": int(ctx.index if ctx.index >= 0 else frame.index),
               "name": frame_name(frame)}
        ghosts = {}
        if g is not None:
            for s, m in masks.items():
                ghosts[s] = self._ghosts[s].update({s: m}, g)[s]
        for s, m in masks.items():
            prev = self._prev.get(s)
            if prev is not None and prev.shape != m.shape:
                prev = None
            f = fl if (fl is not None and prev is not None and fl.shape[:2] == m.shape) else None
            d = frame_stats(m, prev, f, g if s != "gt" else None, p.bound_th)
            d["ghost_px"] = ghosts.get(s) if s != "gt" else None
            rec[s] = _round(d)
            self._prev[s] = m
        merged = {}
        for extra in (info, info2):
            if isinstance(extra, dict):
                merged.update(_jsonable(extra))
        rec["info"] = merged
        rec["fidelity"] = round(iou(masks["stabilized"], masks["raw"]), 5)
        self._frames.append(rec)
        return {"record": rec}

    def summary(self) -> dict:
        out = {}
        for s in STREAMS:
            rows = [f[s] for f in self._frames if s in f]
            if not rows:
                continue
            runs = self._ghosts[s].runs if (self._has_gt and s != "gt") else None
            sm = summarize(rows, runs)
            if s == "gt":
                sm["ghost_frames"] = sm["ghost_pixels"] = None
            out[s] = _round(sm)
        return out

    def objective(self, summary: dict) -> Optional[float]:
        """What ``graphrun tune`` maximizes: stabilized J with ground truth; otherwise stabilized
        warp-IoU, minus twice the shortfall of fidelity (mean IoU with the raw masks) below
        ``min_fidelity``, so a tuner cannot buy stability by ignoring the segmenter."""
        stab = summary.get("stabilized", {})
        if self._has_gt and stab.get("J") is not None:
            return stab["J"]
        fid = stab.get("fidelity")
        if stab.get("warp_iou") is None or fid is None:
            return None
        return stab["warp_iou"] - 2.0 * max(0.0, self.params.min_fidelity - fid)

    def finish(self, ctx):
        summary = self.summary()
        if "stabilized" in summary:
            summary["stabilized"]["fidelity"] = mean_defined([f["fidelity"] for f in self._frames])
        ctx.publish("metrics", summary)
        objective = self.objective(summary)
        if objective is not None:
            ctx.publish("objective", objective)
        ctx.log(format_table(summary, len(self._frames)))
        if ctx.out_dir:
            write_atomic(Path(ctx.out_dir) / self.params.filename,
                         json.dumps({"summary": summary, "frames": self._frames}, indent=1))

    def close(self):
        self._prev = {}
        self._prev_gray = None

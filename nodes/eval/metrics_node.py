"""The ``metrics`` node: stability and accuracy of raw vs stabilized masks over a run, into metrics.json(l)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import Field, field_validator

from graphrun.runtime import Input, Node, NodeParams, Output, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FLOW, FRAME, MASK, RECORD, TENSOR

from ..common import DIS_PRESETS, binarize, frame_name, iou, to_gray, to_numpy, write_atomic
from ..common.alerts import alerts_of, os_words, warn, warnings_of
from ..common.size import SizeWatch, capped_scale, every_nth, every_nth_flow, sample_step, size_text
from .checks import Agreement, Limits, judge
from .lag import LagTracker
from .metrics import WORSE_MARGIN, GhostTracker, StreamSummary, dis_flow, frame_stats, warp_masks, worse_than_raw

STREAMS = ("raw", "stabilized", "gt")
SKIPPED_LISTED = 20   # skipped frame indices (and size changes) listed in metrics.json
SUMMARY_KEYS = ("consecutive_iou", "l1", "area_cv", "warp_iou", "J", "F", "ghost_frames", "ghost_pixels", "fidelity",
                "lag_frames", "frames_worse_than_raw")


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


def partial_text(run: dict) -> str:
    """``partial: 148 of 3100 frames (stopped early)`` for an interrupted run, else ``""``."""
    if not run.get("interrupted"):
        return ""
    done, expected = run.get("frames_done"), run.get("frames_expected")
    of = f" of {expected}" if expected else ""
    return f"partial: {done}{of} frames (the run was stopped early)"


@register("metrics")
class Metrics(Node):
    """Measure temporal stability and accuracy of raw vs stabilized masks; write metrics.json(l).

    Per stream (raw, stabilized, and the ground truth itself when connected): IoU and mean L1
    between consecutive masks, area coefficient of variation, flow-compensated IoU (IoU of the
    flow-warped mask t-1 with mask t: stability that does not punish motion), and with ground
    truth J (IoU; both empty = 1), the DAVIS boundary F-measure and ghosts (mask pixels left where
    an object just disappeared; ``ghost_frames`` = longest run after a departure). With ground
    truth each stabilized record says ``worse_than_raw`` (its J more than ``worse_margin`` below
    the raw mask's: the stabilizer made that frame much worse) and the summary counts them
    (``frames_worse_than_raw``). Probability
    maps are binarized at ``threshold``. Without a ``flow`` input the node computes DIS flow on the
    frames itself (independent of the stabilizer's own flow, which would flatter it).

    Memory per frame is constant: each frame's record is appended to ``<out>/metrics.jsonl`` (one
    JSON object per line, flushed) as the run goes, and the summary is kept as running sums. At
    finish: ``<out>/metrics.json`` {summary: {raw, stabilized, gt}, run: {frames_done,
    frames_expected, interrupted, frames_skipped, skipped_first, size_changes, warnings, alerts,
    lag_first_frames, records}}
    and a table in the log. Without ``--out`` nothing is written. Warnings (checks.py: logged, and
    in metrics.json as ``run.warnings``, the lines, and ``run.alerts``, ``[{code, node, message,
    value, limit}]`` with every warning of the run, the report's and batch's source) when the
    stabilized masks cannot be trusted: mean fidelity below ``warn_fidelity``, empty on more than
    ``warn_empty`` of the frames where the raw mask is not, more than ``warn_area_ratio`` times its
    area or less than ``warn_area_shrink`` of it, lag on more than ``warn_lag_share`` of the frames,
    a stability figure worse than the raw masks' (``warn_stability_loss``, ``warn_area_cv_rise``). A change
    of the frame size restarts the consecutive measures (logged). Lag (``lag.py``): a stabilized
    mask that shows what neither the segmenter (the raw masks of the frame and, moved along the
    flow, of both neighbours) nor the motion explains trails the object; ``lag_frames`` counts the
    frames where that exceeds ``lag_frac`` of the object (each record carries the previous frame's
    as ``lag_prev``: it needs the next raw mask). ``record`` (one per frame) can
    feed ``report.metrics`` so the report runs after."""

    frame = Input(FRAME, doc="the video frame (name, and flow when none is connected)")
    raw = Input(TENSOR, doc="raw segmenter probability map or mask (H,W)")
    stabilized = Input(TENSOR, doc="stabilized mask or probability map (H,W)")
    gt = Input(MASK, optional=True, doc="ground-truth mask")
    flow = Input(FLOW, optional=True, doc="backward flow t -> t-1 for the warp IoU (default: own DIS flow)")
    info = Input(RECORD, optional=True, doc="per-frame values to store (threshold, confidence, ...)")
    info2 = Input(RECORD, optional=True, doc="more per-frame values to store")
    record = Output(RECORD, doc="this frame's metrics record (a line of metrics.jsonl)")
    taps = {"record": "scalars"}  # what --record/--view show
    stateless = False

    class Params(NodeParams):
        threshold: float = Field(0.5, gt=0.0, lt=1.0, description="binarize probability maps at this value")
        bound_th: float = Field(0.008, gt=0.0, le=100.0,
                                description="F-measure boundary tolerance: fraction of the diagonal (<1) or px")
        flow_preset: str = Field("medium", pattern="^(ultrafast|fast|medium|off)$",
                                 description="DIS preset of the own flow (when no flow input); off = no warp-IoU")
        flow_scale: float = Field(1.0, gt=0.05, le=1.0, description="own flow computed at this scale")
        flow_max_width: int = Field(1280, ge=0, le=16384,
                                    description="... and at most this wide (0 = no limit): 4K frames -> 1280 px")
        ghost_min_pixels: int = Field(0, ge=0, description="a ghost frame has more than this many pixels")
        min_fidelity: float = Field(0.8, ge=0.0, le=1.0,
                                    description="without ground truth, the tuning objective (stabilized warp-IoU) "
                                                "is penalized when mean IoU(stabilized, raw) falls below this")
        warn_fidelity: float = Field(Limits.min_fidelity, ge=0.0, le=1.0,
                                     description="warn when the mean IoU(stabilized, raw) is below this "
                                                 "(with ground truth: and J did not rise)")
        warn_empty: float = Field(Limits.max_empty, ge=0.0, le=1.0,
                                  description="warn when the stabilized mask is empty on more than this fraction "
                                              "of the frames where the raw mask is not")
        warn_area_ratio: float = Field(Limits.max_area_ratio, ge=1.0, le=1000.0,
                                       description="warn when the stabilized masks are this many times "
                                                   "the raw masks' area on average")
        warn_area_shrink: float = Field(Limits.min_area_ratio, ge=0.0, le=1.0,
                                        description="warn when the stabilized masks are less than this fraction "
                                                    "of the raw masks' area on average (with ground truth: and J "
                                                    "did not rise)")
        warn_lag_share: float = Field(Limits.max_lag_share, ge=0.0, le=1.0,
                                      description="warn when more than this fraction of the frames lag "
                                                  "(with ground truth: and J did not rise)")
        warn_stability_loss: float = Field(Limits.max_stability_loss, ge=0.0, le=10.0,
                                           description="warn when the stabilized area CV or flipped pixels are "
                                                       "this much (relative) above the raw ones', or the "
                                                       "warp-IoU this much below (with ground truth: and J "
                                                       "did not rise)")
        warn_area_cv_rise: float = Field(Limits.max_area_cv_rise, ge=0.0, le=100.0,
                                         description="warn when the stabilized area CV is this much (relative) "
                                                     "above the raw one's (it rises up to 19% where stabilization "
                                                     "fixes DAVIS predictions)")
        lag_frac: float = Field(0.05, ge=0.0, le=1.0,
                                description="a lag frame: the stabilized mask shows more than this fraction of the "
                                            "object's area that neither the raw masks of the frame and its "
                                            "neighbours nor the motion explain (0 = lag not measured)")
        warp_max_width: int = Field(0, ge=0, le=16384,
                                    description="warp-IoU (and the lag) measured on every n-th pixel, at most this "
                                                "wide (0 = every pixel; an unbiased estimate, ~n^2 x cheaper)")
        lag_max_width: int = Field(320, ge=0, le=16384,
                                   description="lag is judged on every n-th pixel, at most this wide (0 = all)")
        worse_margin: float = Field(WORSE_MARGIN, ge=0.0, le=1.0,
                                    description="with ground truth, a frame whose stabilized J is more than this "
                                                "below the raw J counts as worse_than_raw")
        filename: str = Field("metrics.json", description="summary file written in the output directory")
        records: str = Field("metrics.jsonl", description="per-frame records file (JSON lines) in the output "
                                                          "directory; empty = none")

        @field_validator("flow_preset", mode="before")
        @classmethod
        def _off(cls, v):
            return "off" if v is False else v        # --set metrics.flow_preset=off reads as YAML false

    def setup(self, ctx):
        self._prev: dict = {}
        self._prev_gray = None
        self._dis = None
        self._ghosts = {s: GhostTracker(min_pixels=self.params.ghost_min_pixels) for s in STREAMS}
        self._streams = {s: StreamSummary() for s in STREAMS}
        self._agree = Agreement()
        self._sizes = SizeWatch("consecutive measures restart")
        self._lag = (LagTracker(self.params.lag_frac, keep_records=False, max_width=self.params.lag_max_width)
                     if self.params.lag_frac > 0 else None)
        self._has_gt = False
        self._worse = 0
        self._done = 0
        self._last_index = -1
        self._skipped = 0
        self._skipped_first: list[int] = []
        self._size_changes: list[dict] = []
        self._jsonl = None
        if ctx.out_dir and self.params.records:
            path = Path(ctx.out_dir) / self.params.records
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._jsonl = open(path, "w", encoding="utf-8")
            except OSError as exc:
                raise UserInputError(f"metrics '{ctx.name}': cannot write {exc.filename or path}: "
                                     f"{os_words(exc)}") from None

    def _own_flow(self, frame, size: tuple[int, int]) -> Optional[np.ndarray]:
        import cv2

        gray = to_gray(frame.image)
        prev, self._prev_gray = self._prev_gray, gray
        if prev is None or prev.shape != gray.shape:
            return None
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.params.flow_preset])
        p = self.params
        scale = capped_scale(p.flow_scale, p.flow_max_width, gray.shape[1])
        return dis_flow(gray, prev, scale=scale, dis=self._dis, size=size)

    def _count(self, index: int) -> None:
        """Frames that never reached this node complete (skipped upstream by ``on_error: skip``,
        or dropped in realtime) show as gaps in the frame index."""
        gap = index - self._last_index - 1
        if gap > 0:
            self._skipped += gap
            room = SKIPPED_LISTED - len(self._skipped_first)
            self._skipped_first.extend(range(self._last_index + 1, self._last_index + 1 + min(gap, max(room, 0))))
        self._last_index = max(self._last_index, index)
        self._done += 1

    def process(self, ctx, frame, raw, stabilized, gt=None, flow=None, info=None, info2=None):
        p = self.params
        index = int(ctx.index if ctx.index >= 0 else frame.index)
        self._count(index)
        masks = {"raw": binarize(raw, p.threshold), "stabilized": binarize(stabilized, p.threshold)}
        old = self._sizes.size
        if self._sizes.changed(ctx, masks["raw"].shape):
            if len(self._size_changes) < SKIPPED_LISTED:
                self._size_changes.append({"frame": index, "from": size_text(old), "to": size_text(self._sizes.size)})
            self._prev = {}
            self._prev_gray = None
            for tracker in self._ghosts.values():
                tracker.reset()
        g = None
        if gt is not None:
            g = binarize(gt, p.threshold)
            masks["gt"] = g
            self._has_gt = True
        n = sample_step(masks["raw"].shape[1], p.warp_max_width)      # warp-IoU and lag on every n-th pixel

        def sub(a):
            return every_nth(a, n)

        small = sub(masks["raw"]).shape
        if flow is not None:
            fl = to_numpy(flow)
            if fl.shape[:2] == masks["raw"].shape:
                fl = every_nth_flow(fl, n)
        else:
            fl = None if p.flow_preset == "off" else self._own_flow(frame, small)
        rec = {"index": index, "name": frame_name(frame)}
        ghosts = {}
        if g is not None:
            for s, m in masks.items():
                ghosts[s] = self._ghosts[s].update({s: m}, g)[s]
        prevs = {s: prev for s in masks if (prev := self._prev.get(s)) is not None and prev.shape == masks[s].shape}
        movable = {s: sub(prev) for s, prev in prevs.items() if fl is not None and sub(prev).shape == fl.shape[:2]}
        warped = dict(zip(movable, warp_masks(list(movable.values()), fl))) if movable else {}
        for s, m in masks.items():
            d = frame_stats(m, prevs.get(s), None, g if s != "gt" else None, p.bound_th)
            if s in warped:
                d["warp_iou"] = iou(warped[s], sub(m))
            d["ghost_px"] = ghosts.get(s) if s != "gt" else None
            rec[s] = _round(d)
            self._streams[s].add(d)
            self._prev[s] = m
        if g is not None:
            worse = worse_than_raw(rec["stabilized"]["J"], rec["raw"]["J"], p.worse_margin)
            rec["stabilized"]["worse_than_raw"] = worse
            self._worse += bool(worse)
        merged = {}
        for extra in (info, info2):
            if isinstance(extra, dict):
                merged.update(_jsonable(extra))
        rec["info"] = merged
        rec["fidelity"] = round(self._agree.add(masks["raw"], masks["stabilized"]), 5)
        if self._lag is not None:      # the lag of the previous frame: it needs this frame's raw mask
            f = fl if (fl is not None and fl.shape[:2] == small) else None
            done = self._lag.update(sub(masks["stabilized"]), sub(masks["raw"]), f, sub(g), index, step=n)
            if done is not None:
                rec["lag_prev"] = {k: done[k] for k in ("index", "lag_px", "lag_frac", "lag")}
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self._jsonl.flush()
        return {"record": rec}

    def summary(self) -> dict:
        out = {}
        for s in STREAMS:
            acc = self._streams[s]
            if acc.n == 0:
                continue
            runs = self._ghosts[s].runs if (self._has_gt and s != "gt") else None
            sm = acc.summary(runs)
            if s == "gt":
                sm["ghost_frames"] = sm["ghost_pixels"] = None
            if s == "stabilized":
                sm["fidelity"], sm["empty_share"] = self._agree.fidelity, self._agree.empty_share
                sm["frames_worse_than_raw"] = self._worse if self._has_gt else None
                if self._lag is not None:
                    lag = self._lag.summary()
                    sm.update({k: lag[k] for k in ("lag_frames", "lag_frac", "lag_outside_gt_px")})
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

    def run_info(self, ctx) -> dict:
        """The ``run`` section of metrics.json: how much of the stream was measured, and warnings."""
        return {"frames_done": self._done, "frames_expected": ctx.expected_frames,
                "interrupted": bool(ctx.interrupted), "frames_skipped": self._skipped,
                "skipped_first": list(self._skipped_first), "size_changes": list(self._size_changes),
                "warnings": warnings_of(ctx), "alerts": alerts_of(ctx),
                "lag_first_frames": self._lag.summary()["lag_frame_indices"] if self._lag is not None else [],
                "records": self.params.records if self._jsonl is not None else None}

    def finish(self, ctx):
        p = self.params
        if self._lag is not None:
            self._lag.finish()
        summary = self.summary()
        limits = Limits(min_fidelity=p.warn_fidelity, max_empty=p.warn_empty, max_area_ratio=p.warn_area_ratio,
                        min_area_ratio=p.warn_area_shrink, max_lag_share=p.warn_lag_share,
                        max_stability_loss=p.warn_stability_loss, max_area_cv_rise=p.warn_area_cv_rise)
        lag = self._lag.summary() if self._lag is not None else None
        for a in judge(summary, self._agree, lag, limits):
            warn(ctx, f"{ctx.name}: {a.message}", code=a.code, value=a.value, limit=a.limit)
        if self._skipped:
            warn(ctx, f"{ctx.name}: {self._skipped} frame(s) never arrived complete (skipped upstream"
                      f"{' or dropped' if ctx.mode == 'realtime' else ''}), first at frame {self._skipped_first[0]}",
                 code="frames_skipped", value=self._skipped)
        run = self.run_info(ctx)
        ctx.publish("metrics", summary)
        ctx.publish("metrics_run", run)
        objective = self.objective(summary)
        if objective is not None:
            ctx.publish("objective", objective)
        ctx.log(format_table(summary, self._done))
        note = partial_text(run)
        if note:
            ctx.log(f"{ctx.name}: {note}")
        self._close_records()
        if ctx.out_dir:
            write_atomic(Path(ctx.out_dir) / p.filename, json.dumps({"summary": summary, "run": run}, indent=1))

    def _close_records(self):
        f, self._jsonl = self._jsonl, None
        if f is not None:
            f.close()

    def close(self):
        self._close_records()
        self._prev = {}
        self._prev_gray = None

"""The ``report`` sink: plots over time, a gallery of telling frames and one offline HTML page.

Reads ``<out>/metrics.json`` (written by the ``metrics`` node) at finish; connect the metrics
node's per-frame record to ``report.metrics`` so the report finishes after it. Without that
file the report still renders the curves it measures itself and says the metrics are missing.
"""
from __future__ import annotations

import heapq
import html
import json
import math
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.types import FRAME, MASK, RECORD, TENSOR

from ..common import (
    GT_COLOR,
    RAW_COLOR,
    STAB_COLOR,
    frame_name,
    iou,
    mask_to_float,
    needs_out,
    rgb_uint8,
    tint,
    to_numpy,
    write_atomic,
)

SUMMARY_ROWS = [  # key, label, better ("+" higher, "-" lower, "" neither)
    ("J", "J (IoU with ground truth)", "+"),
    ("F", "F (boundary accuracy)", "+"),
    ("consecutive_iou", "IoU between consecutive frames", "+"),
    ("warp_iou", "IoU with the flow-warped previous mask", "+"),
    ("l1", "mean L1 between consecutive prob maps", "-"),
    ("area_cv", "mask area coefficient of variation", "-"),
    ("ghost_frames", "ghost frames (mask where the object has left)", "-"),
    ("ghost_pixels", "ghost pixels", "-"),
]


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def _fmt(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    if math.isnan(f):
        return "&ndash;"
    if f == int(f) and abs(f) >= 10:
        return str(int(f))
    return f"{f:.3f}"


@register("report")
class Report(Node):
    """Writes ``<out>/report.html`` with plots (``plots/``) and a frame gallery (``gallery/``).

    Plots, raw vs stabilized over time: IoU between consecutive frames, mask area, the
    stabilizer's threshold / confidence / miss streak, and J when ground truth exists; taken from
    ``metrics.json``, else measured here. The gallery shows the frames where stabilization helped
    most (largest J gain; without ground truth, largest consecutive-IoU gain) and where the raw
    segmentation failed worst (lowest raw J; without ground truth, lowest IoU between raw and
    stabilized). Only small thumbnails of those frames are kept in memory. The page is static:
    open it from disk, no server needed.
    """

    frame = Input(FRAME, doc="the video frame")
    raw = Input(TENSOR, doc="raw mask or probability (H,W)")
    stabilized = Input(TENSOR, doc="stabilized mask or probability (H,W)")
    gt = Input(MASK, optional=True, doc="ground-truth mask")
    info = Input(RECORD, optional=True,
                 doc="stabilizer state (threshold, confidence, miss_streak), used without metrics.json")
    metrics = Input(RECORD, optional=True,
                    doc="any record of the metrics node: links report after it so metrics.json exists at finish")
    stateless = False

    class Params(NodeParams):
        title: str = Field("graphrun report", description="page title")
        metrics_file: str = Field("metrics.json", description="metrics file inside --out")
        gallery_size: int = Field(4, ge=0, le=50, description="frames in each gallery row")
        thumb_width: int = Field(320, ge=32, le=2048, description="width of the gallery thumbnails")
        video: str = Field("overlay.mp4", description="video to embed (relative to --out); empty = none")

    def setup(self, ctx) -> None:
        self.out = needs_out(ctx, "report")
        self.rows: list[dict] = []
        self.prev = {"raw": None, "stabilized": None, "gt": None}
        self.helped: list = []    # min-heaps of (key, index, thumbnail dict)
        self.failed: list = []
        self.has_gt = False
        self.size = None

    # -- per frame ------------------------------------------------------------------------
    def _thumb(self, frame, raw_p, stab_p, gt_b) -> dict:
        import cv2

        img = rgb_uint8(frame.image)
        h, w = img.shape[:2]
        tw = min(self.params.thumb_width, w)
        th = max(1, round(h * tw / w))

        def small(m):
            if m is None:
                return None
            return cv2.resize(m.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)

        return {"image": cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA), "raw": small(raw_p),
                "stabilized": small(stab_p), "gt": small(gt_b), "name": frame_name(frame)}

    def _keep(self, heap: list, key: float, index: int, make, n: int) -> None:
        if n == 0 or math.isnan(key):
            return
        if len(heap) < n:
            heapq.heappush(heap, (key, index, make()))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, index, make()))

    def process(self, ctx, frame, raw, stabilized, gt=None, info=None, metrics=None):
        raw_p, stab_p = mask_to_float(raw), mask_to_float(stabilized)
        gt_b = None if gt is None else to_numpy(gt).astype(bool)
        self.size = raw_p.shape
        masks = {"raw": raw_p > 0.5, "stabilized": stab_p > 0.5, "gt": gt_b}
        row = {"index": int(frame.index), "name": frame_name(frame)}
        for k, m in masks.items():
            if m is None:
                continue
            row[k] = {"area": int(m.sum()), "iou_prev": iou(m, self.prev[k]) if self.prev[k] is not None else None}
            self.prev[k] = m
        if gt_b is not None:
            self.has_gt = True
            row["raw"]["J"] = iou(masks["raw"], gt_b)
            row["stabilized"]["J"] = iou(masks["stabilized"], gt_b)
        if isinstance(info, dict):
            row["info"] = {k: info.get(k) for k in ("threshold", "confidence", "miss_streak") if k in info}
        self.rows.append(row)

        make = lambda: self._thumb(frame, raw_p, stab_p, gt_b)  # noqa: E731
        if gt_b is not None:
            gain = row["stabilized"]["J"] - row["raw"]["J"]
            worst = -row["raw"]["J"]
        else:
            a, b = row["stabilized"]["iou_prev"], row["raw"]["iou_prev"]
            gain = float("nan") if a is None or b is None else a - b
            worst = -iou(masks["raw"], masks["stabilized"])
        k = self.params.gallery_size
        if gain > 0:  # frames where stabilization did not help are no example of it
            self._keep(self.helped, gain, row["index"], make, k)
        self._keep(self.failed, worst, row["index"], make, 2 * k)  # 2k: the helped ones are left out
        return None

    # -- finish ---------------------------------------------------------------------------
    def finish(self, ctx) -> None:
        metrics, note = self._load_metrics()
        plots = self._plots(metrics)
        gallery = self._gallery()
        page = self._html(metrics, note, plots, gallery)
        write_atomic(self.out / "report.html", page)
        ctx.log(f"{ctx.name}: wrote {self.out / 'report.html'} ({len(plots)} plots, {len(gallery)} gallery images)")

    def _load_metrics(self):
        path = self.out / self.params.metrics_file
        if not path.is_file():
            return None, (f"{self.params.metrics_file} is missing (no metrics node in the graph, or it failed): "
                          f"the curves below are measured by the report node itself; summary not available.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return None, f"{self.params.metrics_file} could not be read ({exc}); curves measured by the report node."
        if not isinstance(data, dict):
            return None, f"{self.params.metrics_file} is not a JSON object; curves measured by the report node."
        return data, ""

    def _series(self, metrics: Optional[dict]) -> dict:
        """Per-frame curves {(group, key): (x, y)} from metrics.json frames, else from own rows."""
        frames = None
        if metrics and isinstance(metrics.get("frames"), list) and metrics["frames"]:
            frames = [f for f in metrics["frames"] if isinstance(f, dict)]
        src = frames if frames else self.rows
        out: dict = {}
        for i, f in enumerate(src):
            x = f.get("index", i)
            for group in ("raw", "stabilized", "gt", "info"):
                g = f.get(group)
                if not isinstance(g, dict):
                    continue
                for key, val in g.items():
                    if isinstance(val, (int, float)) or val is None:
                        xs, ys = out.setdefault((group, key), ([], []))
                        xs.append(_num(x))
                        ys.append(_num(val))
        return {k: (np.asarray(x), np.asarray(y)) for k, (x, y) in out.items() if np.isfinite(y).any()}

    def _plots(self, metrics) -> list[tuple[str, str]]:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        series = self._series(metrics)
        pdir = self.out / "plots"
        pdir.mkdir(parents=True, exist_ok=True)
        colors = {"raw": tuple(c / 255 for c in RAW_COLOR), "stabilized": tuple(c / 255 for c in STAB_COLOR),
                  "gt": tuple(c / 255 for c in GT_COLOR)}
        specs = [  # file, title, y label, keys, y limits
            ("j", "J: IoU with ground truth", "J", ["J"], (0, 1.02)),
            ("consecutive_iou", "IoU between consecutive frames (flicker)", "IoU(t, t-1)", ["iou_prev"], None),
            ("warp_iou", "IoU with the flow-warped previous mask", "warp IoU", ["warp_iou"], None),
            ("l1", "Mean L1 between consecutive probability maps", "L1", ["l1_prev"], None),
            ("area", "Mask area", "pixels", ["area"], None),
        ]
        written = []
        for fname, title, ylabel, keys, ylim in specs:
            lines = [(g, k) for k in keys for g in ("raw", "stabilized", "gt") if (g, k) in series]
            if not lines:
                continue
            fig = Figure(figsize=(8, 3.0), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            for g, k in lines:
                x, y = series[(g, k)]
                ax.plot(x, y, label=g, color=colors[g], lw=1.4 if g != "gt" else 1.0,
                        ls="-" if g != "gt" else "--")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("frame")
            ax.set_ylabel(ylabel)
            if ylim:
                ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
            fig.tight_layout()
            fig.savefig(pdir / f"{fname}.png")
            written.append((f"plots/{fname}.png", title))
        state = [(k, lbl) for k, lbl in (("threshold", "adaptive threshold"), ("confidence", "confidence"),
                                          ("miss_streak", "miss streak (frames)")) if ("info", k) in series]
        if state:
            fig = Figure(figsize=(8, 1.0 + 1.4 * len(state)), dpi=100)
            FigureCanvasAgg(fig)
            axes = fig.subplots(len(state), 1, sharex=True, squeeze=False)[:, 0]
            for ax, (k, lbl) in zip(axes, state):
                x, y = series[("info", k)]
                ax.plot(x, y, color=colors["stabilized"], lw=1.4, drawstyle="steps-mid" if k == "miss_streak" else None)
                ax.set_ylabel(lbl, fontsize=8)
                ax.grid(alpha=0.3)
            axes[0].set_title("Stabilizer state over time", fontsize=10)
            axes[-1].set_xlabel("frame")
            fig.tight_layout()
            fig.savefig(pdir / "state.png")
            written.append(("plots/state.png", "Stabilizer state over time"))
        return written

    def _gallery(self) -> list[tuple[str, str]]:
        import cv2

        gdir = self.out / "gallery"
        items = []
        helped = sorted(self.helped, key=lambda t: -t[0])
        shown = {t[1] for t in helped}
        failed = [t for t in sorted(self.failed, key=lambda t: -t[0]) if t[1] not in shown]
        failed = failed[: self.params.gallery_size]
        for label, chosen in (("helped", helped), ("failed", failed)):
            for key, index, th in chosen:
                panels = [tint(th["image"], th["raw"], RAW_COLOR, "raw"),
                          tint(th["image"], th["stabilized"], STAB_COLOR, "stabilized")]
                if th["gt"] is not None:
                    panels.append(tint(th["image"], th["gt"], GT_COLOR, "ground truth"))
                sep = np.full((th["image"].shape[0], 3, 3), 255, np.uint8)
                row = panels[0]
                for p in panels[1:]:
                    row = np.concatenate([row, sep, p], axis=1)
                gdir.mkdir(parents=True, exist_ok=True)
                fname = f"{label}_{th['name']}.png"
                cv2.imwrite(str(gdir / fname), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
                r = next((r for r in self.rows if r["index"] == index), None)
                if self.has_gt and r is not None and "J" in r.get("raw", {}):
                    cap = (f"frame {th['name']}: J raw {r['raw']['J']:.3f} &rarr; stabilized "
                           f"{r['stabilized']['J']:.3f}")
                elif label == "helped":
                    cap = f"frame {th['name']}: consecutive IoU gain {key:+.3f}"
                else:
                    cap = f"frame {th['name']}: IoU(raw, stabilized) {-key:.3f}"
                items.append((label, f"gallery/{fname}", cap))
        return items

    def _html(self, metrics, note, plots, gallery) -> str:
        p = self.params
        esc = html.escape
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(p.title)}</title>",
                 "<style>body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}"
                 "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;"
                 "text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
                 "td.best{font-weight:bold;background:#e8f6ec}img{max-width:100%;border:1px solid #ddd}"
                 ".note{background:#fff4e0;border-left:4px solid #f0a020;padding:8px 12px}"
                 "figure{margin:10px 0}figcaption{font-size:0.9em;color:#555}"
                 ".raw{color:#d04010}.stab{color:#189040}.gt{color:#2060d0}</style></head><body>",
                 f"<h1>{esc(p.title)}</h1>",
                 f"<p>{len(self.rows)} frames{'' if not self.size else f' of {self.size[1]}x{self.size[0]}'}. "
                 "<span class='raw'>raw</span> = the per-frame segmenter, <span class='stab'>stabilized</span> "
                 "= after temporal stabilization, <span class='gt'>ground truth</span> where available.</p>"]
        if note:
            parts.append(f"<p class='note'>{esc(note)}</p>")
        parts.append("<h2>Summary</h2>")
        parts.append(self._summary_table(metrics))
        if p.video:
            v = esc(p.video)
            parts.append(f"<h2>Video</h2><video src='{v}' controls muted loop preload='metadata' "
                         f"style='max-width:100%' "
                         f"onerror=\"this.outerHTML='<p class=note>{v} is not there or cannot be played here "
                         f"(the graph may have no overlay_writer).</p>'\"></video>"
                         f"<p><a href='{v}'>{v}</a>: raw (left) and stabilized (right).</p>")
        if plots:
            parts.append("<h2>Over time</h2>")
            for src, title in plots:
                parts.append(f"<figure><img src='{esc(src)}' alt='{esc(title)}'></figure>")
        if gallery:
            titles = {"helped": ("Where stabilization helped most", "largest gain"),
                      "failed": ("Where the raw segmentation failed worst", "")}
            for label in ("helped", "failed"):
                items = [g for g in gallery if g[0] == label]
                if not items:
                    continue
                parts.append(f"<h2>{titles[label][0]}</h2>")
                for _, src, cap in items:
                    parts.append(f"<figure><img src='{esc(src)}'><figcaption>{cap}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def _summary_table(self, metrics) -> str:
        summary = metrics.get("summary") if isinstance(metrics, dict) else None
        if not isinstance(summary, dict) or not summary:
            return "<p>No summary: metrics are missing.</p>"
        cols = [c for c in ("raw", "stabilized", "gt") if isinstance(summary.get(c), dict)]
        extra = [c for c in summary if c not in cols and isinstance(summary.get(c), dict)]
        cols += extra
        known = {k for k, _, _ in SUMMARY_ROWS}
        keys = [(k, lbl, better) for k, lbl, better in SUMMARY_ROWS
                if any(summary[c].get(k) is not None for c in cols)]
        others = sorted({k for c in cols for k in summary[c] if k not in known})
        keys += [(k, k, "") for k in others if any(summary[c].get(k) is not None for c in cols)]
        names = {"raw": "raw", "stabilized": "stabilized", "gt": "ground truth"}
        out = ["<table><tr><th>metric</th>" + "".join(f"<th>{html.escape(names.get(c, c))}</th>" for c in cols)
               + "</tr>"]
        for k, lbl, better in keys:
            vals = [summary[c].get(k) for c in cols]
            best = None
            cand = [(i, _num(v)) for i, v in enumerate(vals) if cols[i] in ("raw", "stabilized")
                    and np.isfinite(_num(v))]
            if better and len(cand) == 2 and cand[0][1] != cand[1][1]:
                best = (max if better == "+" else min)(cand, key=lambda t: t[1])[0]
            arrow = {"+": " &uarr;", "-": " &darr;"}.get(better, "")
            cells = "".join(f"<td class='best'>{_fmt(v)}</td>" if i == best else f"<td>{_fmt(v)}</td>"
                            for i, v in enumerate(vals))
            out.append(f"<tr><td>{html.escape(lbl)}{arrow}</td>{cells}</tr>")
        out.append("</table><p style='font-size:0.9em;color:#555'>&uarr; higher is better, &darr; lower is better; "
                   "bold: the better of raw and stabilized.</p>")
        return "\n".join(out)

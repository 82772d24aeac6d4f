"""The ``report`` sink: plots over time, a gallery of telling frames and one offline HTML page.

Memory stays bounded whatever the length of the run: the curves are kept downsampled
(``series.py``), the gallery as a few thumbnails (``gallery.py``). The per-frame curves come from
the metrics node's records (connect ``metrics.record`` to ``report.metrics``, which also makes the
report finish after the metrics node so ``metrics.json`` exists); without them the report
measures area and consecutive IoU itself and says the summary is missing.
"""
from __future__ import annotations

import html
import json
import math
from typing import Optional

import numpy as np
from pydantic import Field

from graphrun.runtime import Input, Node, NodeParams, register
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.types import FRAME, MASK, RECORD, TENSOR

from ..common import GT_COLOR, RAW_COLOR, STAB_COLOR, iou, mask_to_float, needs_out, tint, to_numpy, write_atomic
from ..common.alerts import alerts_of, os_words
from ..common.size import SizeWatch, size_text
from ..common.timing import FrameClock
from . import run_info
from .checks import Agreement, judge
from .gallery import Gallery
from .glossary import COLUMNS, EXPLAIN, SUMMARY_ROWS
from .series import SeriesSet
from .verdict import judge_run, next_steps

STREAMS = ("raw", "stabilized", "gt")
MAX_SIZE_CHANGES = 10


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, (bool, int)):
        return str(v)
    f = _num(v)
    if math.isnan(f):
        return html.escape(str(v)) if not isinstance(v, float) else "&ndash;"
    if f == int(f) and abs(f) >= 10:
        return str(int(f))
    return f"{f:.3f}"


@register("report")
class Report(Node):
    """Writes ``<out>/report.html`` with plots (``plots/``) and a frame gallery (``gallery/``).

    The page opens with its title (the input's name and the graph's, unless ``title`` is given),
    a banner when the run was stopped early (frames done of frames expected), and the verdict
    (verdict.py): what stabilization changed and by how much (J with ground truth, flipped pixels,
    warp-IoU...), the run's warnings (checks.py and every node's: decoding problems, stabilized
    masks far from the raw ones, lag...), the run's speed (``ctx.run_stats``: frames per second and
    the time per frame of each part of the graph), and the next step (own video, ``graphrun tune``,
    another segmenter's graph). Then the settings: graph, input, frames, size (and its changes),
    frame rate, and the parameters that differ from the defaults; each node's time; the summary
    table from ``metrics.json`` with every metric explained in words, the overlay video, plots over
    time (raw vs stabilized: consecutive and flow-warped IoU, flicker, area, fidelity, J with ground
    truth, the stabilizer's state: a fixed threshold shows the area it keeps against its target),
    downsampled to at most ``2 * max_points`` points per curve (shaded band: the min-max of the
    frames merged), and the gallery (see gallery.py: where stabilization helped most, where the raw
    segmentation failed worst; never the first ``gallery_skip`` frames nor a frame empty in both
    masks). A change of the frame size is logged and shown. The page is static: open it from
    disk, no server needed.
    """

    frame = Input(FRAME, doc="the video frame")
    raw = Input(TENSOR, doc="raw mask or probability (H,W)")
    stabilized = Input(TENSOR, doc="stabilized mask or probability (H,W)")
    gt = Input(MASK, optional=True, doc="ground-truth mask")
    info = Input(RECORD, optional=True,
                 doc="stabilizer state (threshold, confidence, miss_streak), used without metrics records")
    metrics = Input(RECORD, optional=True,
                    doc="the metrics node's per-frame record: the curves, and the report finishes after metrics")
    stateless = False

    class Params(NodeParams):
        title: str = Field("", description="page title (default: the input's name and the graph's)")
        metrics_file: str = Field("metrics.json", description="metrics summary file inside --out")
        gallery_size: int = Field(4, ge=0, le=50, description="frames in each gallery row")
        gallery_skip: int = Field(5, ge=0, le=100_000,
                                  description="first frames the gallery never shows (the segmenter's and the "
                                              "stabilizer's warm-up)")
        thumb_width: int = Field(320, ge=32, le=2048, description="width of the gallery thumbnails")
        max_points: int = Field(1000, ge=10, le=100_000,
                                description="points per curve kept (frames are merged beyond twice this)")
        video: str = Field("overlay.mp4", description="video to embed (relative to --out); empty = none")

    def setup(self, ctx) -> None:
        self.out = needs_out(ctx, "report")
        self.series = SeriesSet(self.params.max_points)
        self.gallery = Gallery(self.params.gallery_size, self.params.thumb_width, self.params.gallery_skip)
        self.agree = Agreement()
        self.clock = FrameClock()
        self.sizes = SizeWatch("consecutive measures and gallery neighbours restart")
        self.size_changes: list[tuple[int, str]] = []
        self.first_size: Optional[str] = None
        self.prev: dict = {}
        self.frames = 0
        self.records = 0
        self.has_gt = False
        self.verdict = ""

    # -- per frame ------------------------------------------------------------------------
    def process(self, ctx, frame, raw, stabilized, gt=None, info=None, metrics=None):
        raw_p, stab_p = mask_to_float(raw), mask_to_float(stabilized)
        gt_b = None if gt is None else to_numpy(gt).astype(bool)
        index = int(ctx.index if ctx.index >= 0 else frame.index)
        if self.sizes.changed(ctx, raw_p.shape):
            if len(self.size_changes) < MAX_SIZE_CHANGES:
                self.size_changes.append((index, size_text(raw_p.shape)))
            self.gallery.reset()
            self.prev = {}
        if self.first_size is None:
            self.first_size = size_text(raw_p.shape)
        self.clock.add(index, getattr(frame, "pts", None))
        self.frames += 1
        self.has_gt = self.has_gt or gt_b is not None
        if isinstance(metrics, dict):
            self.records += 1
            self.series.add_record(metrics)
        else:
            self._measure(index, raw_p > 0.5, stab_p > 0.5, gt_b, info)
        self.gallery.add(frame, raw_p, stab_p, gt_b, metrics if isinstance(metrics, dict) else None)
        return None

    def _measure(self, index, raw, stab, gt_b, info) -> None:
        """The curves without metrics records: area, consecutive IoU, J, fidelity, stabilizer state."""
        for s, m in (("raw", raw), ("stabilized", stab), ("gt", gt_b)):
            if m is None:
                continue
            prev = self.prev.get(s)
            self.series.add(s, "area", index, int(np.count_nonzero(m)))
            self.series.add(s, "iou_prev", index, iou(m, prev) if prev is not None else None)
            if gt_b is not None and s != "gt":
                self.series.add(s, "J", index, iou(m, gt_b))
            self.prev[s] = m
        self.series.add("stabilized", "fidelity", index, self.agree.add(raw, stab))
        if isinstance(info, dict):
            for k in ("threshold", "area", "target_area", "confidence", "miss_streak"):
                if k in info:
                    self.series.add("info", k, index, info[k])

    # -- finish ---------------------------------------------------------------------------
    def finish(self, ctx) -> None:
        metrics, note = self._load_metrics()
        run = metrics.get("run") if isinstance(metrics, dict) and isinstance(metrics.get("run"), dict) else {}
        alerts = self._alerts(ctx, run, metrics)
        try:
            plots = self._plots()
            gallery = self._gallery()
            page = self._html(ctx, metrics, run, note, alerts, plots, gallery)
            write_atomic(self.out / "report.html", page)
        except OSError as exc:
            raise UserInputError(f"report '{ctx.name}': cannot write into {self.out}: {os_words(exc)}") from None
        ctx.log(f"{ctx.name}: wrote {self.out / 'report.html'} (verdict: {self.verdict}; {len(plots)} plots, "
                f"{len(gallery)} gallery images)")

    def _alerts(self, ctx, run: dict, metrics) -> list[dict]:
        """Every warning of the run, structured (checks.py / alerts.py), each once: those in metrics.json,
        then those published since; without metrics.json the checks on the report's own counts."""
        found = [a for a in run.get("alerts") or [] if isinstance(a, dict)]
        found += [{"code": "node_warning", "message": str(w)} for w in run.get("warnings") or []
                  if isinstance(w, str)]                        # a metrics.json without structured alerts
        found += alerts_of(ctx)
        if not metrics:
            found += [{"code": a.code, "node": ctx.name, "message": a.message, "value": a.value, "limit": a.limit}
                      for a in judge({}, self.agree)]
        seen, out = set(), []
        for a in found:
            msg = str(a.get("message", ""))
            if msg and msg not in seen:
                seen.add(msg)
                out.append(a)
        return out

    def _load_metrics(self):
        name = self.params.metrics_file
        path = self.out / name
        if not path.is_file():
            return None, (f"{name} is missing (no metrics node in the graph, or it failed): the curves below are "
                          f"measured by the report node itself; summary not available.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return None, f"{name} could not be read ({os_words(exc)}); curves measured by the report node."
        if not isinstance(data, dict):
            return None, f"{name} is not a JSON object; curves measured by the report node."
        return data, ""

    # -- plots ----------------------------------------------------------------------------
    def _plots(self) -> list[tuple[str, str]]:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        pdir = self.out / "plots"
        pdir.mkdir(parents=True, exist_ok=True)
        colors = {"raw": tuple(c / 255 for c in RAW_COLOR), "stabilized": tuple(c / 255 for c in STAB_COLOR),
                  "gt": tuple(c / 255 for c in GT_COLOR)}
        specs = [  # file, title, y label, key, y limits
            ("j", "J: IoU with ground truth", "J", "J", (0, 1.02)),
            ("consecutive_iou", "IoU between consecutive frames (flicker)", "IoU(t, t-1)", "iou_prev", None),
            ("warp_iou", "IoU with the flow-warped previous mask", "warp IoU", "warp_iou", None),
            ("l1", "Pixels that flip between consecutive frames", "fraction", "l1_prev", None),
            ("area", "Mask area", "pixels", "area", None),
            ("fidelity", "Fidelity: IoU of the stabilized mask with the raw one", "IoU", "fidelity", (0, 1.02)),
        ]
        written = []
        merged = 1
        for fname, title, ylabel, key, ylim in specs:
            lines = [(g, self.series.get(g, key)) for g in STREAMS if self.series.get(g, key) is not None]
            if not lines:
                continue
            fig = Figure(figsize=(8, 3.0), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            for g, s in lines:
                x, mean, lo, hi = s.arrays()
                merged = max(merged, s.width)
                if s.width > 1:
                    ax.fill_between(x, lo, hi, color=colors[g], alpha=0.18, lw=0)
                ax.plot(x, mean, label=g, color=colors[g], lw=1.4 if g != "gt" else 1.0,
                        ls="-" if g != "gt" else "--")
            ax.set_title(title + (f" (each point: {merged} frames)" if merged > 1 else ""), fontsize=10)
            ax.set_xlabel("frame")
            ax.set_ylabel(ylabel)
            if ylim:
                ax.set_ylim(*ylim)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
            fig.tight_layout()
            fig.savefig(pdir / f"{fname}.png")
            written.append((f"plots/{fname}.png", title))
        state, fixed = self._state_panels()
        if state:
            fig = Figure(figsize=(8, 1.0 + 1.4 * len(state)), dpi=100)
            FigureCanvasAgg(fig)
            axes = fig.subplots(len(state), 1, sharex=True, squeeze=False)[:, 0]
            for ax, (keys, lbl) in zip(axes, state):
                for k in keys:
                    x, mean, _, _ = self.series.get("info", k).arrays()
                    target = k == "target_area"
                    ax.plot(x, mean, color=colors["gt" if target else "stabilized"], lw=1.0 if target else 1.4,
                            ls="--" if target else "-", label={"area": "area kept", "target_area": "target"}.get(k),
                            drawstyle="steps-mid" if k == "miss_streak" else None)
                if len(keys) > 1:
                    ax.legend(fontsize=7, loc="best")
                ax.set_ylabel(lbl, fontsize=8)
                ax.grid(alpha=0.3)
            title = "Stabilizer state over time" + (f" (threshold fixed at {fixed:g}: lo = hi)"
                                                     if fixed is not None else "")
            axes[0].set_title(title, fontsize=10)
            axes[-1].set_xlabel("frame")
            fig.tight_layout()
            fig.savefig(pdir / "state.png")
            written.append(("plots/state.png", title))
        return written

    def _state_panels(self) -> tuple[list[tuple[tuple[str, ...], str]], Optional[float]]:
        """The stabilizer-state panels ((info keys, y label)) and the threshold when it never moved.

        A fixed threshold (lo = hi) is a flat line: its panel gives way to the one that shows what the
        threshold does, the area it keeps against the area it aims at (``area``, ``target_area``)."""
        have = {k for k in ("threshold", "area", "target_area", "confidence", "miss_streak")
                if self.series.get("info", k) is not None}
        fixed = None
        if "threshold" in have:
            _, _, lo, hi = self.series.get("info", "threshold").arrays()
            if np.isfinite(lo).any() and np.nanmin(lo) == np.nanmax(hi):
                fixed = float(np.nanmin(lo))
        panels = []
        if "threshold" in have and fixed is None:
            panels.append((("threshold",), "adaptive threshold"))
        if "area" in have:
            panels.append((tuple(k for k in ("area", "target_area") if k in have), "area (working px)"))
        panels += [((k,), lbl) for k, lbl in (("confidence", "confidence"), ("miss_streak", "miss streak (frames)"))
                   if k in have]
        if fixed is not None and not any("area" in keys for keys, _ in panels):
            panels.insert(0, (("threshold",), "threshold (fixed)"))
        return panels, fixed

    # -- gallery --------------------------------------------------------------------------
    def _gallery(self) -> list[tuple[str, str, str]]:
        import cv2

        gdir = self.out / "gallery"
        items = []
        for label, _, caption, th in self.gallery.chosen():
            def prob(m):
                return None if m is None else m.astype(np.float32) / 255.0
            panels = [tint(th["image"], prob(th["raw"]), RAW_COLOR, "raw"),
                      tint(th["image"], prob(th["stabilized"]), STAB_COLOR, "stabilized")]
            if th["gt"] is not None:
                panels.append(tint(th["image"], prob(th["gt"]), GT_COLOR, "ground truth"))
            sep = np.full((th["image"].shape[0], 3, 3), 255, np.uint8)
            row = panels[0]
            for p in panels[1:]:
                row = np.concatenate([row, sep, p], axis=1)
            gdir.mkdir(parents=True, exist_ok=True)
            fname = f"{label}_{th['name']}.png"
            if not cv2.imwrite(str(gdir / fname), cv2.cvtColor(row, cv2.COLOR_RGB2BGR)):
                raise OSError(f"cannot write {gdir / fname}")
            items.append((label, f"gallery/{fname}", f"frame {html.escape(th['name'])}: {caption}"))
        return items

    # -- the page -------------------------------------------------------------------------
    def _settings(self, ctx, run: dict) -> list[tuple[str, str]]:
        esc = html.escape
        g = ctx.graph or {}
        rows = []
        if g.get("name"):
            rows.append(("graph", esc(str(g["name"])) + (f" ({esc(str(g['path']))})" if g.get("path") else "")))
        for i in run_info.run_inputs(ctx):
            extra = ", ".join(str(i[k]) for k in ("kind", "backend") if i.get(k))
            rows.append(("input", esc(str(i.get("path", "?"))) + (f" ({esc(extra)})" if extra else "")))
        done = run.get("frames_done", self.frames)
        expected = run.get("frames_expected", ctx.expected_frames)
        frames = f"{done}" + (f" of {expected}" if expected and expected > done else "")
        if run.get("frames_skipped"):
            frames += f"; {run['frames_skipped']} skipped upstream (first: frame {run['skipped_first'][0]})"
        rows.append(("frames", esc(frames)))
        if self.first_size:
            size = self.first_size + "".join(f", {s} from frame {i}" for i, s in self.size_changes)
            rows.append(("size", esc(size)))
        fps = self.clock.fps
        announced = next((i.get("fps") for i in run_info.run_inputs(ctx) if i.get("fps")), None)
        if fps:
            rows.append(("frame rate", f"{fps:.4g} fps{' (variable)' if self.clock.vfr else ''} from the frames' "
                                       f"timestamps" + (f"; the source says {_num(announced):.4g}" if announced
                                                        and abs(_num(announced) - fps) > 0.01 * fps else "")))
        run_mode = " / ".join(str(g[k]) for k in ("mode", "device", "executor") if g.get(k))
        if run_mode:
            rows.append(("mode / device / executor", esc(run_mode)))
        for node, (kind, params) in run_info.node_settings(ctx).items():
            flat = [(k, v) for k, v in run_info.flat_params(params)]
            if flat:
                who = f"{node} ({kind})" if kind else node
                rows.append((f"parameters of {esc(who)}", esc(", ".join(f"{k}={v}" for k, v in flat))))
        return rows

    def _html(self, ctx, metrics, run, note, alerts, plots, gallery) -> str:
        p = self.params
        esc = html.escape
        title = p.title or run_info.report_title(ctx)
        parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
                 "<style>body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}"
                 "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;"
                 "text-align:right}th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
                 "table.settings td{text-align:left}"
                 "td.best{font-weight:bold;background:#e8f6ec}img{max-width:100%;border:1px solid #ddd}"
                 ".note{background:#fff4e0;border-left:4px solid #f0a020;padding:8px 12px}"
                 ".partial{background:#fde8e8;border-left:4px solid #d03030;padding:8px 12px}"
                 "dt{font-weight:bold;margin-top:6px}dd{margin-left:18px}"
                 "figure{margin:10px 0}figcaption{font-size:0.9em;color:#555}"
                 ".raw{color:#d04010}.stab{color:#189040}.gt{color:#2060d0}"
                 ".verdict{border:1px solid #ccc;border-left:6px solid #888;padding:6px 16px;margin:12px 0}"
                 ".verdict.improved{border-left-color:#189040}.verdict.worse{border-left-color:#d03030}"
                 ".verdict.mixed,.verdict.unchanged,.verdict.doubtful{border-left-color:#f0a020}"
                 ".verdict .headline{font-size:1.15em}.verdict h3{margin:10px 0 4px;font-size:1em}"
                 ".verdict ul{margin:2px 0}code{background:#f3f3f3;padding:1px 4px;overflow-wrap:anywhere}"
                 "</style></head><body>",
                 f"<h1>{esc(title)}</h1>"]
        interrupted = run.get("interrupted", ctx.interrupted)
        if interrupted:
            done = run.get("frames_done", self.frames)
            expected = run.get("frames_expected", ctx.expected_frames)
            of = f" of {expected}" if expected else ""
            parts.append(f"<p class='partial'><b>Partial run: {done}{of} frames.</b> The run was stopped early; "
                         f"every figure below covers those frames only.</p>")
        parts.append(self._verdict(ctx, metrics, alerts))
        parts.append("<p><span class='raw'>raw</span> = the per-frame segmenter, <span class='stab'>stabilized</span> "
                     "= after temporal stabilization, <span class='gt'>ground truth</span> where available.</p>")
        if note:
            parts.append(f"<p class='note'>{esc(note)}</p>")
        parts.append("<h2>Settings</h2><table class='settings'>"
                     + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in self._settings(ctx, run))
                     + "</table>")
        speed = self._speed(ctx)
        if speed:
            parts.append(speed)
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
            for src, ptitle in plots:
                parts.append(f"<figure><img src='{esc(src)}' alt='{esc(ptitle)}'></figure>")
        titles = {"helped": "Where stabilization helped most", "failed": "Where the raw segmentation failed worst"}
        for label in ("helped", "failed"):
            items = [g for g in gallery if g[0] == label]
            if items:
                parts.append(f"<h2>{titles[label]}</h2>")
                for _, src, cap in items:
                    parts.append(f"<figure><img src='{esc(src)}'><figcaption>{cap}</figcaption></figure>")
        parts.append("</body></html>")
        return "\n".join(parts)

    def _verdict(self, ctx, metrics, alerts: list[dict]) -> str:
        """The box at the top: what changed and by how much, what limits trust, what to do next."""
        esc = html.escape
        summary = metrics.get("summary") if isinstance(metrics, dict) else None
        has_gt = self.has_gt or bool(isinstance(summary, dict) and isinstance(summary.get("gt"), dict))
        if not isinstance(summary, dict):
            summary = self._own_summary()
        v = judge_run(summary, alerts, has_gt)
        steps = next_steps(v, alerts, ctx.graph or {}, run_info.run_inputs(ctx), has_gt)
        label = {"improved": "improved", "doubtful": "improved by the figures, but not to be trusted yet",
                 "worse": "worse", "mixed": "mixed", "unchanged": "no clear change"}[v.label]
        self.verdict = label
        out = [f"<div class='verdict {v.label}'><h2>Verdict: {esc(label)}</h2>",
               f"<p class='headline'>{esc(v.headline)}</p>"]
        if v.changes:
            out.append("<h3>Raw &rarr; stabilized</h3><ul>" + "".join(f"<li>{esc(c)}</li>" for c in v.changes)
                       + "</ul>")
        if alerts:
            out.append("<h3>What limits trust</h3><ul>"
                       + "".join(f"<li>{esc(self._short(a))}</li>" for a in alerts) + "</ul>")
        else:
            out.append("<h3>What limits trust</h3><p>No warning: agreement with the segmenter, lag, area and "
                       "stability are all within their limits.</p>")
        speed = self._speed_line(ctx, parts=True)
        if speed:
            out.append(f"<h3>Speed</h3><p>{esc(speed)} (per node: Speed, below).</p>")
        out.append("<h3>Next step</h3><ul>" + "".join(
            f"<li>{esc(text)}" + (f": <code>{esc(cmd)}</code>" if cmd else "") + "</li>" for text, cmd in steps)
                   + "</ul></div>")
        return "\n".join(out)

    @staticmethod
    def _short(alert: dict) -> str:
        """An alert's message without the name of the node that raised it (``out.metrics: ...``)."""
        msg, node = str(alert.get("message", "")), alert.get("node")
        return msg[len(node) + 2:] if isinstance(node, str) and msg.startswith(f"{node}: ") else msg

    def _own_summary(self) -> dict:
        """Without metrics.json: the raw and stabilized means of the report's own curves (consecutive IoU, J)."""
        out = {}
        for s in ("raw", "stabilized"):
            col = {}
            for key, name in (("iou_prev", "consecutive_iou"), ("J", "J")):
                series = self.series.get(s, key)
                if series is not None:
                    _, mean, _, _ = series.arrays()
                    if np.isfinite(mean).any():
                        col[name] = float(np.nanmean(mean))
            out[s] = col
        return out

    def _speed_line(self, ctx, parts: bool = False) -> str:
        """``374 frames in 21.1 s = 17.7 fps (...)`` from the run's figures ("" outside a graph run);
        ``parts``: and the time per frame of each part of the graph (nodes grouped by the name before
        the first dot: a subgraph's nodes together), slowest first."""
        st = ctx.run_stats or {}
        frames, seconds = st.get("frames"), _num(st.get("seconds"))
        if not frames or not seconds or not math.isfinite(seconds) or seconds <= 0:
            return ""
        text = f"{frames} frames in {seconds:.1f} s = {frames / seconds:.1f} fps"
        setup, after = _num(st.get("setup_s")), _num(st.get("stream_fps"))
        if math.isfinite(setup) and math.isfinite(after) and 0.1 <= setup < seconds:
            text += f" ({setup:.1f} s of setup included: {after:.1f} fps after it)"
        how = ", ".join(str(x) for x in (st.get("mode"), st.get("executor") and f"{st['executor']} executor",
                                          st.get("threads") and f"{st['threads']} threads") if x)
        text += f"; {how}" if how else ""
        nodes = st.get("nodes") if isinstance(st.get("nodes"), dict) else {}
        groups: dict = {}
        for n, d in nodes.items():
            ms = _num(d.get("mean_ms")) if isinstance(d, dict) else math.nan
            if math.isfinite(ms):
                groups[n.split(".")[0]] = groups.get(n.split(".")[0], 0.0) + ms
        if parts and groups:
            text += "; time per frame: " + ", ".join(f"{g} {ms:.1f} ms" for g, ms in
                                                     sorted(groups.items(), key=lambda t: -t[1]))
        return text

    def _speed(self, ctx) -> str:
        """The Speed section: every node's time per frame, slowest first."""
        st = ctx.run_stats or {}
        nodes = st.get("nodes") if isinstance(st.get("nodes"), dict) else {}
        rows = sorted(((n, d) for n, d in nodes.items() if isinstance(d, dict) and np.isfinite(_num(d.get("mean_ms")))),
                      key=lambda t: -_num(t[1].get("total_s")))
        if not rows:
            return ""
        esc = html.escape
        out = [f"<h2>Speed</h2><p>{esc(self._speed_line(ctx))}.</p>",
               "<table><tr><th>node</th><th>kind</th><th>thread</th><th>mean ms/frame</th><th>p99 ms</th>"
               "<th>total s</th></tr>"]
        for n, d in rows:
            out.append(f"<tr><td>{esc(n)}</td><td>{esc(str(d.get('kind', '')))}</td>"
                       f"<td>{esc(str(d.get('thread', '')))}</td><td>{_fmt(d.get('mean_ms'))}</td>"
                       f"<td>{_fmt(d.get('p99_ms'))}</td><td>{_fmt(d.get('total_s'))}</td></tr>")
        out.append("</table><p style='font-size:0.9em;color:#555'>Each node's own calls; nodes on different threads "
                   "run at the same time, so their times add up to more than the run's.</p>")
        return "\n".join(out)

    def _summary_table(self, metrics) -> str:
        summary = metrics.get("summary") if isinstance(metrics, dict) else None
        if not isinstance(summary, dict) or not summary:
            return "<p>No summary: metrics are missing.</p>"
        cols = [c for c in STREAMS if isinstance(summary.get(c), dict)]
        cols += [c for c in summary if c not in cols and isinstance(summary.get(c), dict)]
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
        shown = [k for k, _, _ in keys if k in EXPLAIN]
        out.append("<h3>What the figures mean</h3><dl>"
                   + "".join(f"<dt>{html.escape(dict((a, b) for a, b, _ in SUMMARY_ROWS)[k])}</dt>"
                             f"<dd>{html.escape(EXPLAIN[k])}</dd>" for k in shown)
                   + "".join(f"<dt>{html.escape(c)} column</dt><dd>{html.escape(COLUMNS[c].split(': ', 1)[1])}</dd>"
                             for c in cols if c in COLUMNS)
                   + "</dl>")
        return "\n".join(out)

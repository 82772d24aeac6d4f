"""What a batch leaves beside the input folders: ``summary.csv``, ``summary.json`` and ``index.html``.

One row per input (status, frames, frames/s, the figures its graph published, its warnings, a
link to its report). ``index.html`` opens without a server and fits a 1280 px window: a table
sortable by any column (a few lines of JavaScript), failed inputs first, then the worst by the
graph's headline figure, and last, marked, the inputs whose warnings limit trust in their figures
(``alerts`` with ``limits_trust``): a gain those show is not a win. Beside every gain, the
figures the headline declares for judging it (``beside:``, the stabilizer's fidelity to its
segmenter and empty-frame share). A plot across inputs (the headline figure, beside its baseline
when the graph declares one) as an embedded PNG, in the same order. Which figures those are is
the graph's choice (its ``headline:``); a graph that declares none is ranked by ``objective``
when it publishes one.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

from .job import flagged
from .plan import write_atomic

ROW_COLUMNS = ("name", "input", "status", "error", "flagged", "alerts", "warnings", "frames", "fps", "seconds",
               "setup_s", "wall_s", "report", "sets", "worker", "finished", "resumed")
FALLBACK_RANK = "objective"     # what graphrun tune maximizes when a graph declares no headline
HTML_METRICS = 3     # further metric columns on the page, after the headline's (summary.csv has them all)
FLAG = "\u26a0"      # the mark of an input whose warnings limit trust
BAR_LIMIT = 60       # more inputs than this: a scatter plot instead of one bar per input


def headline(rows: list) -> dict:
    """The graph's declared headline (``rank``, ``baseline``, ``objective``, ``show``), as its runs
    reported it; ``{"rank": "objective"}`` when none declares one and a run published ``objective``."""
    for r in rows:
        if r.get("headline"):
            return r["headline"]
    if any(FALLBACK_RANK in r.get("metrics", {}) for r in rows):
        return {"rank": FALLBACK_RANK}
    return {}


def metric_columns(rows: list) -> list:
    """Every figure any row has: the headline's first (``show``, then rank, baseline, objective),
    then the others in the order the graph published them."""
    seen: dict = {}
    for r in rows:
        seen.update(dict.fromkeys(r.get("metrics", {})))
    h = headline(rows)
    first = [*h.get("show", []), *(h[k] for k in ("rank", "baseline", "objective") if k in h)]
    ordered = [k for k in dict.fromkeys(first) if k in seen]
    return ordered + [k for k in seen if k not in ordered]


def key_metric(rows: list) -> tuple[str | None, str | None]:
    """(baseline, headline figure) to compare across inputs: (None, figure) without a baseline,
    (None, None) when no row has the figure."""
    h = headline(rows)
    columns = set(metric_columns(rows))
    key = h.get("rank") if h.get("rank") in columns else None
    baseline = h.get("baseline") if key and h.get("baseline") in columns else None
    return baseline, key


def beside_columns(rows: list) -> list:
    """The figures shown beside the gain (the headline's ``beside:``) that some row has."""
    columns = set(metric_columns(rows))
    return [k for k in headline(rows).get("beside", []) if k in columns]


def write_all(out: Path, rows: list, info: dict) -> dict:
    """Write the three files; returns their paths by name."""
    out = Path(out)
    paths = {"csv": out / "summary.csv", "json": out / "summary.json", "html": out / "index.html"}
    write_atomic(paths["csv"], to_csv(rows))
    write_atomic(paths["json"], json.dumps({**info, "rows": rows}, indent=1, default=str))
    write_atomic(paths["html"], to_html(rows, info))
    return paths


def to_csv(rows: list) -> str:
    """One line per input: the row's fields, then one column per metric."""
    metrics = metric_columns(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(ROW_COLUMNS) + metrics)
    for r in rows:
        w.writerow([_csv_cell(r, c) for c in ROW_COLUMNS] + [r.get("metrics", {}).get(m, "") for m in metrics])
    return buf.getvalue()


def _csv_cell(r: dict, column: str):
    if column == "sets":
        return " ".join(r.get("sets") or [])
    if column == "flagged":
        return int(flagged(r))
    if column == "alerts":
        return " ".join(dict.fromkeys(str(a.get("code", "")) for a in r.get("alerts") or []))
    if column == "warnings":
        return " | ".join(r.get("warnings") or [])
    return r.get(column, "")


def ranked(rows: list) -> list:
    """Failed and partial inputs first, then the worst first by the headline figure (its lowest
    value first), and last the inputs whose warnings limit trust (their figures are doubtful)."""
    _, key = key_metric(rows)

    def order(r):
        v = r.get("metrics", {}).get(key) if key else None
        return (r.get("status") == "ok", flagged(r), v is not None, v if v is not None else 0.0, r.get("name", ""))
    return sorted(rows, key=order)


def to_html(rows: list, info: dict) -> str:
    """The self-contained page."""
    base_key, key = key_metric(rows)
    beside = beside_columns(rows)
    lead = [k for k in (key, base_key) if k]
    metrics = [m for m in metric_columns(rows) if m not in lead and m not in beside][:HTML_METRICS]
    gain = f"gain.{key.rpartition('.')[2]}" if base_key else None
    head = ["#", "input", "status", "frames", "frames/s", *lead, *([gain] if gain else []), *beside, *metrics,
            "warnings / error"]
    body = []
    for rank, r in enumerate(ranked(rows), start=1):
        m, doubt = r.get("metrics", {}), flagged(r)
        cells = [_cell(rank, f"{FLAG} {rank}" if doubt else None), _input_cell(r), _status_cell(r),
                 _cell(r.get("frames")), _cell(r.get("fps"))]
        cells += [_cell(m.get(k)) for k in lead]
        if gain:
            a, b = m.get(base_key), m.get(key)
            cells.append(_cell(None if a is None or b is None else round(b - a, 6),
                                css="n doubt" if doubt else "n"))
        cells += [_cell(m.get(k)) for k in beside + metrics]
        cells.append(_notes_cell(r))
        body.append(('<tr class="flagged">' if doubt else "<tr>") + "".join(cells) + "</tr>")
    counts = _counts(rows)
    n_flagged = sum(flagged(r) for r in rows if r.get("status") == "ok")
    total_frames = sum(r.get("frames") or 0 for r in rows if not r.get("resumed"))
    seconds = info.get("seconds") or 0.0
    plot = plot_png(rows)
    summary = (f"{len(rows)} inputs: {counts['ok']} ok ({counts['resumed']} from an earlier run), {counts['failed']} "
               f"failed, {counts['partial']} partial, {counts['pending']} not run; {n_flagged} flagged {FLAG} (a "
               f"warning limits trust in its figures). This run: {total_frames} frames in {seconds:.1f} s "
               f"({total_frames / seconds if seconds else 0:.1f} frames/s over all inputs), executor "
               f"{html.escape(str(info.get('executor', '')))}.")
    order_note = "Failed inputs first, then " + (f"the lowest {html.escape(key)} first" if key else "the others")
    order_note += (f", and last the flagged ones {FLAG}: a gain there is not a win (see their warnings"
                   + (", and " + ", ".join(html.escape(b) for b in beside) + " beside the gain" if beside else "")
                   + ")")
    img = f'<p><img alt="metrics across inputs" src="data:image/png;base64,{plot}"></p>' if plot else ""
    return PAGE.format(
        title=html.escape(f"graphrun batch: {info.get('graph', '')}"), summary=summary, img=img,
        order=order_note, head="".join(_header(h) for h in head), body="\n".join(body),
        warnings=_warnings_list(rows), graph=html.escape(str(info.get("graph_file") or info.get("graph", ""))),
        sets=html.escape(" ".join(info.get("sets") or []) or "none"))


def _header(name: str) -> str:
    """A column title: its last two parts, broken before the last (``stabilized.<br>warp_iou``), the
    whole path as its tooltip, to keep columns narrow."""
    parts = [html.escape(p).replace("_", "_<wbr>") if len(p) > 10 else html.escape(p)    # long words break at _
             for p in name.split(".")]
    if len(parts) < 2:
        return f"<th>{parts[0]}</th>"
    return f'<th title="{html.escape(name)}">{parts[-2]}.<br>{parts[-1]}</th>'


def _input_cell(r: dict) -> str:
    """The input's name (a link to its folder) and a link to its report."""
    name, title = html.escape(r["name"]), html.escape(r.get("input", ""))
    report = f' <a class="rep" href="{html.escape(r["report"])}">report</a>' if r.get("report") else ""
    return f'<td class="input" data-v="{name}"><a href="{name}/" title="{title}">{name}</a>{report}</td>'


def _notes_cell(r: dict) -> str:
    """The input's error, and its warnings by code and figure (the words: their tooltip, and the
    list below the table)."""
    lines = ([f'<span class="error">{html.escape(r["error"])}</span>'] if r.get("error") else [])
    for a in r.get("alerts") or []:
        v, lim = a.get("value"), a.get("limit")
        figure = f" {v:.3g}" if isinstance(v, (int, float)) else ""
        words = str(a.get("message", "")) + (f" (limit {lim:g})" if isinstance(lim, (int, float)) else "")
        lines.append(f'<span title="{html.escape(words)}">{html.escape(str(a.get("code")))}{figure}</span>')
    if r.get("warnings"):
        lines.append(f'<a href="#w-{html.escape(r["name"])}">the warnings</a>')
    return f'<td class="notes" data-v="{len(lines)}">' + "<br>".join(lines) + "</td>"


def _warnings_list(rows: list) -> str:
    """Every input's warnings in its run's words, below the table (in the table's order)."""
    items = []
    for r in ranked(rows):
        if not r.get("warnings"):
            continue
        mark = f' <span class="flag">{FLAG} flagged</span>' if flagged(r) else ""
        name = html.escape(r["name"])
        items.append(f'<li id="w-{name}"><b>{name}</b>{mark}<ul>'
                     + "".join(f"<li>{html.escape(w)}</li>" for w in r["warnings"]) + "</ul></li>")
    return "<h2>Warnings</h2><ul class=\"warnings\">" + "".join(items) + "</ul>" if items else ""


def _counts(rows: list) -> dict:
    counts = {s: 0 for s in ("ok", "failed", "partial", "pending", "resumed")}
    for r in rows:
        counts[r.get("status", "failed")] = counts.get(r.get("status", "failed"), 0) + 1
        counts["resumed"] += bool(r.get("resumed"))
    return counts


def _cell(v, text: str | None = None, css: str = "n") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '<td data-v="">&ndash;</td>'
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        shown = text or (str(v) if isinstance(v, int) else f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}")
        return f'<td class="{css}" data-v="{v}">{html.escape(shown)}</td>'
    return f"<td>{html.escape(str(v))}</td>"


def _status_cell(r: dict) -> str:
    status = html.escape(r.get("status", ""))
    mark = f' <span class="flag" title="a warning limits trust in its figures">{FLAG} flagged</span>' \
        if flagged(r) else ""
    return f'<td class="{status}" data-v="{status}">{status}{" (earlier run)" if r.get("resumed") else ""}{mark}</td>'


def plot_png(rows: list) -> str:
    """The plot across inputs as base64 PNG ('' when no input has the headline figure): the figure
    beside its baseline per input (bars, or a scatter beyond BAR_LIMIT inputs), or the figure alone."""
    base_key, key = key_metric(rows)
    if key is None:
        return ""
    beside = beside_columns(rows)
    shown = [r for r in ranked(rows) if key in r.get("metrics", {})]          # the table's order: flagged last
    data = [(_plot_label(r, beside), r["metrics"].get(base_key) if base_key else None, r["metrics"][key])
            for r in shown]
    doubt = [flagged(r) for r in shown]
    if not data:
        return ""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = len(data)
    names = [d[0] for d in data]
    if n <= BAR_LIMIT:
        fig = Figure(figsize=(9, min(14.0, 1.6 + 0.3 * n)), dpi=100)
        ax = fig.add_subplot()
        ys = list(range(n))
        hatch = ["//" if d else "" for d in doubt]
        alpha = [0.35 if d else 1.0 for d in doubt]
        if base_key:
            bars = ax.barh([y - 0.2 for y in ys], [d[1] if d[1] is not None else 0 for d in data], height=0.4,
                           color="#d9534f", label=base_key)
            bars2 = ax.barh([y + 0.2 for y in ys], [d[2] for d in data], height=0.4, color="#2c7fb8", label=key)
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
            patches = list(bars) + list(bars2)
        else:
            patches = list(ax.barh(ys, [d[2] for d in data], color="#2c7fb8"))
        for i, patch in enumerate(patches):       # flagged inputs: pale and hatched, their gain no win
            patch.set_alpha(alpha[i % n])
            patch.set_hatch(hatch[i % n])
        ax.set_yticks(ys, names, fontsize=7 if n > 25 else 9)
        for label, d in zip(ax.get_yticklabels(), doubt):
            if d:
                label.set_color("#b26a00")
        ax.invert_yaxis()            # the lowest first, flagged last, as in the table
        ax.set_xlabel(key.rpartition(".")[2] + ("  (hatched: flagged, a warning limits trust)" if any(doubt) else ""))
    else:
        fig = Figure(figsize=(6.5, 6), dpi=100)
        ax = fig.add_subplot()
        if base_key:
            pts = [(d[1], d[2], f) for d, f in zip(data, doubt) if d[1] is not None]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            lo, hi = min(xs + ys), max(xs + ys)
            ax.plot([lo, hi], [lo, hi], color="#999", lw=1, label="no change")
            ok = [p for p in pts if not p[2]]
            bad = [p for p in pts if p[2]]
            ax.scatter([p[0] for p in ok], [p[1] for p in ok], s=8, color="#2c7fb8", label="one input")
            if bad:
                ax.scatter([p[0] for p in bad], [p[1] for p in bad], s=12, marker="x", color="#b26a00",
                           label="flagged: a warning limits trust")
            ax.set_xlabel(base_key)
            ax.set_ylabel(key)
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.hist([d[2] for d in data], bins=40, color="#2c7fb8")
            ax.set_xlabel(key)
            ax.set_ylabel("inputs")
    legend_above = base_key and n <= BAR_LIMIT
    ax.set_title(f"{key.rpartition('.')[2]} per input ({n} inputs)", fontsize=10, pad=18 if legend_above else 6)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plot_label(r: dict, beside: list) -> str:
    """An input's name on the plot: flagged marked, the figures beside the gain after it."""
    m = r.get("metrics", {})
    figures = ", ".join(f"{k.rpartition('.')[2]} {m[k]:.2f}" for k in beside if isinstance(m.get(k), (int, float)))
    return f"{r['name']}{' (flagged)' if flagged(r) else ''}" + (f"  [{figures}]" if figures else "")


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; width: 100%; }}
td {{ overflow-wrap: anywhere; }}         /* a long name or error wraps: the page fits a 1280 px window */
th, td {{ border: 1px solid #ddd; padding: 3px 5px; }}
th {{ background: #f3f3f3; cursor: pointer; position: sticky; top: 0; vertical-align: bottom; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }}
td.ok {{ color: #1a7f37; }} td.failed {{ color: #c62828; font-weight: bold; }}
td.partial, td.pending {{ color: #b26a00; }}
td.notes {{ font-size: 12px; max-width: 22em; }}
th {{ max-width: 7em; }} td.input {{ max-width: 11em; }}
ul.warnings {{ font-size: 13px; max-width: 75em; }}
td.notes .error {{ color: #c62828; }}
tr.flagged {{ background: #fff6e6; }} tr.flagged td.doubt {{ color: #999; text-decoration: line-through; }}
.flag {{ color: #b26a00; font-weight: bold; white-space: nowrap; }}
a.rep {{ font-size: 12px; }}
img {{ max-width: 100%; }}
.meta {{ color: #666; font-size: 13px; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<p class="meta">graph: {graph}; --set: {sets}. {order}; click a column to sort by it.</p>
{img}
<table id="rows"><thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table>
{warnings}
<script>
document.querySelectorAll("#rows th").forEach((th, col) => th.addEventListener("click", () => {{
  const body = document.querySelector("#rows tbody");
  const dir = th.classList.contains("asc") ? -1 : 1;
  document.querySelectorAll("#rows th").forEach(h => h.classList.remove("asc", "desc"));
  th.classList.add(dir > 0 ? "asc" : "desc");
  const value = tr => {{
    const td = tr.children[col];
    return td.dataset.v !== undefined ? td.dataset.v : td.textContent;
  }};
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {{
    const x = value(a), y = value(b), nx = parseFloat(x), ny = parseFloat(y);
    if (x === "" || y === "") return (x === "") - (y === "");
    return dir * (!isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y));
  }});
  rows.forEach(r => body.appendChild(r));
}}));
</script>
</body></html>
"""

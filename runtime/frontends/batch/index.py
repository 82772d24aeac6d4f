"""What a batch leaves beside the input folders: ``summary.csv``, ``summary.json`` and ``index.html``.

One row per input (status, frames, frames/s, the figures its graph published, a link to its
report). ``index.html`` opens without a server: a table sortable by any column (a few lines of
JavaScript), failed inputs first and then the worst by the graph's headline figure, and a plot
across inputs (the headline figure, beside its baseline when the graph declares one) as an
embedded PNG. Which figures those are is the graph's choice (its ``headline:``); a graph that
declares none is ranked by ``objective`` when it publishes one.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from pathlib import Path

from .plan import write_atomic

ROW_COLUMNS = ("name", "input", "status", "error", "frames", "fps", "seconds", "setup_s", "wall_s", "report", "sets",
               "worker", "finished", "resumed")
FALLBACK_RANK = "objective"     # what graphrun tune maximizes when a graph declares no headline
HTML_METRICS = 10    # metric columns on the page (summary.csv has them all)
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
        cells = [" ".join(r.get(c) or []) if c == "sets" else r.get(c, "") for c in ROW_COLUMNS]
        w.writerow(cells + [r.get("metrics", {}).get(m, "") for m in metrics])
    return buf.getvalue()


def ranked(rows: list) -> list:
    """Failed and partial inputs first, then the worst first by the headline figure (its lowest value first)."""
    _, key = key_metric(rows)

    def order(r):
        v = r.get("metrics", {}).get(key) if key else None
        return (r.get("status") == "ok", v is not None, v if v is not None else 0.0, r.get("name", ""))
    return sorted(rows, key=order)


def to_html(rows: list, info: dict) -> str:
    """The self-contained page."""
    base_key, key = key_metric(rows)
    metrics = metric_columns(rows)[:HTML_METRICS]
    head = ["#", "input", "report", "status", "frames", "frames/s", "seconds"] + metrics
    gain = f"gain.{key.rpartition('.')[2]}" if base_key else None
    if gain:
        head.append(gain)
    head.append("error")
    body = []
    for rank, r in enumerate(ranked(rows), start=1):
        m = r.get("metrics", {})
        cells = [_cell(rank), _link_cell(r["name"], f"{r['name']}/", r.get("input", "")),
                 _link_cell("report", r["report"]) if r.get("report") else _cell(None), _status_cell(r),
                 _cell(r.get("frames")), _cell(r.get("fps")), _cell(r.get("seconds"))]
        cells += [_cell(m.get(k)) for k in metrics]
        if gain:
            a, b = m.get(base_key), m.get(key)
            cells.append(_cell(None if a is None or b is None else round(b - a, 6)))
        cells.append(f"<td class=\"err\">{html.escape(r.get('error') or '')}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    counts = _counts(rows)
    total_frames = sum(r.get("frames") or 0 for r in rows if not r.get("resumed"))
    seconds = info.get("seconds") or 0.0
    plot = plot_png(rows)
    summary = (f"{len(rows)} inputs: {counts['ok']} ok ({counts['resumed']} from an earlier run), {counts['failed']} "
               f"failed, {counts['partial']} partial, {counts['pending']} not run. This run: {total_frames} frames in "
               f"{seconds:.1f} s ({total_frames / seconds if seconds else 0:.1f} frames/s over all inputs), "
               f"executor {html.escape(str(info.get('executor', '')))}.")
    order_note = (f"Failed inputs first, then the lowest {html.escape(key)} first" if key else "Failed inputs first")
    img = f'<p><img alt="metrics across inputs" src="data:image/png;base64,{plot}"></p>' if plot else ""
    return PAGE.format(
        title=html.escape(f"graphrun batch: {info.get('graph', '')}"), summary=summary, img=img,
        order=order_note, head="".join(f"<th>{_header(h)}</th>" for h in head), body="\n".join(body),
        graph=html.escape(str(info.get("graph_file") or info.get("graph", ""))),
        sets=html.escape(" ".join(info.get("sets") or []) or "none"))


def _header(name: str) -> str:
    """A column title, broken before its last part (``metrics.stabilized.<br>warp_iou``) to keep columns narrow."""
    stream, dot, metric = name.rpartition(".")
    return f"{html.escape(stream)}.<br>{html.escape(metric)}" if dot else html.escape(name)


def _counts(rows: list) -> dict:
    counts = {s: 0 for s in ("ok", "failed", "partial", "pending", "resumed")}
    for r in rows:
        counts[r.get("status", "failed")] = counts.get(r.get("status", "failed"), 0) + 1
        counts["resumed"] += bool(r.get("resumed"))
    return counts


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '<td data-v="">&ndash;</td>'
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        text = str(v) if isinstance(v, int) else f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
        return f'<td class="n" data-v="{v}">{text}</td>'
    return f"<td>{html.escape(str(v))}</td>"


def _status_cell(r: dict) -> str:
    status = html.escape(r.get("status", ""))
    return f'<td class="{status}">{status}{" (earlier run)" if r.get("resumed") else ""}</td>'


def _link_cell(text: str, href: str, title: str = "") -> str:
    t = f' title="{html.escape(title)}"' if title else ""
    return f'<td data-v="{html.escape(text)}"><a href="{html.escape(href)}"{t}>{html.escape(text)}</a></td>'


def plot_png(rows: list) -> str:
    """The plot across inputs as base64 PNG ('' when no input has the headline figure): the figure
    beside its baseline per input (bars, or a scatter beyond BAR_LIMIT inputs), or the figure alone."""
    base_key, key = key_metric(rows)
    if key is None:
        return ""
    data = [(r["name"], r["metrics"].get(base_key) if base_key else None, r["metrics"][key])
            for r in rows if key in r.get("metrics", {})]
    if not data:
        return ""
    data.sort(key=lambda d: d[2])
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = len(data)
    names = [d[0] for d in data]
    if n <= BAR_LIMIT:
        fig = Figure(figsize=(9, min(14.0, 1.6 + 0.3 * n)), dpi=100)
        ax = fig.add_subplot()
        ys = list(range(n))
        if base_key:
            ax.barh([y - 0.2 for y in ys], [d[1] if d[1] is not None else 0 for d in data], height=0.4,
                    color="#d9534f", label=base_key)
            ax.barh([y + 0.2 for y in ys], [d[2] for d in data], height=0.4, color="#2c7fb8", label=key)
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
        else:
            ax.barh(ys, [d[2] for d in data], color="#2c7fb8")
        ax.set_yticks(ys, names, fontsize=7 if n > 25 else 9)
        ax.invert_yaxis()            # the lowest first, as in the table
        ax.set_xlabel(key.rpartition(".")[2] + (f" ({base_key} vs {key})" if base_key else ""))
    else:
        fig = Figure(figsize=(6.5, 6), dpi=100)
        ax = fig.add_subplot()
        if base_key:
            xs = [d[1] for d in data if d[1] is not None]
            ys = [d[2] for d in data if d[1] is not None]
            lo, hi = min(xs + ys), max(xs + ys)
            ax.plot([lo, hi], [lo, hi], color="#999", lw=1, label="no change")
            ax.scatter(xs, ys, s=8, color="#2c7fb8", label="one input")
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


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 7px; }}
th {{ background: #f3f3f3; cursor: pointer; position: sticky; top: 0; vertical-align: bottom; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.ok {{ color: #1a7f37; }} td.failed {{ color: #c62828; font-weight: bold; }}
td.partial, td.pending {{ color: #b26a00; }}
td.err {{ color: #c62828; max-width: 40em; }}
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

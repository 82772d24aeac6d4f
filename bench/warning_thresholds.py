"""The figures behind the run warnings' thresholds (nodes/eval/checks.py), on every run of ../shared/data.

    python bench/warning_thresholds.py                    # run the graphs (slow: 18 runs), then the table
    python bench/warning_thresholds.py --from runs/w/*    # only the table, from output folders already written

Runs: graphs/davis.yaml on every DAVIS sequence and prediction set, graphs/stabilize.yaml on its
synthetic scene (seeds 0-2) and on traffic.avi (a static road camera), and the stabilizer on
dancer.mp4's saved MediaPipe maps. Per run: J raw -> stabilized, fidelity, lag frames, the
stabilized area as a fraction of the raw area, the change of area CV, flipped pixels and warp-IoU,
and the warning codes that checks.judge gives with its default thresholds (as the metrics node).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
QUIET = ["out.overlay.enabled=false", "out.report.enabled=false", "out.raw_masks.enabled=false",
         "out.stab_masks.enabled=false"]


def dancer_maps_graph() -> dict:
    return {"name": "dancer_maps", "mode": "offline", "device": "cpu",
            "nodes": {"source": {"kind": "video_file", "params": {"path": str(DATA / "videos" / "dancer.mp4")}},
                      "preds": {"kind": "mask_folder",
                                "params": {"path": str(DATA / "videos" / "dancer_mediapipe_pose")}},
                      "stab": {"kind": "stabilizer"},
                      "out": {"kind": "stabilizer_outputs", "params": {"overlay": {"enabled": False},
                                                                       "report": {"enabled": False}}}},
            "edges": ["source.frame -> preds.frame", {"from": "source.frame", "to": "stab.frame", "queue": True},
                      "preds.prob -> stab.current", "source.frame -> out.frame", "preds.prob -> out.raw",
                      "stab.mask -> out.stabilized", "stab.threshold_info -> out.info",
                      "stab.ghost_info -> out.info2"]}


def runs() -> list[tuple[str, object, list]]:
    """(name, graph, --set items) of every run."""
    out = []
    davis = ROOT / "graphs" / "davis.yaml"
    for pred in ("osvos", "rvos", "mediapipe_pose"):
        for seq in ("blackswan", "bmx-trees", "car-shadow", "dance-twirl", "kite-surf"):
            if (DATA / "davis" / "predictions" / pred / seq).is_dir():
                out.append((f"{pred}/{seq}", davis, [f"vars.seq={seq}", f"vars.pred={pred}"]))
    stabilize = ROOT / "graphs" / "stabilize.yaml"
    out += [(f"synthetic/{s}", stabilize, [f"source.seed={s}"]) for s in range(3)]
    out.append(("dancer_mediapipe_pose", dancer_maps_graph(), []))
    out.append(("traffic.avi", stabilize, ["source.kind=video_file", f"source.path={DATA / 'videos' / 'traffic.avi'}"]))
    return out


def figures(folder: Path) -> dict:
    """The checks' figures of one output folder (metrics.json and metrics.jsonl)."""
    from graphrun.nodes.eval.checks import Agreement, judge

    data = json.loads((folder / "metrics.json").read_text())
    raw, stab = data["summary"]["raw"], data["summary"]["stabilized"]
    agree = Agreement()          # its counts, from the per-frame records
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        agree.frames += 1
        agree.fidelity_sum += rec["fidelity"]
        if rec["raw"]["area"]:
            agree.raw_frames += 1
            agree.stab_missing += rec["stabilized"]["area"] == 0
            agree.raw_area += rec["raw"]["area"]
            agree.stab_area += rec["stabilized"]["area"]
    n = data["run"]["frames_done"]
    lag = {"lag_frames": stab.get("lag_frames"), "lag_frame_ratio": (stab.get("lag_frames") or 0) / n}

    def rel(k):
        return (stab[k] - raw[k]) / raw[k] if raw.get(k) else None

    return {"J": (raw.get("J"), stab.get("J")), "fidelity": stab.get("fidelity"), "lag": stab.get("lag_frames"),
            "frames": n, "area": agree.stab_area / agree.raw_area if agree.raw_area else None,
            "cv": rel("area_cv"), "l1": rel("l1"), "warp": rel("warp_iou"),
            "codes": [a.code for a in judge(data["summary"], agree, lag)]}


def table(rows: list[tuple[str, dict]]) -> str:
    def pct(v):
        return "-" if v is None else f"{v:+.0%}"

    lines = ["| run | J raw -> stab | fidelity | lag frames | stab / raw area | area CV | flipped px | warp-IoU "
             "| warnings |", "|---|---|---|---|---|---|---|---|---|"]
    for name, f in rows:
        j = "-" if f["J"][0] is None else f"{f['J'][0]:.3f} -> {f['J'][1]:.3f}"
        lag = f"{f['lag']} of {f['frames']} ({f['lag'] / f['frames']:.0%})"
        lines.append(f"| {name} | {j} | {f['fidelity']:.3f} | {lag} | {f['area']:.2f} | {pct(f['cv'])} | "
                     f"{pct(f['l1'])} | {pct(f['warp'])} | {', '.join(f['codes']) or 'none'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="folders", nargs="+", help="output folders already written")
    args = ap.parse_args()
    if args.folders:
        print(table([(Path(f).name, figures(Path(f))) for f in args.folders]))
        return 0
    import graphrun

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, graph, sets) in enumerate(runs()):
            out = Path(tmp) / str(i)
            graphrun.load(graph, set=sets + (QUIET if not isinstance(graph, dict) else [])).run(
                out=out, log=lambda msg: None)
            rows.append((name, figures(out)))
            print(f"{name}: done", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

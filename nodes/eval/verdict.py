"""The report's verdict: what stabilization changed and by how much, what limits trust in it, what to do next.

Pure functions of the metrics summary, the run's alerts (checks.py) and what ``ctx.graph`` says
of the graph (its nodes' kinds, its variables, its inputs), so the verdict can be tested without
a run. A change counts when it is larger than noise: 0.005 of J or warp-IoU, 5% of the flipped
pixels or of the area CV.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Optional

from ..common.alerts import HARMLESS_CODES  # every other warning limits trust
from .checks import worse_frames

MIN_DELTA = 0.005       # J, F, warp-IoU: smaller changes are "unchanged"
MIN_RELATIVE = 0.05     # flipped pixels, area CV: relative change

QUALITY_CODES = ("low_fidelity", "empty_stabilized", "area_inflated", "area_shrunk", "lag_share",
                 "stability_worse", "frames_worse_than_raw")     # the stabilized masks' own: tune, or change
OTHER_SEGMENTERS = {  # the segmenter's kind: (graph, what it is for, extra --set)
    "bg_subtract": [("graphs/stabilize_person.yaml", "a person (MediaPipe, any camera)", ""),
                    ("graphs/stabilize_maskrcnn.yaml", "COCO objects such as cars (Mask R-CNN, any camera)",
                     "seg.class_name=car")],
    "mediapipe_person": [("graphs/stabilize_maskrcnn.yaml", "other objects than people (Mask R-CNN)", "")],
    "maskrcnn": [("graphs/stabilize_person.yaml", "a person (MediaPipe, lighter)", "")],
}
TUNED = {"motion_fusion": ("beta_fill", "0.3:0.95"), "area_guard": ("near_frac", "0.05:0.3")}


@dataclass
class Verdict:
    """``label``: improved, doubtful (improved by the figures, but warnings limit trust), worse, mixed
    or unchanged; ``headline``: one sentence; ``changes``:
    the figures that moved; ``trust``: what limits trust (alert messages); ``steps``: (advice,
    command or "")."""

    label: str
    headline: str
    changes: list[str] = field(default_factory=list)
    trust: list[str] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)


_WORD = {1: ", better", -1: ", worse", 0: ""}


def _num(v) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _pair(summary: dict, key: str) -> tuple[Optional[float], Optional[float]]:
    return _num((summary.get("raw") or {}).get(key)), _num((summary.get("stabilized") or {}).get(key))


def _absolute(summary, key, label) -> tuple[int, Optional[str]]:
    """(+1 better / -1 worse / 0, words) of a higher-is-better figure."""
    r, s = _pair(summary, key)
    if r is None or s is None:
        return 0, None
    d = s - r
    sign = 1 if d >= MIN_DELTA else -1 if d <= -MIN_DELTA else 0
    return sign, f"{label} {r:.3f} → {s:.3f} ({d:+.3f}{_WORD[sign]})"


def _relative(summary, key, label, fmt="{:.3f}") -> tuple[int, Optional[str]]:
    """(+1 better / -1 worse / 0, words) of a lower-is-better figure."""
    r, s = _pair(summary, key)
    if r is None or s is None:
        return 0, None
    rel = (s - r) / r if r > 0 else (0.0 if s == 0 else math.inf)
    sign = 1 if rel <= -MIN_RELATIVE else -1 if rel >= MIN_RELATIVE else 0
    change = f"{rel:+.0%}" if math.isfinite(rel) else "from 0"
    return sign, f"{label} {fmt.format(r)} → {fmt.format(s)} ({change}{_WORD[sign]})"


def _summarize(signs: list[int]) -> str:
    if any(s > 0 for s in signs) and any(s < 0 for s in signs):
        return "mixed"
    return "improved" if any(s > 0 for s in signs) else "worse" if any(s < 0 for s in signs) else "unchanged"


def judge_run(summary: dict, alerts: list[dict], has_gt: bool) -> Verdict:
    """The label, headline, changes and trust of a run (the next steps: :func:`next_steps`)."""
    summary = summary if isinstance(summary, dict) else {}
    acc = [_absolute(summary, "J", "J (IoU with ground truth)"), _absolute(summary, "F", "F (boundary)")]
    stab = [_relative(summary, "l1", "flipped pixels per frame", "{:.2%}"),
            _absolute(summary, "warp_iou", "IoU with the flow-warped previous mask"),
            _absolute(summary, "consecutive_iou", "IoU between consecutive frames"),
            _relative(summary, "area_cv", "area CV")]
    changes = [w for _, w in acc + stab if w]
    trust = [a for a in alerts if a.get("code") not in HARMLESS_CODES]
    j_sign = acc[0][0]
    steadier = _summarize([s for s, _ in stab[:2]])     # flipped pixels and warp-IoU decide stability
    bad = worse_frames(summary)
    if has_gt and acc[0][1]:
        label = {1: "improved", -1: "worse", 0: "unchanged"}[j_sign]
        what = {1: "raised", -1: "lowered", 0: "did not change"}[j_sign]
        headline = f"Stabilization {what} the accuracy: {acc[0][1]}"
        if label == "unchanged" and steadier == "improved":
            label, headline = "improved", headline + ", and made the masks steadier"
        elif steadier != "unchanged":
            flicker = next((w for _, w in stab[:1] if w), "")
            headline += {"improved": "; the masks are steadier", "worse": "; the masks are less steady",
                         "mixed": "; steadier by one figure, less by another"}[steadier]
            headline += f", {flicker}" if flicker and steadier != "mixed" else ""
    else:
        label = steadier
        headline = {"improved": "Stabilization made the masks steadier",
                    "worse": "Stabilization made the masks less steady",
                    "mixed": "Stabilization made the masks steadier by one figure and less steady by another",
                    "unchanged": "Stabilization changed the masks' stability little"}[steadier]
        shown = [w for s, w in stab[:2] if w]
        if shown:
            headline += ": " + ", ".join(shown)
        if not has_gt:
            headline += " (no ground truth: accuracy not measured)"
    if bad:
        headline += f"; on {int(bad)} frame(s) the stabilized J is more than 0.2 below the raw J"
    if trust:
        label = "doubtful" if label == "improved" else label
        n = len(trust)
        headline += f"; but {n} warning{'s limit' if n > 1 else ' limits'} how far to trust it"
    return Verdict(label, headline + ".", changes, [str(a.get("message", "")) for a in trust])


def _input_sets(graph: dict, inputs: list[dict]) -> list[str]:
    """The ``--set`` items that point a graph at this run's input."""
    vars_ = graph.get("vars") if isinstance(graph.get("vars"), dict) else {}
    sets = []
    for k, v in vars_.items():
        if k != "graph_dir" and (k == "input" or "/" not in str(v)):
            sets.append(f"vars.{k}={v}")
    first = inputs[0] if inputs else {}
    path, kind, node = first.get("path"), first.get("kind"), first.get("node")
    if path and kind == "video_file" and node and str(path) not in vars_.values():
        sets += [f"{node}.kind=video_file", f"{node}.path={path}"]
    return sets


def _command(*words: str) -> str:
    return " ".join(shlex.quote(w) if w and not w.startswith("--") else w for w in words if w)


def next_steps(verdict: Verdict, alerts: list[dict], graph: dict, inputs: list[dict], has_gt: bool) -> list:
    """What to do next: (advice, command) pairs, the most useful first."""
    graph = graph if isinstance(graph, dict) else {}
    settings = graph.get("settings") if isinstance(graph.get("settings"), dict) else {}
    kinds = {str(n): (v.get("kind") if isinstance(v, dict) else None) for n, v in settings.items()}
    ref = str(graph.get("path") or graph.get("name") or "GRAPH")
    sets = _input_sets(graph, inputs)
    synthetic = any(i.get("kind") == "synthetic_scene" for i in inputs)
    codes = {a.get("code") for a in alerts}
    trust = codes & set(QUALITY_CODES)
    steps = []
    segmenter = next((k for k in kinds.values() if k in OTHER_SEGMENTERS), None)
    if segmenter == "bg_subtract" and ("camera_moves" in codes or trust):
        why = "the camera moves" if "camera_moves" in codes else "the background-subtraction masks do not " \
                                                                  "stabilize well here"
        path = next((i.get("path") for i in inputs if i.get("kind") == "video_file"), None)
        for i, (g, what, extra) in enumerate(OTHER_SEGMENTERS[segmenter]):
            steps.append((f"Another segmenter ({why}): for {what}" if i == 0 else f"or, for {what}",
                          _command("graphrun", g, "--set", f"vars.input={path or 'my.mp4'}", extra)))
    params = [f"{n}.{TUNED[k][0]}={TUNED[k][1]}" for n, k in kinds.items() if k in TUNED]
    if params and (trust or verdict.label != "improved"):
        words = ["graphrun", "tune", ref] + (["--set", *sets] if sets else [])
        for p in params:
            words += ["--param", p]
        steps.append(("Tune the stabilizer on this input (fewer warnings, or a clearer gain"
                      + (": J with ground truth)" if has_gt else ": warp-IoU, penalized below fidelity 0.8)"),
                      _command(*words, "--trials", "20")))
    if segmenter in OTHER_SEGMENTERS and not steps and verdict.label != "improved":
        for g, what, extra in OTHER_SEGMENTERS[segmenter]:
            steps.append((f"Another segmenter, for {what}", _command("graphrun", g, "--set", "vars.input=my.mp4",
                                                                     extra)))
    if synthetic or (verdict.label == "improved" and not trust):
        own = _own_input(ref, graph, inputs, kinds)
        if own:
            steps.append((own[0] + (" (this was the synthetic test scene)" if synthetic else ""), own[1]))
    if not steps and verdict.label != "improved":
        steps.append(("Use the raw masks for this input, or tune the stabilizer on it: graphrun tune GRAPH "
                      "--param NODE.PARAM=LO:HI (README: Tuning)", ""))
    if not steps:
        steps.append(("Nothing pressing: compare the gallery and the video below with what you expect", ""))
    return steps


def _own_input(ref: str, graph: dict, inputs: list[dict], kinds: dict) -> Optional[tuple[str, str]]:
    """The step "run it on your own input": how this graph takes another video (or sequence)."""
    vars_ = graph.get("vars") if isinstance(graph.get("vars"), dict) else {}
    if "input" in vars_:
        return "Your own video", _command("graphrun", ref, "--set", "vars.input=my.mp4", "--out", "runs/mine")
    src = next((i.get("node") for i in inputs if i.get("kind") in ("video_file", "synthetic_scene") and i.get("node")),
               None)
    if src:
        return "Your own video", _command("graphrun", ref, "--set", f"{src}.kind=video_file", f"{src}.path=my.mp4",
                                          "--out", "runs/mine")
    if "mask_folder" in kinds.values() and {"root", "seq"} <= set(vars_):
        sets = ["vars.root=/path/to/data", "vars.seq=NAME"] + (["vars.pred=MODEL"] if "pred" in vars_ else [])
        return ("Your own sequence and its predictions (DAVIS layout: JPEGImages/480p/NAME, predictions/MODEL/NAME, "
                "Annotations/480p/NAME)", _command("graphrun", ref, "--set", *sets, "--out", "runs/mine"))
    return None

"""The report node: its page, plots and gallery, fed by the metrics node as in a graph."""
import html
import json
import re

import numpy as np
import pytest
import torch

from graphrun.nodes.common.alerts import warn
from graphrun.nodes.eval.glossary import EXPLAIN
from graphrun.nodes.eval.series import Series
from graphrun.runtime.errors import UserInputError
from graphrun.runtime.testing import Harness
from graphrun.runtime.types import VideoFrame

N = 12


def square(x, h=24, w=32):
    m = torch.zeros(h, w)
    m[6:16, x:x + 10] = 1.0
    return m


def moving(i):
    return square(2 + i)


def raw_with_two_faults(i):
    """The object moves 1 px/frame; raw misses it at frame 5 and is offset at frame 8."""
    return torch.zeros(24, 32) if i == 5 else square(2 + i + (6 if i == 8 else 0))


def fit(t, hgt, wid):
    """A 24x32 map at another frame size."""
    return t if t.shape == (hgt, wid) else torch.nn.functional.interpolate(t[None, None], size=(hgt, wid))[0, 0]


def run(tmp_path, n=N, raw=raw_with_two_faults, stab=moving, gt=moving, with_metrics=True, interrupted=False,
        expected=None, size=lambda i: (24, 32), graph=None, before_finish=None, info=None, **params):
    """Frames through a metrics node and a report node, the record linked as in stabilizer_outputs."""
    m = Harness("metrics", out_dir=str(tmp_path), flow_preset="off") if with_metrics else None
    r = Harness("report", out_dir=str(tmp_path), **params)
    if graph:
        r.ctx.graph = graph
    for i in range(n):
        hgt, wid = size(i)
        img = np.full((hgt, wid, 3), 90, np.uint8)
        frame = VideoFrame(image=img, index=i, pts=i / 25, name=f"{i:05d}")
        ins = {"frame": frame, "raw": fit(raw(i), hgt, wid), "stabilized": fit(stab(i), hgt, wid),
               "gt": None if gt is None else fit(gt(i), hgt, wid) > 0.5}
        rec = m.push(**ins, info=info(i) if info else None)["record"] if m else None
        r.push(**ins, metrics=rec)
    for h in (m, r):
        if h:
            h.ctx.interrupted, h.ctx.expected_frames = interrupted, expected
    if before_finish:
        before_finish(r)
    if m:
        m.finish()
        m.close()
    r.finish()
    r.close()
    return r


def page_of(tmp_path):
    return (tmp_path / "report.html").read_text()


def linked_files(page):
    return re.findall(r"(?:src|href)='([^']+)'", page)


def test_report_renders_summary_settings_plots_gallery_and_video_from_the_metrics_node(tmp_path):
    run(tmp_path)
    page = page_of(tmp_path)
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert f"{summary['stabilized']['J']:.3f}" in page and f"{summary['raw']['J']:.3f}" in page
    assert f"<td class='best'>{summary['stabilized']['J']:.3f}</td>" in page          # stabilized is better
    assert "<video src='overlay.mp4'" in page and "<h2>Settings</h2>" in page
    for rel in linked_files(page):
        if rel != "overlay.mp4":
            assert (tmp_path / rel).is_file(), rel
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"j.png", "consecutive_iou.png", "area.png", "l1.png", "fidelity.png"} <= plots
    assert "missing" not in page and "Partial" not in page
    assert "http" not in page                                                          # offline: nothing fetched


def test_every_metric_in_the_summary_is_explained_in_words_fidelity_included(tmp_path):
    run(tmp_path)
    page = page_of(tmp_path)
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    shown = {k for col in summary.values() for k, v in col.items() if v is not None}
    assert "fidelity" in shown
    for key in shown:
        assert html.escape(EXPLAIN[key]) in page, key


def test_gallery_with_ground_truth_shows_the_frame_stabilization_fixed_and_the_worst_raw_frame(tmp_path):
    run(tmp_path, gallery_size=1)
    names = sorted(p.name for p in (tmp_path / "gallery").iterdir())
    assert names == ["failed_00008.png", "helped_00005.png"]   # the miss helped most; next worst is 8
    import cv2
    img = cv2.imread(str(tmp_path / "gallery" / "helped_00005.png"))
    assert img.shape[0] == 24 and img.shape[1] == 3 * 32 + 2 * 3          # raw | stabilized | gt


def stab_empty_twice(i):
    return torch.zeros(24, 32) if i in (2, 3) else moving(i)


def test_without_ground_truth_the_gallery_ranks_real_fixes_not_empty_stabilized_masks(tmp_path):
    run(tmp_path, gt=None, stab=stab_empty_twice, gallery_size=1)
    names = sorted(p.name for p in (tmp_path / "gallery").iterdir())
    assert names == ["failed_00008.png", "helped_00005.png"]     # the bridged raw miss; the raw outlier
    assert "differs from both neighbours" in page_of(tmp_path)
    run(tmp_path / "more", gt=None, stab=stab_empty_twice, gallery_size=4)
    shown = {p.name.split("_")[1] for p in (tmp_path / "more" / "gallery").iterdir()}
    assert not {"00001.png", "00002.png", "00003.png", "00004.png"} & shown   # next to an empty stabilized mask


def test_an_interrupted_run_says_partial_with_frames_done_of_frames_expected(tmp_path):
    run(tmp_path, interrupted=True, expected=3100)
    page = page_of(tmp_path)
    assert f"Partial run: {N} of 3100 frames" in page
    assert json.loads((tmp_path / "metrics.json").read_text())["run"]["interrupted"] is True


def test_warnings_of_the_run_and_of_the_metrics_are_shown_at_the_top(tmp_path):
    def decode_warning(r):
        warn(r.ctx, "clip.mkv: decoding stopped at frame 93 of 311 (damaged or truncated file)")

    run(tmp_path, stab=lambda i: torch.zeros(24, 32), gt=None, before_finish=decode_warning)
    page = page_of(tmp_path)
    top = page.split("<h2>Settings</h2>")[0]
    assert "decoding stopped at frame 93 of 311" in top
    assert "empty on" in top and "where the raw mask is not" in top


GRAPH = {"name": "stabilize_maskrcnn", "path": "graphs/stabilize_maskrcnn.yaml", "mode": "offline", "device": "cpu",
         "executor": "fused",
         "settings": {"source": {"kind": "video_file", "params": {"path": "videos/dancer.mp4"}},
                      "stab": {"kind": "stabilizer", "params": {"fuse": {"beta_fill": 0.9}}},
                      "seg": {"kind": "maskrcnn", "params": {}}}}


def test_the_report_states_its_settings_and_takes_its_title_from_the_input(tmp_path):
    run(tmp_path, graph=GRAPH)
    page = page_of(tmp_path)
    assert "<title>dancer.mp4 — stabilize_maskrcnn</title>" in page
    settings = page.split("<h2>Settings</h2>")[1].split("<h2>")[0]
    for words in ("stabilize_maskrcnn (graphs/stabilize_maskrcnn.yaml)", "videos/dancer.mp4", f"<td>{N}</td>",
                  "32x24", "25 fps", "offline / cpu / fused", "parameters of stab (stabilizer)", "fuse.beta_fill=0.9"):
        assert words in settings, words
    assert "parameters of seg" not in settings                         # nothing differs from the defaults


def test_a_title_parameter_wins_and_a_bare_run_degrades_to_a_plain_title(tmp_path):
    run(tmp_path, graph=GRAPH, title="My clip")
    assert "<title>My clip</title>" in page_of(tmp_path)
    run(tmp_path, graph={})
    assert "<title>graphrun report</title>" in page_of(tmp_path)


def test_a_change_of_frame_size_is_logged_and_shown(tmp_path):
    r = run(tmp_path, size=lambda i: (24, 32) if i < 6 else (36, 48))
    assert "report: frame size changed at frame 6: 32x24 -> 48x36; consecutive measures and gallery neighbours " \
           "restart" in r.logs
    assert "32x24, 48x36 from frame 6" in page_of(tmp_path)


def test_report_without_the_metrics_node_says_so_and_still_plots_what_it_measured(tmp_path):
    run(tmp_path, with_metrics=False)
    page = page_of(tmp_path)
    assert "metrics.json is missing" in page and "No summary" in page
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"j.png", "consecutive_iou.png", "area.png", "fidelity.png"} <= plots


def test_report_tolerates_metrics_json_with_missing_keys_and_nulls(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps(
        {"summary": {"raw": {"J": None, "consecutive_iou": 0.5}, "stabilized": {}}}))
    run(tmp_path, gt=None, with_metrics=False)
    page = page_of(tmp_path)
    assert "0.500" in page and "&ndash;" in page
    assert (tmp_path / "plots" / "consecutive_iou.png").is_file()
    assert not (tmp_path / "plots" / "j.png").exists()                     # no gt, no J curve


def test_the_report_keeps_bounded_state_however_long_the_run(tmp_path):
    def sizes(node):
        out = {k: len(v) for k, v in vars(node).items() if isinstance(v, (list, dict))}
        out["points"] = max(len(s) for s in node.series.curves.values())
        return out

    r = Harness("report", out_dir=str(tmp_path), max_points=50, gallery_size=2)
    m = Harness("metrics", out_dir=str(tmp_path), flow_preset="off")
    img = np.zeros((8, 8, 3), np.uint8)
    snapshots = []
    for i in range(2000):
        frame = VideoFrame(image=img, index=i, pts=i / 30, name=f"{i:05d}")
        mask = torch.zeros(8, 8)
        mask[2:5, (i % 4):(i % 4) + 3] = 1.0
        ins = {"frame": frame, "raw": mask, "stabilized": torch.roll(mask, 1, 0)}
        r.push(**ins, metrics=m.push(**ins)["record"])
        if i in (400, 1999):
            snapshots.append(sizes(r.node))
    assert all(snap.pop("points") <= 100 for snap in snapshots)
    assert snapshots[0] == snapshots[1]
    m.finish()
    r.finish()


def test_a_series_merges_frames_into_buckets_that_keep_mean_min_and_max():
    s = Series(max_points=4)
    for i in range(100):
        s.add(i, i % 10)
    x, mean, lo, hi = s.arrays()
    assert len(x) <= 8 and s.width >= 16
    assert lo.min() == 0 and hi.max() == 9 and x[0] == 0
    assert np.all(np.diff(x) > 0)


def test_report_needs_an_output_directory():
    with pytest.raises(UserInputError, match="needs --out"):
        Harness("report").setup()


def top_of(tmp_path):
    return page_of(tmp_path).split("<h2>Settings</h2>")[0]


def test_the_page_opens_with_a_verdict_that_says_what_improved_and_by_how_much(tmp_path):
    r = run(tmp_path)                               # the raw masks have two faults, the stabilized ones none
    assert any("report.html (verdict: improved; " in line for line in r.logs)     # the console says it too
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    j_raw, j_stab = summary["raw"]["J"], summary["stabilized"]["J"]
    top = top_of(tmp_path)
    assert "Verdict: improved</h2>" in top and "Stabilization raised the accuracy" in top
    assert f"J (IoU with ground truth) {j_raw:.3f} → {j_stab:.3f} ({j_stab - j_raw:+.3f}, better)" in top
    assert "flipped pixels per frame" in top and "No warning" in top
    assert top.index("Verdict") < top.index("What limits trust") < top.index("Next step")


def test_a_stabilizer_that_breaks_good_masks_gets_a_worse_verdict_and_its_warnings(tmp_path):
    run(tmp_path, raw=moving, stab=raw_with_two_faults)
    top = top_of(tmp_path)
    assert "Verdict: worse</h2>" in top and "Stabilization lowered the accuracy" in top
    assert "(-0.1" in top and ", worse)" in top
    assert "What limits trust" in top and "less stable than the raw ones" in top
    assert "Use the raw masks for this input, or tune the stabilizer" in top


def warm_up_raw(i):
    """Nothing at frames 1, 3 and 9 (raw and stabilized empty, the object there); a bad raw mask at 2."""
    return torch.zeros(24, 32) if i in (1, 3, 9) else square(2 + i + 6) if i == 2 else raw_with_two_faults(i)


def warm_up_stab(i):
    return torch.zeros(24, 32) if i in (1, 3, 9) else moving(i)


def gallery_frames(folder):
    return {p.name.split("_")[1][:5] for p in (folder / "gallery").iterdir()}


def test_the_gallery_skips_the_warm_up_and_frames_empty_in_both_masks(tmp_path):
    run(tmp_path, raw=warm_up_raw, stab=warm_up_stab, gallery_size=4)
    shown = gallery_frames(tmp_path)
    assert {"00005", "00008"} <= shown                             # the raw miss and offset after the warm-up
    assert not shown & {"00000", "00001", "00002", "00003", "00004", "00009"}, shown
    run(tmp_path / "all", raw=warm_up_raw, stab=warm_up_stab, gallery_size=4, gallery_skip=0)
    shown = gallery_frames(tmp_path / "all")
    assert "00002" in shown and not shown & {"00001", "00003", "00009"}, shown     # empty in both: never


def threshold_info(varies):
    return lambda i: {"threshold": 0.45 + 0.05 * (i % 3) if varies else 0.5, "area": 100 + i,
                      "target_area": 100}


def test_a_fixed_threshold_plots_the_area_kept_against_its_target_instead_of_a_flat_line(tmp_path):
    r = run(tmp_path, info=threshold_info(varies=False))
    panels, fixed = r.node._state_panels()
    assert fixed == 0.5 and [keys for keys, _ in panels][0] == ("area", "target_area")
    assert not any("threshold" in keys for keys, _ in panels)
    assert "threshold fixed at 0.5: lo = hi" in page_of(tmp_path) and (tmp_path / "plots" / "state.png").is_file()
    r = run(tmp_path / "adaptive", info=threshold_info(varies=True))
    panels, fixed = r.node._state_panels()
    assert fixed is None and [keys for keys, _ in panels][:2] == [("threshold",), ("area", "target_area")]


def test_the_report_of_a_graph_run_gives_its_speed_per_node(tmp_path):
    import graphrun

    graph = {"name": "speed", "mode": "offline", "device": "cpu",
             "nodes": {"source": {"kind": "synthetic_scene", "params": {"frames": 12, "width": 64, "height": 48}},
                       "seg": {"kind": "bg_subtract"}, "stab": {"kind": "ema"},
                       "metrics": {"kind": "metrics", "params": {"flow_preset": "off"}},
                       "report": {"kind": "report", "params": {"video": ""}}},
             "edges": ["source.frame -> seg.frame", "source.background -> seg.background", "seg.prob -> stab.prob",
                       "source.frame -> metrics.frame", "seg.prob -> metrics.raw", "stab.prob -> metrics.stabilized",
                       "source.gt -> metrics.gt", "source.frame -> report.frame", "seg.prob -> report.raw",
                       "stab.prob -> report.stabilized", "source.gt -> report.gt", "metrics.record -> report.metrics"]}
    stats = graphrun.load(graph).run(out=tmp_path, log=lambda msg: None).stats
    page = page_of(tmp_path)
    assert f"12 frames in {stats['seconds']:.1f} s = {12 / stats['seconds']:.1f} fps" in page
    speed = page.split("<h2>Speed</h2>")[1].split("<h2>")[0]
    for node in ("source", "seg", "stab", "metrics", "report"):
        assert f"<td>{node}</td>" in speed
    assert "<h2>Speed</h2>" not in (run(tmp_path / "bare") and page_of(tmp_path / "bare"))   # no run, no figures


def test_the_verdict_names_frames_made_much_worse_and_doubts_a_gain_that_warnings_undermine():
    from graphrun.nodes.eval.verdict import judge_run

    summary = {"raw": {"J": 0.80, "l1": 0.02}, "stabilized": {"J": 0.83, "l1": 0.01, "frames_worse_than_raw": 2}}
    v = judge_run(summary, [], has_gt=True)
    assert v.label == "improved" and "on 2 frame(s) the stabilized J is more than 0.2 below the raw J" in v.headline
    steadier = {"raw": {"l1": 0.02, "warp_iou": 0.87}, "stabilized": {"l1": 0.013, "warp_iou": 0.876}}
    lag = {"code": "lag_share", "message": "out.metrics: lag on 126 of 374 frames (34%)"}
    v = judge_run(steadier, [lag], has_gt=False)
    assert v.label == "doubtful" and v.trust == [lag["message"]] and "1 warning limits how far" in v.headline
    assert judge_run(steadier, [], has_gt=False).label == "improved"


STABILIZE_ON_TRAFFIC = {  # ctx.graph of `graphrun stabilize --set source.kind=video_file source.path=traffic.avi`
    "name": "stabilize", "path": "graphs/stabilize.yaml", "vars": {"graph_dir": "/repo/graphs"},
    "settings": {"source": {"kind": "video_file", "params": {"path": "traffic.avi"}},
                 "seg": {"kind": "bg_subtract", "params": {}}, "stab.fuse": {"kind": "motion_fusion", "params": {}},
                 "stab.guard": {"kind": "area_guard", "params": {}}, "out.report": {"kind": "report", "params": {}}}}


def test_the_next_step_names_the_graphs_and_commands_that_fit_the_run():
    from graphrun.nodes.eval.verdict import judge_run, next_steps

    inputs = [{"node": "source", "kind": "video_file", "path": "traffic.avi"}]
    lag = [{"code": "lag_share", "message": "lag on 126 of 374 frames (34%)"}]
    steadier = {"raw": {"l1": 0.02}, "stabilized": {"l1": 0.013}}
    steps = next_steps(judge_run(steadier, lag, False), lag, STABILIZE_ON_TRAFFIC, inputs, False)
    commands = [cmd for _, cmd in steps]
    assert "graphrun graphs/stabilize_person.yaml --set vars.input=traffic.avi" in commands
    assert "graphrun graphs/stabilize_maskrcnn.yaml --set vars.input=traffic.avi seg.class_name=car" in commands
    assert ("graphrun tune graphs/stabilize.yaml --set source.kind=video_file source.path=traffic.avi "
            "--param stab.fuse.beta_fill=0.3:0.95 --param stab.guard.near_frac=0.05:0.3 --trials 20") in commands
    synthetic = [{"node": "source", "kind": "synthetic_scene", "path": "synthetic scene (seed 0)"}]
    good = {"raw": {"J": 0.86, "l1": 0.02}, "stabilized": {"J": 0.93, "l1": 0.004}}
    steps = next_steps(judge_run(good, [], True), [], STABILIZE_ON_TRAFFIC, synthetic, True)
    assert steps == [("Your own video (this was the synthetic test scene)",
                      "graphrun graphs/stabilize.yaml --set source.kind=video_file source.path=my.mp4 --out runs/mine")]
    davis = {"path": "graphs/davis.yaml", "vars": {"root": "/data/davis", "seq": "car-shadow", "pred": "osvos"},
             "settings": {"preds": {"kind": "mask_folder", "params": {}}}}
    (step,) = next_steps(judge_run(good, [], True), [], davis, [{"node": "frames", "kind": "image_folder"}], True)
    assert step[1] == "graphrun graphs/davis.yaml --set vars.root=/path/to/data vars.seq=NAME vars.pred=MODEL " \
                      "--out runs/mine"

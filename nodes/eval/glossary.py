"""What each figure of a stabilization report means, in words (the report prints these)."""

SUMMARY_ROWS = [  # key, label, better ("+" higher, "-" lower, "" neither)
    ("J", "J (IoU with ground truth)", "+"),
    ("F", "F (boundary accuracy)", "+"),
    ("consecutive_iou", "IoU between consecutive frames", "+"),
    ("warp_iou", "IoU with the flow-warped previous mask", "+"),
    ("l1", "pixels that flip between consecutive frames", "-"),
    ("area_cv", "mask area coefficient of variation", "-"),
    ("ghost_frames", "ghost frames (mask where the object has left)", "-"),
    ("ghost_pixels", "ghost pixels", "-"),
    ("frames_worse_than_raw", "frames much worse than raw (J more than 0.2 below the raw mask's)", "-"),
    ("fidelity", "fidelity (IoU of the stabilized mask with the raw one)", ""),
    ("empty_share", "empty stabilized mask where the raw one is not (share of frames)", "-"),
    ("lag_frames", "lag frames (mask that neither the segmenter nor the motion explains)", "-"),
    ("lag_frac", "unexplained mask, fraction of the object", "-"),
    ("lag_outside_gt_px", "unexplained mask outside the ground truth (px per frame)", "-"),
]

EXPLAIN = {
    "J": "Intersection over union of the mask with the ground truth, averaged over frames (two empty masks "
         "count as 1). Accuracy: 1 is perfect.",
    "F": "DAVIS boundary F-measure: how well the mask's contour matches the ground truth's, within 0.8% of the "
         "image diagonal. Accuracy of the outline.",
    "consecutive_iou": "IoU of each mask with the previous frame's mask. 1 = nothing changed. A moving object "
                       "lowers it even when every mask is perfect: compare with the ground truth's own value.",
    "warp_iou": "IoU of each mask with the previous mask moved along the optical flow between the two frames: "
                "stability that does not punish motion. Flicker and jumps lower it.",
    "l1": "Fraction of the pixels whose mask value flips between consecutive frames (flicker). Lower is steadier.",
    "area_cv": "Standard deviation of the mask area over its mean: how much the mask's size pumps over the run.",
    "ghost_frames": "After an object leaves (by the ground truth), the longest run of frames its mask lingers.",
    "ghost_pixels": "Mask pixels left where objects had already gone, summed over the run.",
    "frames_worse_than_raw": "Frames where the stabilized mask's J is more than 0.2 below the raw mask's J on the "
                             "same frame: the stabilizer made that frame much worse than the segmenter (a dropped "
                             "region kept, a returning object held back, a correct detection deleted). Each such "
                             "frame is flagged worse_than_raw in metrics.jsonl. 0 is the goal, whatever the mean J.",
    "fidelity": "Mean IoU of the stabilized mask with the raw mask of the same frame: how much of what the "
                "segmenter says the stabilizer keeps. Near 1: it only smooths; low: it drifted away from the "
                "segmenter (or, with ground truth, it fixed many raw errors: check J).",
    "empty_share": "The share of the frames with a raw mask where the stabilized mask is empty: the stabilizer "
                   "threw away what the segmenter found. Near 0 is right; a high share means the stabilized "
                   "masks left the segmenter behind (a warning fires above 25%).",
    "lag_frames": "Frames where the stabilized mask keeps more than 5% of the object's area that the segmenter "
                  "does not show in this frame and that its masks of the previous and the next frame, moved "
                  "along the flow, do not both show: a stale fill or an average trailing the object. A filled "
                  "one-frame miss is not lag (both neighbours have it); the region left after a one-frame "
                  "blow-up is.",
    "lag_frac": "The unexplained part of the stabilized mask (see lag frames) as a fraction of the object's area, "
                "averaged over frames. Boundary jitter within 0.4% of the image diagonal is not counted.",
    "lag_outside_gt_px": "Of the unexplained pixels (see lag frames), those outside the ground truth, per frame: "
                         "the harmful part (a long miss the stabilizer rightly bridges is inside the ground truth).",
}

COLUMNS = {"raw": "raw: the per-frame segmenter's masks",
           "stabilized": "stabilized: after temporal stabilization",
           "gt": "ground truth: the figures of the true masks themselves (how much the object really moves; "
                 "a stabilized value far above it means lag, not stability)"}

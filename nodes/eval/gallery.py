"""The report's gallery: the frames where stabilization helped most and where the raw segmentation failed worst.

Only small thumbnails of the frames that currently rank are kept (two bounded heaps).

* Helped most. With ground truth: the largest gain in J (stabilized minus raw). Without: the
  largest gain in temporal consistency of a frame with both its neighbours (the mean of its IoU
  with the flow-warped previous mask and the next frame's with it, from the metrics records; else
  the same with unwarped masks), only where the stabilized mask is not empty on the frame nor on
  either neighbour (an empty mask is perfectly "stable"), weighted by how well the stabilized mask
  matches a raw mask of those three frames (a mask that drifted away from the segmenter is no
  example of help).
* Raw failed worst. With ground truth: the lowest raw J. Without: the raw masks that are outliers
  among their neighbours: how much better the raw masks of t-1 and t+1 agree with each other
  than either does with the raw mask of t.

Neither row shows the first ``skip_first`` frames (the segmenter's and the stabilizer's warm-up:
a background model still learning, no history yet) nor a frame whose raw and stabilized masks are
both empty (nothing to see). Without ground truth a frame is judged when the next one arrives.
"""
from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..common import frame_name, iou, rgb_uint8


def _small(m: Optional[np.ndarray], size) -> Optional[np.ndarray]:
    """A probability map or mask as a uint8 thumbnail (255 = 1.0)."""
    import cv2

    if m is None:
        return None
    return np.round(cv2.resize(np.asarray(m, np.float32), size, interpolation=cv2.INTER_AREA) * 255).astype(np.uint8)


@dataclass
class _Seen:
    """One frame while it waits for its next neighbour: its masks and, ready to keep, its thumbnail
    (the frame itself is not held: a 4K frame and its maps weigh ~90 MB)."""

    index: int
    thumb: Optional[dict]
    raw: np.ndarray
    stab: np.ndarray
    back_raw: Optional[float] = None      # consistency with the previous frame (warp IoU or IoU)
    back_stab: Optional[float] = None
    warped: bool = False
    warm: bool = False                    # one of the first frames: judged as a neighbour, never shown


class Gallery:
    """Keeps the ``size`` best examples of each kind (the failed row keeps ``2 * size``: the frames
    also shown as helped are left out of it)."""

    def __init__(self, size: int = 4, thumb_width: int = 320, skip_first: int = 5):
        self.size, self.thumb_width, self.skip_first = size, thumb_width, skip_first
        self.seen = 0                   # frames given so far (the warm-up is counted from the first one)
        self.helped: list = []          # min-heaps of (key, tie, index, caption, thumbnail)
        self.failed: list = []
        self._tie = itertools.count()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames (a change of the frame size)."""
        self.before: Optional[_Seen] = None      # frame t-2
        self.mid: Optional[_Seen] = None         # frame t-1, judged when frame t arrives

    # -- per frame ----------------------------------------------------------------------
    def thumb(self, frame, raw_p, stab_p, gt_b) -> dict:
        """A small copy of the frame and its maps (uint8), as the gallery shows them."""
        import cv2

        img = rgb_uint8(frame.image)
        h, w = img.shape[:2]
        tw = min(self.thumb_width, w)
        size = (tw, max(1, round(h * tw / w)))
        return {"image": cv2.resize(img, size, interpolation=cv2.INTER_AREA), "raw": _small(raw_p, size),
                "stabilized": _small(stab_p, size), "gt": _small(gt_b, size), "name": frame_name(frame)}

    def _keep(self, heap: list, n: int, key: float, index: int, caption: str, make) -> None:
        if n == 0 or not math.isfinite(key):
            return
        if len(heap) < n:
            heapq.heappush(heap, (key, next(self._tie), index, caption, make()))
        elif key > heap[0][0]:
            heapq.heapreplace(heap, (key, next(self._tie), index, caption, make()))

    def add(self, frame, raw_p, stab_p, gt_b=None, record: Optional[dict] = None) -> None:
        """One frame: probability maps (float HxW) of raw and stabilized, the ground truth (bool)
        and, when connected, the metrics node's record of this frame."""
        index = int(frame.index)
        raw, stab = raw_p > 0.5, stab_p > 0.5
        warm = self.seen < self.skip_first
        self.seen += 1
        if gt_b is not None:
            if warm or not (raw.any() or stab.any()):
                return
            make = lambda: self.thumb(frame, raw_p, stab_p, gt_b)  # noqa: E731
            j_raw, j_stab = iou(raw, gt_b), iou(stab, gt_b)
            if j_stab > j_raw:
                self._keep(self.helped, self.size, j_stab - j_raw, index,
                           f"J raw {j_raw:.3f} &rarr; stabilized {j_stab:.3f}", make)
            self._keep(self.failed, 2 * self.size, -j_raw, index, f"J raw {j_raw:.3f} (stabilized {j_stab:.3f})",
                       make)
            self.before = self.mid = None
            return
        cur = _Seen(index, self.thumb(frame, raw_p, stab_p, None) if self.size and not warm else None, raw, stab,
                    warm=warm)
        prev = self.mid
        if prev is not None:
            r, s = (record.get("raw") or {}, record.get("stabilized") or {}) if isinstance(record, dict) else ({}, {})
            if r.get("warp_iou") is not None and s.get("warp_iou") is not None:
                cur.back_raw, cur.back_stab, cur.warped = r["warp_iou"], s["warp_iou"], True
            else:
                cur.back_raw, cur.back_stab = iou(cur.raw, prev.raw), iou(cur.stab, prev.stab)
            if self.before is not None:
                self._judge(self.before, prev, cur)
        self.before, self.mid = prev, cur

    def _judge(self, before: _Seen, mid: _Seen, after: _Seen) -> None:
        if before.raw.shape != mid.raw.shape or after.raw.shape != mid.raw.shape:
            return
        if mid.warm or not (mid.raw.any() or mid.stab.any()):
            return
        # helped: the stabilized mask steady where the raw one is not, and still the segmenter's object
        if mid.stab.any() and before.stab.any() and after.stab.any() and mid.back_raw is not None:
            c_raw = (mid.back_raw + after.back_raw) / 2
            c_stab = (mid.back_stab + after.back_stab) / 2
            support = max(iou(mid.stab, mid.raw), iou(mid.stab, before.raw), iou(mid.stab, after.raw))
            gain = (c_stab - c_raw) * support
            if gain > 0:
                what = "IoU with the flow-warped neighbour masks" if mid.warped and after.warped else \
                    "IoU with the neighbour masks"
                self._keep(self.helped, self.size, gain, mid.index,
                           f"{what}: raw {c_raw:.3f} &rarr; stabilized {c_stab:.3f} (the stabilized mask matches "
                           f"the segmenter's of this or a neighbour frame at IoU {support:.2f})", lambda: mid.thumb)
        # failed: the raw mask of t is an outlier among its neighbours
        a, b, around = iou(mid.raw, before.raw), iou(mid.raw, after.raw), iou(before.raw, after.raw)
        score = around - max(a, b)
        if score > 0:
            self._keep(self.failed, 2 * self.size, score, mid.index,
                       f"the raw mask differs from both neighbours (IoU {a:.2f} and {b:.2f}) while they agree "
                       f"(IoU {around:.2f})", lambda: mid.thumb)

    # -- at the end -----------------------------------------------------------------------
    def chosen(self) -> list[tuple[str, int, str, dict]]:
        """``[(row, index, caption, thumbnail)]``: helped first (best first), then failed."""
        helped = sorted(self.helped, key=lambda t: -t[0])
        shown = {t[2] for t in helped}
        failed = [t for t in sorted(self.failed, key=lambda t: -t[0]) if t[2] not in shown][: self.size]
        return [("helped", t[2], t[3], t[4]) for t in helped] + [("failed", t[2], t[3], t[4]) for t in failed]

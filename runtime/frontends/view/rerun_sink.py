"""The Rerun recorder: an Observer's events (runtime/observe.py) as a Rerun recording.

Entities, on two timelines (``frame``: the frame index; ``media_time``: its pts in seconds):

- ``video/<node>.<port>``: ``image`` taps as JPEG images at most ``IMAGE_WIDTH`` wide, and
  ``segmentation`` taps as segmentation layers of the same size over them (one class id and
  colour per layer, named in the annotation context at ``video``);
- ``metrics/<node>.<port>[/<key>/...]``: every number of a ``scalars`` tap (records flattened);
- ``nodes/<node>/ms``: each node's time per frame; ``queues/<node>``: the fill of its input queue;
  ``run/latency_ms``, ``run/drops``: each completed frame's end-to-end latency, drops so far;
- ``log``: every line the run logs (warnings as WARN).

Scalars are sent in columns (``send_columns``) every ``FLUSH_S`` seconds (``FLUSH_LIVE_S`` to a
viewer): one call per series instead of one per value, which is what keeps recording cheap.
"""
from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import numpy as np

IMAGE_WIDTH = 320          # frames and masks are recorded at most this wide
JPEG_QUALITY = 75
FLUSH_S = 10.0             # scalar columns are sent this often to a file (each send is a chunk: ~2.4 kB of overhead)
FLUSH_LIVE_S = 0.5         # ... and this often when a viewer watches (it stays current)
LAYER_COLORS = [(255, 64, 64), (64, 160, 255), (64, 255, 96), (255, 200, 0), (200, 80, 255), (0, 230, 230)]
PTS_KEPT = 8192            # frame index -> pts entries kept for the per-frame figures
# Each chunk Rerun writes carries ~2.4 kB of schema: a file gets few, large chunks (an image per
# chunk would double its size), a viewer small ones often (it shows the frames as they come).
FILE_BATCH = {"RERUN_FLUSH_TICK_SECS": "5", "RERUN_FLUSH_NUM_BYTES": str(8 << 20)}
LIVE_BATCH = {"RERUN_FLUSH_TICK_SECS": "0.1", "RERUN_FLUSH_NUM_BYTES": str(1 << 20)}


class RerunSink:
    """Writes events to one or more Rerun recording streams (a file, a viewer)."""

    def __init__(self, streams: list, image_width: int = IMAGE_WIDTH, jpeg_quality: int = JPEG_QUALITY,
                 flush_s: float = FLUSH_S):
        import rerun as rr
        self.rr = rr
        self.streams = streams
        self.image_width = image_width
        self.jpeg_quality = jpeg_quality
        self.flush_s = flush_s
        self.layers: dict = {}                 # segmentation entity -> class id
        self._size: dict = {}                  # node -> (h, w) of its last recorded image
        self._base: Optional[tuple] = None      # (h, w) every 2D layer is recorded at
        self._pts: dict = {}
        self._series: dict = defaultdict(lambda: ([], [], []))   # path -> (frames, seconds, values)
        self._flushed = time.perf_counter()

    # -- set-up --------------------------------------------------------------------------------
    def start(self, graph) -> None:
        """Static data: the layers' annotation context and a default layout."""
        rr = self.rr
        import rerun.blueprint as rrb
        layers = [f"{name}.{port}" for name, b in graph.nodes.items()
                  for port, how in b.cls.taps.items() if how == "segmentation"]
        self.layers = {f"video/{label}": i + 1 for i, label in enumerate(layers)}
        context = rr.AnnotationContext([(0, "background", (0, 0, 0, 0))] +
                                       [(i + 1, label, LAYER_COLORS[i % len(LAYER_COLORS)])
                                        for i, label in enumerate(layers)])
        blueprint = rrb.Blueprint(
            rrb.Horizontal(
                rrb.Vertical(rrb.Spatial2DView(origin="video", name="frames and masks"),
                             rrb.TextLogView(origin="log", name="log"), row_shares=[4, 1]),
                rrb.Vertical(rrb.TimeSeriesView(origin="metrics", name="metrics"),
                             rrb.TimeSeriesView(origin="nodes", name="ms per frame, per node"),
                             rrb.TimeSeriesView(origin="run", name="latency ms, drops"),
                             rrb.TimeSeriesView(origin="queues", name="queue fill")),
                column_shares=[3, 2]),
            rrb.TimePanel(state="collapsed"), rrb.BlueprintPanel(state="collapsed"),
            rrb.SelectionPanel(state="collapsed"))
        for s in self.streams:
            s.log("video", context, static=True)
            s.send_blueprint(blueprint)

    # -- events --------------------------------------------------------------------------------
    def write(self, events: list) -> None:
        for ev in events:
            kind = ev[0]
            if kind == "step":
                _, node, index, pts, seconds, values = ev
                self._scalar(f"nodes/{node}/ms", index, pts, seconds * 1e3)
                if values:
                    if len(self._pts) > PTS_KEPT:
                        self._pts.clear()
                    self._pts.setdefault(index, pts)
                    for port, (how, value) in values.items():
                        self._tap(f"{node}.{port}", node, how, index, pts, value)
            elif kind == "frame":
                _, index, latency, drops, queues = ev
                pts = self._pts.pop(index, None)
                pts = float(index) if pts is None else pts
                self._scalar("run/latency_ms", index, pts, latency * 1e3)
                self._scalar("run/drops", index, pts, float(drops))
                for node, depth in queues.items():
                    self._scalar(f"queues/{node}", index, pts, float(depth))
            elif kind == "log":
                _, index, text = ev
                level = "WARN" if "warning" in text else "ERROR" if "error" in text else "INFO"
                self._log("log", max(index, 0), None, self.rr.TextLog(text, level=level))
        if time.perf_counter() - self._flushed >= self.flush_s:
            self.flush()

    def _tap(self, label: str, node: str, how: str, index: int, pts: float, value) -> None:
        if how == "scalars":
            for key, number in _numbers(value):
                self._scalar(f"metrics/{label}{key}", index, pts, number)
        elif how == "image":
            image = _rgb(value)
            if image is not None:
                self._image(f"video/{label}", index, pts, image)
        elif how == "segmentation":
            mask = _mask(value)
            if mask is not None:
                self._segmentation(f"video/{label}", index, pts, mask)

    def _image(self, path: str, index: int, pts: float, image: np.ndarray) -> None:
        import cv2
        h, w = image.shape[:2]
        if w > self.image_width:
            h, w = max(1, round(h * self.image_width / w)), self.image_width
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        if self._base is None:
            self._base = (h, w)
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if ok:
            self._log(path, index, pts, self.rr.EncodedImage(contents=jpeg.tobytes(), media_type="image/jpeg"))

    def _segmentation(self, path: str, index: int, pts: float, mask: np.ndarray) -> None:
        import cv2
        h, w = self._base or (max(1, round(mask.shape[0] * min(1.0, self.image_width / mask.shape[1]))),
                              min(mask.shape[1], self.image_width))
        ids = mask.astype(np.uint8) * np.uint8(self.layers.get(path, 1))
        if ids.shape != (h, w):
            ids = cv2.resize(ids, (w, h), interpolation=cv2.INTER_NEAREST)
        self._log(path, index, pts, self.rr.SegmentationImage(ids))

    def _log(self, path: str, index: int, pts: Optional[float], archetype) -> None:
        for s in self.streams:
            s.set_time_sequence("frame", index)
            if pts is not None:
                s.set_time_seconds("media_time", pts)
            s.log(path, archetype)

    def _scalar(self, path: str, index: int, pts: float, value: float) -> None:
        frames, seconds, values = self._series[path]
        frames.append(index)
        seconds.append(pts)
        values.append(value)

    def flush(self) -> None:
        """Send the scalars gathered since the last flush, one column per series."""
        rr = self.rr
        for path, (frames, seconds, values) in self._series.items():
            if not frames:
                continue
            indexes = [rr.TimeSequenceColumn("frame", frames), rr.TimeSecondsColumn("media_time", seconds)]
            columns = rr.Scalar.columns(scalar=np.asarray(values, dtype=np.float64))
            for s in self.streams:
                rr.send_columns(path, indexes=indexes, columns=columns, recording=s)
            frames.clear()
            seconds.clear()
            values.clear()
        self._flushed = time.perf_counter()

    def close(self) -> None:
        self.flush()
        for s in self.streams:
            s.flush(blocking=True)
            s.disconnect()


def _numbers(value, prefix: str = ""):
    """(``/a/b`` key path, float) for every number in a number or a (nested) record."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "index":
                yield from _numbers(v, f"{prefix}/{k}")
    elif isinstance(value, (bool, int, float, np.number)) and not isinstance(value, str):
        f = float(value)
        if np.isfinite(f):
            yield prefix, f
    elif hasattr(value, "ndim") and getattr(value, "ndim", 1) == 0:
        yield from _numbers(float(value), prefix)


def _array(value):
    value = getattr(value, "image", value)            # a VideoFrame
    if hasattr(value, "detach"):                      # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value) if value is not None else None


def _rgb(value) -> Optional[np.ndarray]:
    a = _array(value)
    if a is None or a.ndim != 3 or a.shape[2] != 3:
        return None
    return a if a.dtype == np.uint8 else np.clip(a, 0, 255).astype(np.uint8)


def _mask(value) -> Optional[np.ndarray]:
    a = _array(value)
    if a is None:
        return None
    a = np.squeeze(a)
    if a.ndim != 2:
        return None
    return a if a.dtype == np.bool_ else a >= 0.5


@contextmanager
def _batching(settings: dict):
    """Rerun's batcher reads its settings from the environment when a stream is made."""
    old = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _is_recording(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"RRF"          # rerun's .rrd magic (RRF2 in 0.22)


def open_streams(record: Optional[str], viewer) -> list:
    """One recording stream per destination: the ``record`` file, the viewer (``viewer.tcp``)."""
    import rerun as rr

    from graphrun.runtime.errors import UserInputError
    streams = []
    recording_id = f"graphrun-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    if record is not None:
        path = Path(record)
        if path.is_dir() or not path.parent.is_dir():
            raise UserInputError(f"--record {record}: give a file in an existing folder (e.g. run.rrd)")
        if path.is_file() and path.stat().st_size and not _is_recording(path):
            raise UserInputError(f"--record {record}: the file exists and is not a Rerun recording (not overwritten)")
        with _batching(FILE_BATCH):
            s = rr.new_recording("graphrun", recording_id=recording_id, make_default=False)
        s.save(str(path))
        streams.append(s)
    if viewer is not None:
        with _batching(LIVE_BATCH):
            s = rr.new_recording("graphrun", recording_id=recording_id, make_default=False)
        rr.connect_tcp(viewer.tcp, recording=s)
        streams.append(s)
    return streams

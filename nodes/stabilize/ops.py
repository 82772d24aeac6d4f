"""The stabilizer's pure functions (torch or numpy, any device), apart from the nodes that wrap them.

:func:`warp`, :func:`gaussian_blur`, :func:`fusion_weight`, :func:`fuse` and :func:`pick_threshold`
serve flow_warp, motion_fusion and adaptive_threshold; :func:`gate_components` and
:func:`component_support` serve the guards (area_guard, anti_ghost); :func:`future_maps` and
:func:`glitch_filter` serve the look-ahead (glitch_filter). Tensors on the CPU take OpenCV paths
(remap, GaussianBlur, a histogram), several times faster there than torch's; CUDA tensors stay in
torch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..common import remap, remap_binary, sample_points

_GRIDS: dict = {}


def _base_grid(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (h, w, str(device))
    g = _GRIDS.get(key)
    if g is None:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
        if len(_GRIDS) > 8:
            _GRIDS.clear()
        g = _GRIDS[key] = (xs, ys)
    return g


def _on_cpu(*xs) -> bool:
    return all(x.device.type == "cpu" for x in xs)


def warp(prev: torch.Tensor, flow: torch.Tensor, padding: str = "zeros") -> torch.Tensor:
    """Warp frame t-1's map (H,W) or (H,W,C) into frame t with a backward flow (H,W,2).

    ``out(x, y) = prev(x + dx, y + dy)``, bilinear; outside the frame: 0 (``zeros``) or the
    nearest edge value (``border``). The same call warps frame t's map back into frame t-1 with
    the forward flow t-1 -> t. On the CPU: ``cv2.remap`` (1/32-px interpolation steps)."""
    h, w = flow.shape[:2]
    if _on_cpu(prev, flow):
        f = flow.detach().numpy().astype(np.float32, copy=False)
        x = prev.detach().numpy()
        border = "zeros" if padding == "zeros" else "replicate"
        return torch.from_numpy(np.ascontiguousarray(remap(x, sample_points(f), border)))
    flow = flow.to(prev.device, torch.float32)
    xs, ys = _base_grid(h, w, prev.device)
    gx = (xs + flow[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), -1)[None]
    x = prev.float()
    inp = x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None]
    out = F.grid_sample(inp, grid, mode="bilinear", padding_mode=padding, align_corners=True)[0]
    return out[0] if x.dim() == 2 else out.permute(1, 2, 0)


def _at_least(x: torch.Tensor, level: float) -> np.ndarray:
    """``x >= level`` as a bool numpy array (compared by numpy on the CPU)."""
    if _on_cpu(x):
        return x.detach().numpy() >= level
    return (x >= level).cpu().numpy()


def at_least(x: torch.Tensor, level: float) -> torch.Tensor:
    """``x >= level`` as a bool tensor on x's device (compared by numpy on the CPU: the same pixels,
    the level rounded to x's float type by both)."""
    if _on_cpu(x):
        return torch.from_numpy(_at_least(x, level))
    return x >= level


def area(x: torch.Tensor, level: float = 0.5) -> int:
    """Pixels of ``x`` at or above ``level``, or True pixels of a bool ``x`` (on the CPU counted by
    numpy: ~10x torch's bool sum)."""
    if _on_cpu(x):
        a = x.detach().numpy()
        return int(np.count_nonzero(a if a.dtype == bool else a >= level))
    if x.dtype == torch.bool:
        return int(x.sum())
    return int((x >= level).sum())


def warp_binary(mask: np.ndarray, flow: torch.Tensor) -> np.ndarray:
    """A bool mask (H,W) of frame t-1 warped into frame t: ``warp(mask as float, flow) >= 0.5``,
    computed on its bytes (:func:`~graphrun.nodes.common.flow.remap_binary`, the same pixels)."""
    f = flow.detach().cpu().numpy().astype(np.float32, copy=False)
    return remap_binary(mask, sample_points(f))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of an (H,W) map (reflect padding); sigma <= 0 returns x."""
    if sigma <= 0:
        return x
    r = max(1, int(round(3 * sigma)))
    if _on_cpu(x):
        import cv2

        a = np.ascontiguousarray(x.detach().numpy(), np.float32)
        return torch.from_numpy(cv2.GaussianBlur(a, (2 * r + 1, 2 * r + 1), sigma, sigmaY=sigma,
                                                 borderType=cv2.BORDER_REFLECT_101))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    y = x.float()[None, None]
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return y[0, 0]


def fusion_weight(current: torch.Tensor, warped: torch.Tensor, fb_error: Optional[torch.Tensor] = None,
                  flow: Optional[torch.Tensor] = None, beta_fill: float = 0.6, beta_remove: float = 0.3,
                  fb_sigma: float = 2.0, motion_sigma: float = 0.0, conf_gamma: float = 0.0) -> torch.Tensor:
    """Per-pixel weight of the warped previous map in the fusion, in [0, 1].

    ``beta_fill`` where the warped map says more object than the current prediction (it fills a
    miss), ``beta_remove`` where it says less (it removes a new detection), times
    ``exp(-fb_error / fb_sigma)`` (unreliable flow), ``exp(-|flow| / motion_sigma)`` (fast motion,
    off when 0) and ``1 - conf_gamma * |2p - 1|`` (a confident current prediction wins)."""
    beta = torch.where(warped > current, beta_fill, beta_remove).to(current.dtype)
    if fb_error is not None:
        beta.mul_(torch.exp(fb_error.to(beta.device).neg().div_(max(fb_sigma, 1e-6))))
    if flow is not None and motion_sigma > 0:
        beta = beta * torch.exp(-torch.linalg.norm(flow.to(beta.device), dim=-1) / motion_sigma)
    if conf_gamma > 0:
        beta = beta * (1.0 - conf_gamma * (2.0 * current - 1.0).abs())
    return beta.clamp_(0.0, 1.0)


def decisive_changes(current: torch.Tensor, warped: torch.Tensor, max_fill: float = 1.0,
                     miss_frac: float = 0.1) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Where the segmenter changed its mind at once, as (drops, additions), bool (H,W) tensors on
    the maps' device or None where there are none.

    A drop is a connected region the warped previous map has (>= 0.5) and the current map has
    not, larger than ``max_fill`` x the current map's object: filling it would keep most of the
    previous object against the segmenter (a large false region it has just corrected). Not when
    the current map is near-empty (below ``miss_frac`` of the warped object): that is a miss, the
    fusion fills it. An addition is a region the current map has and the warped one has not,
    larger than ``max_fill`` x the warped object: the object found again after near-empty frames
    (or found at all); holding it back would show less than the segmenter. 0 = neither."""
    import cv2

    if max_fill <= 0:
        return None, None
    c = _at_least(current, 0.5)
    w = _at_least(warped, 0.5)
    a_cur, a_warp = np.count_nonzero(c), np.count_nonzero(w)

    def regions(diff, ref):
        if np.count_nonzero(diff) <= max_fill * ref:
            return None
        n, lab, stats, _ = cv2.connectedComponentsWithStats(diff.view(np.uint8), connectivity=8)
        big = stats[:, cv2.CC_STAT_AREA] > max_fill * ref
        big[0] = False
        return torch.from_numpy(big[lab]).to(current.device) if big.any() else None

    drops = None if a_cur < miss_frac * a_warp else regions(w & ~c, a_cur)
    return drops, regions(c & ~w, a_warp)


def fuse(current: torch.Tensor, warped: Optional[torch.Tensor], beta: Optional[torch.Tensor]) -> torch.Tensor:
    """``(1 - beta) * current + beta * warped`` (current alone where there is no warped map)."""
    if warped is None or beta is None:
        return current.float()
    return torch.lerp(current.float(), warped.float(), beta)


def pick_threshold(prob: torch.Tensor, target_area: Optional[float], base: float = 0.5, lo: float = 0.4,
                   hi: float = 0.6, step: float = 0.05, penalty: float = 0.1) -> tuple[float, int]:
    """Threshold in [lo, hi] whose area is closest to ``target_area`` (relative error), with a
    ``penalty`` per unit distance from ``base``. No target: ``base``. Returns (threshold, area)."""
    if target_area is None or lo >= hi:
        th = float(base)
        return th, area(prob, th)
    n = int(round((hi - lo) / step)) + 1
    ths = torch.linspace(lo, hi, n, device=prob.device)
    if _on_cpu(prob):
        areas = torch.from_numpy(areas_above(prob.detach().numpy(), ths.numpy()))
    else:
        areas = (prob.reshape(1, -1) >= ths[:, None]).sum(1).float()
    cost = (areas - target_area).abs() / max(float(target_area), 1.0) + penalty * (ths - base).abs()
    i = int(torch.argmin(cost))
    return float(ths[i]), int(areas[i])


def areas_above(prob: np.ndarray, thresholds: np.ndarray, bins: int = 2000) -> np.ndarray:
    """Pixels of ``prob`` (values in [0, 1]) at or above each threshold, from one histogram of
    ``bins`` bins (thresholds on its bin edges, e.g. multiples of 0.05, count exactly)."""
    import cv2

    a = np.ascontiguousarray(prob, np.float32)
    hist = cv2.calcHist([a], [0], None, [bins], [0.0, 1.0]).ravel()
    above = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])
    idx = np.clip(np.round(np.asarray(thresholds, np.float64) * bins).astype(np.int64), 0, bins)
    # values of exactly 1.0 fall outside calcHist's half-open range: count them at every threshold <= 1
    ones = int(np.count_nonzero(a >= 1.0)) if idx.max() > 0 else 0
    return (above[idx] + ones).astype(np.float32)


def _group_reduce(keys: np.ndarray, values: np.ndarray, n: int, ufunc, empty: float) -> np.ndarray:
    """Per key in [0, n): ``ufunc.reduce`` of the values with that key (``empty`` for absent keys)."""
    out = np.full(n, empty, np.float64)
    if keys.size == 0:
        return out
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    out[k[starts]] = ufunc.reduceat(v, starts)
    return out


def gate_components(mask: np.ndarray, prev: Optional[np.ndarray], counter: Optional[np.ndarray] = None,
                    near_frac: float = 0.2, near_px: float = 5.0, dominant_ratio: float = 1.0,
                    confirm_frames: int = 30) -> tuple[np.ndarray, np.ndarray, dict]:
    """Keep the connected components of ``mask`` that continue the previous object.

    A component is kept when it lies within ``max(near_px, near_frac * bounding-box diagonal)``
    of a component of ``prev`` (the previous mask warped to this frame), when it is at least
    ``dominant_ratio`` times the area of all near components together (the object re-appears
    elsewhere, e.g. after an occluder), or when it has been seen (and rejected) for
    ``confirm_frames`` consecutive frames (``counter``: per-pixel count, warped from the previous
    frame). Without a previous object everything is kept. A component touching ``prev`` is near
    at once; distances are computed only when some component does not.
    Returns (kept mask, new counter, info)."""
    import cv2

    mask = np.asarray(mask, bool)
    new_counter = np.zeros(mask.shape, np.float32)
    if prev is None or not prev.any() or not mask.any():
        return mask, new_counter, {"rejected_px": 0, "accepted_far": False}
    prev = np.asarray(prev, bool)
    # the common case first, on the mask's bounding box only: every component touches prev
    box = _bounding_box(mask)
    n, lab = cv2.connectedComponents(mask[box].view(np.uint8), connectivity=8)
    if n > 1 and np.all(np.bincount(lab[prev[box]], minlength=n)[1:] > 0):
        return mask.copy(), new_counter, {"rejected_px": 0, "accepted_far": False}
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA]
    near = np.bincount(lab[prev], minlength=n) > 0          # touching the previous object
    near[0] = False
    undecided = ~near
    undecided[0] = False
    if undecided.any():
        # distance to the nearest previous pixel, and which previous component that pixel belongs to
        dist, plab = cv2.distanceTransformWithLabels((~prev).view(np.uint8), cv2.DIST_L2, 5,
                                                     labelType=cv2.DIST_LABEL_CCOMP)
        # each previous component's reach: near_frac of its own bounding-box diagonal (at least near_px)
        _, plabels, pstats, _ = cv2.connectedComponentsWithStats(prev.view(np.uint8), connectivity=8)
        reach_of_comp = np.maximum(near_px, near_frac * np.hypot(pstats[:, cv2.CC_STAT_WIDTH],
                                                                 pstats[:, cv2.CC_STAT_HEIGHT]))
        # distanceTransformWithLabels numbers the zero-pixel components in its own order: map them
        first = np.zeros(int(plab.max()) + 1, np.int64)
        first[plab[prev]] = plabels[prev]
        pix = undecided[lab] & mask
        slack = dist[pix] - reach_of_comp[first[plab[pix]]]
        near |= _group_reduce(lab[pix], slack, n, np.minimum, np.inf) <= 0
    keep = near.copy()
    near_area = int(areas[near].sum())
    far = np.flatnonzero(~near)
    far = far[far > 0]
    if far.size:
        dominant = areas >= dominant_ratio * near_area
        keep[far[dominant[far]]] = True
        waiting = np.zeros(n, bool)
        waiting[far[~dominant[far]]] = True
        pix = waiting[lab]
        if pix.any():
            seen = counter[pix] if counter is not None else np.zeros(int(pix.sum()), np.float32)
            count = _group_reduce(lab[pix], seen, n, np.maximum, 0.0) + 1
            keep |= waiting & (count >= confirm_frames)
            new_counter[pix] = seen + 1
    kept = keep[lab]
    accepted_far = bool(far.size and keep[far].any())
    return kept, new_counter, {"rejected_px": int(np.count_nonzero(mask & ~kept)), "accepted_far": accepted_far}


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (all False when empty)."""
    import cv2

    m = np.ascontiguousarray(mask, bool)
    if not m.any():
        return m
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m.view(np.uint8), connectivity=8)
    return lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of a non-empty bool mask's bounding box."""
    import cv2

    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    return slice(y, y + h), slice(x, x + w)


def component_support(mask: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label the connected components of ``mask``; return (labels, mean of ``raw`` per label).

    Label 0 (the background) gets the mean of ``raw`` outside the mask."""
    import cv2

    m = np.ascontiguousarray(mask, bool)
    raw = np.asarray(raw)
    lab = np.zeros(m.shape, np.int32)
    n = 1
    if m.any():                              # labelled on the mask's bounding box (the same pixel order)
        box = _bounding_box(m)
        n, lab[box] = cv2.connectedComponents(m[box].view(np.uint8), connectivity=8)
        inside, values = lab[box][m[box]], raw[box][m[box]]
    else:
        inside, values = np.zeros(0, np.int32), np.zeros(0, raw.dtype)
    sums = np.bincount(inside, weights=values, minlength=n)
    counts = np.bincount(inside, minlength=n)
    sums[0] = float(raw.sum(dtype=np.float64)) - float(sums[1:].sum())
    counts[0] = m.size - int(counts[1:].sum())
    return lab, sums / np.maximum(counts, 1)


def future_maps(ahead: list, fb_sigma: float = 2.0, port: str = "current") -> list:
    """The maps of the next frames brought back into frame t, with a per-pixel reliability.

    ``ahead`` is a look-ahead node's ``ctx.ahead``: for frames t+1.., nearest first, dicts with
    the map (``port``), ``forward`` (flow t+j-1 -> t+j, on frame t+j-1's pixels) and optionally
    ``fb_error`` (frame t+j's forward/backward disagreement). Frame t+j's map is warped back
    frame by frame; its reliability is the product of ``exp(-fb_error / fb_sigma)`` along the way
    (0 outside the frame). The chain stops at a frame without a map or a forward flow (a restart).
    Returns [(map, reliability)] for j = 1.., each (H,W) float32."""
    out = []
    for j in range(len(ahead)):
        if ahead[j].get(port) is None or any(a.get("forward") is None for a in ahead[:j + 1]):
            break
        m = ahead[j][port].float()
        r = torch.ones_like(m)
        for s in range(j, -1, -1):            # frame t+s+1 -> t+s
            fwd = ahead[s]["forward"].to(m.device)
            if tuple(fwd.shape[:2]) != tuple(m.shape):
                return out
            err = ahead[s].get("fb_error")
            chans = [m, r] + ([err.to(m.device).float().clamp(max=1e4)] if err is not None else [])
            both = warp(torch.stack(chans, -1), fwd)
            m, r = both[..., 0], both[..., 1]
            if err is not None:
                r = r * torch.exp(-both[..., 2] / max(fb_sigma, 1e-6))
        out.append((m.clamp(0.0, 1.0), r.clamp(0.0, 1.0)))
    return out


def glitch_filter(current: torch.Tensor, past: Optional[torch.Tensor], futures, level: float = 0.5,
                  min_frac: float = 0.1, release_frac: float = 0.5, lone_frac: float = 0.1,
                  bridge: bool = True) -> tuple[torch.Tensor, Optional[torch.Tensor], dict]:
    """Undo the segmenter's glitches that the next frames reveal; let real changes through at once.

    ``past`` is the previous stabilized map moved into frame t, ``futures`` the next frames' raw
    maps brought back into frame t (:func:`future_maps`, or a function returning them, called only
    when there is a region to judge; where unreliable they count as ``current``). Each connected
    region where ``current`` (>= 0.5) differs from ``past`` is judged by the futures' mean over
    it, averaged over the window: a region the current map adds is a glitch when that support is
    below ``level`` (the segmenter drops it again: a one-frame blow-up or blob); a region it drops
    is a glitch when the support is at least ``level`` (the object comes back: a miss). A glitch
    region takes the past's values in the returned map; a region the next frames confirm (a real
    appearance or disappearance) takes the current values in the returned past, so that the
    fusion after it neither fills a real disappearance nor delays a real appearance. Regions
    smaller than ``min_frac`` of the object's area (boundary jitter) are left to the fusion. A
    region the current map adds to a (near-)empty past (the past's object below ``lone_frac`` of
    the region) is never removed: it is the whole detection, and deleting it would leave the frame
    empty where the segmenter found the object (a lone correct detection before a missed frame).
    ``bridge``: a region the current map drops is a miss when *any* of the next frames has it back
    (its support in that frame alone at least ``level``), not only when the window's mean does: a
    miss of several frames is bridged from both sides (the past before it, the return after it)
    as long as the window reaches the return; frame by frame, each missed frame's past is the
    bridged one. With one frame of look-ahead both rules are the same.
    Returns (map, past, info)."""
    import cv2

    cur = current.float()
    info = {"removed_px": 0, "filled_px": 0}
    if past is None or tuple(past.shape) != tuple(cur.shape):
        return cur, past, info
    c = (cur >= 0.5).cpu().numpy()
    p = (past >= 0.5).cpu().numpy()
    a_past = int(p.sum())
    obj = max(int(c.sum()), a_past, 1)
    regions = []
    for diff, added in ((c & ~p, True), (p & ~c, False)):
        if not diff.any():
            continue
        n, lab, stats, _ = cv2.connectedComponentsWithStats(diff.view(np.uint8), connectivity=8)
        area = stats[:, cv2.CC_STAT_AREA]
        big = area >= max(1.0, min_frac * obj)
        if added:                              # a detection on a (near-)empty past is not judged
            big &= a_past >= lone_frac * area
        big[0] = False
        if big.any():
            regions.append((added, n, lab, area, big))
    if not regions:
        return cur, past, info
    futures = futures() if callable(futures) else futures
    if not futures:
        return cur, past, info
    dev = cur.device
    each = torch.stack([torch.lerp(cur, m.to(dev), r.to(dev)) for m, r in futures])
    sup = each.mean(0).cpu().numpy().ravel()
    each = each.cpu().numpy().reshape(len(futures), -1) if bridge and len(futures) > 1 else None
    to_past = np.zeros(c.size, bool)          # glitches: the current map takes the past's values
    to_current = np.zeros(c.size, bool)       # confirmed changes: the past takes the current values
    for added, n, lab, area, big in regions:
        flat = lab.ravel()
        if added or each is None:
            mean = np.bincount(flat, weights=sup, minlength=n) / np.maximum(area, 1)
        else:                                  # a drop: back in any one of the next frames
            mean = np.max([np.bincount(flat, weights=e, minlength=n) for e in each], 0) / np.maximum(area, 1)
        glitch = big & ((mean < level) if added else (mean >= level))
        real = big & ~glitch
        if not added:                          # a confirmed drop: released at once only when it is
            real &= area >= release_frac * obj   # most of the object (smaller ones: the fusion's fill)
        if glitch.any():
            to_past |= glitch[flat]
            info["removed_px" if added else "filled_px"] += int(area[glitch].sum())
        if real.any():
            to_current |= real[flat]
    pst = past.to(dev).float()
    out, new_past = cur, pst
    if to_past.any():
        out = torch.where(torch.from_numpy(to_past.reshape(c.shape)).to(dev), pst, cur)
    if to_current.any():
        new_past = torch.where(torch.from_numpy(to_current.reshape(c.shape)).to(dev), cur, pst)
    return out, new_past, info

"""Drawing masks over frames, in the colours every output uses (overlay video, report gallery)."""
from __future__ import annotations

from typing import Optional

import numpy as np

RAW_COLOR = (255, 80, 40)       # RGB
STAB_COLOR = (40, 220, 90)
GT_COLOR = (70, 140, 255)


def tint(image: np.ndarray, prob: Optional[np.ndarray], color, label: str, alpha: float = 0.45) -> np.ndarray:
    """Frame with the mask (prob > 0.5) tinted in ``color``, its contour drawn and a label on top."""
    import cv2

    image = np.ascontiguousarray(image, np.uint8)
    if prob is not None:
        if prob.shape != image.shape[:2]:
            prob = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        prob = np.asarray(prob, np.float32)
        out = image.copy()
        x, y, w, h = cv2.boundingRect((prob > 0).view(np.uint8))   # only there is anything tinted
        if w and h:
            a = np.clip(prob[y:y + h, x:x + w], 0, 1) * np.float32(alpha)
            solid = np.empty((h, w, 3), np.uint8)   # filled by OpenCV: 40x faster than numpy's broadcast
            cv2.rectangle(solid, (0, 0), (w, h), tuple(int(c) for c in color), -1)
            out[y:y + h, x:x + w] = cv2.blendLinear(image[y:y + h, x:x + w], solid, 1.0 - a, a)  # rounded
    else:
        out = image.copy()
    if prob is not None:
        binary = (prob > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), 1, lineType=cv2.LINE_AA)
    if label:
        scale = max(0.4, image.shape[1] / 640.0)
        thick = max(1, int(round(scale * 1.5)))
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        cv2.rectangle(out, (0, 0), (tw + 10, th + base + 8), (0, 0, 0), -1)
        cv2.putText(out, label, (5, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, tuple(int(c) for c in color),
                    thick, cv2.LINE_AA)
    return out

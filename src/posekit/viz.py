"""Drawing skeletons over images (numpy + OpenCV, no torch).

Colours say which side of the body a limb is on, the same for every person, so a left/right
swap shows at a glance: limbs and joints on the subject's **left** are blue
(:data:`LEFT_COLOR`), on the subject's **right** orange (:data:`RIGHT_COLOR`), and centre
limbs and joints (face, shoulder and hip girdles, neck) white (:data:`CENTRE_COLOR`). Blue
and orange stay apart for colour-blind viewers. Which person is which is told by the box and
its score label, in the person's own colour from :data:`PALETTE`. Every line and disc has a
dark rim, so it reads on light and dark backgrounds alike.

Sizes follow the image (:func:`default_thickness`: about 1/200 of the geometric mean of its
sides; joints are discs twice as wide as a limb), so overlays of a phone photo and of a
thumbnail look alike once scaled to the screen.

Coordinates: a keypoint at ``(x, y)`` (pixel-centre convention, see :mod:`posekit.geometry`)
is drawn centred on pixel ``(x, y)``, at sub-pixel precision (OpenCV ``shift`` bits). Any
finite coordinate may be drawn: limbs are clipped to the image (plus a margin) before they
reach OpenCV, whose integer coordinates would otherwise overflow; NaN or infinite keypoints
and boxes are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posekit.skeleton import KeypointSpec

__all__ = ["PALETTE", "LEFT_COLOR", "RIGHT_COLOR", "CENTRE_COLOR", "DRAW_MIN_KEYPOINT_SCORE",
           "person_color", "side_color", "default_thickness", "draw_poses", "draw_boxes",
           "make_grid", "save_grid"]

#: Per-person colours (RGB) of boxes and labels: well separated hues that stay readable on
#: photos. Limbs do not use them (see the module docstring).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (145, 30, 180), (240, 50, 230), (70, 240, 240),
    (210, 245, 60), (0, 128, 128), (170, 110, 40), (255, 225, 25), (128, 0, 0),
    (0, 0, 128), (250, 190, 212),
)
#: Limbs and joints on the subject's left side (RGB, blue).
LEFT_COLOR: tuple[int, int, int] = (40, 130, 255)
#: Limbs and joints on the subject's right side (RGB, orange).
RIGHT_COLOR: tuple[int, int, int] = (255, 140, 0)
#: Centre limbs and joints (RGB, near white).
CENTRE_COLOR: tuple[int, int, int] = (245, 245, 245)
_RIM = (25, 25, 25)             # dark rim around every line and disc

#: Keypoints whose score is at most this are not drawn (predictions; ground truth is drawn
#: with ``min_score=0``, i.e. every labelled keypoint).
DRAW_MIN_KEYPOINT_SCORE = 0.3

_SHIFT = 4                      # sub-pixel bits for cv2 drawing calls
_ONE = 1 << _SHIFT


def person_color(i: int) -> tuple[int, int, int]:
    """RGB colour of person ``i``'s box and label."""
    return PALETTE[i % len(PALETTE)]


def _side(name: str) -> int:
    """+1 for left joints, -1 for right joints, 0 for centre joints."""
    return 1 if "left" in name else (-1 if "right" in name else 0)


def side_color(side: int) -> tuple[int, int, int]:
    """Colour of a limb or joint on the subject's left (``side > 0``), right (``< 0``) or
    centre (``0``)."""
    return LEFT_COLOR if side > 0 else RIGHT_COLOR if side < 0 else CENTRE_COLOR


def default_thickness(height: int, width: int) -> int:
    """Limb line thickness in pixels for an image of ``(height, width)``: 1/200 of
    ``sqrt(height * width)``, at least 2 (3 px on a 640 x 480 photo, 5 px at 1280 x 720,
    17 px on a 12 MP photo)."""
    return max(2, int(round(math.sqrt(float(height) * float(width)) / 200)))


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _clip_segment(p0: np.ndarray, p1: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """The part of segment ``p0 -> p1`` inside the box ``lo <= (x, y) <= hi`` (Liang-Barsky),
    as two points, or None when the segment misses the box. float64 throughout."""
    d = p1 - p0
    t0, t1 = 0.0, 1.0
    for k in range(2):
        if d[k] == 0.0:
            if p0[k] < lo[k] or p0[k] > hi[k]:
                return None
            continue
        ta, tb = (lo[k] - p0[k]) / d[k], (hi[k] - p0[k]) / d[k]
        if ta > tb:
            ta, tb = tb, ta
        t0, t1 = max(t0, ta), min(t1, tb)
        if t0 > t1:
            return None
    return p0 + t0 * d, p0 + t1 * d


def _finite_box(box) -> np.ndarray | None:
    b = np.asarray(box, np.float64).reshape(-1)
    return b if b.shape == (4,) and np.isfinite(b).all() else None


def _draw_box(img: np.ndarray, box: np.ndarray, color, t: int, margin: float) -> None:
    H, W = img.shape[:2]
    x0, y0, x1, y1 = box
    # a rectangle clipped to a slightly larger frame draws the same visible pixels
    x0, x1 = np.clip([x0, x1], -margin, W - 1 + margin)
    y0, y1 = np.clip([y0, y1], -margin, H - 1 + margin)
    cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), color, t, cv2.LINE_AA, _SHIFT)


def _draw_label(img: np.ndarray, text: str, box: np.ndarray, color, t: int,
                taken: list[tuple[int, int, int, int]] | None = None) -> None:
    """``text`` on a filled tab of ``color`` at the box's top-left corner, above the box, or
    inside its top edge or bottom edge when that place overlaps a tab in ``taken`` (the tabs
    drawn so far, ``(x0, y0, x1, y1)``; the new one is appended). Always inside the image."""
    H, W = img.shape[:2]
    scale = 0.25 * t
    weight = max(1, t // 2)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
    pad = max(1, t // 2)
    w, h = tw + 2 * pad, th + base + 2 * pad
    x = int(np.clip(box[0], 0, max(W - w, 0)))
    tops = [int(box[1]) - h, int(box[1]) + t, int(box[3]) - h - t]     # above, inside top, inside bottom
    rects = [(x, y, x + w, y + h) for y in np.clip(tops, 0, max(H - h, 0)).astype(int)]
    free = [r for r in rects if not any(r[0] < q[2] and q[0] < r[2] and r[1] < q[3] and q[1] < r[3]
                                        for q in (taken or []))]
    x0, y0, x1, y1 = (free or rects)[0]
    if taken is not None:
        taken.append((x0, y0, x1, y1))
    cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)
    ink = (0, 0, 0) if sum(color) > 380 else (255, 255, 255)
    cv2.putText(img, text, (x0 + pad, y1 - base - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, weight,
                cv2.LINE_AA)


def draw_boxes(image_rgb: np.ndarray, boxes: np.ndarray, color: tuple[int, int, int] | None = None,
               thickness: int | None = None, labels: Sequence[str] | None = None) -> np.ndarray:
    """Draw xyxy ``boxes (N, 4)`` on a copy of an ``(H, W, 3)`` uint8 RGB image, each in
    ``color`` or, when None, in :func:`person_color` of its index, with an optional text
    label per box. Boxes are clipped to the image; NaN or infinite boxes are skipped.
    Returns a new ``(H, W, 3)`` uint8 array."""
    img = _checked_copy(image_rgb)
    H, W = img.shape[:2]
    t = max(1, int(thickness) if thickness is not None else (default_thickness(H, W) + 1) // 2)
    tabs: list[tuple[int, int, int, int]] = []
    for i, box in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        b = _finite_box(box)
        if b is None:
            continue
        c = color if color is not None else person_color(i)
        _draw_box(img, b, c, t, 2.0 * t)
        if labels is not None and i < len(labels):
            _draw_label(img, str(labels[i]), b, c, max(2, 2 * t), tabs)
    return img


def _checked_copy(image_rgb: np.ndarray) -> np.ndarray:
    img = np.ascontiguousarray(np.asarray(image_rgb, dtype=np.uint8)).copy()
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape}")
    return img


def draw_poses(image_rgb: np.ndarray, keypoints: np.ndarray, spec: KeypointSpec,
               boxes: np.ndarray | None = None, min_score: float = DRAW_MIN_KEYPOINT_SCORE,
               thickness: int | None = None, scores: np.ndarray | None = None) -> np.ndarray:
    """Draw skeletons on a copy of an image.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(N, K, 3)`` ``[x, y, v]`` in image pixels; v is a GT visibility (0/1/2)
            or a score in [0, 1]. A joint is drawn when ``v > min_score`` and x, y are finite;
            a limb when both of its joints are. ``(K, 3)`` is accepted as one person.
        spec: the keypoint spec (limbs and left/right names) the K keypoints follow.
        boxes: optional ``(N, 4)`` xyxy boxes, drawn in each person's colour.
        min_score: visibility/score threshold.
        thickness: limb thickness in pixels; default :func:`default_thickness`. Joint discs
            are twice as wide, boxes half as thick.
        scores: optional ``(N,)`` instance scores, written on each person's box (needs boxes).

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array.
    """
    img = _checked_copy(image_rgb)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.size == 0:
        kp = kp.reshape(0, spec.num_keypoints, 3)
    if kp.ndim != 3 or kp.shape[1:] != (spec.num_keypoints, 3):
        raise ValueError(f"keypoints must be (N, {spec.num_keypoints}, 3) for spec {spec.name}, "
                         f"got shape {kp.shape}")
    H, W = img.shape[:2]
    t = max(1, int(thickness) if thickness is not None else default_thickness(H, W))
    rim = max(1, int(round(t / 3)))                 # dark rim width on each side
    radius = t + 0.5                                # joint disc: twice as wide as a limb
    margin = 2.0 * (t + radius + rim)               # drawing beyond this is invisible
    lo, hi = np.array([-margin, -margin]), np.array([W - 1 + margin, H - 1 + margin])
    sides = [_side(n) for n in spec.names]
    box_t = max(1, (t + 1) // 2)
    tabs: list[tuple[int, int, int, int]] = []     # score labels placed so far
    labels: list[tuple[str, np.ndarray, tuple[int, int, int]]] = []

    for i, person in enumerate(kp):
        color = person_color(i)
        ok = np.isfinite(person[:, :2]).all(axis=1) & (person[:, 2] > min_score)
        b = _finite_box(boxes[i]) if boxes is not None and i < len(boxes) else None
        if b is not None:
            _draw_box(img, b, color, box_t, margin)
        segments = []
        for a, c in spec.limbs:
            if ok[a] and ok[c]:
                seg = _clip_segment(person[a, :2], person[c, :2], lo, hi)
                if seg is not None:
                    side = sides[a] if sides[a] == sides[c] else 0
                    segments.append((_pt(*seg[0]), _pt(*seg[1]), side_color(side)))
        for p0, p1, _ in segments:                  # rims first, so limbs cross cleanly
            cv2.line(img, p0, p1, _RIM, t + 2 * rim, cv2.LINE_AA, _SHIFT)
        for p0, p1, c in segments:
            cv2.line(img, p0, p1, c, t, cv2.LINE_AA, _SHIFT)
        inside = ok & (person[:, 0] >= lo[0]) & (person[:, 0] <= hi[0]) & \
            (person[:, 1] >= lo[1]) & (person[:, 1] <= hi[1])
        for k in np.flatnonzero(inside):
            c = _pt(*person[k, :2])
            cv2.circle(img, c, int(round((radius + rim) * _ONE)), _RIM, -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(img, c, int(round(radius * _ONE)), side_color(sides[k]), -1, cv2.LINE_AA, _SHIFT)
        if b is not None and scores is not None and i < len(scores) and np.isfinite(scores[i]):
            labels.append((f"{float(scores[i]):.2f}", b, color))
    for text, b, color in labels:                   # last, so no skeleton covers a label
        _draw_label(img, text, b, color, t, tabs)
    return img


def make_grid(images: Sequence[np.ndarray], ncols: int | None = None, pad: int = 2,
              pad_value: int = 255) -> np.ndarray:
    """Tile ``(H_i, W_i, 3)`` uint8 images into one ``(H, W, 3)`` uint8 grid. Each cell is the
    size of the largest image; smaller images sit top-left in their cell. Grey images
    ``(H, W)`` are expanded to RGB."""
    ims = []
    for im in images:
        a = np.asarray(im, dtype=np.uint8)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        ims.append(a)
    if not ims:
        raise ValueError("make_grid needs at least one image")
    n = len(ims)
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    ch = max(a.shape[0] for a in ims)
    cw = max(a.shape[1] for a in ims)
    grid = np.full((nrows * ch + (nrows + 1) * pad, ncols * cw + (ncols + 1) * pad, 3),
                   pad_value, np.uint8)
    for j, a in enumerate(ims):
        r, c = divmod(j, ncols)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y:y + a.shape[0], x:x + a.shape[1]] = a
    return grid


def save_grid(images: Sequence[np.ndarray], path: str | Path, ncols: int | None = None,
              pad: int = 2) -> Path:
    """Write :func:`make_grid` of the images to ``path`` (format from the suffix); returns it."""
    from posekit.io import write_image
    p = Path(path)
    write_image(p, make_grid(images, ncols=ncols, pad=pad))
    return p

"""Drawing skeletons over images (numpy + OpenCV, no torch).

Colours: each person gets one hue from a fixed palette (person ``i`` -> ``PALETTE[i % len]``).
Within a person, limbs and joints on the subject's *left* side are drawn in a lighter tint of
that hue and those on the *right* side in a darker shade, so a left/right swap is visible at a
glance; centre joints and limbs use the plain hue. Joints are filled discs with a thin dark
outline. Lines are antialiased and drawn at sub-pixel precision (OpenCV ``shift`` bits), so
a keypoint at ``(x, y)`` (pixel-centre convention, see :mod:`posekit.geometry`) is drawn
centred on pixel ``(x, y)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from posekit.skeleton import KeypointSpec

__all__ = ["PALETTE", "person_color", "default_thickness", "draw_poses", "make_grid", "save_grid"]

# RGB, well separated hues that stay readable on photos.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
    (255, 225, 25), (128, 0, 0),
)

_SHIFT = 4                      # sub-pixel bits for cv2 drawing calls
_ONE = 1 << _SHIFT


def person_color(i: int) -> tuple[int, int, int]:
    """RGB colour of person ``i``."""
    return PALETTE[i % len(PALETTE)]


def _side(name: str) -> int:
    """+1 for left joints, -1 for right joints, 0 for centre joints."""
    return 1 if "left" in name else (-1 if "right" in name else 0)


def _shade(color: tuple[int, int, int], side: int) -> tuple[int, int, int]:
    c = np.asarray(color, np.float64)
    if side > 0:      # left: lighter tint
        c = c + (255 - c) * 0.45
    elif side < 0:    # right: darker shade
        c = c * 0.6
    return tuple(int(round(v)) for v in c)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def default_thickness(height: int, width: int) -> int:
    """Limb line thickness in pixels for an image of this size (about 1/250 of the short side)."""
    return max(1, int(round(min(height, width) / 250)))


def draw_poses(image_rgb: np.ndarray, keypoints: np.ndarray, spec: KeypointSpec,
               boxes: np.ndarray | None = None, min_score: float = 0.3,
               thickness: int | None = None) -> np.ndarray:
    """Draw skeletons on a copy of an image.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(N, K, 3)`` ``[x, y, v]`` in image pixels; v is a GT visibility (0/1/2)
            or a score in [0, 1]. A joint is drawn when ``v > min_score``; a limb when both of
            its joints are. ``(K, 3)`` is accepted as one person.
        spec: the keypoint spec (limbs and left/right names) the K keypoints follow.
        boxes: optional ``(N, 4)`` xyxy boxes, drawn in the person's colour.
        min_score: visibility/score threshold.
        thickness: limb thickness in pixels; default scales with the image size.

    Returns:
        ``(H, W, 3)`` uint8 RGB, a new array.
    """
    img = np.ascontiguousarray(np.asarray(image_rgb, dtype=np.uint8)).copy()
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.size == 0:
        kp = kp.reshape(0, spec.num_keypoints, 3)
    if kp.ndim != 3 or kp.shape[1:] != (spec.num_keypoints, 3):
        raise ValueError(f"keypoints must be (N, {spec.num_keypoints}, 3) for spec {spec.name}, "
                         f"got shape {kp.shape}")
    H, W = img.shape[:2]
    t = int(thickness) if thickness is not None else default_thickness(H, W)
    t = max(1, t)
    radius = max(1.5, 1.2 * t + 0.5)
    sides = [_side(n) for n in spec.names]

    for i, person in enumerate(kp):
        color = person_color(i)
        ok = np.isfinite(person).all(axis=1) & (person[:, 2] > min_score)
        if boxes is not None and i < len(boxes) and np.isfinite(boxes[i]).all():
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), color, max(1, (t + 1) // 2),
                          cv2.LINE_AA, _SHIFT)
        for a, b in spec.limbs:
            if ok[a] and ok[b]:
                side = sides[a] if sides[a] == sides[b] else 0
                cv2.line(img, _pt(*person[a, :2]), _pt(*person[b, :2]), _shade(color, side), t,
                         cv2.LINE_AA, _SHIFT)
        for k in np.flatnonzero(ok):
            c = _pt(*person[k, :2])
            r = int(round(radius * _ONE))
            cv2.circle(img, c, r, _shade(color, sides[k]), -1, cv2.LINE_AA, _SHIFT)
            cv2.circle(img, c, r, (20, 20, 20), 1, cv2.LINE_AA, _SHIFT)
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

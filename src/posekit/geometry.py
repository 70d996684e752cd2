"""Boxes, centre/size, and 2x3 affine matrices, under one pixel convention.

Pixel convention: integer coordinates are pixel centres; pixel ``i`` covers ``[i - 0.5,
i + 0.5]``. An image of width W spans ``[-0.5, W - 0.5]``. OpenCV's ``warpAffine`` uses the
same convention, so a matrix built here can be handed to it directly.

A crop is described by the box it covers (centre ``c`` and size ``(w, h)`` in image pixels)
and its output size ``(W, H)``. :func:`crop_affine` maps the box *edge to edge* onto the
output, so the box's left edge lands on ``-0.5`` and its right edge on ``W - 0.5``. Because of
that, the matrix for a heatmap at stride s is simply ``crop_affine(c, size, (W // s, H // s))``:
never convert between crop and heatmap with ``* stride``.

``crop_affine(..., udp=True)`` is the warp of UDP (Huang et al., CVPR 2020), which measures
sizes in pixel *intervals*: the box's edges land on the centres of the corner pixels ``0`` and
``W - 1``, at scale ``(W - 1) / w``. Its heatmap at any size follows the same way
(``crop_affine(c, size, (w_hm, h_hm), udp=True)``), which is the frame of
:class:`posekit.codecs.UDPHeatmap`: ``x_hm = x_crop * (w_hm - 1) / (W - 1)``. In both warps the
box centre lands on the output's centre ``((W - 1) / 2, (H - 1) / 2)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "xywh_to_xyxy", "xyxy_to_xywh", "box_to_center_size", "crop_affine", "invert_affine",
    "compose_affine", "transform_points", "warp_image", "keypoints_to_box", "clip_boxes",
    "hflip_affine", "points_inside",
]


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``[x, y, w, h]`` -> ``[x0, y0, x1, y1]`` float32."""
    b = np.asarray(boxes, dtype=np.float32)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``(..., 4)`` ``[x0, y0, x1, y1]`` -> ``[x, y, w, h]`` float32."""
    b = np.asarray(boxes, dtype=np.float32)
    return np.concatenate([b[..., :2], b[..., 2:4] - b[..., :2]], axis=-1)


def clip_boxes(boxes_xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip ``(N, 4)`` xyxy boxes to the image extent ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``."""
    b = np.asarray(boxes_xyxy, dtype=np.float32).copy()
    b[..., 0::2] = b[..., 0::2].clip(-0.5, width - 0.5)
    b[..., 1::2] = b[..., 1::2].clip(-0.5, height - 0.5)
    return b


def keypoints_to_box(keypoints: np.ndarray) -> np.ndarray:
    """Tight xyxy box ``(N, 4)`` around the labelled (v > 0) keypoints of ``(N, K, 3)``; rows
    with no labelled keypoint get NaN."""
    kp = np.asarray(keypoints, dtype=np.float32)
    vis = kp[:, :, 2:3] > 0                                                  # (N, K, 1)
    lo = np.where(vis, kp[:, :, :2], np.inf).min(axis=1, initial=np.inf)     # (N, 2)
    hi = np.where(vis, kp[:, :, :2], -np.inf).max(axis=1, initial=-np.inf)
    out = np.concatenate([lo, hi], axis=1).astype(np.float32)
    out[~vis[:, :, 0].any(axis=1)] = np.nan
    return out


def box_to_center_size(box_xyxy: np.ndarray, aspect_ratio: float | None = None,
                       padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(2,)`` and size ``(2,)`` = ``(w, h)`` of a box, widened or heightened to
    ``aspect_ratio = w / h`` (when given) and then scaled by ``padding``."""
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box_xyxy, dtype=np.float64).reshape(4))
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float64)
    w, h = max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)
    if aspect_ratio is not None:
        if w > aspect_ratio * h:
            h = w / aspect_ratio
        else:
            w = h * aspect_ratio
    return center, np.array([w * padding, h * padding], dtype=np.float64)


def crop_affine(center: np.ndarray, size: np.ndarray, out_size: tuple[int, int],
                rotation_deg: float = 0.0, flip: bool = False, udp: bool = False) -> np.ndarray:
    """2x3 matrix taking image coordinates to crop coordinates.

    Args:
        center: ``(2,)`` box centre ``(x, y)`` in image pixels.
        size: ``(2,)`` box size ``(w, h)`` in image pixels.
        out_size: ``(W, H)`` of the crop.
        rotation_deg: the image content appears rotated counter-clockwise by this angle in the
            crop (OpenCV's convention), about the box centre.
        flip: mirror the crop horizontally (x -> W - 1 - x in crop pixels).
        udp: UDP's warp: the box edges land on the corner pixel centres ``0`` and ``W - 1``
            (scale ``(W - 1) / w``) instead of the crop's edges ``-0.5`` and ``W - 0.5``.

    ``p_crop = F S R (p_image - c) + ((W - 1) / 2, (H - 1) / 2)``, with ``S = diag(W / w, H / h)``,
    or ``S = diag((W - 1) / w, (H - 1) / h)`` when ``udp``.
    """
    W, H = out_size
    units = (W - 1, H - 1) if udp else (W, H)   # the output's size in intervals or in pixels
    sx, sy = units[0] / float(size[0]), units[1] / float(size[1])
    t = math.radians(rotation_deg)
    rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    lin = np.diag([sx, sy]) @ rot
    if flip:
        lin = np.diag([-1.0, 1.0]) @ lin
    offset = np.array([(W - 1) / 2.0, (H - 1) / 2.0]) - lin @ np.asarray(center, np.float64)
    return np.concatenate([lin, offset[:, None]], axis=1)


def invert_affine(A: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (works on a batch ``(..., 2, 3)`` too)."""
    A = np.asarray(A, dtype=np.float64)
    lin_inv = np.linalg.inv(A[..., :2, :2])
    off = -np.einsum("...ij,...j->...i", lin_inv, A[..., :2, 2])
    return np.concatenate([lin_inv, off[..., None]], axis=-1)


def compose_affine(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A`` after ``B``: ``compose_affine(A, B) @ p == A @ (B @ p)``."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    lin = A[..., :2, :2] @ B[..., :2, :2]
    off = np.einsum("...ij,...j->...i", A[..., :2, :2], B[..., :2, 2]) + A[..., :2, 2]
    return np.concatenate([lin, off[..., None]], axis=-1)


def transform_points(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to ``(..., 2)`` points (extra trailing columns, e.g. a score, are
    passed through unchanged when ``points`` is ``(..., 3)``)."""
    A = np.asarray(A, dtype=np.float64)
    pts = np.asarray(points)
    xy = pts[..., :2].astype(np.float64) @ A[:2, :2].T + A[:2, 2]
    if pts.shape[-1] == 2:
        return xy.astype(pts.dtype if pts.dtype.kind == "f" else np.float64)
    out = pts.copy()
    out[..., :2] = xy
    return out


def warp_image(image: np.ndarray, A: np.ndarray, out_size: tuple[int, int],
               border_value: float | tuple[float, ...] = 0,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Warp ``(H, W, C)`` image by the image-to-crop matrix ``A`` into ``out_size = (W, H)``."""
    return cv2.warpAffine(image, np.asarray(A, dtype=np.float64), (int(out_size[0]), int(out_size[1])),
                          flags=interpolation, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=border_value)


def hflip_affine(width: int) -> np.ndarray:
    """2x3 matrix of a horizontal mirror of an image ``width`` pixels wide: ``x -> W - 1 - x``
    (pixel centres map to pixel centres; the extent ``[-0.5, W - 0.5]`` maps onto itself)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0]])


def points_inside(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean mask ``(...)``: which ``(..., 2+)`` points lie inside an image of ``size = (W, H)``,
    i.e. in ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``."""
    p = np.asarray(points, dtype=np.float64)
    W, H = size
    return (p[..., 0] >= -0.5) & (p[..., 0] < W - 0.5) & (p[..., 1] >= -0.5) & (p[..., 1] < H - 0.5)

"""Object Keypoint Similarity (OKS), the COCO keypoint "IoU".

    OKS = mean over labelled keypoints i of exp(-d_i^2 / (2 s^2 k_i^2)),   k_i = 2 sigma_i,

where ``d_i`` is the distance between predicted and true keypoint i, ``s^2`` is the ground
truth's area (segment area in COCO), and only keypoints with visibility ``v > 0`` count
(Lin et al., "Microsoft COCO", ECCV 2014; cocodataset.org keypoint evaluation).

Ground truth with no labelled keypoint (crowd regions, tiny people) uses COCO's box rule:
``d_i`` becomes the distance from the predicted keypoint to the ground-truth box enlarged to
three times its width and height (the box ``[x - w, x + 2w] x [y - h, y + 2h]`` in ``xywh``),
zero inside, and the mean runs over all K keypoints.

The arithmetic follows pycocotools' ``computeOks`` operation by operation (float64, the same
division order, the same ``eps`` on the area and a per-pair sum over the labelled keypoints
only), so the values are bit-identical to it; :mod:`posekit.metrics.coco` relies on that.
"""

from __future__ import annotations

import numpy as np

__all__ = ["oks_matrix", "oks_pairs", "expanded_box_bounds"]

_EPS = np.spacing(1)


def expanded_box_bounds(gt_boxes_xywh: np.ndarray) -> np.ndarray:
    """COCO's enlarged ground-truth box ``(G, 4)`` as ``(x0, x1, y0, y1)`` from ``xywh`` boxes,
    computed exactly as pycocotools does (``x0 = x - w``, ``x1 = x + 2 w``)."""
    b = np.asarray(gt_boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0] - b[:, 2], b[:, 0] + b[:, 2] * 2,
                     b[:, 1] - b[:, 3], b[:, 1] + b[:, 3] * 2], axis=1)


def oks_pairs(dt_xy: np.ndarray, gt_xy: np.ndarray, gt_labelled: np.ndarray,
              gt_areas: np.ndarray, variances: np.ndarray, pair_dt: np.ndarray,
              pair_gt: np.ndarray, gt_bounds: np.ndarray | None = None) -> np.ndarray:
    """OKS of P (detection, ground truth) pairs, given as indices.

    Args:
        dt_xy: ``(D, K, 2)`` predicted keypoints (image pixels).
        gt_xy: ``(G, K, 2)`` true keypoints.
        gt_labelled: ``(G, K)`` bool, true where the ground truth's ``v > 0``.
        gt_areas: ``(G,)`` ground-truth areas (``s^2``).
        variances: ``(K,)`` ``(2 sigma)^2``.
        pair_dt, pair_gt: ``(P,)`` indices into the detections and the ground truth.
        gt_bounds: ``(G, 4)`` enlarged boxes ``(x0, x1, y0, y1)`` for the box rule, or None
            (then a ground truth without labelled keypoints scores 0).

    Returns:
        ``(P,)`` float64 OKS in [0, 1].
    """
    dt_xy = np.asarray(dt_xy, dtype=np.float64)
    gt_xy = np.asarray(gt_xy, dtype=np.float64)
    lab = np.asarray(gt_labelled, dtype=bool)
    areas = np.asarray(gt_areas, dtype=np.float64) + _EPS
    pair_dt = np.asarray(pair_dt, dtype=np.intp)
    pair_gt = np.asarray(pair_gt, dtype=np.intp)
    k = lab.shape[1]
    out = np.zeros(len(pair_dt), dtype=np.float64)
    if len(pair_dt) == 0:
        return out
    # Each ground truth's labelled keypoints first, in their original order: the sum then runs
    # over a contiguous row of exactly the labelled terms, which is the summation numpy applies
    # to pycocotools' 1-D array, so the result is bit-identical to it.
    order = np.argsort(~lab, axis=1, kind="stable")
    n_lab = lab.sum(axis=1)
    n_pair = n_lab[pair_gt]
    for n in np.unique(n_pair):
        rows = np.flatnonzero(n_pair == n)
        pd, pg = pair_dt[rows], pair_gt[rows]
        if n == 0:
            if gt_bounds is None:
                continue
            b = np.asarray(gt_bounds, dtype=np.float64)[pg]
            xd, yd = dt_xy[pd, :, 0], dt_xy[pd, :, 1]
            dx = np.maximum(0.0, b[:, :1] - xd) + np.maximum(0.0, xd - b[:, 1:2])
            dy = np.maximum(0.0, b[:, 2:3] - yd) + np.maximum(0.0, yd - b[:, 3:4])
            var, m = variances, k
        else:
            m = int(n)
            cols = order[pg, :m]                                   # (r, m)
            d = dt_xy[pd[:, None], cols]                           # (r, m, 2)
            g = gt_xy[pg[:, None], cols]
            dx, dy = d[..., 0] - g[..., 0], d[..., 1] - g[..., 1]
            var = variances[cols]
        e = (dx ** 2 + dy ** 2) / var / areas[pg][:, None] / 2
        out[rows] = np.exp(-e).sum(axis=1) / m
    return out


def oks_matrix(dt_keypoints: np.ndarray, gt_keypoints: np.ndarray, gt_areas: np.ndarray,
               sigmas: np.ndarray, gt_boxes_xyxy: np.ndarray | None = None) -> np.ndarray:
    """OKS between every detection and every ground truth of one image.

    Args:
        dt_keypoints: ``(D, K, 3)`` predictions ``[x, y, score]`` (the score is not used).
        gt_keypoints: ``(G, K, 3)`` ground truth ``[x, y, v]``; keypoints with ``v > 0`` count.
        gt_areas: ``(G,)`` ground-truth areas (COCO segment area, or box area).
        sigmas: ``(K,)`` per-keypoint OKS sigmas (``KeypointSpec.sigmas_array()``).
        gt_boxes_xyxy: ``(G, 4)`` ground-truth boxes, used by COCO's box rule for ground truth
            without labelled keypoints; None makes such ground truth score 0.

    Returns:
        ``(D, G)`` float64 OKS.
    """
    dt = np.asarray(dt_keypoints, dtype=np.float64)
    gt = np.asarray(gt_keypoints, dtype=np.float64)
    if dt.ndim != 3 or gt.ndim != 3 or dt.shape[1:] != gt.shape[1:] or dt.shape[2] < 2:
        raise ValueError(f"expected (D, K, 3) and (G, K, 3) keypoints, got {dt.shape} and {gt.shape}")
    d, g, k = dt.shape[0], gt.shape[0], dt.shape[1]
    sig = np.asarray(sigmas, dtype=np.float64)
    if sig.shape != (k,):
        raise ValueError(f"expected {k} sigmas, got shape {sig.shape}")
    if d == 0 or g == 0:
        return np.zeros((d, g), dtype=np.float64)
    bounds = None
    if gt_boxes_xyxy is not None:
        bx = np.asarray(gt_boxes_xyxy, dtype=np.float64).reshape(g, 4)
        bounds = expanded_box_bounds(np.concatenate([bx[:, :2], bx[:, 2:] - bx[:, :2]], axis=1))
    out = oks_pairs(dt[:, :, :2], gt[:, :, :2], gt[:, :, 2] > 0,
                    np.asarray(gt_areas, dtype=np.float64).reshape(g), (sig * 2) ** 2,
                    np.repeat(np.arange(d), g), np.tile(np.arange(g), d), bounds)
    return out.reshape(d, g)

"""Non-maximum suppression for boxes and for poses (numpy only).

All functions take detections in the image frame and return the indices that survive, best
first. Keypoints are ``(N, K, 3)`` float arrays ``[x, y, score]``; boxes are ``(N, 4)`` xyxy.

* :func:`box_nms` -- greedy IoU suppression (the detector's post-processing).
* :func:`oks_nms` -- greedy suppression by object keypoint similarity, as used by the
  top-down pipelines of Xiao et al. 2018 ("Simple Baselines") and Sun et al. 2019 (HRNet).
* :func:`soft_oks_nms` -- Soft-NMS (Bodla et al. 2017) with OKS in place of IoU: overlapping
  poses are down-weighted rather than removed.
* :func:`parametric_pose_nms` -- RMPE's parametric pose NMS (Fang et al. 2017, "RMPE: Regional
  Multi-person Pose Estimation"): a confidence-weighted keypoint similarity plus a spatial
  similarity, with elimination threshold eta.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "box_iou", "box_nms", "pose_oks", "oks_nms", "soft_oks_nms", "rmpe_pose_similarity",
    "parametric_pose_nms",
]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(A, B)`` between xyxy boxes ``a (A, 4)`` and ``b (B, 4)`` (continuous
    coordinates: a box's area is ``(x1 - x0) * (y1 - y0)``)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clip(0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _greedy_suppress(scores: np.ndarray, similarity, threshold: float,
                     max_keep: int | None = None) -> np.ndarray:
    """Visit items by decreasing score (stable on ties); keep each and drop every later item
    whose ``similarity(kept, rest) -> (len(rest),)`` exceeds ``threshold``; stop after
    ``max_keep``. Kept indices, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        rest = order[1:]
        order = rest[similarity(i, rest) <= threshold]
    return np.asarray(keep, np.int64)


def box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5,
            max_detections: int | None = None) -> np.ndarray:
    """Greedy NMS: visit boxes by decreasing score, drop every later box whose IoU with a kept
    box is strictly above ``iou_threshold``. Returns kept indices ``(M,)`` int64, best first."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    return _greedy_suppress(scores, lambda i, rest: box_iou(boxes[i:i + 1], boxes[rest])[0],
                            iou_threshold, max_detections)


def _areas(keypoints: np.ndarray, boxes: np.ndarray | None, areas: np.ndarray | None) -> np.ndarray:
    """Object scale ``s^2`` per pose: given areas, else box areas, else the keypoint extent."""
    if areas is not None:
        return np.asarray(areas, np.float64).reshape(-1)
    if boxes is not None:
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    xy = keypoints[..., :2]
    wh = xy.max(axis=1) - xy.min(axis=1)
    return wh[:, 0] * wh[:, 1]


def pose_oks(ref: np.ndarray, others: np.ndarray, sigmas: np.ndarray, area: float,
             other_areas: np.ndarray | None = None, score_threshold: float | None = None) -> np.ndarray:
    """OKS between one predicted pose ``ref (K, 3)`` and ``others (M, K, 3)``.

    ``OKS = mean_k exp(-d_k^2 / (2 s^2 kappa_k^2))`` with ``kappa = 2 sigma`` and
    ``s^2 = (area_ref + area_other) / 2`` (the symmetric form used for NMS between two
    predictions). With ``score_threshold``, only keypoints whose scores exceed it in *both*
    poses are averaged (0 when none is). Returns ``(M,)``.
    """
    ref = np.asarray(ref, np.float64)
    others = np.asarray(others, np.float64).reshape(-1, *ref.shape)
    kappa2 = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    if other_areas is None:
        other_areas = np.full(others.shape[0], area)
    s2 = (area + np.asarray(other_areas, np.float64)) / 2.0 + np.finfo(np.float64).eps
    d2 = ((others[..., :2] - ref[None, :, :2]) ** 2).sum(-1)          # (M, K)
    e = np.exp(-d2 / (2.0 * s2[:, None] * kappa2[None, :]))
    if score_threshold is None:
        return e.mean(axis=1)
    used = (others[..., 2] > score_threshold) & (ref[None, :, 2] > score_threshold)
    n = used.sum(axis=1)
    return np.where(n > 0, (e * used).sum(axis=1) / np.maximum(n, 1), 0.0)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, sigmas: np.ndarray,
            threshold: float = 0.9, boxes: np.ndarray | None = None, areas: np.ndarray | None = None,
            keypoint_threshold: float | None = 0.2) -> np.ndarray:
    """Greedy OKS-NMS: visit poses by decreasing score; drop every later pose whose OKS with a
    kept pose exceeds ``threshold``. The scale of each pose is ``areas``, else its box area,
    else its keypoint extent. Returns kept indices, best first.

    The threshold only means something with the scale it was set for: HRNet's release uses 0.9
    with the area of each pose's padded crop, several times the area of the tight person box.
    With tight boxes, and worse with tiny ones, the same 0.9 lets through two poses of one
    person a few pixels apart (``posekit.pipelines.topdown`` passes crop areas and 0.5)."""
    kp = np.asarray(keypoints, np.float64)
    scores = np.asarray(scores, np.float64).reshape(-1)
    a = _areas(kp, boxes, areas)
    return _greedy_suppress(
        scores, lambda i, rest: pose_oks(kp[i], kp[rest], sigmas, a[i], a[rest], keypoint_threshold),
        threshold)


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, sigmas: np.ndarray,
                 method: str = "gaussian", sigma: float = 0.5, threshold: float = 0.3,
                 score_threshold: float = 1e-3, boxes: np.ndarray | None = None,
                 areas: np.ndarray | None = None, keypoint_threshold: float | None = 0.2,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al. 2017) driven by OKS.

    Repeatedly take the highest-scoring remaining pose ``m``; every remaining pose ``j`` is
    rescored by ``exp(-oks(m, j)^2 / sigma)`` (``method="gaussian"``) or by ``1 - oks(m, j)``
    when ``oks > threshold`` (``method="linear"``). Poses whose score falls below
    ``score_threshold`` are dropped. Returns ``(indices, new_scores)``, in the order picked.
    """
    if method not in ("gaussian", "linear"):
        raise ValueError(f"soft_oks_nms: method must be 'gaussian' or 'linear', got {method!r}")
    kp = np.asarray(keypoints, np.float64)
    s = np.asarray(scores, np.float64).reshape(-1).copy()
    a = _areas(kp, boxes, areas)
    remaining = np.arange(len(s))
    keep: list[int] = []
    new_scores: list[float] = []
    while remaining.size:
        j = int(np.argmax(s[remaining]))
        m = int(remaining[j])
        if s[m] < score_threshold:
            break
        keep.append(m)
        new_scores.append(float(s[m]))
        remaining = np.delete(remaining, j)
        if not remaining.size:
            break
        oks = pose_oks(kp[m], kp[remaining], sigmas, a[m], a[remaining], keypoint_threshold)
        if method == "gaussian":
            s[remaining] *= np.exp(-(oks ** 2) / sigma)
        else:
            s[remaining] *= np.where(oks > threshold, 1.0 - oks, 1.0)
        remaining = remaining[s[remaining] >= score_threshold]
    return np.asarray(keep, np.int64), np.asarray(new_scores, np.float64)


def rmpe_pose_similarity(ref: np.ndarray, others: np.ndarray, ref_box: np.ndarray,
                         sigma1: float = 1.0, sigma2: float = 2.65, lam: float = 1.7,
                         alpha: float = 0.1) -> np.ndarray:
    """RMPE's pose similarity ``d(P_i, P_j) = K_sim + lam * H_sim`` of ``ref (K, 3)`` to
    ``others (M, K, 3)`` (Fang et al. 2017, Sec. 3.3).

    * ``K_sim = sum_k tanh(c_i^k / sigma1) tanh(c_j^k / sigma1)`` over the keypoints ``k``
      where ``k_j^k`` lies inside ``B(k_i^k)``, the box centred on ``k_i^k`` whose sides are
      ``alpha`` (1/10) times the sides of P_i's box: a soft count of matching, confident
      keypoints.
    * ``H_sim = sum_k exp(-dist_k / sigma2)``, the spatial term, with ``dist_k`` the keypoint
      distance divided by ``alpha * max(w_i, h_i)`` so it does not depend on image scale (the
      authors' release normalises this way; the paper writes the squared pixel distance).

    Larger means more alike. ``ref_box`` is P_i's xyxy box. Returns ``(M,)``.
    """
    ref = np.asarray(ref, np.float64)
    others = np.asarray(others, np.float64).reshape(-1, *ref.shape)
    x0, y0, x1, y1 = np.asarray(ref_box, np.float64).reshape(4)
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    delta = np.abs(others[..., :2] - ref[None, :, :2])                 # (M, K, 2)
    inside = (delta[..., 0] <= alpha * w / 2) & (delta[..., 1] <= alpha * h / 2)
    k_sim = (np.tanh(ref[None, :, 2] / sigma1) * np.tanh(others[..., 2] / sigma1) * inside).sum(1)
    dist = np.sqrt((delta ** 2).sum(-1)) / (alpha * max(w, h))
    h_sim = np.exp(-dist / sigma2).sum(1)
    return k_sim + lam * h_sim


def parametric_pose_nms(keypoints: np.ndarray, scores: np.ndarray, boxes: np.ndarray | None = None,
                        eta: float = 22.48, sigma1: float = 1.0, sigma2: float = 2.65,
                        lam: float = 1.7, alpha: float = 0.1) -> np.ndarray:
    """RMPE parametric pose NMS (Fang et al. 2017).

    The most confident pose is the reference; every other pose whose similarity to it,
    :func:`rmpe_pose_similarity`, exceeds the elimination threshold ``eta`` is removed (the
    paper's criterion ``f(P_i, P_j | Lambda, eta) = 1[d(P_i, P_j | Lambda, lambda) <= eta]``
    with d read as a distance; here the same quantity is kept as a similarity, so the test is
    ``similarity > eta``). Repeat on what remains.

    Defaults ``sigma1=1, sigma2=2.65, lam=1.7, eta=22.48, alpha=0.1`` are the parameters the
    authors learned (released with their code, for 17 COCO keypoints); eta scales with the
    number of keypoints. ``boxes`` default to each pose's keypoint extent.
    Returns kept indices, best first.
    """
    kp = np.asarray(keypoints, np.float64)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if boxes is None:
        xy = kp[..., :2]
        boxes = np.concatenate([xy.min(1), xy.max(1)], axis=1)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return _greedy_suppress(
        scores, lambda i, rest: rmpe_pose_similarity(kp[i], kp[rest], boxes[i], sigma1, sigma2, lam, alpha),
        eta)

"""MPII multi-person mAP (Pishchulin et al., "DeepCut", CVPR 2016; the MPII multi-person
evaluation, ``evaluateAP.m``).

Per image:

1. every (prediction, ground truth) pair gets a PCKh score: the fraction of the ground truth's
   labelled joints that the prediction places within ``thresh`` (0.5) head sizes;
2. predictions are assigned to ground-truth poses one by one, in decreasing PCKh score (ties:
   lower prediction index, then lower ground-truth index), each pose at most once, and only
   while the score is positive;
3. each predicted joint (finite coordinates and a score > 0) becomes a detection with its own
   score: a true positive when its pose is assigned and the joint is within the threshold of
   the assigned ground truth's joint, otherwise a false positive (unassigned predictions are all
   false positives).

AP is then computed per joint over all images, against the number of labelled ground-truth
joints, as VOC's all-point interpolated AP (the ``VOCap`` of the MPII code), and averaged over
joints. The official greedy differs slightly: it lets each prediction keep only its best ground
truth before the ground truth picks; this module follows the one-by-one assignment above.

The MPII table (:func:`mpii_map_summary`) reports Head as the mean of neck and head top, the
other groups as left/right means, and the mean over all joints but pelvis and thorax (the
14 joints the multi-person benchmark scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from posekit.metrics.pck import MPII_GROUPS, MPII_MEAN_EXCLUDED
from posekit.skeleton import KeypointSpec

__all__ = ["MPIIMapResult", "MPIIImage", "mpii_map", "voc_ap", "mpii_map_summary"]


@dataclass(frozen=True)
class MPIIImage:
    """One image's ground truth and predictions.

    Attributes:
        gt_keypoints: ``(G, K, 3)`` ``[x, y, v]``.
        head_sizes: ``(G,)`` reference lengths (``0.6 * head box diagonal``).
        pred_keypoints: ``(P, K, 3)`` ``[x, y, score]``.
    """

    gt_keypoints: np.ndarray
    head_sizes: np.ndarray
    pred_keypoints: np.ndarray


@dataclass(frozen=True)
class MPIIMapResult:
    """Attributes: per_joint ``(K,)`` AP (NaN where there is no labelled joint), mean (over
    joints except pelvis and thorax), n_gt ``(K,)`` labelled ground-truth joints, names."""

    per_joint: np.ndarray
    mean: float
    n_gt: np.ndarray
    names: tuple[str, ...]

    def table(self) -> dict[str, float]:
        out = {n: float(v) for n, v in zip(self.names, self.per_joint)}
        out["mean"] = self.mean
        return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated AP: the area under the monotone precision envelope."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _assign(match: np.ndarray, n_lab: np.ndarray) -> np.ndarray:
    """Greedy assignment; ``match (P, G, K)`` bool, returns ``(P,)`` ground-truth index or -1."""
    n_p, n_g = match.shape[:2]
    out = np.full(n_p, -1)
    if n_p == 0 or n_g == 0:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_lab > 0, match.sum(axis=2) / n_lab, 0.0)         # (P, G)
    flat = np.argsort(-score, axis=None, kind="stable")                    # row-major ties
    used_p = np.zeros(n_p, bool)
    used_g = np.zeros(n_g, bool)
    for f in flat:
        p, g = divmod(int(f), n_g)
        if score[p, g] <= 0:
            break
        if used_p[p] or used_g[g]:
            continue
        out[p] = g
        used_p[p] = used_g[g] = True
    return out


def mpii_map(images: Sequence[MPIIImage], spec: KeypointSpec, thresh: float = 0.5) -> MPIIMapResult:
    """MPII multi-person AP per joint and its mean (see the module docstring)."""
    k = spec.num_keypoints
    scores: list[list[np.ndarray]] = [[] for _ in range(k)]
    labels: list[list[np.ndarray]] = [[] for _ in range(k)]
    n_gt = np.zeros(k, dtype=np.int64)
    for im in images:
        g = np.asarray(im.gt_keypoints, dtype=np.float64).reshape(-1, k, 3)
        p = np.asarray(im.pred_keypoints, dtype=np.float64).reshape(-1, k, 3)
        hs = np.asarray(im.head_sizes, dtype=np.float64).reshape(-1)
        has_gt = g[..., 2] > 0                                              # (G, K)
        has_pred = np.isfinite(p[..., :2]).all(axis=2) & (p[..., 2] > 0)    # (P, K)
        n_gt += has_gt.sum(axis=0)
        d = np.hypot(p[:, None, :, 0] - g[None, :, :, 0], p[:, None, :, 1] - g[None, :, :, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = d / hs[None, :, None] <= thresh
        match = ok & has_gt[None] & has_pred[:, None] & (hs > 0)[None, :, None]   # (P, G, K)
        assigned = _assign(match, has_gt.sum(axis=1)[None])
        tp = np.zeros(p.shape[:2], bool)
        sel = assigned >= 0
        tp[sel] = match[np.flatnonzero(sel), assigned[sel]]
        for j in range(k):
            scores[j].append(p[has_pred[:, j], j, 2])
            labels[j].append(tp[has_pred[:, j], j])
    ap = np.full(k, np.nan)
    for j in range(k):
        if n_gt[j] == 0:
            continue
        s = np.concatenate(scores[j]) if scores[j] else np.zeros(0)
        lab = np.concatenate(labels[j]) if labels[j] else np.zeros(0, bool)
        order = np.argsort(-s, kind="stable")
        tp = np.cumsum(lab[order])
        fp = np.cumsum(~lab[order])
        rec = tp / n_gt[j]
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        ap[j] = voc_ap(rec, prec)
    keep = np.array([n not in MPII_MEAN_EXCLUDED for n in spec.names]) & ~np.isnan(ap)
    mean = float(ap[keep].mean()) if keep.any() else float("nan")
    return MPIIMapResult(ap, mean, n_gt, spec.names)


def mpii_map_summary(result: MPIIMapResult, spec: KeypointSpec) -> dict[str, float]:
    """MPII multi-person table: Head (mean of neck and head top), Shoulder, ..., Ankle, Mean."""
    per = dict(zip(spec.names, result.per_joint))
    out: dict[str, float] = {}
    for label, names in MPII_GROUPS:
        names = ("neck", "head_top") if label == "Head" else names
        try:
            vals = [per[spec.names[spec.index(n)]] for n in names]
        except KeyError:
            vals = [float("nan")]
        out[label] = float(np.mean(vals))
    out["Mean"] = result.mean
    return out

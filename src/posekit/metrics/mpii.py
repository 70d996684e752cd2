"""MPII multi-person mAP, ported from the official MPII evaluation (Pishchulin et al.,
"DeepCut", CVPR 2016; ``evaluateAP.m`` with ``assignGTmulti.m``, ``getRPC.m`` and ``VOCap.m``
of the MPII evaluation toolkit).

The procedure, exactly as the official code runs it:

* **Scored joints.** The 14 joints of the benchmark: every joint of the spec except pelvis and
  thorax (for MPII16 the official ``jidxMap = [0:5 10:15 8:9]``). Pelvis and thorax are used
  nowhere, neither for the assignment nor for AP; their AP is NaN.
* **Per image**, for every (prediction p, ground truth g) pair: ``dist[p, g, j] = ||pred_j -
  gt_j|| / head_size[g]`` where both the predicted joint and the labelled ground-truth joint
  exist (else infinite), ``match = dist <= thresh`` (thresh 0.5), and ``pck[p, g] =
  sum_j match[p, g, j] / (number of labelled scored joints of g)``.
* **Assignment** (two steps, not a greedy pair-by-pair matching): each prediction keeps only
  its best ground truth (``max`` over g, first index on ties), its other entries are set to 0;
  then each ground truth takes the prediction with the highest remaining ``pck`` (first index
  on ties), and only when that value is above 0. A prediction can therefore stay unassigned
  although its second-best person is free.
* **Detections.** Every predicted joint is a detection, *whatever its score* (a joint is
  predicted when its x and y are finite; NaN coordinates mean "not predicted"). It is a true
  positive when its pose is assigned to a ground truth and ``match`` holds for that joint,
  otherwise a false positive.
* **AP per joint** over all images: detections sorted by decreasing score with a stable sort
  (ties keep image order, then prediction order), ``precision = TP / rank``, ``recall = TP /
  (labelled ground-truth joints)``, and VOC's all-point interpolated AP (``VOCap``). The mean is
  over the scored joints.

* **Images with only one side.** The official code fills "this ground-truth joint is labelled"
  inside its loop over predictions, and "this joint is predicted" inside its loop over ground
  truth. So an image contributes only when it has both: the ground truth of an image without
  any prediction is not counted (missing everybody there does not lower recall), and
  predictions in an image without ground-truth people are not false positives. This is the
  default here too, so that the numbers equal the official ones; ``count_one_sided_images=True``
  counts both (the stricter reading).

One deliberate difference: a scored joint with no labelled ground truth anywhere gets AP NaN
and is left out of the mean (the official code gives 0 or NaN there, and a NaN mean). On the
MPII benchmark every joint is labelled, so the numbers are the same. The official code reports
percentages; posekit reports fractions in [0, 1].

The MPII table (:func:`mpii_map_summary`) reports Head as the mean of neck and head top, the
other groups as left/right means, and the mean over the scored joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from posekit.metrics.pck import MPII_GROUPS, MPII_MEAN_EXCLUDED
from posekit.skeleton import KeypointSpec

__all__ = ["MPIIMapResult", "MPIIImage", "mpii_map", "voc_ap", "mpii_map_summary",
           "mpii_scored_joints"]


@dataclass(frozen=True)
class MPIIImage:
    """One image's ground truth and predictions, in image pixels.

    Attributes:
        gt_keypoints: ``(G, K, 3)`` ``[x, y, v]``; a joint is labelled when v > 0.
        head_sizes: ``(G,)`` reference lengths (``0.6 * head box diagonal``).
        pred_keypoints: ``(P, K, 3)`` ``[x, y, score]``; a joint is predicted when x and y are
            finite (its score may be anything finite, also 0 or negative).
    """

    gt_keypoints: np.ndarray
    head_sizes: np.ndarray
    pred_keypoints: np.ndarray


@dataclass(frozen=True)
class MPIIMapResult:
    """Attributes: per_joint ``(K,)`` AP (NaN for joints that are not scored or have no
    labelled ground truth), mean (over the scored joints), n_gt ``(K,)`` labelled
    ground-truth joints, names, scored ``(K,)`` bool: the joints the benchmark scores."""

    per_joint: np.ndarray
    mean: float
    n_gt: np.ndarray
    names: tuple[str, ...]
    scored: np.ndarray

    def table(self) -> dict[str, float]:
        """``{joint name: AP}`` for the scored joints, then ``"mean"``."""
        out = {n: float(v) for n, v, s in zip(self.names, self.per_joint, self.scored) if s}
        out["mean"] = self.mean
        return out


def mpii_scored_joints(spec: KeypointSpec) -> np.ndarray:
    """``(K,)`` bool: the joints MPII multi-person AP scores (all but pelvis and thorax)."""
    return np.array([n not in MPII_MEAN_EXCLUDED for n in spec.names], dtype=bool)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP (``VOCap.m``): the area under the monotone precision
    envelope, summed in order (as the MATLAB loop does)."""
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    terms = (mrec[i] - mrec[i - 1]) * mpre[i]
    return float(np.cumsum(terms)[-1]) if len(terms) else 0.0


def _assign(pck: np.ndarray) -> np.ndarray:
    """The official two-step assignment on ``pck (P, G)`` (NaN where the ground truth has no
    labelled scored joint). Returns ``(P,)`` the assigned ground-truth index, or -1.

    NaN entries can never win with a positive value, so they are taken as 0 here; this gives
    the same assignment as MATLAB's NaN-ignoring ``max``.
    """
    n_p, n_g = pck.shape
    out = np.full(n_p, -1)
    if n_p == 0 or n_g == 0:
        return out
    s = np.nan_to_num(pck, nan=0.0)
    best_g = np.argmax(s, axis=1)                                   # first index on ties
    kept = np.zeros_like(s)
    rows = np.arange(n_p)
    kept[rows, best_g] = s[rows, best_g]                            # the others set to 0
    best_p = np.argmax(kept, axis=0)                                # (G,) first index on ties
    val = kept[best_p, np.arange(n_g)]
    for g in np.flatnonzero(val > 0):
        out[best_p[g]] = g                                          # p's only non-zero is g
    return out


def mpii_map(images: Sequence[MPIIImage], spec: KeypointSpec, thresh: float = 0.5, *,
             count_one_sided_images: bool = False) -> MPIIMapResult:
    """MPII multi-person AP per joint and its mean (see the module docstring).

    Args:
        images: per image, ground truth, head sizes and predictions.
        spec: the keypoint spec of both.
        thresh: PCKh threshold (fraction of the head size).
        count_one_sided_images: False (official): images without ground-truth people or without
            predictions are skipped; True: their ground truth counts as missed and their
            predictions as false positives.

    Raises:
        ValueError: when a predicted joint (finite x, y) has a NaN or infinite score.
    """
    k = spec.num_keypoints
    scored = mpii_scored_joints(spec)
    scores: list[list[np.ndarray]] = [[] for _ in range(k)]
    labels: list[list[np.ndarray]] = [[] for _ in range(k)]
    n_gt = np.zeros(k, dtype=np.int64)
    for n, im in enumerate(images):
        g = np.asarray(im.gt_keypoints, dtype=np.float64).reshape(-1, k, 3)
        p = np.asarray(im.pred_keypoints, dtype=np.float64).reshape(-1, k, 3)
        hs = np.asarray(im.head_sizes, dtype=np.float64).reshape(-1)
        if hs.shape[0] != g.shape[0]:
            raise ValueError(f"image {n}: {hs.shape[0]} head sizes for {g.shape[0]} people")
        has_gt = (g[..., 2] > 0) & scored                                   # (G, K)
        has_pred = np.isfinite(p[..., :2]).all(axis=2) & scored             # (P, K)
        if not np.isfinite(p[..., 2][has_pred]).all():
            raise ValueError(f"image {n}: a predicted joint has a NaN or infinite score")
        if not count_one_sided_images and (len(g) == 0 or len(p) == 0):
            continue
        n_gt += has_gt.sum(axis=0)
        d = np.hypot(p[:, None, :, 0] - g[None, :, :, 0], p[:, None, :, 1] - g[None, :, :, 1])
        both = has_pred[:, None] & has_gt[None]                             # (P, G, K)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = np.where(both, d / hs[None, :, None], np.inf)
            match = dist <= thresh                                          # NaN (0/0) -> False
            pck = match.sum(axis=2) / has_gt.sum(axis=1)[None, :]           # NaN where no GT joint
        assigned = _assign(pck)
        tp = np.zeros(p.shape[:2], bool)
        sel = np.flatnonzero(assigned >= 0)
        tp[sel] = match[sel, assigned[sel]]
        for j in np.flatnonzero(scored):
            scores[j].append(p[has_pred[:, j], j, 2])
            labels[j].append(tp[has_pred[:, j], j])
    ap = np.full(k, np.nan)
    for j in np.flatnonzero(scored & (n_gt > 0)):
        s = np.concatenate(scores[j]) if scores[j] else np.zeros(0)
        lab = np.concatenate(labels[j]) if labels[j] else np.zeros(0, bool)
        order = np.argsort(-s, kind="stable")          # descending; ties keep image, then pose order
        tp_cum = np.cumsum(lab[order])
        rank = np.arange(1, len(order) + 1)
        ap[j] = voc_ap(tp_cum / n_gt[j], tp_cum / rank)
    keep = scored & ~np.isnan(ap)
    mean = float(np.cumsum(ap[keep])[-1] / keep.sum()) if keep.any() else float("nan")
    return MPIIMapResult(ap, mean, n_gt, spec.names, scored)


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

"""PCK@alpha: the Percentage of Correct Keypoints, and PCKh (head-normalised PCK).

A predicted joint is correct when its distance to the true joint is at most ``alpha`` times a
per-person reference length (``d / ref <= alpha``, as in the MPII evaluation):

* ``bbox``: the larger side of the person box (Yang & Ramanan, "Articulated human detection
  with flexible mixtures of parts", TPAMI 2013 used the box; max(w, h) as in MMPose);
* ``torso``: the distance between the left shoulder and the right hip (the torso diameter of
  Toshev & Szegedy, "DeepPose", CVPR 2014);
* ``head`` (PCKh, Andriluka et al., "2D Human Pose Estimation: New Benchmark and State of the
  Art Analysis", CVPR 2014): ``0.6 * ||head box diagonal||``, as the official MPII evaluation
  computes it; without head boxes the head segment length ``||head_top - neck||`` is used,
  the quantity that 0.6 x diagonal approximates.

Only ground-truth joints with ``v > 0`` are counted; people whose reference length is missing
or not positive are left out. A prediction with NaN coordinates counts as a miss. Arrays are
``(N, K, 3)`` (predictions: ``[x, y, score]``; ground truth ``[x, y, v]``), one prediction per
ground-truth person, in image pixels.

Conventions, and where MMPose (``keypoint_pck_accuracy`` / ``keypoint_auc``) differs:

* a distance equal to the threshold is correct here (``<=``, as the MPII evaluation script);
  MMPose counts it as wrong (``<``);
* the mean is weighted by joint count (correct / counted over all joints, as the MPII table's
  Mean); MMPose averages the per-joint PCKs unweighted, over joints with a counted point;
* :func:`pck_auc` integrates the mean-PCK curve over ``[0, alpha_max]`` by the trapezoidal
  rule; MMPose's AUC is the mean of its PCK at the 20 thresholds ``i / 20 * norm_factor``,
  ``i = 0..19`` (a left Riemann sum, with its ``<`` and unweighted mean), which
  :func:`pck_auc_mmpose` computes;
* the torso (:func:`torso_size`) needs both its joints labelled, else the person is left out;
  MMPose's torso size (J-HMDB tPCK) ignores visibility, and falls back to the prediction's
  torso when the ground truth's is below 1 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.skeleton import KeypointSpec

__all__ = [
    "PCKResult", "normalized_distances", "pck", "pckh", "pck_curve", "pck_auc", "pck_auc_mmpose",
    "bbox_size",
    "torso_size", "head_size", "head_segment_size", "mpii_summary", "MPII_GROUPS",
]

# The official MPII summary groups (HRNet/MMPose port of the MPII evaluation): joint names.
MPII_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Head", ("head_top",)),
    ("Shoulder", ("left_shoulder", "right_shoulder")),
    ("Elbow", ("left_elbow", "right_elbow")),
    ("Wrist", ("left_wrist", "right_wrist")),
    ("Hip", ("left_hip", "right_hip")),
    ("Knee", ("left_knee", "right_knee")),
    ("Ankle", ("left_ankle", "right_ankle")),
)
MPII_MEAN_EXCLUDED = ("pelvis", "thorax")


@dataclass(frozen=True)
class PCKResult:
    """PCK at one alpha.

    Attributes:
        alpha: the threshold, as a fraction of the reference length.
        per_joint: ``(K,)`` fraction of correct joints (NaN where no joint was counted).
        counts: ``(K,)`` how many ground-truth joints were counted.
        mean: correct / counted over all joints (the joint-count weighted mean).
        names: the K joint names.
    """

    alpha: float
    per_joint: np.ndarray
    counts: np.ndarray
    mean: float
    names: tuple[str, ...]

    def table(self) -> dict[str, float]:
        """``{joint name: PCK, ..., "mean": PCK}``."""
        out = {n: float(v) for n, v in zip(self.names, self.per_joint)}
        out["mean"] = self.mean
        return out


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if g.ndim != 3 or g.shape[2] < 3:
        raise ValueError(f"ground truth must be (N, K, 3), got {g.shape}")
    if p.ndim != 3 or p.shape[:2] != g.shape[:2] or p.shape[2] < 2:
        raise ValueError(f"predictions must be (N, K, 2|3) like the ground truth {g.shape}, got {p.shape}")
    return p, g


def normalized_distances(pred: np.ndarray, gt: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``(N, K)`` distances divided by each person's reference length ``ref (N,)``.

    NaN where the ground-truth joint is unlabelled (``v <= 0``) or the reference is missing /
    not positive; ``inf`` where the prediction is NaN.
    """
    p, g = _check(pred, gt)
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    if r.shape[0] != g.shape[0]:
        raise ValueError(f"{r.shape[0]} reference lengths for {g.shape[0]} people")
    d = np.hypot(p[..., 0] - g[..., 0], p[..., 1] - g[..., 1])
    d = np.where(np.isnan(d), np.inf, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        nd = d / r[:, None]
    valid = (g[..., 2] > 0) & (np.isfinite(r) & (r > 0))[:, None]
    return np.where(valid, nd, np.nan)


def _names(spec: KeypointSpec | None, k: int) -> tuple[str, ...]:
    if spec is None:
        return tuple(f"joint_{i}" for i in range(k))
    if spec.num_keypoints != k:
        raise ValueError(f"spec {spec.name} has {spec.num_keypoints} joints, the arrays have {k}")
    return spec.names


def _pck_from_nd(nd: np.ndarray, alpha: float, names: tuple[str, ...]) -> PCKResult:
    valid = ~np.isnan(nd)
    correct = valid & (np.where(valid, nd, np.inf) <= alpha)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = correct.sum(axis=0) / counts
    total = counts.sum()
    mean = float(correct.sum() / total) if total else float("nan")
    return PCKResult(float(alpha), per.astype(np.float64), counts, mean, names)


def pck(pred: np.ndarray, gt: np.ndarray, ref: np.ndarray, alpha: float = 0.2,
        spec: KeypointSpec | None = None) -> PCKResult:
    """PCK@alpha with per-person reference lengths ``ref (N,)`` (see :func:`bbox_size`,
    :func:`torso_size`, :func:`head_size`)."""
    nd = normalized_distances(pred, gt, ref)
    return _pck_from_nd(nd, alpha, _names(spec, nd.shape[1]))


def pckh(pred: np.ndarray, gt: np.ndarray, head_boxes_xyxy: np.ndarray | None = None,
         alpha: float = 0.5, spec: KeypointSpec | None = None) -> PCKResult:
    """PCKh@alpha: reference = 0.6 x head-box diagonal (``(N, 4)`` xyxy MPII head boxes); with
    no head boxes, the head segment ``||head_top - neck||`` of the ground truth (needs spec)."""
    if head_boxes_xyxy is not None:
        ref = head_size(head_boxes_xyxy)
    elif spec is not None:
        ref = head_segment_size(gt, spec)
    else:
        raise ValueError("PCKh needs head boxes, or a spec with head_top and neck joints")
    return pck(pred, gt, ref, alpha, spec)


def pck_curve(pred: np.ndarray, gt: np.ndarray, ref: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray]:
    """PCK over a range of alphas: ``(per_joint (A, K), mean (A,))``."""
    nd = normalized_distances(pred, gt, ref)
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
    valid = ~np.isnan(nd)
    ndv = np.where(valid, nd, np.inf)
    correct = ndv[None] <= alphas[:, None, None]                        # (A, N, K)
    counts = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = correct.sum(axis=1) / counts
        mean = correct.sum(axis=(1, 2)) / counts.sum()
    return per, mean


def pck_auc(pred: np.ndarray, gt: np.ndarray, ref: np.ndarray, alpha_max: float = 0.5,
            num: int = 51) -> float:
    """Area under the mean-PCK curve over alpha in [0, alpha_max] (``num`` evenly spaced
    points, trapezoidal rule), divided by alpha_max: 1.0 is perfect."""
    if not alpha_max > 0:
        raise ValueError(f"alpha_max must be positive, got {alpha_max}")
    alphas = np.linspace(0.0, alpha_max, num)
    _, mean = pck_curve(pred, gt, ref, alphas)
    y = np.nan_to_num(mean)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(alphas)) / 2 / alpha_max)


def pck_auc_mmpose(pred: np.ndarray, gt: np.ndarray, ref: np.ndarray, alpha_max: float = 1.0,
                   num_thrs: int = 20) -> float:
    """MMPose's AUC (``keypoint_auc``): the mean, over the ``num_thrs`` thresholds
    ``alpha_max * i / num_thrs`` (``i = 0 .. num_thrs - 1``), of MMPose's mean PCK, which counts
    ``d / ref < threshold`` (strictly) and averages the joints unweighted.

    MMPose's ``AUC(norm_factor=30)`` metric is ``pck_auc_mmpose(pred, gt, np.full(N, 30.0))``.
    People without a positive reference are left out (MMPose leaves out a reference of 0 and
    counts every joint of a negative one as correct).
    """
    if not alpha_max > 0:
        raise ValueError(f"alpha_max must be positive, got {alpha_max}")
    nd = normalized_distances(pred, gt, ref)
    valid = ~np.isnan(nd)
    counts = valid.sum(axis=0)
    has = counts > 0
    if not has.any():
        return 0.0
    ndv = np.where(valid, nd, np.inf)
    total = 0.0
    for i in range(num_thrs):
        per = (ndv < alpha_max * i / num_thrs).sum(axis=0)[has] / counts[has]
        total += 1.0 / num_thrs * float(per.mean())     # summed as MMPose does
    return total


def bbox_size(boxes_xyxy: np.ndarray) -> np.ndarray:
    """``(N,)`` max(width, height) of ``(N, 4)`` xyxy boxes."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


def _pair_length(gt: np.ndarray, spec: KeypointSpec, a: str, b: str) -> np.ndarray:
    g = np.asarray(gt, dtype=np.float64)
    try:
        i, j = spec.index(a), spec.index(b)
    except KeyError as e:
        raise ValueError(f"spec {spec.name} lacks a joint needed here: {e}") from None
    d = np.hypot(g[:, i, 0] - g[:, j, 0], g[:, i, 1] - g[:, j, 1])
    ok = (g[:, i, 2] > 0) & (g[:, j, 2] > 0)
    return np.where(ok, d, np.nan)


def torso_size(gt: np.ndarray, spec: KeypointSpec) -> np.ndarray:
    """``(N,)`` torso diameter: ``||left_shoulder - right_hip||`` (NaN when either is unlabelled)."""
    return _pair_length(gt, spec, "left_shoulder", "right_hip")


def head_size(head_boxes_xyxy: np.ndarray) -> np.ndarray:
    """``(N,)`` MPII head size: ``0.6 * ||(x2 - x1, y2 - y1)||`` of the head box."""
    b = np.asarray(head_boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    return 0.6 * np.hypot(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])


def head_segment_size(gt: np.ndarray, spec: KeypointSpec) -> np.ndarray:
    """``(N,)`` head segment length ``||head_top - neck||`` (MPII: upper neck)."""
    return _pair_length(gt, spec, "head_top", "neck")


def mpii_summary(result: PCKResult, spec: KeypointSpec) -> dict[str, float]:
    """The MPII table: Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle and Mean.

    As in the MPII evaluation script ported by HRNet and MMPose: a group is the plain mean of
    its left and right joints (Head is ``head_top``), and Mean is the joint-count weighted mean
    over all joints except pelvis and thorax. Groups whose joints the spec lacks are NaN.
    """
    per = dict(zip(spec.names, result.per_joint))
    out: dict[str, float] = {}
    for label, names in MPII_GROUPS:
        vals = [per[spec.names[spec.index(n)]] for n in names if _has(spec, n)]
        out[label] = float(np.mean(vals)) if len(vals) == len(names) else float("nan")
    keep = np.array([n not in MPII_MEAN_EXCLUDED for n in spec.names])
    c = result.counts[keep].astype(np.float64)
    p = np.nan_to_num(result.per_joint[keep])
    out["Mean"] = float((p * c).sum() / c.sum()) if c.sum() else float("nan")
    return out


def _has(spec: KeypointSpec, name: str) -> bool:
    try:
        spec.index(name)
        return True
    except KeyError:
        return False

"""PCP: the Percentage of Correct Parts (Ferrari et al., "Progressive search space reduction for
human pose estimation", CVPR 2008; strict/loose as discussed by Eichner et al., "2D articulated
human pose estimation and retrieval in (almost) unconstrained still images", IJCV 2012).

A limb (a pair of endpoints) with true length L is correct at threshold t (0.5 by default):

* **strict**: both predicted endpoints lie within ``t * L`` of their true positions;
* **loose**: the *mean* of the two endpoint distances is within ``t * L``.

Limb groups are defined by canonical joint names, so they work for any spec that has them:
upper arm (shoulder-elbow), lower arm (elbow-wrist), upper leg (hip-knee), lower leg
(knee-ankle), torso (mid-shoulders to mid-hips) and head (neck to head top). A group whose
joints the spec lacks (COCO has no head top) is absent. A limb is counted when both true
endpoints are labelled (``v > 0``); a NaN prediction is a miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.skeleton import KeypointSpec

__all__ = ["PCPResult", "pcp", "limb_groups", "PCP_GROUPS"]

# group -> limbs; a limb is (endpoint, endpoint), an endpoint the mean of one or more joints
PCP_GROUPS: tuple[tuple[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]], ...] = (
    ("upper_arm", ((("left_shoulder",), ("left_elbow",)), (("right_shoulder",), ("right_elbow",)))),
    ("lower_arm", ((("left_elbow",), ("left_wrist",)), (("right_elbow",), ("right_wrist",)))),
    ("upper_leg", ((("left_hip",), ("left_knee",)), (("right_hip",), ("right_knee",)))),
    ("lower_leg", ((("left_knee",), ("left_ankle",)), (("right_knee",), ("right_ankle",)))),
    ("torso", ((("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")),)),
    ("head", ((("neck",), ("head_top",)),)),
)


@dataclass(frozen=True)
class PCPResult:
    """PCP per limb group and overall.

    Attributes:
        threshold: the fraction of limb length.
        strict, loose: ``{group: fraction correct}`` (NaN when no limb was counted).
        counts: ``{group: limbs counted}``.
        strict_mean, loose_mean: correct / counted over all limbs.
    """

    threshold: float
    strict: dict[str, float]
    loose: dict[str, float]
    counts: dict[str, int]
    strict_mean: float
    loose_mean: float

    def table(self) -> dict[str, dict[str, float]]:
        return {"strict": {**self.strict, "mean": self.strict_mean},
                "loose": {**self.loose, "mean": self.loose_mean}}


def limb_groups(spec: KeypointSpec) -> dict[str, list[tuple[tuple[int, ...], tuple[int, ...]]]]:
    """The PCP limbs the spec supports, as joint-index endpoints: ``{group: [(a, b), ...]}``."""
    out: dict[str, list] = {}
    for group, limbs in PCP_GROUPS:
        idx = []
        for a, b in limbs:
            try:
                idx.append((tuple(spec.index(n) for n in a), tuple(spec.index(n) for n in b)))
            except KeyError:
                continue
        if idx:
            out[group] = idx
    return out


def _endpoint(kp: np.ndarray, joints: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    pts = kp[:, list(joints), :2].mean(axis=1)                       # (N, 2)
    ok = (kp[:, list(joints), 2] > 0).all(axis=1) if kp.shape[2] > 2 else np.ones(len(kp), bool)
    return pts, ok


def pcp(pred: np.ndarray, gt: np.ndarray, spec: KeypointSpec, threshold: float = 0.5) -> PCPResult:
    """PCP@threshold of ``(N, K, 2|3)`` predictions against ``(N, K, 3)`` ground truth."""
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if g.ndim != 3 or p.shape[:2] != g.shape[:2] or g.shape[1] != spec.num_keypoints:
        raise ValueError(f"expected (N, {spec.num_keypoints}, 3) arrays, got {p.shape} and {g.shape}")
    strict, loose, counts = {}, {}, {}
    n_strict = n_loose = n_all = 0
    for group, limbs in limb_groups(spec).items():
        c_s = c_l = n = 0
        for a, b in limbs:
            ga, ok_a = _endpoint(g, a)
            gb, ok_b = _endpoint(g, b)
            pa, _ = _endpoint(p, a)
            pb, _ = _endpoint(p, b)
            length = np.hypot(*(ga - gb).T)
            da = np.nan_to_num(np.hypot(*(pa - ga).T), nan=np.inf)
            db = np.nan_to_num(np.hypot(*(pb - gb).T), nan=np.inf)
            ok = ok_a & ok_b
            lim = threshold * length
            c_s += int(np.count_nonzero(ok & (da <= lim) & (db <= lim)))
            c_l += int(np.count_nonzero(ok & ((da + db) / 2 <= lim)))
            n += int(np.count_nonzero(ok))
        strict[group] = c_s / n if n else float("nan")
        loose[group] = c_l / n if n else float("nan")
        counts[group] = n
        n_strict += c_s
        n_loose += c_l
        n_all += n
    return PCPResult(float(threshold), strict, loose, counts,
                     n_strict / n_all if n_all else float("nan"),
                     n_loose / n_all if n_all else float("nan"))

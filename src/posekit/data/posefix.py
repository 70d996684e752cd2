"""PoseFix's input-pose synthesis: ground truth corrupted by the errors pose estimators make.

Reference: Moon, Chang & Lee, "PoseFix: Model-agnostic General Human Pose Refinement Network",
CVPR 2019 (arXiv:1812.03595), Sec. 4 and the official ``main/gen_batch.py``
(``synthesize_pose``); the error taxonomy is Ronchi & Perona's (ICCV 2017).

Every labelled joint of a training person becomes one of five kinds, all measured on the OKS
scale of that joint (``d(ks)`` is the distance at which the joint's keypoint similarity
``exp(-d^2 / (2 area (2 sigma)^2))`` falls to ``ks``, :func:`ks_radius`):

* ``good``: within ``d(0.85)`` of the truth;
* ``jitter``: between ``d(0.85)`` and ``d(0.5)`` from the truth;
* ``miss``: between ``d(0.5)`` and ``d(0.1)`` from the truth (far off);
* ``inversion``: within ``d(0.5)`` of the same person's opposite-side joint (left/right swap);
* ``swap``: within ``d(0.5)`` of a nearby person's same joint (or of its opposite-side joint).

The kind is drawn per joint with the paper's probabilities (:func:`joint_error_probabilities`,
COCO-17 joint groups): jitter 10-25 %, miss 2-25 %, inversion 1-6 %, swap 1-15 %, the rest good,
higher for people with few labelled joints or with overlapping neighbours, exactly the official
table; a kind that cannot be made (no labelled opposite joint, no neighbour) is dropped and the
others renormalised. Simplification: the official code also rejects positions that fall
closer to another candidate source than the radius drawn, and places misses around the other
sources too; here a miss is around the truth only and no rejection is done.
"""

from __future__ import annotations

import numpy as np

from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["ERROR_TYPES", "ks_radius", "joint_error_probabilities", "synthesize_pose"]

#: The kinds of synthesised input joints, in the order of the probability columns.
ERROR_TYPES = ("good", "jitter", "miss", "inversion", "swap")


def ks_radius(ks: float, area: float, sigmas: np.ndarray) -> np.ndarray:
    """``(K,)`` distances (pixels) at which each joint's keypoint similarity is ``ks`` for a
    person of ``area`` pixels^2 (COCO's ``exp(-d^2 / (2 area (2 sigma)^2))``)."""
    return np.sqrt(-2.0 * max(float(area), 1.0) * (2 * np.asarray(sigmas, np.float64)) ** 2 * np.log(ks))


def joint_error_probabilities(num_keypoints: int, num_valid: int, num_overlap: int) -> np.ndarray:
    """``(K, 5)`` probabilities of :data:`ERROR_TYPES` per COCO-17 joint (PoseFix's table):
    ``num_valid`` labelled joints of the person, ``num_overlap`` overlapping people."""
    if num_keypoints != 17:
        raise PosekitError(f"PoseFix error statistics are given for the COCO-17 joints, not {num_keypoints}")
    p = np.zeros((17, 5))
    face, upper = np.arange(0, 5), np.arange(5, 11)
    for j in range(17):
        # jitter: nose/knees/ankles, eyes-ears-upper body, hips
        jg = 0 if (j == 0 or 13 <= j <= 16) else (1 if 1 <= j <= 10 else 2)
        jitter = (0.15, 0.20, 0.25)[jg] if num_valid <= 10 else (0.10, 0.15, 0.20)[jg]
        mg = 0 if j in face else (1 if j in (5, 6, 15, 16) else 2)
        miss = ((0.15, 0.20, 0.25) if num_valid <= 5 else
                (0.10, 0.13, 0.15) if num_valid <= 10 else (0.02, 0.05, 0.10))[mg]
        ig = 0 if j in face else (1 if j in upper else 2)
        inv = (0.01, 0.03, 0.06)[ig]
        crowded = (num_valid <= 10 and num_overlap > 0) or (num_valid <= 15 and num_overlap >= 3)
        swap = ((0.02, 0.15, 0.10) if crowded else (0.01, 0.06, 0.03))[ig]
        p[j] = (1 - jitter - miss - inv - swap, jitter, miss, inv, swap)
    return p


def _in_ring(rng: np.random.Generator, centre: np.ndarray, r0: float, r1: float) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    r = rng.uniform(r0, r1)
    return centre + r * np.array([np.cos(angle), np.sin(angle)])


def synthesize_pose(gt: np.ndarray, near: np.ndarray, area: float, spec: KeypointSpec,
                    rng: np.random.Generator, only: str | None = None, rate: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A corrupted input pose for one person.

    Args:
        gt: ``(K, 3)`` the person's ground truth ``[x, y, v]`` (any frame, e.g. crop pixels).
        near: ``(M, K, 3)`` the other people's ground truth in the same frame (M may be 0).
        area: the person's area in that frame (pixels^2), for the OKS-scaled radii.
        spec: keypoint spec (OKS sigmas, left/right pairs through ``flip_index``).
        rng: the random source.
        only: None draws every joint's kind with PoseFix's probabilities; an error type name
            (``"jitter"``, ``"miss"``, ``"inversion"``, ``"swap"``) makes each labelled joint that
            kind with probability ``rate`` when it can be made, else ``good`` (evaluation by type).

    Returns:
        ``(pose (K, 3) float32 [x, y, 1], kinds (K,) int64)``: kinds index :data:`ERROR_TYPES`;
        unlabelled joints (``v = 0``) are placed ``good`` around their coordinates and marked -1.
    """
    gt = np.asarray(gt, np.float64)
    near = np.asarray(near, np.float64).reshape(-1, *gt.shape)
    k = gt.shape[0]
    sig = spec.sigmas_array()
    d85, d50, d10 = (ks_radius(ks, area, sig) for ks in (0.85, 0.5, 0.1))
    valid = gt[:, 2] > 0
    num_overlap = int(sum((p[:, 2] > 0).any() for p in near))
    probs = joint_error_probabilities(k, int(valid.sum()), num_overlap)
    flip = np.asarray(spec.flip_index)
    pose = np.zeros((k, 3), np.float32)
    kinds = np.full(k, -1, np.int64)
    for j in range(k):
        if not valid[j]:
            pose[j] = (*_in_ring(rng, gt[j, :2], 0, d85[j]), 1.0)
            continue
        pair = int(flip[j])
        sources_swap = [p[j, :2] for p in near if p[j, 2] > 0]
        if pair != j:
            sources_swap += [p[pair, :2] for p in near if p[pair, 2] > 0]
        can = np.array([True, True, True, pair != j and valid[pair], len(sources_swap) > 0])
        if only is None:
            p = probs[j] * can
        else:
            t = ERROR_TYPES.index(only)
            p = np.zeros(5)
            p[0] = 1.0
            if can[t]:
                p = np.zeros(5)
                p[t], p[0] = rate, 1 - rate
        kind = int(rng.choice(5, p=p / p.sum()))
        if kind == 0:
            xy = _in_ring(rng, gt[j, :2], 0, d85[j])
        elif kind == 1:
            xy = _in_ring(rng, gt[j, :2], d85[j], d50[j])
        elif kind == 2:
            xy = _in_ring(rng, gt[j, :2], d50[j], d10[j])
        elif kind == 3:
            xy = _in_ring(rng, gt[pair, :2], 0, d50[j])
        else:
            xy = _in_ring(rng, sources_swap[int(rng.integers(len(sources_swap)))], 0, d50[j])
        pose[j] = (*xy, 1.0)
        kinds[j] = kind
    return pose, kinds

"""MPII multi-person mAP and VOC AP on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics import MPIIImage, mpii_map, mpii_map_summary, voc_ap
from posekit.skeleton import MPII16


def test_voc_ap():
    assert voc_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5])) == pytest.approx(0.75)
    assert voc_ap(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert voc_ap(np.zeros(0), np.zeros(0)) == 0.0


def _pose(points: dict[int, tuple[float, float]], score: float) -> np.ndarray:
    p = np.zeros((16, 3))
    for j, xy in points.items():
        p[j] = [*xy, score]
    return p


def test_mpii_map_hand_computed():
    gt1 = _pose({0: (10, 10), 1: (30, 10)}, 2)
    gt2 = _pose({0: (100, 100), 1: (130, 100)}, 2)
    a = _pose({0: (10, 10), 1: (30, 10)}, 0.9)          # exact: assigned, both TP
    b = _pose({0: (10, 10), 1: (30, 10)}, 0.8)          # duplicate: unassigned, both FP
    c = _pose({0: (103, 100), 1: (137, 100)}, 0.7)      # head size 10, limit 5: TP, FP
    images = [MPIIImage(gt1[None], np.array([10.0]), np.stack([a, b])),
              MPIIImage(gt2[None], np.array([10.0]), c[None])]
    r = mpii_map(images, MPII16)
    # joint 0: TP, FP, TP of 2 -> AP = 0.5 * 1 + 0.5 * 2/3; joint 1: TP, FP, FP -> 0.5
    assert r.per_joint[0] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert r.per_joint[1] == pytest.approx(0.5)
    assert np.isnan(r.per_joint[2]) and r.n_gt[0] == 2 and r.n_gt[2] == 0
    assert r.mean == pytest.approx((0.5 + 1 / 3 + 0.5) / 2)
    s = mpii_map_summary(r, MPII16)
    assert s["Ankle"] == pytest.approx((r.per_joint[0] + r.per_joint[5]) / 2, nan_ok=True)
    assert s["Mean"] == r.mean


def test_assignment_is_greedy_by_pckh():
    # prediction 0 half-matches both people, prediction 1 fully matches person 0:
    # the best pair (p1, g0) goes first, then p0 takes g1.
    g0 = _pose({0: (0, 0), 1: (20, 0)}, 2)
    g1 = _pose({0: (200, 0), 1: (20.5, 0)}, 2)
    p0 = _pose({0: (200, 0), 1: (20, 0)}, 0.9)
    p1 = _pose({0: (0, 0), 1: (20, 0)}, 0.8)
    r = mpii_map([MPIIImage(np.stack([g0, g1]), np.array([10.0, 10.0]), np.stack([p0, p1]))], MPII16)
    assert r.per_joint[0] == 1.0 and r.per_joint[1] == 1.0


def test_ground_truth_as_prediction_is_perfect():
    rng = np.random.default_rng(0)
    images = []
    for _ in range(4):
        g = np.concatenate([rng.uniform(0, 500, (3, 16, 2)), rng.integers(0, 2, (3, 16, 1)) * 2.0], axis=2)
        images.append(MPIIImage(g, np.full(3, 20.0), g.copy()))
    r = mpii_map(images, MPII16)
    assert r.mean == 1.0 and np.all(r.per_joint[~np.isnan(r.per_joint)] == 1.0)


def test_no_predictions():
    g = _pose({0: (0, 0)}, 2)
    images = [MPIIImage(g[None], np.array([10.0]), np.zeros((0, 16, 3)))]
    # officially an image without predictions is not counted at all: no ground truth -> NaN
    assert np.isnan(mpii_map(images, MPII16).per_joint[0])
    assert mpii_map(images, MPII16, count_one_sided_images=True).per_joint[0] == 0.0

"""Box and pose NMS, checked against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.nms import (box_iou, box_nms, oks_nms, parametric_pose_nms, pose_oks,
                         rmpe_pose_similarity, soft_oks_nms)


def test_box_iou_hand_values():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    # overlap 5x10 = 50; union 100 + 100 - 50 = 150
    np.testing.assert_allclose(box_iou(a, b)[0], [50 / 150, 0.0, 1.0])


def test_box_nms_keeps_best_and_disjoint():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [5, 0, 15, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    # 3 (best) overlaps 0 by 1/3 and 1 by 60/140 = 0.43: both survive at 0.5 ...
    np.testing.assert_array_equal(box_nms(boxes, scores, 0.5), [3, 0, 2])  # ... but 1 vs 0: IoU 90/110
    # at 0.3, box 0 (IoU 1/3 with 3) goes too, and so does 1 (0.43)
    np.testing.assert_array_equal(box_nms(boxes, scores, 0.3), [3, 2])
    np.testing.assert_array_equal(box_nms(boxes, scores, 0.5, max_detections=1), [3])
    assert box_nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)


def _pose(xy, score=1.0):
    xy = np.asarray(xy, np.float64)
    return np.concatenate([xy, np.full((len(xy), 1), score)], axis=1)


def test_pose_oks_hand_value():
    sig = np.array([0.1, 0.1])
    ref = _pose([[0, 0], [10, 0]])
    other = _pose([[2, 0], [10, 0]])[None]
    # area 100 both -> s^2 = 100; kappa^2 = 0.04; e_0 = exp(-4 / (2 * 100 * 0.04)) = exp(-0.5)
    np.testing.assert_allclose(pose_oks(ref, other, sig, 100.0), [(math.exp(-0.5) + 1.0) / 2])
    # a keypoint below the score threshold in either pose is left out of the mean
    other_low = other.copy()
    other_low[0, 1, 2] = 0.1
    np.testing.assert_allclose(pose_oks(ref, other_low, sig, 100.0, score_threshold=0.2), [math.exp(-0.5)])


def test_oks_nms_removes_near_duplicate_only():
    sig = np.full(3, 0.1)
    base = _pose([[0, 0], [10, 0], [0, 10]])
    dup = base.copy()
    dup[:, 0] += 0.5              # OKS = exp(-0.25 / 8) ~ 0.969 with area 100
    far = base.copy()
    far[:, 0] += 50
    kps = np.stack([dup, base, far])
    scores = np.array([0.5, 0.9, 0.8])
    areas = np.full(3, 100.0)
    np.testing.assert_array_equal(oks_nms(kps, scores, sig, 0.9, areas=areas), [1, 2])
    np.testing.assert_array_equal(oks_nms(kps, scores, sig, 0.99, areas=areas), [1, 2, 0])


def test_soft_oks_nms_gaussian_rescore():
    sig = np.full(3, 0.1)
    base = _pose([[0, 0], [10, 0], [0, 10]])
    dup = base.copy()
    dup[:, 0] += 0.5
    kps = np.stack([base, dup])
    areas = np.full(2, 100.0)
    keep, new = soft_oks_nms(kps, np.array([0.9, 0.8]), sig, sigma=0.5, areas=areas)
    oks = math.exp(-0.25 / 8)
    np.testing.assert_array_equal(keep, [0, 1])
    np.testing.assert_allclose(new, [0.9, 0.8 * math.exp(-oks ** 2 / 0.5)])
    # linear: scaled by 1 - oks when oks > threshold; and dropped under score_threshold
    keep, new = soft_oks_nms(kps, np.array([0.9, 0.8]), sig, method="linear", threshold=0.3,
                             score_threshold=0.05, areas=areas)
    np.testing.assert_array_equal(keep, [0])        # 0.8 * (1 - 0.969) = 0.025 < 0.05
    with pytest.raises(ValueError):
        soft_oks_nms(kps, np.array([0.9, 0.8]), sig, method="hard")


def test_rmpe_similarity_hand_value():
    # two keypoints, ref box 100 x 50 -> match box 10 x 5 (half-sides 5, 2.5), scale 0.1*100 = 10
    ref = _pose([[0, 0], [50, 20]], 1.0)
    ref[1, 2] = 0.5
    other = _pose([[3, 2], [50, 24]], 0.8)[None]     # kp0 inside (3 <= 5, 2 <= 2.5); kp1 outside (4 > 2.5)
    box = np.array([0, 0, 100, 50])
    k_sim = math.tanh(1.0) * math.tanh(0.8)
    h_sim = math.exp(-(math.sqrt(13) / 10) / 2.65) + math.exp(-(4 / 10) / 2.65)
    np.testing.assert_allclose(rmpe_pose_similarity(ref, other, box), [k_sim + 1.7 * h_sim])


def test_parametric_pose_nms_eliminates_similar_pose():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (17, 2))
    a = _pose(xy, 0.9)
    near = _pose(xy + 1.0, 0.9)     # every keypoint inside the 10 x 10 match box
    far = _pose(xy + 300.0, 0.9)
    kps = np.stack([a, near, far])
    boxes = np.array([[0, 0, 100, 100], [1, 1, 101, 101], [300, 300, 400, 400]], np.float64)
    # similarity(a, near) = 17 tanh(.9)^2 + 1.7 * 17 exp(-(sqrt(2)/10)/2.65) = 9.24 + 27.3 > 22.48
    keep = parametric_pose_nms(kps, np.array([0.9, 0.8, 0.7]), boxes)
    np.testing.assert_array_equal(keep, [0, 2])
    # a huge eta keeps everything
    np.testing.assert_array_equal(parametric_pose_nms(kps, np.array([0.9, 0.8, 0.7]), boxes, eta=1e9), [0, 1, 2])

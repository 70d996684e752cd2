"""PCK, PCKh, reference lengths, AUC and the MPII table on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics import (
    PCKResult, bbox_size, head_segment_size, head_size, mpii_summary, pck, pck_auc, pck_auc_mmpose,
    pck_curve, pckh, torso_size,
)
from posekit.skeleton import COCO17, MPII16


def _case():
    gt = np.array([[[0, 0, 2], [10, 0, 2], [0, 10, 2]],
                   [[0, 0, 0], [5, 5, 1], [1, 1, 2]]], dtype=np.float64)
    pred = gt.copy()
    pred[0, :, 0] += [1.0, 3.0, 5.0]     # distances 1, 3, 5
    pred[1, 0, :2] = [50, 50]            # unlabelled in the ground truth: not counted
    pred[1, 1, 1] += 2.0                 # distance 2: exactly on the threshold -> correct
    pred[1, 2, :2] = np.nan              # missing prediction -> a miss
    return pred, gt


def test_pck_hand_computed():
    pred, gt = _case()
    r = pck(pred, gt, ref=np.array([10.0, 10.0]), alpha=0.2)   # threshold 2 px
    np.testing.assert_allclose(r.per_joint, [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(r.counts, [1, 2, 2])
    assert r.mean == pytest.approx(2 / 5)
    assert r.table()["mean"] == pytest.approx(0.4)
    # a larger alpha: 5 px -> person 0 all correct
    assert pck(pred, gt, np.array([10.0, 10.0]), alpha=0.5).mean == pytest.approx(4 / 5)


def test_people_without_reference_are_left_out():
    pred, gt = _case()
    r = pck(pred, gt, ref=np.array([10.0, np.nan]), alpha=0.2)
    np.testing.assert_array_equal(r.counts, [1, 1, 1])
    assert r.mean == pytest.approx(1 / 3)


def test_reference_lengths():
    assert bbox_size(np.array([[0, 0, 20, 50], [5, 5, 45, 15]]))[:, None].ravel().tolist() == [50, 40]
    np.testing.assert_allclose(head_size(np.array([[0, 0, 30, 40]])), [30.0])   # 0.6 * 50
    gt = np.zeros((1, 17, 3))
    gt[0, 5] = [0, 0, 2]      # left shoulder
    gt[0, 12] = [30, 40, 2]   # right hip
    np.testing.assert_allclose(torso_size(gt, COCO17), [50.0])
    gt[0, 12, 2] = 0
    assert np.isnan(torso_size(gt, COCO17)[0])
    m = np.zeros((1, 16, 3))
    m[0, 8] = [10, 20, 2]     # upper neck
    m[0, 9] = [10, 44, 2]     # head top
    np.testing.assert_allclose(head_segment_size(m, MPII16), [24.0])
    with pytest.raises(ValueError, match="head_top"):
        head_segment_size(np.zeros((1, 17, 3)), COCO17)


def test_pckh_hand_computed():
    gt = np.zeros((2, 16, 3))
    gt[:, :, 2] = 0
    gt[:, 0] = [100, 100, 2]
    pred = gt.copy()
    pred[0, 0, 0] += 14       # head size 30 -> threshold 15 px: correct
    pred[1, 0, 0] += 16       # wrong
    boxes = np.array([[0, 0, 30, 40], [0, 0, 30, 40]], dtype=np.float64)
    r = pckh(pred, gt, boxes, alpha=0.5, spec=MPII16)
    assert r.per_joint[0] == pytest.approx(0.5) and r.counts[0] == 2
    assert r.names == MPII16.names
    # without head boxes: the head segment of each person
    gt[:, 8] = [0, 0, 2]
    gt[:, 9] = [0, 30, 2]
    pred[:, 8:10] = gt[:, 8:10]
    r2 = pckh(pred, gt, None, alpha=0.5, spec=MPII16)
    assert r2.per_joint[0] == pytest.approx(0.5) and r2.per_joint[9] == 1.0


def test_curve_and_auc():
    gt = np.array([[[0, 0, 2], [10, 0, 2]]], dtype=np.float64)
    pred = gt.copy()
    pred[0, :, 1] += 2.45                        # 0.245 of the reference 10
    per, mean = pck_curve(pred, gt, np.array([10.0]), [0.2, 0.24, 0.25, 0.3])
    np.testing.assert_array_equal(mean, [0, 0, 1, 1])
    assert per.shape == (4, 2)
    # trapezoid over 0, 0.01, ..., 0.5: 0 up to 0.24, 1 from 0.25 -> (0.005 + 0.25) / 0.5
    assert pck_auc(pred, gt, np.array([10.0])) == pytest.approx(0.51)
    assert pck_auc(gt, gt, np.array([10.0])) == pytest.approx(1.0)


def test_auc_mmpose_hand_computed():
    """MMPose's AUC: mean over t = 0, 0.05, ..., 0.95 of its PCK (d / ref < t, strictly; joints
    averaged unweighted). Person 0: joint A at 0.25 (= t at i = 5, counted wrong there), joint
    B at 0; person 1: joint A at 0, joint B unlabelled. Of the 20 thresholds, 0.25 < t holds
    14 times and 0 < t 19 times, so A scores (14 + 19) / 2 / 20 = 33/40 and B 19/20; MMPose's
    AUC = (33/40 + 38/40) / 2 = 71/80. Weighting by joint count would give (14 + 19 + 19) / 60."""
    gt = np.array([[[0, 0, 2], [50, 0, 2]], [[0, 0, 2], [0, 0, 0]]], dtype=np.float64)
    pred = gt.copy()
    pred[0, 0, 0] += 2.5                                   # 0.25 of the reference 10
    ref = np.array([10.0, 10.0])
    assert pck_auc_mmpose(pred, gt, ref) == pytest.approx(71 / 80, abs=1e-15)
    assert pck_auc_mmpose(gt, gt, ref) == pytest.approx(0.95, abs=1e-15)   # t = 0 never passes
    # MMPose's AUC(norm_factor=30): a fixed 30 px reference; alpha_max scales the thresholds
    assert pck_auc_mmpose(pred, gt, np.full(2, 30.0)) == pck_auc_mmpose(pred, gt, np.full(2, 15.0), 2.0)
    # posekit's own AUC is a trapezoid over [0, alpha_max] with d <= t: a different number
    assert pck_auc(pred, gt, ref, alpha_max=1.0) != pytest.approx(71 / 80)
    with pytest.raises(ValueError, match="alpha_max"):
        pck_auc(pred, gt, ref, alpha_max=0)


def test_mpii_summary_groups_and_weighted_mean():
    per = np.linspace(0.1, 0.85, 16)
    counts = np.arange(1, 17)
    r = PCKResult(0.5, per, counts, 0.0, MPII16.names)
    s = mpii_summary(r, MPII16)
    assert list(s) == ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean"]
    assert s["Head"] == pytest.approx(per[9])
    assert s["Shoulder"] == pytest.approx((per[12] + per[13]) / 2)
    assert s["Ankle"] == pytest.approx((per[0] + per[5]) / 2)
    keep = [i for i in range(16) if i not in (6, 7)]     # pelvis and thorax left out
    assert s["Mean"] == pytest.approx((per[keep] * counts[keep]).sum() / counts[keep].sum())


def test_ground_truth_as_prediction_is_perfect():
    rng = np.random.default_rng(0)
    gt = np.concatenate([rng.uniform(0, 200, (5, 16, 2)), rng.integers(0, 3, (5, 16, 1))], axis=2)
    boxes = np.tile([[0, 0, 20, 30]], (5, 1)).astype(float)
    assert pck(gt, gt, bbox_size(boxes), 0.05).mean == 1.0
    assert mpii_summary(pckh(gt, gt, boxes, 0.5, MPII16), MPII16)["Mean"] == 1.0


def test_shape_errors():
    with pytest.raises(ValueError):
        pck(np.zeros((2, 3, 3)), np.zeros((2, 4, 3)), np.ones(2))
    with pytest.raises(ValueError):
        pck(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.ones(3))
    with pytest.raises(ValueError):
        pck(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.ones(2), spec=COCO17)

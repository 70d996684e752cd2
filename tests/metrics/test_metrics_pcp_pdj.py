"""PCP (strict and loose) and PDJ on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics import limb_groups, pcp, pdj, pdj_curve
from posekit.skeleton import COCO17, LSP14, MPII16

LS, RS, LE, RE, LH, RH = 5, 6, 7, 8, 11, 12


def _case():
    gt = np.zeros((1, 17, 3))
    for j, xy in {LS: (0, 0), RS: (20, 0), LE: (0, 20), RE: (20, 20), LH: (0, 40), RH: (20, 40)}.items():
        gt[0, j] = [*xy, 2]
    pred = gt.copy()
    pred[0, LS, :2] = [0, 8]       # 8 px off
    pred[0, LE, :2] = [0, 32]      # 12 px off
    pred[0, LH, :2] = [25, 40]     # 25 px off
    pred[0, RH, :2] = [45, 40]     # 25 px off
    return pred, gt


def test_pcp_strict_and_loose_hand_computed():
    pred, gt = _case()
    r = pcp(pred, gt, COCO17, 0.5)
    # left upper arm: length 20, limit 10; errors 8 and 12 -> strict no, loose (10 <= 10) yes
    # right upper arm exact; torso: mid-shoulders (10,0)->(10,4) 4 px, mid-hips (10,40)->(35,40)
    # 25 px, length 40, limit 20 -> strict no, loose 14.5 yes. Other limbs are unlabelled.
    assert r.counts == {"upper_arm": 2, "lower_arm": 0, "upper_leg": 0, "lower_leg": 0, "torso": 1}
    assert r.strict["upper_arm"] == 0.5 and r.loose["upper_arm"] == 1.0
    assert r.strict["torso"] == 0.0 and r.loose["torso"] == 1.0
    assert np.isnan(r.strict["lower_arm"])
    assert r.strict_mean == pytest.approx(1 / 3) and r.loose_mean == 1.0
    assert r.table()["strict"]["mean"] == pytest.approx(1 / 3)


def test_pcp_threshold_and_missing_prediction():
    pred, gt = _case()
    assert pcp(pred, gt, COCO17, 0.7).strict["upper_arm"] == 1.0     # limit 14
    pred[0, RE, :2] = np.nan
    assert pcp(pred, gt, COCO17, 0.5).loose["upper_arm"] == 0.5


def test_limb_groups_follow_the_spec():
    assert "head" not in limb_groups(COCO17)          # COCO has no neck / head top
    assert limb_groups(MPII16)["head"] == [((8,), (9,))]
    assert limb_groups(LSP14)["head"] == [((12,), (13,))]
    assert len(limb_groups(MPII16)["upper_arm"]) == 2


def test_pdj_hand_computed():
    pred, gt = _case()
    # torso diameter |LS - RH| = sqrt(20^2 + 40^2) = 44.72; 0.2 of it = 8.94 px
    r = pdj(pred, gt, COCO17)
    assert r["mean"] == pytest.approx(3 / 6)
    assert r["left_shoulder"] == 1.0 and r["left_elbow"] == 0.0 and r["right_hip"] == 0.0
    assert np.isnan(r["nose"])
    curve = pdj_curve(pred, gt, COCO17)
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 0.5 and len(curve.fractions) == 51
    assert np.all(np.diff(curve.mean) >= 0)
    assert curve.at(0.2)["mean"] == pytest.approx(0.5)
    assert curve.mean[-1] == pytest.approx(4 / 6)   # 0.5 * 44.72 = 22.4 > 12, < 25
    with pytest.raises(ValueError):
        curve.at(0.123)


def test_ground_truth_as_prediction_is_perfect():
    _, gt = _case()
    assert pcp(gt, gt, COCO17).strict_mean == 1.0
    assert pdj(gt, gt, COCO17)["mean"] == 1.0

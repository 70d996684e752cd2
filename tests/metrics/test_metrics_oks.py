"""OKS: hand-computed values, COCO's box rule, and bit-equality with pycocotools' computeOks."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from posekit.metrics import oks_matrix
from posekit.skeleton import COCO17


def test_hand_computed_single_keypoint():
    # one labelled keypoint, d = 3, area s^2 = 100, sigma = 0.5 -> k = 1: exp(-9 / (2*100*1))
    gt = np.array([[[10.0, 10.0, 2.0], [0.0, 0.0, 0.0]]])
    dt = np.array([[[13.0, 10.0, 0.9], [50.0, 50.0, 0.1]]])
    o = oks_matrix(dt, gt, np.array([100.0]), np.array([0.5, 0.5]))
    assert o.shape == (1, 1)
    assert o[0, 0] == pytest.approx(np.exp(-9 / 200), rel=1e-12)


def test_mean_over_labelled_only():
    sig = np.array([0.5, 0.25, 1.0])
    gt = np.array([[[0.0, 0.0, 2.0], [10.0, 0.0, 1.0], [99.0, 99.0, 0.0]]])
    dt = np.array([[[0.0, 4.0, 1.0], [10.0, 0.0, 1.0], [0.0, 0.0, 1.0]]])
    # joint 0: d^2 = 16, k^2 = 1, area 64 -> exp(-16/128); joint 1: exact -> 1
    expect = (np.exp(-16 / 128) + 1.0) / 2
    assert oks_matrix(dt, gt, [64.0], sig)[0, 0] == pytest.approx(expect, rel=1e-12)


def test_identical_is_one_and_far_is_zero():
    rng = np.random.default_rng(0)
    gt = np.concatenate([rng.uniform(0, 100, (2, 17, 2)), np.full((2, 17, 1), 2.0)], axis=2)
    far = gt.copy()
    far[..., :2] += 1e4
    o = oks_matrix(np.concatenate([gt, far]), gt, [5000.0, 5000.0], COCO17.sigmas_array())
    assert o.shape == (4, 2)
    assert o[0, 0] == 1.0 and o[1, 1] == 1.0
    assert np.all(o[2:] < 1e-12)


def test_box_rule_for_unlabelled_ground_truth():
    sig = np.array([0.5, 0.5])
    gt = np.zeros((1, 2, 3))                               # nothing labelled
    box = np.array([[10.0, 20.0, 30.0, 60.0]])             # xyxy: x in [10,30], w=20, h=40
    # enlarged box: x in [-10, 50], y in [-20, 100]
    dt = np.array([[[0.0, 0.0, 1], [40.0, 90.0, 1]],       # both inside -> OKS 1
                   [[60.0, 0.0, 1], [0.0, 110.0, 1]]])     # 10 px right, 10 px below
    o = oks_matrix(dt, gt, [100.0], sig, box)
    assert o[0, 0] == pytest.approx(1.0)
    assert o[1, 0] == pytest.approx(np.exp(-100 / 200), rel=1e-12)
    assert oks_matrix(dt, gt, [100.0], sig)[0, 0] == 0.0   # no box: no score


def test_empty_and_bad_shapes():
    sig = COCO17.sigmas_array()
    assert oks_matrix(np.zeros((0, 17, 3)), np.zeros((3, 17, 3)), np.ones(3), sig).shape == (0, 3)
    with pytest.raises(ValueError):
        oks_matrix(np.zeros((1, 16, 3)), np.zeros((1, 17, 3)), np.ones(1), sig)
    with pytest.raises(ValueError):
        oks_matrix(np.zeros((1, 17, 3)), np.zeros((1, 17, 3)), np.ones(1), sig[:5])


def test_bit_identical_to_pycocotools(make_bench):
    """Our OKS equals computeOks exactly (same float64 operations), image by image, given
    COCOeval's sigmas ([.26, ...] / 10, an ulp away from COCO17's decimal literals)."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dt = make_bench(40, 11)
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        ev = COCOeval(c, c.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.params.imgIds = sorted(c.getImgIds())
        ev._prepare()
    checked = 0
    for img in ev.params.imgIds:
        ref = ev.computeOks(img, 1)
        if len(ref) == 0:
            continue
        g = ev._gts[img, 1]
        d = ev._dts[img, 1]
        d = [d[i] for i in np.argsort([-x["score"] for x in d], kind="mergesort")][:20]
        gkp = np.array([a["keypoints"] for a in g], dtype=np.float64).reshape(len(g), 17, 3)
        dkp = np.array([a["keypoints"] for a in d], dtype=np.float64).reshape(len(d), 17, 3)
        boxes = np.array([a["bbox"] for a in g], dtype=np.float64)
        boxes[:, 2:] += boxes[:, :2]
        ours = oks_matrix(dkp, gkp, np.array([a["area"] for a in g]), ev.params.kpt_oks_sigmas, boxes)
        labelled = (gkp[..., 2] > 0).any(axis=1)
        # labelled ground truth: bit-identical; box rule: xyxy round trip may differ by an ulp
        assert np.array_equal(ours[:, labelled], ref[:, labelled])
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
        checked += 1
    assert checked > 10

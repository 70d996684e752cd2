"""PAF grouping: spanning tree, peaks, the line-integral criteria, greedy matching, and two
people whose arms cross."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.codecs import PAFCodec
from posekit.grouping import find_peaks, group_people, match_limb, score_limb, spanning_tree, tree_first
from posekit.metrics.oks import oks_matrix
from posekit.skeleton import COCO17


def test_spanning_tree_of_coco17():
    tree = spanning_tree(COCO17.limbs, 17)
    assert len(tree) == 16
    names = {frozenset((COCO17.names[a], COCO17.names[b])) for a, b in tree}
    for dropped in [("left_shoulder", "right_shoulder"), ("nose", "right_eye"), ("right_ear", "right_shoulder")]:
        assert frozenset(dropped) not in names
    seen = {tree[0][0]}
    for a, b in tree:                       # breadth-first: every limb hangs from a joint already reached
        assert a in seen and b not in seen
        seen.add(b)
    assert seen == set(range(17))
    full = tree_first(COCO17.limbs, 17)
    assert full[:16] == tree and len(full) == 19


def test_find_peaks_nms_threshold_and_subpixel():
    h, w = 20, 24
    ys, xs = np.mgrid[0:h, 0:w]
    hm = np.zeros((2, h, w), np.float32)
    hm[0] = np.maximum(np.exp(-((xs - 5.3) ** 2 + (ys - 7.6) ** 2) / 2.25),
                       0.6 * np.exp(-((xs - 15.0) ** 2 + (ys - 12.0) ** 2) / 2.25))
    hm[1] = 0.05 * np.exp(-((xs - 10.0) ** 2 + (ys - 10.0) ** 2) / 2.25)      # below the threshold
    peaks = find_peaks(hm, threshold=0.1)
    assert len(peaks[0]) == 2 and len(peaks[1]) == 0
    order = np.argsort(peaks[0][:, 0])
    np.testing.assert_allclose(peaks[0][order, :2], [[5.3, 7.6], [15.0, 12.0]], atol=1e-3)
    np.testing.assert_allclose(peaks[0][order[1], 2], 0.6, atol=1e-6)


def _field(h, w, a, b, width=1.0, cover=1.0):
    """``(2, h, w)`` field of the segment a -> b (unit vector on it), only on the first
    ``cover`` fraction of its length."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    d = np.subtract(b, a, dtype=np.float64)
    length = np.hypot(*d)
    v = d / length
    along = v[0] * (xs - a[0]) + v[1] * (ys - a[1])
    across = np.abs(-v[1] * (xs - a[0]) + v[0] * (ys - a[1]))
    on = (along >= 0) & (along <= cover * length) & (across <= width)
    return np.stack([on * v[0], on * v[1]]).astype(np.float32)


def test_score_limb_integral_direction_fraction_and_distance_prior():
    a, b = np.array([[2.0, 5.0]]), np.array([[12.0, 5.0]])
    paf = _field(40, 40, (2, 5), (12, 5))
    assert score_limb(paf, a, b, image_height=40.0)[0, 0] == pytest.approx(1.0)
    assert score_limb(paf, b, a, image_height=40.0)[0, 0] == -np.inf           # against the field
    # 10 midpoint samples at x = 2.5, 3.5, ..., 11.5, read bilinearly. Field on 70% of the
    # limb (pixels x <= 9): 7 samples read 1, x = 9.5 reads 0.5, two read 0 -> 8 of 10 count
    # (the 0.8 bound, kept), mean 0.75. On 60% (x <= 8): 6 + one half -> 7 count, rejected.
    assert score_limb(_field(40, 40, (2, 5), (12, 5), cover=0.7), a, b, 40.0)[0, 0] == pytest.approx(0.75)
    assert score_limb(_field(40, 40, (2, 5), (12, 5), cover=0.6), a, b, 40.0)[0, 0] == -np.inf
    # a limb of length 30 in an image of height 40: prior 0.5 * 40 / 30 - 1 = -1/3
    long_a, long_b = np.array([[4.0, 20.0]]), np.array([[34.0, 20.0]])
    s = score_limb(_field(40, 40, (4, 20), (34, 20)), long_a, long_b, image_height=40.0)[0, 0]
    assert s == pytest.approx(1.0 - 1.0 / 3.0)
    # the field on 80% of it (8 samples of 1, mean 0.8): kept at height 40 (0.8 - 1/3), but at
    # height 10 the prior 0.5 * 10 / 30 - 1 = -0.833 makes it negative: rejected
    short_field = _field(40, 40, (4, 20), (34, 20), cover=0.8)
    assert score_limb(short_field, long_a, long_b, image_height=40.0)[0, 0] == pytest.approx(0.8 - 1.0 / 3.0)
    assert score_limb(short_field, long_a, long_b, image_height=10.0)[0, 0] == -np.inf


def test_match_limb_is_greedy_highest_first_each_peak_once():
    scores = np.array([[0.9, 0.8], [0.85, -np.inf]])
    # greedy keeps (0, 0) first, then (1, 0) and (0, 1) are used up; a maximum-weight
    # matching would take (0, 1) + (1, 0) = 1.65 instead
    assert match_limb(scores) == [(0, 0, 0.9)]
    scores = np.array([[0.2, 0.7, -np.inf], [0.6, 0.5, 0.4]])
    assert match_limb(scores) == [(0, 1, 0.7), (1, 0, 0.6)]
    assert match_limb(np.full((0, 3), -np.inf)) == []


# a front-facing figure (subject's left on the image right), relative to its pelvis, input px
_TEMPLATE = np.array([
    (0, -80), (6, -86), (-6, -86), (12, -82), (-12, -82), (24, -56), (-24, -56), (32, -16), (-32, -16),
    (36, 20), (-36, 20), (16, 0), (-16, 0), (18, 50), (-18, 50), (20, 100), (-20, 100)], np.float64)


def test_crossing_arms_are_not_swapped():
    """A's and B's left upper arms cross (B's folds in across its body): each left elbow is
    nearer the other person's left shoulder (37.4 and 53.8 px) than its own (93.2 and 56.6
    px), so matching shoulders to elbows by distance would swap both arms. The field's line
    integral must not (at the crossing the averaged field still points along each arm)."""
    kp = np.zeros((2, 17, 3), np.float32)
    for n, cx in enumerate((90.0, 166.0)):
        kp[n, :, :2] = _TEMPLATE + (cx, 120.0)
        kp[n, :, 2] = 2
    kp[0, 7, :2], kp[0, 9, :2] = (200, 100), (230, 120)     # A: left elbow and wrist far right
    kp[1, 7, :2], kp[1, 9, :2] = (150, 104), (125, 130)     # B: left arm folded to the image left
    sho, elb = kp[:, 5, :2], kp[:, 7, :2]
    for n in range(2):
        assert np.hypot(*(elb[n] - sho[1 - n])) < np.hypot(*(elb[n] - sho[n]))
    codec = PAFCodec(COCO17, input_size=(256, 256), stride=4)
    t = codec.encode(kp)
    people, scores = group_people(t.heatmaps, t.pafs, codec.limbs)
    assert len(people) == 2 and (scores > 0).all()
    found = people[..., 2] > 0
    assert found.all()
    xy = codec.heatmap_to_input(people[..., :2])
    dt = np.concatenate([xy, people[..., 2:]], axis=-1)
    oks = oks_matrix(dt, kp, np.array([200.0 * 60.0] * 2), COCO17.sigmas_array())
    order = oks.argmax(axis=0)
    assert sorted(order.tolist()) == [0, 1] and oks.max(axis=0).min() > 0.99
    for n in range(2):                                       # exact elbows and wrists, each on its owner
        np.testing.assert_allclose(xy[order[n], [7, 8, 9, 10]], kp[n, [7, 8, 9, 10], :2], atol=0.3)


def test_group_people_drops_small_fragments():
    """A lone pair of joints (2 parts < min_parts = 3) is not a person."""
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 5] = [40, 40, 2]
    kp[0, 7] = [40, 80, 2]
    codec = PAFCodec(COCO17, input_size=(128, 128), stride=4)
    t = codec.encode(kp)
    people, _ = group_people(t.heatmaps, t.pafs, codec.limbs)
    assert len(people) == 0
    people, _ = group_people(t.heatmaps, t.pafs, codec.limbs, min_parts=2)
    assert len(people) == 1 and (people[0, :, 2] > 0).sum() == 2

"""PAFCodec: hand-computed confidence maps and fields, the input/heatmap frame, and the round
trip ground truth -> targets -> decode_instances on synthetic multi-person scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posekit.codecs import MSRAHeatmap, PAFCodec
from posekit.data.synthetic import make_dataset
from posekit.errors import PosekitError
from posekit.metrics.oks import oks_matrix
from posekit.skeleton import COCO17

K = 17
L_SHO, L_ELB, R_SHO = 5, 7, 6
SIGMA = 1.5


def _in(hm_xy):
    """Heatmap pixel -> input pixel at stride 4: ``4 x + 1.5``."""
    return 4.0 * np.asarray(hm_xy, np.float64) + 1.5


def _people(*limbs):
    """``(N, 17, 3)`` people with only left shoulder and left elbow labelled, at the given
    heatmap pixels ``((x1, y1), (x2, y2))``."""
    kp = np.zeros((len(limbs), K, 3), np.float32)
    for n, (a, b) in enumerate(limbs):
        kp[n, L_SHO] = [*_in(a), 2]
        kp[n, L_ELB] = [*_in(b), 2]
    return kp


def _codec(**kw):
    kw.setdefault("limbs", ((L_SHO, L_ELB),))
    return PAFCodec(COCO17, input_size=(64, 64), stride=4, sigma=SIGMA, limb_width=1.0, **kw)


def test_frame_is_msra_heatmaps():
    """Input -> heatmap is MSRAHeatmap's map at the same sizes; the Gaussian peaks there."""
    codec = _codec()
    xy = np.array([[13.5, 9.5], [0.0, 0.0], [63.0, 30.25]])
    msra = MSRAHeatmap(input_size=(64, 64), heatmap_size=(16, 16))
    np.testing.assert_allclose(codec.input_to_heatmap(xy), msra.crop_to_heatmap(xy))
    np.testing.assert_allclose(codec.heatmap_to_input(codec.input_to_heatmap(xy)), xy)
    kp = np.zeros((1, K, 3), np.float32)
    kp[0, L_SHO] = [13.5, 9.5, 2]                     # heatmap pixel (3, 2) exactly
    hm = _codec().encode(kp).heatmaps[L_SHO]
    assert hm.shape == (16, 16) and hm[2, 3] == pytest.approx(1.0)
    assert np.unravel_index(hm.argmax(), hm.shape) == (2, 3)


def test_confidence_maps_hand_values_max_over_people():
    """exp(-d^2 / sigma^2) (no factor 2), and the maximum, not the sum, over people."""
    t = _codec().encode(_people(((2, 3), (10, 3)), ((4, 3), (12, 3))))
    hm = t.heatmaps[L_SHO]
    assert hm[3, 2] == pytest.approx(1.0)
    assert hm[4, 2] == pytest.approx(math.exp(-1 / SIGMA ** 2), rel=1e-6)
    assert hm[4, 1] == pytest.approx(math.exp(-2 / SIGMA ** 2), rel=1e-6)
    # (3, 3) is at distance 1 from both people: max = exp(-1/s^2), a sum would be twice that
    assert hm[3, 3] == pytest.approx(math.exp(-1 / SIGMA ** 2), rel=1e-6)
    # (5, 3): distance 3 from the first, 1 from the second
    assert hm[3, 5] == pytest.approx(math.exp(-1 / SIGMA ** 2), rel=1e-6)
    assert t.heatmaps[R_SHO].max() == 0.0                    # unlabelled keypoint: empty map
    np.testing.assert_array_equal(t.heatmap_weights[[L_SHO, L_ELB, R_SHO]], [1, 1, 0])


def test_field_on_limb_off_limb_and_beyond_the_ends():
    """Horizontal limb from heatmap (2, 3) to (10, 3), limb width 1."""
    t = _codec().encode(_people(((2, 3), (10, 3))))
    fx, fy = t.pafs[0], t.pafs[1]
    assert t.pafs.shape == (2, 16, 16)
    for x, y in [(2, 3), (6, 3), (10, 3), (6, 2), (6, 4)]:  # ends included, |v_perp . d| = 1 included
        assert (fx[y, x], fy[y, x]) == (1.0, 0.0), (x, y)
    for x, y in [(6, 5), (6, 1), (1, 3), (11, 3), (12, 4)]:  # too far across; before / beyond the ends
        assert (fx[y, x], fy[y, x]) == (0.0, 0.0), (x, y)
    assert int((fx != 0).sum()) == 9 * 3                   # x in 2..10, y in 2..4
    np.testing.assert_array_equal(t.paf_weights, [1.0])


def test_field_diagonal_limb_uses_the_perpendicular_distance():
    """Limb (2, 2) -> (5, 6): v = (0.6, 0.8), l = 5."""
    t = _codec().encode(_people(((2, 2), (5, 6))))
    fx, fy = t.pafs[0], t.pafs[1]
    assert (fx[4, 3], fy[4, 3]) == pytest.approx((0.6, 0.8))      # along 2.2, across 0.4
    assert (fx[3, 4], fy[3, 4]) == pytest.approx((0.6, 0.8))      # along 2.0, across 1.0 (on the edge)
    assert (fx[3, 5], fy[3, 5]) == (0.0, 0.0)                     # along 2.6, across 1.8


def test_field_overlapping_people_averaged_by_count():
    """A horizontal limb and a vertical one cross at (6, 3): the field there is the mean of
    their unit vectors, (0.5, 0.5); where one person alone covers, its own vector."""
    t = _codec().encode(_people(((2, 3), (10, 3)), ((6, 1), (6, 9))))
    fx, fy = t.pafs[0], t.pafs[1]
    assert (fx[3, 6], fy[3, 6]) == pytest.approx((0.5, 0.5))
    assert (fx[3, 9], fy[3, 9]) == pytest.approx((1.0, 0.0))
    assert (fx[8, 6], fy[8, 6]) == pytest.approx((0.0, 1.0))
    # two identical limbs average to the same unit vector (a sum would give 2)
    t2 = _codec().encode(_people(((2, 3), (10, 3)), ((2, 3), (10, 3))))
    assert t2.pafs[0].max() == pytest.approx(1.0)


def test_default_limbs_are_all_spec_limbs_tree_first_and_ignore_mask():
    codec = PAFCodec(COCO17, input_size=(64, 48), stride=4)
    assert len(codec.limbs) == 19 and {frozenset(limb) for limb in codec.limbs} == {frozenset(limb) for limb in COCO17.limbs}
    ignore = np.zeros((12, 16), bool)
    ignore[2:4, 5:9] = True
    t = codec.encode(np.zeros((0, K, 3), np.float32), ignore=ignore)
    assert t.heatmaps.shape == (K, 12, 16) and t.pafs.shape == (38, 12, 16)
    assert t.mask.sum() == 12 * 16 - 8 and t.mask[2, 5] == 0.0
    with pytest.raises(ValueError, match="ignore"):
        codec.encode(np.zeros((0, K, 3), np.float32), ignore=np.zeros((16, 12), bool))


def _heads(targets):
    return {"heatmaps": torch.from_numpy(np.stack([t.heatmaps for t in targets])),
            "pafs": torch.from_numpy(np.stack([t.pafs for t in targets]))}


def _connected(kp, limbs):
    """Whether a person's labelled joints form one connected part of the skeleton graph (else
    no grouping over the limbs can put them back together, e.g. an arm whose shoulder is
    outside the image)."""
    lab = set(np.flatnonzero(kp[:, 2] > 0).tolist())
    if not lab:
        return True
    seen, todo = set(), [min(lab)]
    while todo:
        j = todo.pop()
        if j in seen:
            continue
        seen.add(j)
        todo += [b if a == j else a for a, b in limbs if j in (a, b) and (b if a == j else a) in lab]
    return seen == lab


def test_round_trip_synthetic_scenes_every_person_found_once():
    """Synthetic scenes with 2-4 people (256x256, stride 2): perfect heads decode to every
    person with OKS >= 0.9, one detection per person and no extra. Scenes where a person's
    labelled joints are cut apart in the skeleton graph are not representable and skipped
    (4 of the 12 here)."""
    codec = PAFCodec(COCO17, input_size=(256, 256), stride=2, max_people=8)
    scenes = [(img, rec) for img, rec in make_dataset(12, seed=3, num_people=(2, 4))
              if all(_connected(kp, COCO17.limbs) for kp in rec.keypoints)]
    assert len(scenes) >= 8
    inst = codec.decode_instances(_heads([codec.encode(rec.keypoints) for _, rec in scenes]))
    assert inst.keypoints.shape == (len(scenes), 8, K, 3)
    for b, (_, rec) in enumerate(scenes):
        keep = inst.scores[b] > 0
        assert int(keep.sum()) == rec.num_people, f"scene {b}: {int(keep.sum())} people for {rec.num_people}"
        dt = inst.keypoints[b][keep].numpy()
        oks = oks_matrix(dt, rec.keypoints, rec.areas, COCO17.sigmas_array())
        assert sorted(oks.argmax(axis=0).tolist()) == list(range(rec.num_people))
        assert oks.max(axis=0).min() >= 0.9, (b, oks.max(axis=0))
        assert (inst.keypoints[b][~keep] == 0).all() and (inst.boxes[b][~keep] == 0).all()
        box = inst.boxes[b][keep].numpy()
        found = dt[..., 2] > 0
        np.testing.assert_allclose(box[:, 0], np.where(found, dt[..., 0], np.inf).min(axis=1), atol=1e-4)
        np.testing.assert_allclose(box[:, 3], np.where(found, dt[..., 1], -np.inf).max(axis=1), atol=1e-4)


def test_decode_checks_its_heads():
    codec = _codec(max_people=2)
    t = codec.encode(_people(((2, 3), (10, 3))))
    with pytest.raises(PosekitError, match="pafs"):
        codec.decode_instances({"heatmaps": torch.from_numpy(t.heatmaps)[None]})
    with pytest.raises(ValueError, match="field channels"):
        codec.decode_instances({"heatmaps": torch.from_numpy(t.heatmaps)[None], "pafs": torch.zeros(1, 4, 16, 16)})
    with pytest.raises(ValueError, match="grid"):
        codec.decode_instances(_heads([t]), input_size=(128, 64))
    assert codec.decode(_heads([t]), input_size=(64, 64)).shape == (1, 2, K, 3)

"""Associative Embedding: the grouping loss and tag-based decoding (posekit.grouping.tags)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import gaussian_heatmaps
from posekit.data.synthetic import render_scene
from posekit.errors import PosekitError
from posekit.grouping.tags import (COCO17_AE_ORDER, ae_loss, ae_loss_terms, decode_tags,
                                   group_by_tags, top_candidates)

# ------------------------------------------------------------------------------------ helpers


def _maps(people_hm: np.ndarray, person_tags: list[float], size: tuple[int, int],
          sigma: float = 1.0, radius: int = 2,
          peak_scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Perfect AE heads for ``people_hm (N, K, 3)`` (heatmap px, v > 0 = present): Gaussian
    peaks (max over people, person n's joint k scaled by ``peak_scale[n, k]``) and tag maps
    holding person n's tag in a disc of ``radius`` px around each of its joints (0 elsewhere).
    Returns ``heatmaps, tags`` of shape ``(K, h, w)``."""
    w, h = size
    N, K, _ = people_hm.shape
    heat = np.zeros((K, h, w), np.float32)
    tags = np.zeros((K, h, w), np.float32)
    yy, xx = np.mgrid[:h, :w]
    for n in range(N):
        valid = people_hm[n, :, 2] > 0
        g = gaussian_heatmaps(people_hm[n, :, :2], valid, size, sigma)
        if peak_scale is not None:
            g = g * peak_scale[n][:, None, None]
        heat = np.maximum(heat, g)
        for k in np.flatnonzero(valid):
            disc = (xx - people_hm[n, k, 0]) ** 2 + (yy - people_hm[n, k, 1]) ** 2 <= radius ** 2
            tags[k][disc] = person_tags[n]
    return heat, tags


def _synthetic_people(seed: int = 3, image=(512, 512), heatmap=(128, 128)) -> np.ndarray:
    """Three synthetic figures' keypoints in heatmap pixels ``(3, 17, 3)``, v > 0 only for
    joints inside the map (pixel centres map as ``(x + 0.5) * s - 0.5``)."""
    _, rec = render_scene(seed, size=image, num_people=(3, 3))
    kp = rec.keypoints.copy()
    s = heatmap[0] / image[0]
    kp[..., :2] = (kp[..., :2] + 0.5) * s - 0.5
    inside = ((kp[..., 0] >= 0) & (kp[..., 0] <= heatmap[0] - 1)
              & (kp[..., 1] >= 0) & (kp[..., 1] <= heatmap[1] - 1))
    kp[..., 2] = np.where(inside, 2.0, 0.0)
    return kp


def _match(pred: np.ndarray, truth: np.ndarray, tol: float = 1.0) -> list[int]:
    """For each true person, the index of the one predicted person holding all its present
    joints within ``tol`` px and no extra joint (asserts such a person exists)."""
    found = []
    for t in truth:
        present = t[:, 2] > 0
        hits = [i for i, p in enumerate(pred)
                if np.array_equal(p[:, 2] > 0, present)
                and np.all(np.linalg.norm(p[present, :2] - t[present, :2], axis=1) <= tol)]
        assert len(hits) == 1, f"true person {t[present, :2].tolist()} matched {hits}"
        found.append(hits[0])
    return found


# --------------------------------------------------------------------------------------- loss

def _two_people(tag_a: tuple[float, float], tag_b: tuple[float, float]):
    """Tags (1, 2, 4, 4) and keypoints (1, 3, 2, 3): person A joints 0,1 at (1,1),(2,2);
    person B joints 0,1 at (3,0),(0,3); a third, unlabelled person (ignored). Returns
    ``tags, keypoints``."""
    tags = torch.zeros(1, 2, 4, 4)
    tags[0, 0, 1, 1], tags[0, 1, 2, 2] = tag_a
    tags[0, 0, 0, 3], tags[0, 1, 3, 0] = tag_b
    kp = torch.zeros(1, 3, 2, 3)
    kp[0, 0] = torch.tensor([[1.0, 1.0, 2.0], [2.0, 2.0, 2.0]])
    kp[0, 1] = torch.tensor([[3.0, 0.0, 1.0], [0.0, 3.0, 2.0]])
    kp[0, 2] = torch.tensor([[2.0, 2.0, 0.0], [1.0, 1.0, 0.0]])     # v = 0: not a person
    return tags, kp


def test_ae_loss_equal_tags_far_apart_give_zero_pull_and_tiny_push():
    tags, kp = _two_people((1.0, 1.0), (10.0, 10.0))
    pull, push = ae_loss_terms(tags, kp, sigma=1.0)
    assert float(pull) == 0.0
    assert float(push) == pytest.approx(math.exp(-81 / 2), rel=1e-4)    # 2.6e-18
    assert float(push) < 1e-12


def test_ae_loss_identical_means_push_one_and_pull_by_hand():
    # A: tags 1, 3 (mean 2, squared deviations 1, 1 -> 1); B: tags 2, 2 (mean 2 -> 0).
    tags, kp = _two_people((1.0, 3.0), (2.0, 2.0))
    pull, push = ae_loss_terms(tags, kp)
    assert float(pull) == pytest.approx((1.0 + 0.0) / 2)
    assert float(push) == pytest.approx(1.0)
    assert float(ae_loss(tags, kp)) == pytest.approx(1.5)


def test_ae_loss_sigma_and_batch_average_by_hand():
    # means 0 and 1, sigma 2: push = exp(-1 / 8); a second image without people counts 0.
    tags, kp = _two_people((0.0, 0.0), (1.0, 1.0))
    tags2 = torch.cat([tags, torch.zeros_like(tags)])
    kp2 = torch.cat([kp, torch.zeros_like(kp)])
    pull, push = ae_loss_terms(tags2, kp2, sigma=2.0)
    assert float(pull) == 0.0
    assert float(push) == pytest.approx(math.exp(-1 / 8) / 2)
    # a joint outside the map is ignored, not wrapped or clipped onto the border
    kp3 = kp.clone()
    kp3[0, 0, 1, :2] = torch.tensor([7.0, 2.0])
    tags[0, 1, 2, 3] = 5.0                                  # would be read if x were clipped
    assert float(ae_loss_terms(tags, kp3)[0]) == 0.0


def test_ae_loss_gradient_step_reduces_loss_and_pulls_toward_means():
    g = torch.Generator().manual_seed(0)
    tags = torch.randn(1, 2, 4, 4, generator=g) * 0.3
    _, kp = _two_people((0.0, 0.0), (0.0, 0.0))
    tags.requires_grad_(True)
    loss = ae_loss(tags, kp)
    loss.backward()
    with torch.no_grad():
        stepped = tags - 0.5 * tags.grad
        a0, a1 = float(tags[0, 0, 1, 1]), float(tags[0, 1, 2, 2])
        # the step moves person A's two tags toward each other (pull)
        assert abs(float(stepped[0, 0, 1, 1] - stepped[0, 1, 2, 2])) < abs(a0 - a1)
        # and the two people's means apart (push)
        mean_a = (stepped[0, 0, 1, 1] + stepped[0, 1, 2, 2]) / 2
        mean_b = (stepped[0, 0, 0, 3] + stepped[0, 1, 3, 0]) / 2
        old_a = (tags[0, 0, 1, 1] + tags[0, 1, 2, 2]) / 2
        old_b = (tags[0, 0, 0, 3] + tags[0, 1, 3, 0]) / 2
        assert abs(float(mean_a - mean_b)) > abs(float(old_a - old_b))
        assert float(ae_loss(stepped, kp)) < float(loss)
    # pixels no joint lies on get no gradient
    grad = tags.grad.clone()
    grad[0, 0, 1, 1] = grad[0, 1, 2, 2] = grad[0, 0, 0, 3] = grad[0, 1, 3, 0] = 0
    assert float(grad.abs().sum()) == 0.0


# ----------------------------------------------------------------------------------- decoding

def test_decode_round_trip_three_synthetic_people():
    truth = _synthetic_people()
    assert truth.shape == (3, 17, 3) and (truth[..., 2] > 0).sum() >= 40
    heat, tags = _maps(truth, [2.0, 5.0, 8.0], (128, 128))
    people, scores = decode_tags(heat, tags, joint_order=COCO17_AE_ORDER, refine=False)
    assert people.shape == (3, 17, 3)
    assert sorted(_match(people, truth)) == [0, 1, 2]
    assert np.all(np.diff(scores) <= 0)
    # refinement has nothing to add when every joint was found
    refined, _ = decode_tags(heat, tags, joint_order=COCO17_AE_ORDER, refine=True)
    assert sorted(_match(refined, truth)) == [0, 1, 2]


def test_close_joints_with_different_tags_are_not_merged():
    # Two 3-joint people interleaved in space: A's joints lie 3 px from B's (distinct peaks,
    # each closer to the other person's joints than to its own next joint). Peak heights are
    # such that joint 1's strongest candidate is B's while A was created first: matching that
    # ignored tags would swap the people.
    a = np.array([[20, 20, 2], [20, 26, 2], [29, 29, 2]], np.float32)
    b = np.array([[23, 21, 2], [17, 27, 2], [26, 30, 2]], np.float32)
    truth = np.stack([a, b])
    scale = np.array([[1.0, 0.8, 0.9], [0.9, 0.95, 0.8]], np.float32)
    heat, tags = _maps(truth, [1.0, 4.0], (48, 48), peak_scale=scale)
    people, _ = decode_tags(heat, tags, refine=False)
    assert len(people) == 2
    assert sorted(_match(people, truth, tol=0.0)) == [0, 1]
    # A lacks joint 2; C has only joint 2, right beside A's joint 1: C must not fill A's gap.
    a_only = a.copy()
    a_only[2, 2] = 0
    c = np.array([[0, 0, 0], [0, 0, 0], [22, 28, 2]], np.float32)
    truth = np.stack([a_only, c])
    heat, tags = _maps(truth, [1.0, 4.0], (48, 48))
    people, _ = decode_tags(heat, tags, refine=True)
    assert len(people) == 2
    assert sorted(_match(people, truth, tol=0.0)) == [0, 1]


def test_same_tag_means_same_person_new_person_above_tag_threshold():
    # One joint type, two candidates: one person's tag 1.0, a second candidate of the next
    # joint with tag 1.3 joins it; one with tag 2.4 (|d| >= 1) starts a new person.
    cand = np.array([[[5, 5, 0.9], [0, 0, 0.0]],
                     [[6, 6, 0.8], [30, 30, 0.7]]], np.float32)
    ctag = np.array([[1.0, 0.0], [1.3, 2.4]], np.float32)
    people, ptags = group_by_tags(cand, ctag)
    assert people.shape == (2, 2, 3)
    np.testing.assert_allclose(people[0], [[5, 5, 0.9], [6, 6, 0.8]])
    np.testing.assert_allclose(people[1], [[0, 0, 0.0], [30, 30, 0.7]])
    # a candidate at or below the detection threshold starts nobody
    cand[1, 1, 2] = 0.05
    assert group_by_tags(cand, ctag)[0].shape == (1, 2, 3)


def test_tag_distances_under_half_tie_and_the_detection_score_decides():
    # cost = round(|dt|) * 100 - score: for the person with tag 0, a candidate at tag 0.3 and
    # score 0.9 beats one at tag 0.1 and score 0.2 (both round to 0); the loser starts a person.
    cand = np.array([[[5, 5, 0.9], [0, 0, 0.0]],
                     [[9, 9, 0.2], [7, 7, 0.9]]], np.float32)
    ctag = np.array([[0.0, 0.0], [0.1, 0.3]], np.float32)
    people, _ = group_by_tags(cand, ctag)
    np.testing.assert_allclose(people[0], [[5, 5, 0.9], [7, 7, 0.9]])
    np.testing.assert_allclose(people[1], [[0, 0, 0.0], [9, 9, 0.2]])


def test_refinement_fills_a_weak_peak_from_the_persons_tag():
    truth = _synthetic_people()
    # person 1's left wrist (joint 9) peaks at 0.05, below the detection threshold 0.1
    n, k = 1, 9
    assert truth[n, k, 2] > 0
    scale = np.ones(truth.shape[:2], np.float32)
    scale[n, k] = 0.05
    heat, tags = _maps(truth, [2.0, 5.0, 8.0], (128, 128), peak_scale=scale)
    assert heat[k].max() > 0.5                     # other people's wrists are strong peaks
    plain, _ = decode_tags(heat, tags, joint_order=COCO17_AE_ORDER, refine=False)
    missing = truth.copy()
    missing[n, k, 2] = 0
    assert sorted(_match(plain, missing)) == [0, 1, 2]           # the wrist is lost
    refined, _ = decode_tags(heat, tags, joint_order=COCO17_AE_ORDER, refine=True)
    assert sorted(_match(refined, truth)) == [0, 1, 2]           # and found again
    i = _match(refined, truth)[n]
    assert refined[i, k, 2] == pytest.approx(0.05, abs=0.01)


def test_top_candidates_nms_keeps_one_per_peak():
    heat, tags = _maps(np.array([[[10, 10, 2]], [[30, 12, 2]]], np.float32), [1.0, 2.0],
                       (40, 20))
    cand, ctag = top_candidates(heat, tags, max_people=3)
    assert cand.shape == (1, 3, 3) and ctag.shape == (1, 3)
    np.testing.assert_allclose(cand[0, :2], [[10, 10, 1.0], [30, 12, 1.0]])
    np.testing.assert_allclose(ctag[0, :2], [1.0, 2.0])
    assert cand[0, 2, 2] == 0.0


def test_joints_are_processed_in_the_given_order():
    # joint 0: X (tag 0); joint 1: Y (tag 5, score 0.9), Z (tag 0, score 0.5). People are
    # created by the first joint processed, so the order decides who comes first.
    cand = np.array([[[1, 1, 0.8], [0, 0, 0.0]],
                     [[2, 2, 0.9], [3, 3, 0.5]]], np.float32)
    ctag = np.array([[0.0, 0.0], [5.0, 0.0]], np.float32)
    people, _ = group_by_tags(cand, ctag, joint_order=(0, 1))
    np.testing.assert_allclose(people[:, :, :2], [[[1, 1], [3, 3]], [[0, 0], [2, 2]]])
    people, _ = group_by_tags(cand, ctag, joint_order=(1, 0))
    np.testing.assert_allclose(people[:, :, :2], [[[0, 0], [2, 2]], [[1, 1], [3, 3]]])
    with pytest.raises(PosekitError, match="permutation"):
        group_by_tags(cand, ctag, joint_order=(0, 0))

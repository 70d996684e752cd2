"""Pose tracking: Hungarian matching on OKS + IoU, occlusions (max_age), track ends, and the
synthetic crossing video with perfect detections."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.data.synthetic_video import count_crossings, perfect_detections, render_video
from posekit.metrics.video import clear_mot
from posekit.skeleton import COCO17
from posekit.tracking import PoseTracker, TrackerConfig, pose_guided_boxes

SIG = COCO17.sigmas_array()


def _person(cx: float, cy: float, h: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """A stick figure (17 keypoints spread over a box of height h) centred at (cx, cy)."""
    rng = np.random.default_rng(0)
    offs = rng.uniform(-0.5, 0.5, size=(17, 2)) * [h * 0.4, h]
    kp = np.concatenate([offs + [cx, cy], np.ones((17, 1))], axis=1).astype(np.float32)
    box = np.array([cx - 0.2 * h, cy - 0.5 * h, cx + 0.2 * h, cy + 0.5 * h], np.float32)
    return kp, box


def _frame(*centres):
    if not centres:
        return np.zeros((0, 17, 3), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    kps, boxes = zip(*[_person(*c) for c in centres])
    return np.stack(kps), np.stack(boxes), np.ones(len(centres), np.float32)


def test_ids_follow_people_whatever_the_input_order():
    tr = PoseTracker(SIG)
    ids0 = tr.update(*_frame((100, 200), (400, 200)), frame_index=0)
    assert sorted(ids0) == [0, 1]
    ids1 = tr.update(*_frame((405, 200), (104, 200)), frame_index=1)     # listed in the other order
    assert ids1[0] == ids0[1] and ids1[1] == ids0[0]


def test_short_occlusion_keeps_the_id_longer_one_ends_the_track():
    for max_age, same in ((5, True), (1, False)):
        tr = PoseTracker(SIG, TrackerConfig(max_age=max_age))
        first = tr.update(*_frame((100, 200)), frame_index=0)
        for t in (1, 2, 3):                                                # hidden for 3 frames
            tr.update(*_frame(), frame_index=t)
        back = tr.update(*_frame((108, 200)), frame_index=4)
        assert bool(back[0] == first[0]) is same
    assert tr.ended == 1                                                   # max_age 1: the first track ended


def test_track_moved_by_its_velocity_while_unseen():
    """A person walking 8 px per frame, unseen for 4 frames, is found 40 px on: the
    constant-velocity prediction matches it there; where it was last seen, only the unmoved
    candidate (``also_unmoved``) matches."""
    for x_back, unmoved, same in ((116 + 8 * 5, False, True), (116, False, False), (116, True, True)):
        tr = PoseTracker(SIG, TrackerConfig(oks_weight=1.0, min_similarity=0.3, also_unmoved=unmoved))
        for t in range(3):
            ids = tr.update(*_frame((100 + 8 * t, 200)), frame_index=t)
            assert ids[0] == 0
        for t in range(3, 7):
            tr.update(*_frame(), frame_index=t)
        back = tr.update(*_frame((x_back, 200)), frame_index=7)
        assert bool(back[0] == 0) is same, (x_back, unmoved)


def test_weak_poses_get_no_track():
    tr = PoseTracker(SIG, TrackerConfig(min_pose_score=0.3))
    kp, bx, _ = _frame((100, 200), (300, 200))
    ids = tr.update(kp, bx, np.array([0.9, 0.1]), frame_index=0)
    assert ids[0] == 0 and ids[1] == -1 and len(tr.tracks) == 1


@pytest.mark.parametrize("seed", [1, 3])
def test_synthetic_crossings_with_perfect_detections(seed):
    """3 people crossing and hiding each other: no id switch, MOTA >= 0.9 (the misses are the
    people hidden behind others, whom a perfect detector does not see either)."""
    v = render_video(seed, num_frames=40, num_people=3, size=(240, 180))
    assert count_crossings(v) >= 2
    tr = PoseTracker(SIG)
    pk, pi = [], []
    for t, (k, b, s, _) in enumerate(perfect_detections(v, seed=seed)):
        pi.append(tr.update(k, b, s, t))
        pk.append(k)
    r = clear_mot(v.keypoints, v.identities, pk, pi, SIG)
    assert r.id_switches == 0 and r.false_positives == 0
    assert r.mota >= 0.9
    # the same detections with ids drawn at random per frame switch ids all the time
    shuffled = [np.random.default_rng(t).permutation(len(ids)) for t, ids in enumerate(pi)]
    assert clear_mot(v.keypoints, v.identities, pk, [ids[s] for ids, s in zip(pi, shuffled)], SIG).id_switches > 3


def test_pose_guided_boxes():
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :, :2] = np.linspace([10, 20], [50, 120], 17)
    kp[0, :, 2] = 0.9
    kp[0, 0] = [500, 500, 0.05]                     # unconfident: ignored
    kp[1, :2, :] = [[5, 5, 0.9], [6, 6, 0.9]]       # two confident keypoints: no box
    boxes, kept = pose_guided_boxes(kp, keypoint_threshold=0.2, margin=0.1)
    assert kept.tolist() == [0]
    x0, y0 = np.linspace([10, 20], [50, 120], 17)[1]
    w, h = 50 - x0, 120 - y0
    np.testing.assert_allclose(boxes[0], [x0 - 0.1 * w, y0 - 0.1 * h, 50 + 0.1 * w, 120 + 0.1 * h], rtol=1e-5)
    clipped, _ = pose_guided_boxes(kp[:1], margin=0.1, image_size=(40, 100))
    assert clipped[0, 2] == 39.5 and clipped[0, 3] == 99.5

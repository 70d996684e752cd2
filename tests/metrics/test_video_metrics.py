"""Video metrics: CLEAR MOT counts by hand, per-frame AP, jitter, lag, J-HMDB PCK per frame."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.metrics.video import clear_mot, frame_ap, jitter, lag_frames, pck_per_frame, tracks_from_frames
from posekit.skeleton import COCO17

SIG = COCO17.sigmas_array()


def _pose(cx: float, cy: float = 100.0) -> np.ndarray:
    xy = np.stack(np.meshgrid(np.linspace(-20, 20, 17), [0])[0].ravel() + cx, axis=0)
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = xy
    kp[:, 1] = cy + np.linspace(-50, 50, 17)
    kp[:, 2] = 2
    return kp


def test_clear_mot_counts_by_hand():
    A, B = _pose(100), _pose(300)
    gt = [np.stack([A, B]), np.stack([A, B]), np.stack([A, B]), np.stack([A])]
    gid = [np.array([0, 1])] * 3 + [np.array([0])]
    far = _pose(900)
    pred = [np.stack([A, B]),            # frame 0: both matched (tracks 5, 6)
            np.stack([A]),               # frame 1: B missed
            np.stack([B, A, far]),       # frame 2: B now track 7 (switch), one false positive
            np.stack([A])]               # frame 3: fine
    pid = [np.array([5, 6]), np.array([5]), np.array([7, 5, 9]), np.array([5])]
    r = clear_mot(gt, gid, pred, pid, SIG)
    assert (r.misses, r.false_positives, r.id_switches, r.ground_truth, r.matches) == (1, 1, 1, 7, 6)
    assert r.mota == pytest.approx(1 - 3 / 7)
    assert r.mean_oks == pytest.approx(1.0)


def test_clear_mot_keeps_a_valid_correspondence_over_a_better_one():
    """CLEAR MOT: last frame's pair stays while it passes the threshold, even when the Hungarian
    on this frame alone would pair otherwise, so an id is not switched by a closer impostor."""
    A = _pose(100)
    near = A.copy()
    near[:, 0] += 3
    gt = [np.stack([A]), np.stack([A])]
    gid = [np.array([0]), np.array([0])]
    pred = [np.stack([near]), np.stack([near, A])]
    pid = [np.array([1]), np.array([1, 2])]
    r = clear_mot(gt, gid, pred, pid, SIG)
    assert r.id_switches == 0 and r.false_positives == 1


def test_frame_ap_perfect_and_degraded():
    gt = [np.stack([_pose(100), _pose(300)]), np.stack([_pose(120)])]
    perfect = frame_ap(gt, [g.copy() for g in gt], [np.ones(len(g)) for g in gt], COCO17)
    assert perfect["AP"] == pytest.approx(1.0)
    bad = [g.copy() for g in gt]
    bad[0][1, :, 0] += 60                           # the second person of frame 0 far off
    degraded = frame_ap(gt, bad, [np.ones(len(g)) for g in gt], COCO17)
    assert degraded["AP"] < 0.9


def test_jitter_and_tracks_from_frames():
    t = np.arange(6, dtype=np.float64)
    kp = [np.array([[[x, 2 * x, 1.0]]]) for x in t]                        # constant speed: no jitter
    tracks = tracks_from_frames(kp, [np.array([4])] * 6)
    assert list(tracks) == [4] and jitter(tracks) == pytest.approx(0.0)
    quad = {0: np.array([[[x * x, 0.0, 1.0]] for x in t])}                # x = t^2: |a| = 2 everywhere
    assert jitter(quad) == pytest.approx(2.0)
    quad[0][3, 0, 2] = 0.0                                                  # a low score drops its triples
    assert jitter(quad) == pytest.approx(2.0)
    kp_gap = [k.copy() for k in kp]
    kp_gap[2] = np.zeros((0, 1, 3))
    assert np.isnan(tracks_from_frames(kp_gap, [np.array([1])] * 2 + [np.zeros(0)] + [np.array([1])] * 3)[1][2]).all()


def test_lag_frames_finds_the_shift():
    t = np.arange(80, dtype=np.float64)
    truth = np.stack([np.sin(t / 6) * 30, np.cos(t / 9) * 20], axis=-1)[:, None, :]
    for shift in (0, 2, 3):
        delayed = np.concatenate([np.repeat(truth[:1], shift, axis=0), truth[:len(t) - shift]])
        assert lag_frames(delayed, truth) == pytest.approx(shift, abs=0.1)


def test_pck_per_frame_on_the_jhmdb_sample(shared_data):
    gt_path = shared_data / "jhmdb" / "test_jhmdb_sub1.json"
    gt = json.loads(gt_path.read_text())
    preds = []
    for i, a in enumerate(gt["annotations"]):
        kp = np.asarray(a["keypoints"], np.float64).reshape(15, 3)
        kp[:, :2] -= 1                                   # the file is 1-based; results are 0-based
        if i == 1:
            kp[:, 0] += 0.5 * max(a["bbox"][2:])          # frame 2 off by half the box: every joint wrong
        kp[:, 2] = 0.9
        preds.append({"image_id": a["image_id"], "keypoints": kp.ravel().tolist(), "score": 1.0})
    r = pck_per_frame(gt_path, preds, alpha=0.2)
    assert [f["pck"] for f in r["per_frame"]] == [1.0, 0.0, 1.0]
    assert r["pck"] == pytest.approx(2 / 3) and len(r["joints"]) == 15


def test_keypoint_mota_counts_per_joint():
    from posekit.metrics.video import keypoint_mota
    A, B = _pose(100), _pose(300)
    gt = [np.stack([A, B]), np.stack([A, B])]
    gid = [np.array([0, 1]), np.array([0, 1])]
    ref = [np.array([10.0, 10.0])] * 2
    moved = B.copy()
    moved[:3, 0] += 6                              # 3 joints of B off by 6 px > 0.5 * 10: missed + false positive
    pred = [np.stack([A, B]), np.stack([moved, A])]
    pid = [np.array([5, 6]), np.array([7, 5])]      # frame 1: B is now track 7 -> 14 joints switch
    r = keypoint_mota(gt, gid, pred, pid, ref, threshold=0.5)
    assert (r["misses"], r["false_positives"], r["id_switches"], r["ground_truth"]) == (3, 3, 14, 68)
    assert r["MOTA"] == pytest.approx(1 - 20 / 68)
    assert r["per_joint"][0] == pytest.approx(1 - 2 / 4) and r["per_joint"][10] == pytest.approx(1 - 1 / 4)

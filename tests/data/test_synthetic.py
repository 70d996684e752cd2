"""Synthetic figures: determinism, record validity, visibility, and that keypoints sit on the
drawn joints (the light joint discs) where they are visible."""

from __future__ import annotations

import numpy as np

from posekit import COCO17
from posekit.data.synthetic import make_dataset, random_background, render_person_crop, render_scene


def test_same_seed_same_scene_and_different_seeds_differ():
    a_img, a = render_scene(7, size=(160, 120))
    b_img, b = render_scene(np.random.default_rng(7), size=(160, 120))
    c_img, _ = render_scene(8, size=(160, 120))
    assert np.array_equal(a_img, b_img) and np.array_equal(a.keypoints, b.keypoints)
    assert not np.array_equal(a_img, c_img)
    assert a_img.shape == (120, 160, 3) and a_img.dtype == np.uint8


def test_make_dataset_items_do_not_depend_on_n():
    short, long = make_dataset(2, seed=3, size=(96, 96)), make_dataset(4, seed=3, size=(96, 96))
    assert np.array_equal(short[1][0], long[1][0])
    names = [r.file_name for _, r in long]
    assert len(set(names)) == 4 and [r.image_id for _, r in long] == [0, 1, 2, 3]


def test_records_are_valid_coco17_with_people_in_range():
    counts = []
    for img, rec in make_dataset(12, seed=0, size=(128, 128), num_people=(1, 3)):
        assert rec.spec is COCO17 and (rec.width, rec.height) == (128, 128)
        n = rec.num_people
        counts.append(n)
        assert 1 <= n <= 3 and rec.keypoints.shape == (n, 17, 3)
        assert set(np.unique(rec.keypoints[..., 2])) <= {0.0, 1.0, 2.0}
        assert (rec.areas > 0).all() and not rec.crowd.any()
        b = rec.boxes
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        # every in-image keypoint lies in (or on the edge of) its person's box
        kp = rec.keypoints
        lab = kp[..., 2] > 0
        inb = ((kp[..., 0] >= b[:, None, 0] - 1) & (kp[..., 0] <= b[:, None, 2] + 1)
               & (kp[..., 1] >= b[:, None, 1] - 1) & (kp[..., 1] <= b[:, None, 3] + 1))
        assert inb[lab].all()
    assert len(set(counts)) >= 2


def test_visibility_flags_follow_the_image_extent_and_occlusion():
    v_all = []
    for _, rec in make_dataset(30, seed=1, size=(128, 128), occlusion=0.8):
        kp = rec.keypoints
        outside = ((kp[..., 0] < -0.5) | (kp[..., 0] > 127.5)
                   | (kp[..., 1] < -0.5) | (kp[..., 1] > 127.5))
        assert (kp[..., 2][outside] == 0).all()
        v_all.append(kp[..., 2].ravel())
    v = np.concatenate(v_all)
    assert (v == 1).mean() > 0.02 and (v == 2).mean() > 0.6


def test_visible_body_joints_sit_on_light_joint_discs():
    """A visible shoulder/elbow/.../ankle is drawn as a light disc: its pixel is brighter than
    the dark rim a few pixels away along some direction (checks keypoints match the drawing)."""
    hits, total = 0, 0
    for img, rec in make_dataset(10, seed=2, size=(192, 192), num_people=(1, 1),
                                 height_range=(0.8, 0.9), occlusion=0.0):
        grey = img.astype(np.float32).mean(axis=2)
        for k in range(5, 17):
            x, y, v = rec.keypoints[0, k]
            xi, yi = int(round(x)), int(round(y))
            if v != 2 or not (4 <= xi < 188 and 4 <= yi < 188):
                continue
            total += 1
            ring = [grey[yi + dy, xi + dx] for dx, dy in
                    ((4, 0), (-4, 0), (0, 4), (0, -4), (3, 3), (-3, -3), (3, -3), (-3, 3))]
            hits += grey[yi, xi] > min(ring) + 20
    assert total > 60 and hits / total > 0.9


def test_subject_left_is_on_the_image_right_of_the_torso():
    """Front-facing figures: the chirality that makes left/right learnable under flips."""
    for _, rec in make_dataset(20, seed=4, size=(128, 128)):
        for kp in rec.keypoints:
            up = (kp[5, :2] + kp[6, :2]) / 2 - (kp[11, :2] + kp[12, :2]) / 2
            across = kp[5, :2] - kp[6, :2]          # right shoulder -> left shoulder
            cross = up[0] * across[1] - up[1] * across[0]
            assert cross > 0                        # y down: left is clockwise from up


def test_person_crop_and_background():
    img, rec = render_person_crop(0)
    assert img.shape == (128, 96, 3) and rec.num_people == 1
    box = rec.boxes[0]
    assert abs((box[0] + box[2]) / 2 - 48) < 20 and (box[3] - box[1]) > 60
    bg = random_background(np.random.default_rng(0), (50, 40))
    assert bg.shape == (40, 50, 3) and bg.std() > 1

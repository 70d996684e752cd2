"""Drawing: joints land where the keypoints say, colours per person, thresholds, grids."""

from __future__ import annotations

import numpy as np
import pytest

from posekit import COCO17, MPII16
from posekit.io import read_image
from posekit.viz import draw_poses, make_grid, person_color, save_grid


def _one_person(xy: dict[int, tuple[float, float]], v: float = 2.0) -> np.ndarray:
    kp = np.zeros((1, 17, 3), np.float32)
    for k, (x, y) in xy.items():
        kp[0, k] = (x, y, v)
    return kp


def test_joint_disc_is_centred_on_keypoint():
    img = np.zeros((100, 120, 3), np.uint8)
    kp = _one_person({0: (37.0, 61.0)})          # nose only: a single disc, no limbs
    out = draw_poses(img, kp, COCO17, thickness=3)
    changed = np.argwhere(out.any(axis=2))
    cy, cx = changed.mean(axis=0)
    assert abs(cx - 37.0) < 0.6 and abs(cy - 61.0) < 0.6
    assert out[61, 37].tolist() == list(person_color(0))   # nose is a centre joint: plain hue
    assert not img.any(), "input must not be modified"


def test_limb_drawn_only_when_both_joints_pass_threshold():
    img = np.zeros((80, 80, 3), np.uint8)
    kp = _one_person({5: (10, 40), 6: (70, 40)})   # left/right shoulder: one limb
    mid = draw_poses(img, kp, COCO17, thickness=2)[40, 40]
    assert mid.any()
    kp[0, 6, 2] = 0.2                                # below min_score=0.3
    out = draw_poses(img, kp, COCO17, thickness=2)
    assert not out[40, 40].any()
    assert out[40, 10].any() and not out[40, 70].any()


def test_left_and_right_joints_have_different_shades_and_people_different_colours():
    img = np.zeros((60, 200, 3), np.uint8)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 5] = (20, 30, 2)    # left shoulder
    kp[0, 6] = (60, 20, 2)    # right shoulder (no shared y -> check disc centres)
    kp[0, 5, 1], kp[0, 6, 1] = 10, 50
    kp[1, 0] = (150, 30, 2)
    out = draw_poses(img, kp, COCO17, thickness=2, min_score=0.3)
    left, right, other = out[10, 20], out[50, 60], out[30, 150]
    assert not np.array_equal(left, right)
    assert left.sum() > right.sum()                 # left lighter, right darker
    assert other.tolist() == list(person_color(1))


def test_boxes_and_other_specs_and_bad_shapes():
    img = np.zeros((50, 50, 3), np.uint8)
    kp = np.zeros((1, 16, 3), np.float32)
    out = draw_poses(img, kp, MPII16, boxes=np.array([[5, 5, 40, 40]], np.float32))
    assert out[5, 20].any() and not out[20, 20].any()
    with pytest.raises(ValueError, match="16"):
        draw_poses(img, np.zeros((1, 17, 3)), MPII16)
    assert draw_poses(img, np.zeros((0, 17, 3)), COCO17).shape == (50, 50, 3)


def test_thickness_scales_with_image_size():
    kp_small = _one_person({5: (10, 50), 11: (10, 90)})
    small = draw_poses(np.zeros((100, 100, 3), np.uint8), kp_small, COCO17)
    big = draw_poses(np.zeros((1000, 1000, 3), np.uint8), kp_small * [10, 10, 1], COCO17)
    w_small = (small[70].sum(axis=1) > 0).sum()
    w_big = (big[700].sum(axis=1) > 0).sum()
    assert w_big > 2 * w_small


def test_grid_and_save(tmp_path):
    a = np.full((10, 20, 3), 100, np.uint8)
    b = np.full((15, 5), 7, np.uint8)
    g = make_grid([a, b, a], ncols=2, pad=1)
    assert g.shape == (2 * 15 + 3, 2 * 20 + 3, 3)
    assert g[1, 1].tolist() == [100] * 3 and g[1, 22].tolist() == [7] * 3
    p = save_grid([a, b], tmp_path / "g.png")
    assert read_image(p).shape == make_grid([a, b]).shape

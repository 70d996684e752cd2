"""Drawing: joints land where the keypoints say, colours by body side, sizes that follow the
image, clipping of wild coordinates, thresholds, grids."""

from __future__ import annotations

import numpy as np
import pytest

import posekit.viz as viz
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
    assert out[61, 37].tolist() == list(viz.CENTRE_COLOR)   # the nose is a centre joint
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


def _hue(rgb) -> float:
    import colorsys
    return 360.0 * colorsys.rgb_to_hsv(*(np.asarray(rgb, float) / 255.0))[0]


def test_left_and_right_have_fixed_distinct_colours_for_every_person():
    # issue 9: one hue per person with only light/dark for left/right was hard to read. Now a
    # left limb has one colour and a right limb another, whoever the person is.
    img = np.zeros((120, 240, 3), np.uint8)
    kp = np.zeros((2, 17, 3), np.float32)
    for p, x0 in enumerate((20, 140)):
        kp[p, 7] = (x0, 20, 0.9)          # left elbow  -> left wrist: a left limb at y = 20
        kp[p, 9] = (x0 + 60, 20, 0.9)
        kp[p, 8] = (x0, 90, 0.9)          # right elbow -> right wrist: a right limb at y = 90
        kp[p, 10] = (x0 + 60, 90, 0.9)
    out = draw_poses(img, kp, COCO17, thickness=4)
    left = [out[20, 50], out[20, 170]]
    right = [out[90, 50], out[90, 170]]
    assert left[0].tolist() == left[1].tolist(), "a left limb has the same colour for both people"
    assert right[0].tolist() == right[1].tolist()
    dh = abs(_hue(left[0]) - _hue(right[0]))
    assert min(dh, 360 - dh) > 90, f"left {left[0]} and right {right[0]} hues too close"
    # the person is told by the box colour
    boxes = np.array([[10, 10, 90, 100], [130, 10, 210, 100]], np.float32)
    out = draw_poses(img, kp, COCO17, boxes=boxes, thickness=4)
    assert out[60, 10].tolist() != out[60, 130].tolist()


def test_boxes_and_other_specs_and_bad_shapes():
    img = np.zeros((50, 50, 3), np.uint8)
    kp = np.zeros((1, 16, 3), np.float32)
    out = draw_poses(img, kp, MPII16, boxes=np.array([[5, 5, 40, 40]], np.float32))
    assert out[5, 20].any() and not out[20, 20].any()
    with pytest.raises(ValueError, match="16"):
        draw_poses(img, np.zeros((1, 17, 3)), MPII16)
    assert draw_poses(img, np.zeros((0, 17, 3)), COCO17).shape == (50, 50, 3)


def _limb_and_joint_sizes(h: int, w: int) -> tuple[int, int]:
    """Width in pixels of a vertical limb (left shoulder -> left hip) and the width of the
    shoulder's joint disc, drawn with the default sizes on an ``h x w`` black image."""
    x = w / 2
    kp = _one_person({5: (x, 0.2 * h), 11: (x, 0.8 * h)})
    out = draw_poses(np.zeros((h, w, 3), np.uint8), kp, COCO17)
    limb = int((out[h // 2].sum(axis=1) > 0).sum())
    joint = int((out[int(0.2 * h)].sum(axis=1) > 0).sum())
    return limb, joint


def test_line_width_and_joint_size_grow_with_the_image():
    # issue 9: thin lines and small joints on large photos
    limb_s, joint_s = _limb_and_joint_sizes(240, 320)
    limb_m, joint_m = _limb_and_joint_sizes(720, 1280)
    limb_l, joint_l = _limb_and_joint_sizes(2160, 3840)
    assert limb_m >= 7 and joint_m >= 12, (limb_m, joint_m)        # readable on a 720p frame
    assert joint_s > limb_s and joint_m > limb_m and joint_l > limb_l
    assert 1.8 < limb_l / limb_m < 3.8 and 1.8 < joint_l / joint_m < 3.8   # ~ linear (3x sides)
    assert limb_s >= 4 and joint_s >= 6                              # a floor for thumbnails
    assert viz.default_thickness(3000, 4000) > viz.default_thickness(480, 640) >= 3


def test_drawing_clips_huge_and_non_finite_coordinates():
    # issue 9: "posekit data show" on keypoints at 2e8 crashed in OpenCV (integer overflow)
    img = np.zeros((60, 80, 3), np.uint8)
    kp = _one_person({5: (20, 30), 6: (2e8, 30), 11: (-3e38, 1e30), 12: (np.nan, 5), 0: (np.inf, 5)})
    boxes = np.array([[-1e30, 10, 2e8, 50]], np.float32)
    out = draw_poses(img, kp, COCO17, boxes=boxes, thickness=2)
    # the shoulder-to-shoulder limb runs from (20, 30) to the right edge, along y = 30
    assert out[30, 40].any() and out[30, 79].any()
    assert not out[55, 40].any()                      # nothing towards the NaN / inf joints
    draw_poses(img, kp, COCO17, boxes=boxes, scores=np.array([0.5]), thickness=2)
    out = viz.draw_boxes(img, np.array([[np.nan, 0, 1, 1], [5, 5, 2e8, 2e8]]), labels=["a", "b"])
    assert out[5, 40].any() and out.shape == img.shape
    huge = np.full((1, 17, 3), 2e8, np.float32)
    assert not draw_poses(img, huge, COCO17).any()    # entirely outside: nothing drawn, no error


def test_score_label_is_written_on_the_box():
    img = np.zeros((100, 160, 3), np.uint8)
    kp = np.zeros((1, 17, 3), np.float32)
    box = np.array([[40, 40, 120, 95]], np.float32)
    plain = draw_poses(img, kp, COCO17, boxes=box, thickness=3)
    labelled = draw_poses(img, kp, COCO17, boxes=box, scores=np.array([0.87]), thickness=3)
    tab = labelled[:41, 40:80]
    assert tab.any() and not plain[:38, 40:80].any()


def test_grid_and_save(tmp_path):
    a = np.full((10, 20, 3), 100, np.uint8)
    b = np.full((15, 5), 7, np.uint8)
    g = make_grid([a, b, a], ncols=2, pad=1)
    assert g.shape == (2 * 15 + 3, 2 * 20 + 3, 3)
    assert g[1, 1].tolist() == [100] * 3 and g[1, 22].tolist() == [7] * 3
    p = save_grid([a, b], tmp_path / "g.png")
    assert read_image(p).shape == make_grid([a, b]).shape

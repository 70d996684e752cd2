"""Transforms: the single-pixel test for each, flip∘flip = identity with the left/right swap,
half-body selection, colour maths, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit import COCO17, MPII16
from posekit.codecs.heatmap import MSRAHeatmap, UDPHeatmap, to_image
from posekit.data.transforms import (
    AugConfig, BottomUpAugConfig, CropParams, apply_crop, body_part_indices, bottomup_affine,
    bottomup_transform, color_jitter, color_matrix, flip_image, flip_keypoints, half_body_box,
    mark_outside, swap_left_right, topdown_crop_params, topdown_transform,
)
from posekit.geometry import crop_affine, invert_affine, transform_points, warp_image

LW, RW = COCO17.index("left_wrist"), COCO17.index("right_wrist")


def _pixel_image(h, w, x, y):
    img = np.zeros((h, w, 3), np.uint8)
    img[y, x] = 255
    return img


def _brightest(img):
    y, x = np.unravel_index(np.argmax(img.astype(np.int32).sum(axis=2)), img.shape[:2])
    return np.array([x, y], np.float64)


def _person(center=(150.0, 150.0), height=100.0):
    """A plausible standing COCO-17 person (all joints labelled) around ``center``."""
    rel = np.array([
        [0, -0.45], [0.03, -0.47], [-0.03, -0.47], [0.06, -0.45], [-0.06, -0.45],
        [0.12, -0.3], [-0.12, -0.3], [0.16, -0.1], [-0.16, -0.1], [0.18, 0.05], [-0.18, 0.05],
        [0.08, 0.05], [-0.08, 0.05], [0.09, 0.28], [-0.09, 0.28], [0.1, 0.5], [-0.1, 0.5],
    ])
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = np.asarray(center) + rel * height
    kp[:, 2] = 2
    return np.round(kp)


# ----------------------------------------------------------------------------------- flips
def test_flip_single_pixel_and_label_swap():
    kp = _person()
    x, y = int(kp[LW, 0]), int(kp[LW, 1])
    img = _pixel_image(300, 320, x, y)
    fimg, fkp = flip_image(img), flip_keypoints(kp, COCO17, 320)
    # the mirrored left wrist is now labelled right wrist, and that is where the pixel is
    assert np.array_equal(_brightest(fimg), fkp[RW, :2])
    assert fkp[RW, 0] == 319 - x


def test_flip_flip_is_identity_with_swap():
    kp = np.random.default_rng(0).uniform(0, 100, size=(3, 17, 3)).astype(np.float32)
    twice = flip_keypoints(flip_keypoints(kp, COCO17, 101), COCO17, 101)
    assert np.allclose(twice, kp)
    once = flip_keypoints(kp, COCO17, 101)
    assert np.allclose(once[:, LW, 0], 100 - kp[:, RW, 0])      # labels really swapped
    assert np.array_equal(swap_left_right(swap_left_right(kp, COCO17),
                                          COCO17), kp)
    img = np.random.default_rng(1).integers(0, 255, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(flip_image(flip_image(img)), img)


@pytest.mark.parametrize("udp", [False, True])
def test_flipped_crop_equals_mirrored_unflipped_crop(udp):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (200, 220, 3), dtype=np.uint8)
    kp = _person((110, 100), 120)
    p = CropParams(center=np.array([110.0, 100.0]), size=np.array([90.0, 120.0]), rotation_deg=17, udp=udp)
    pf = CropParams(center=p.center, size=p.size, rotation_deg=17, flip=True, udp=udp)
    a, b = apply_crop(img, kp, p, COCO17, (96, 128)), apply_crop(img, kp, pf, COCO17, (96, 128))
    assert np.allclose(b.keypoints, flip_keypoints(a.keypoints, COCO17, 96), atol=1e-4)
    diff = np.abs(b.image.astype(int) - flip_image(a.image).astype(int))
    assert diff.mean() < 1.0
    # inverse: back to the image frame through A^-1 plus the same label swap
    back = swap_left_right(transform_points(invert_affine(b.affine), b.keypoints), COCO17)
    assert np.allclose(back[:, :2], kp[:, :2], atol=1e-3)


# ----------------------------------------------------------------------------- crop affine
@settings(max_examples=40, deadline=None, derandomize=True)
@given(rot=st.floats(-180, 180), flip=st.booleans(), zoom=st.floats(1.0, 2.5),
       dx=st.floats(-0.2, 0.2), dy=st.floats(-0.2, 0.2), joint=st.integers(0, 16), udp=st.booleans())
def test_crop_single_pixel(rot, flip, zoom, dx, dy, joint, udp):
    kp = _person((150, 150), 60)
    x, y = int(kp[joint, 0]), int(kp[joint, 1])
    img = _pixel_image(300, 300, x, y)
    out = (48, 64)
    size = np.array(out, np.float64) / zoom
    p = CropParams(center=np.array([x, y]) + np.array([dx, dy]) * size, size=size,
                   rotation_deg=rot, flip=flip, udp=udp)
    s = apply_crop(img, kp, p, COCO17, out)
    label = COCO17.flip_index[joint] if flip else joint
    assert s.keypoints[label, 2] == 2
    assert np.hypot(*(_brightest(s.image) - s.keypoints[label, :2])) <= 1.0
    assert np.allclose(transform_points(s.affine, kp[joint:joint + 1, :2]), s.keypoints[label, :2],
                       atol=1e-4)


def test_crop_marks_points_outside_as_unlabelled_but_keeps_coordinates():
    kp = _person((150, 150), 100)
    p = CropParams(center=np.array([150.0, 100.0]), size=np.array([60.0, 80.0]))
    s = apply_crop(np.zeros((300, 300, 3), np.uint8), kp, p, COCO17, (48, 64))
    ankles = [COCO17.index("left_ankle"), COCO17.index("right_ankle")]
    assert (s.keypoints[ankles, 2] == 0).all() and (s.keypoints[ankles, 1] > 64).all()
    assert s.keypoints[0, 2] == 2
    assert mark_outside(np.array([[[-0.6, 1, 2], [0, 0, 1]]]), (4, 4))[0, :, 2].tolist() == [0, 1]


# ------------------------------------------------------------------------------ the UDP warp
def test_udp_warp_puts_the_box_edges_on_corner_pixel_centres():
    center, size = np.array([100.0, 50.0]), np.array([94.0, 126.0])
    box = np.array([[53.0, -13.0], [147.0, 113.0], [100.0, 50.0]])      # corners and centre
    udp = CropParams(center=center, size=size, udp=True).affine((192, 256))
    assert np.allclose(transform_points(udp, box), [[0, 0], [191, 255], [95.5, 127.5]])
    edge = CropParams(center=center, size=size).affine((192, 256))
    assert np.allclose(transform_points(edge, box), [[-0.5, -0.5], [191.5, 255.5], [95.5, 127.5]])
    # rotation and mirror act about the box centre as in the edge-to-edge warp
    a = crop_affine(center, size, (192, 256), rotation_deg=30, flip=True, udp=True)
    assert np.allclose(transform_points(a, center[None]), [[95.5, 127.5]])
    assert np.allclose(np.abs(np.linalg.det(a[:, :2])), (191 / 94) * (255 / 126))


def test_udp_warp_single_pixel_through_the_udp_codec():
    """One bright pixel through UDP's warp and UDPHeatmap: the target's centre is where UDP's
    warp at heatmap size puts the pixel (the bright pixel of the image warped at heatmap size),
    and decode + to_image gives the pixel back. posekit's edge-to-edge crop would put UDP's
    target 0.11 heatmap px off here (0.12 at the box edge)."""
    codec = UDPHeatmap((192, 256))                       # 48x64 heatmaps
    center, size = np.array([150.0, 150.0]), np.array([94.0, 126.0])   # heatmap scale 1/2
    px, py = 191, 195                                     # heatmap (44, 54) exactly
    img = _pixel_image(300, 300, px, py)
    kp = _person((150, 150), 60)
    kp[0, :2] = px, py
    p = CropParams(center=center, size=size, udp=codec.udp_warp)
    s = apply_crop(img, kp, p, COCO17, codec.input_size)
    assert np.hypot(*(_brightest(s.image) - s.keypoints[0, :2])) <= 1.0
    target = codec.encode(s.keypoints)
    a_hm = crop_affine(center, size, codec.heatmap_size, udp=True)
    mu = transform_points(a_hm, np.array([[px, py]], np.float64))
    assert np.allclose(mu, [[44, 54]])
    np.testing.assert_allclose(codec.crop_to_heatmap(s.keypoints[:1, :2].astype(np.float64)), mu, atol=1e-4)
    hm_img = warp_image(img, a_hm, codec.heatmap_size, interpolation=cv2.INTER_NEAREST)
    assert _brightest(hm_img).tolist() == [44, 54]
    assert np.unravel_index(target.heatmaps[0].argmax(), target.heatmaps[0].shape) == (54, 44)
    assert target.heatmaps[0, 54, 44] == pytest.approx(1.0, abs=1e-6)
    back = to_image(codec.decode(torch.from_numpy(target.heatmaps)[None])[:, 0], s.affine[None])
    assert np.hypot(*(back[0, 0, :2].numpy() - [px, py])) < 0.01
    edge = transform_points(crop_affine(center, size, codec.input_size), np.array([[px, py]], np.float64))
    assert np.abs(codec.crop_to_heatmap(edge) - mu).max() > 0.08


def test_topdown_transform_carries_the_codec_warp():
    kp, box = _person((150, 150), 80), np.array([110, 100, 190, 200])
    img = np.zeros((300, 300, 3), np.uint8)
    assert (MSRAHeatmap().udp_warp, UDPHeatmap().udp_warp) == (False, True)
    for udp in (False, True):
        s = topdown_transform(img, kp, box, COCO17, (96, 128), np.random.default_rng(4), AugConfig(), udp=udp)
        p = s.params
        assert p.udp == udp
        assert np.allclose(s.affine, crop_affine(p.center, p.size, (96, 128), p.rotation_deg, p.flip, udp=udp))


# ------------------------------------------------------------------------------- half body
def test_body_part_indices_by_canonical_names():
    up, lo = body_part_indices(COCO17)
    assert up.tolist() == list(range(11)) and lo.tolist() == list(range(11, 17))
    up, lo = body_part_indices(MPII16)
    assert sorted(MPII16.names[i] for i in lo) == sorted(
        ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis"])


def test_half_body_box_covers_only_the_chosen_half():
    kp = _person((150, 150), 100)
    up, lo = body_part_indices(COCO17)
    seen = set()
    for seed in range(20):
        c, s = half_body_box(kp, COCO17, np.random.default_rng(seed), aspect_ratio=0.75, padding=1.0)
        assert np.isclose(s[0] / s[1], 0.75)
        lo_box = np.all(np.abs(kp[lo, :2] - c) <= s / 2 + 1e-6)
        up_box = np.all(np.abs(kp[up, :2] - c) <= s / 2 + 1e-6)
        assert lo_box != up_box
        seen.add(bool(up_box))
    assert seen == {True, False}
    few = kp.copy()
    few[:, 2] = 0
    few[0, 2] = 2
    assert half_body_box(few, COCO17, np.random.default_rng(0), 0.75) is None


def test_half_body_crop_single_pixel():
    kp = _person((150, 150), 100)
    aug = AugConfig(half_body_prob=1.0, flip_prob=0, rotation_prob=0, scale_range=(1, 1),
                    brightness=0, contrast=0, saturation=0, hue=0)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        p = topdown_crop_params(kp, np.array([100, 100, 200, 200]), COCO17, (96, 128), rng, aug)
        assert p.size[1] < 100 * 1.25      # smaller than the whole-body crop
        inside = [k for k in range(17)
                  if np.all(np.abs(kp[k, :2] - p.center) < p.size / 2 - 1)]
        k = inside[0]
        img = _pixel_image(300, 300, int(kp[k, 0]), int(kp[k, 1]))
        s = apply_crop(img, kp, p, COCO17, (96, 128))
        assert np.hypot(*(_brightest(s.image) - s.keypoints[k, :2])) <= 1.0


# ---------------------------------------------------------------------------------- colour
def test_color_matrix_hand_values():
    rng = np.random.default_rng(0)
    assert np.allclose(color_matrix(rng, np.array([10, 20, 30])), np.eye(3, 4))
    grey = np.array([100.0, 100.0, 100.0, 1.0])
    for seed in range(5):   # saturation and hue keep greys grey
        M = color_matrix(np.random.default_rng(seed), grey[:3], saturation=0.5, hue=0.3)
        assert np.allclose(M @ grey, 100.0)
    M = color_matrix(np.random.default_rng(1), grey[:3], brightness=0.5)
    b = M[0, 0]
    assert 0.5 <= b <= 1.5 and np.allclose(M, np.concatenate([np.eye(3) * b, np.zeros((3, 1))], 1))
    # contrast keeps the image's mean grey fixed
    mean = np.array([50.0, 120.0, 200.0])
    M = color_matrix(np.random.default_rng(2), mean, contrast=0.4)
    luma = np.array([0.299, 0.587, 0.114])
    assert np.isclose(luma @ (M[:, :3] @ mean + M[:, 3]), luma @ mean)


def test_color_jitter_single_pixel_does_not_move():
    img = np.full((40, 50, 3), 60, np.uint8)
    img[13, 27] = (250, 240, 230)
    for seed in range(10):
        out = color_jitter(img, np.random.default_rng(seed), 0.3, 0.3, 0.3, 0.05)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert _brightest(out).tolist() == [27, 13]
    changed = color_jitter(img, np.random.default_rng(0), 0.3, 0.3, 0.3, 0.05)
    assert not np.array_equal(changed, img)


# ------------------------------------------------------------------------- full top-down
@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6), joint=st.integers(0, 16))
def test_topdown_transform_single_pixel_full_aug(seed, joint):
    kp = _person((150, 150), 50)
    x, y = int(kp[joint, 0]), int(kp[joint, 1])
    img = _pixel_image(300, 300, x, y)
    aug = AugConfig(shift=0.1, half_body_prob=0.5)
    s = topdown_transform(img, kp, np.array([120, 120, 180, 180]), COCO17, (96, 128),
                          np.random.default_rng(seed), aug)
    label = COCO17.flip_index[joint] if s.params.flip else joint
    if s.keypoints[label, 2] > 0:
        assert np.hypot(*(_brightest(s.image) - s.keypoints[label, :2])) <= 1.0
    else:  # outside the crop (half-body or shift): then the pixel is not in the crop either,
        # unless the point is within a pixel of the edge (bilinear spill-over)
        x_c, y_c = s.keypoints[label, :2]
        if x_c < -1.5 or x_c > 96.5 or y_c < -1.5 or y_c > 128.5:
            assert s.image.max() < 20


def test_topdown_transform_is_deterministic_and_eval_crop_is_plain():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (240, 200, 3), dtype=np.uint8)
    kp, box = _person((100, 120), 100), np.array([70, 70, 130, 175])
    a = topdown_transform(img, kp, box, COCO17, (96, 128), np.random.default_rng(7), AugConfig())
    b = topdown_transform(img, kp, box, COCO17, (96, 128), np.random.default_rng(7), AugConfig())
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints, b.keypoints)
    e = topdown_transform(img, kp, box, COCO17, (96, 128))
    assert e.params.rotation_deg == 0 and not e.params.flip
    assert np.allclose(e.params.center, [100, 122.5])
    assert np.allclose(e.params.size, [105 * 0.75 * 1.25, 105 * 1.25])


# ------------------------------------------------------------------------------- bottom-up
def test_bottomup_letterbox_without_rng():
    A, flipped = bottomup_affine((200, 100), 128)
    assert not flipped
    corners = transform_points(A, np.array([[-0.5, -0.5], [199.5, 99.5]]))
    assert np.allclose(corners, [[-0.5, 31.5], [127.5, 95.5]])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6))
def test_bottomup_single_pixel_and_swap(seed):
    rng = np.random.default_rng(seed)
    kp = np.stack([_person((40, 30), 40), _person((20, 25), 30)])
    person, joint = int(rng.integers(2)), int(rng.integers(17))
    x, y = int(kp[person, joint, 0]), int(kp[person, joint, 1])
    img = _pixel_image(60, 64, x, y)       # small image, upscaled into the 256 output
    aug = BottomUpAugConfig(scale_range=(1.0, 1.5), shift=0.1)
    s = bottomup_transform(img, kp, COCO17, 256, rng, aug)
    label = COCO17.flip_index[joint] if s.flipped else joint
    assert np.allclose(transform_points(s.affine, kp[person, joint:joint + 1, :2]),
                       s.keypoints[person, label, :2], atol=1e-3)
    if s.keypoints[person, label, 2] > 0:
        assert np.hypot(*(_brightest(s.image) - s.keypoints[person, label, :2])) <= 1.0


def test_bottomup_flip_flip_identity():
    kp = np.stack([_person((40, 30), 40)])
    img = np.zeros((60, 64, 3), np.uint8)
    aug = BottomUpAugConfig(flip_prob=1.0, scale_range=(1, 1), rotation_deg=0, shift=0)
    s = bottomup_transform(img, kp, COCO17, 64, np.random.default_rng(0), aug)
    assert s.flipped
    back = swap_left_right(transform_points(invert_affine(s.affine), s.keypoints), COCO17)
    assert np.allclose(back[..., :2], kp[..., :2], atol=1e-3)


@pytest.mark.parametrize("bad", [np.zeros((0, 17, 3), np.float32)])
def test_bottomup_no_people(bad):
    s = bottomup_transform(np.zeros((10, 10, 3), np.uint8), bad, COCO17, 32)
    assert s.keypoints.shape == (0, 17, 3) and s.image.shape == (32, 32, 3)

"""Geometry: hand-computed boxes and matrices, round trips, and the single-pixel warp test."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.geometry import (
    box_to_center_size, clip_boxes, compose_affine, crop_affine, hflip_affine, invert_affine,
    keypoints_to_box, points_inside, transform_points, warp_image, xywh_to_xyxy, xyxy_to_xywh,
)


def test_box_conversions_hand_values():
    xywh = np.array([[10, 20, 30, 40]], np.float32)
    assert xywh_to_xyxy(xywh).tolist() == [[10, 20, 40, 60]]
    assert xyxy_to_xywh(xywh_to_xyxy(xywh)).tolist() == xywh.tolist()
    assert clip_boxes(np.array([[-5, 2, 50, 9]]), 20, 8).tolist() == [[-0.5, 2, 19.5, 7.5]]


def test_keypoints_to_box_ignores_unlabelled_and_marks_empty():
    kp = np.array([[[1, 2, 2], [5, 9, 1], [100, 100, 0]], [[0, 0, 0]] * 3], np.float32)
    box = keypoints_to_box(kp)
    assert box[0].tolist() == [1, 2, 5, 9]
    assert np.isnan(box[1]).all()


def test_box_to_center_size_aspect_and_padding():
    c, s = box_to_center_size(np.array([0, 0, 30, 80]), aspect_ratio=0.75, padding=1.25)
    assert c.tolist() == [15, 40]
    assert np.allclose(s, [60 * 1.25, 80 * 1.25])          # widened to 3:4, then padded
    c, s = box_to_center_size(np.array([10, 10, 110, 30]), aspect_ratio=0.75, padding=1.0)
    assert np.allclose(s, [100, 100 / 0.75])                # heightened
    _, s = box_to_center_size(np.array([0, 0, 4, 6]), aspect_ratio=None, padding=2.0)
    assert np.allclose(s, [8, 12])


def test_crop_affine_maps_box_edge_to_edge():
    c, size, out = np.array([50.0, 40.0]), np.array([64.0, 32.0]), (32, 16)
    A = crop_affine(c, size, out)
    corners = np.array([[50 - 32, 40 - 16], [50 + 32, 40 + 16], [50, 40]], np.float64)
    got = transform_points(A, corners)
    assert np.allclose(got, [[-0.5, -0.5], [31.5, 15.5], [15.5, 7.5]])
    # flip: x -> W - 1 - x in crop pixels
    Af = crop_affine(c, size, out, flip=True)
    assert np.allclose(transform_points(Af, corners)[:, 0], 31 - got[:, 0])
    # rotation: +90 deg turns the content counter-clockwise: a point right of centre goes up
    Ar = crop_affine(c, np.array([64.0, 64.0]), (64, 64), rotation_deg=90)
    assert np.allclose(transform_points(Ar, np.array([[60.0, 40.0]])), [[31.5, 31.5 - 10]])


def test_heatmap_matrix_is_the_crop_matrix_at_lower_resolution():
    c, size = np.array([100.3, 80.7]), np.array([96.0, 128.0])
    A_in, A_hm = crop_affine(c, size, (192, 256)), crop_affine(c, size, (48, 64))
    p = np.array([[90.0, 70.0], [130.0, 120.0]])
    # heatmap pixel h covers input pixels [4h - 0.5, 4h + 3.5] -> centre 4h + 1.5
    assert np.allclose(transform_points(A_in, p), 4 * transform_points(A_hm, p) + 1.5)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(cx=st.floats(-100, 300), cy=st.floats(-100, 300), w=st.floats(5, 400), h=st.floats(5, 400),
       rot=st.floats(-180, 180), flip=st.booleans())
def test_affine_round_trips(cx, cy, w, h, rot, flip):
    A = crop_affine(np.array([cx, cy]), np.array([w, h]), (48, 64), rot, flip)
    Ainv = invert_affine(A)
    pts = np.random.default_rng(0).uniform(-50, 300, size=(7, 2))
    assert np.allclose(transform_points(Ainv, transform_points(A, pts)), pts, atol=1e-6)
    assert np.allclose(compose_affine(A, Ainv), np.eye(2, 3), atol=1e-9)
    B = hflip_affine(48)
    assert np.allclose(transform_points(compose_affine(B, A), pts),
                       transform_points(B, transform_points(A, pts)))


def test_compose_is_a_after_b_and_batched_inverse():
    A = np.array([[2.0, 0, 1], [0, 3, -2]])
    B = np.array([[0.0, -1, 5], [1, 0, 0]])
    p = np.array([[1.0, 2.0]])
    assert np.allclose(transform_points(compose_affine(A, B), p),
                       transform_points(A, transform_points(B, p)))
    batch = np.stack([A, B])
    inv = invert_affine(batch)
    assert np.allclose(inv[0], invert_affine(A)) and np.allclose(inv[1], invert_affine(B))


def test_transform_points_passes_scores_through_and_keeps_float32():
    A = np.array([[1.0, 0, 10], [0, 1, 20]])
    kp = np.array([[[1, 2, 0.7]]], np.float32)
    out = transform_points(A, kp)
    assert out.dtype == np.float32 and out.tolist() == [[[11, 22, pytest.approx(0.7)]]]


def test_hflip_affine_is_an_involution_and_maps_extent_onto_itself():
    F = hflip_affine(10)
    assert np.allclose(compose_affine(F, F), np.eye(2, 3))
    assert np.allclose(transform_points(F, np.array([[-0.5, 3.0], [0.0, 1.0]])), [[9.5, 3], [9, 1]])


def test_points_inside():
    p = np.array([[-0.5, 0], [-0.51, 0], [9.49, 4.49], [9.5, 0], [3, 4.5]])
    assert points_inside(p, (10, 5)).tolist() == [True, False, True, False, False]


def _blob(shape_hw, xy, sigma=2.0):
    yy, xx = np.mgrid[: shape_hw[0], : shape_hw[1]]
    g = np.exp(-((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2) / (2 * sigma**2))
    return np.repeat((g * 250).astype(np.float32)[..., None], 3, axis=2)


def _centroid(img):
    m = img[..., 0].astype(np.float64)
    m = np.where(m > 0.05 * m.max(), m, 0)
    yy, xx = np.mgrid[: m.shape[0], : m.shape[1]]
    return np.array([(xx * m).sum() / m.sum(), (yy * m).sum() / m.sum()])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(px=st.integers(60, 140), py=st.integers(60, 140), rot=st.floats(-180, 180),
       flip=st.booleans(), zoom=st.floats(1.0, 3.0), dx=st.floats(-8, 8), dy=st.floats(-8, 8))
def test_single_pixel_warp_lands_on_transformed_point(px, py, rot, flip, zoom, dx, dy):
    img = np.zeros((200, 200, 3), np.uint8)
    img[py, px] = 255
    out_size = (48, 64)
    size = np.array(out_size, np.float64) / zoom          # upscaling crop around the point
    A = crop_affine(np.array([px + dx, py + dy]), size, out_size, rot, flip)
    crop = warp_image(img, A, out_size)
    expected = transform_points(A, np.array([[px, py]], np.float64))[0]
    y, x = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert crop.max() > 60
    assert np.hypot(x - expected[0], y - expected[1]) <= 1.0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(px=st.floats(92, 108), py=st.floats(92, 108), rot=st.floats(-180, 180),
       flip=st.booleans(), zoom=st.floats(0.8, 1.5))  # blob stays inside the crop
def test_blob_centroid_is_sub_pixel_exact(px, py, rot, flip, zoom):
    img = _blob((200, 200), (px, py), sigma=3.0)
    out_size = (64, 64)
    A = crop_affine(np.array([100.0, 100.0]), np.array([64.0, 64.0]) / zoom, out_size, rot, flip)
    crop = warp_image(img, A, out_size)
    expected = transform_points(A, np.array([[px, py]]))[0]
    assert np.allclose(_centroid(crop), expected, atol=0.06)

"""Heatmap codec round trips, weights, frames and flip test.

Tolerances come from theory:
* DARK on exact Gaussians: log of a Gaussian is a quadratic, so the Taylor step is exact; the
  modulation blur keeps it Gaussian away from the border -> error ~ float precision (< 1e-2 px).
* argmax + quarter offset on a sub-pixel Gaussian: |d - 0.25 sign(d)| <= 0.25 heatmap px per
  axis, i.e. 0.25 * stride crop px.
* argmax on rounded (original MSRA) targets: the rounding error, <= 0.5 heatmap px per axis.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import (
    MSRAHeatmap, UDPHeatmap, argmax_quarter, default_sigma, flip_heatmaps, to_image,
)
from posekit.geometry import compose_affine, crop_affine, invert_affine, transform_points
from posekit.skeleton import COCO17

W, H = 192, 256
STRIDE = 4


def random_keypoints(rng: np.random.Generator, n: int, margin_hm: float) -> np.ndarray:
    """(n, 3) crop keypoints at least ``margin_hm`` heatmap pixels from the heatmap border."""
    m = margin_hm * STRIDE
    kp = np.zeros((n, 3), np.float32)
    kp[:, 0] = rng.uniform(m, W - 1 - m, n)
    kp[:, 1] = rng.uniform(m, H - 1 - m, n)
    kp[:, 2] = 2
    return kp


def roundtrip(codec, kp: np.ndarray) -> np.ndarray:
    t = codec.encode(kp)
    assert t.heatmaps.shape == (len(kp), H // STRIDE, W // STRIDE) and t.heatmaps.dtype == np.float32
    assert t.weights.shape == (len(kp),) and t.weights.dtype == np.float32
    out = codec.decode(torch.from_numpy(t.heatmaps)[None])
    assert out.shape == (1, len(kp), 3)
    return out[0].numpy()


@pytest.mark.parametrize("codec", [MSRAHeatmap((W, H)), UDPHeatmap((W, H))], ids=["msra", "udp"])
def test_dark_roundtrip_exact_gaussians(codec):
    kp = random_keypoints(np.random.default_rng(0), 300, margin_hm=3 * codec.sigma)
    out = roundtrip(codec, kp)
    err = np.abs(out[:, :2] - kp[:, :2])
    assert err.max() < 1e-2, err.max()
    assert (out[:, 2] > 0.9).all()


def test_dark_without_modulation_is_exact_to_the_border():
    codec = MSRAHeatmap((W, H), blur_kernel=0)
    kp = random_keypoints(np.random.default_rng(1), 300, margin_hm=1.0)
    err = np.abs(roundtrip(codec, kp)[:, :2] - kp[:, :2])
    assert err.max() < 1e-3, err.max()


def test_argmax_quarter_within_quarter_stride():
    codec = MSRAHeatmap((W, H), decoder="argmax")
    kp = random_keypoints(np.random.default_rng(2), 400, margin_hm=1.0)
    err = np.abs(roundtrip(codec, kp)[:, :2] - kp[:, :2])
    assert err.max() <= 0.25 * STRIDE + 1e-4, err.max()
    # and it is not trivially exact: the bound is nearly reached on 400 random points
    assert err.max() > 0.2 * STRIDE


def test_rounded_msra_targets_within_half_stride():
    codec = MSRAHeatmap((W, H), unbiased=False, decoder="argmax")
    kp = random_keypoints(np.random.default_rng(3), 400, margin_hm=1.0)
    err = np.abs(roundtrip(codec, kp)[:, :2] - kp[:, :2])
    assert err.max() <= 0.5 * STRIDE + 1e-4, err.max()
    assert err.max() > 0.4 * STRIDE


def test_quarter_offset_by_hand():
    hm = torch.zeros(1, 1, 5, 5)
    hm[0, 0, 2, 2] = 1.0
    hm[0, 0, 2, 3] = 0.6   # right neighbour higher -> +0.25 in x
    hm[0, 0, 2, 1] = 0.2
    hm[0, 0, 1, 2] = 0.5   # upper neighbour higher -> -0.25 in y
    out = argmax_quarter(hm)
    assert out[0, 0].tolist() == [2.25, 1.75, 1.0]


def test_weights_and_maps_for_missing_and_outside_keypoints():
    codec = MSRAHeatmap((W, H))
    kp = np.array([[50, 60, 2], [50, 60, 1], [50, 60, 0], [-10, 60, 2], [50, H + 5, 2], [-0.4, 0, 2], [-0.6, 0, 2]], np.float32)
    t = codec.encode(kp)
    # v=1 (occluded but labelled) is trained; v=0, and centres outside the heatmap, are not.
    # The heatmap extent is the crop extent (edge to edge): x = -0.4 is inside, -0.6 outside.
    assert t.weights.tolist() == [1, 1, 0, 0, 0, 1, 0]
    assert np.all(t.heatmaps[[2, 3, 4]] == 0)
    assert t.heatmaps[0].max() > 0.9


def test_encode_frame_matches_crop_affine():
    """The Gaussian centre is where crop_affine(box, heatmap size) puts the image point."""
    center, size = np.array([300.0, 200.0]), np.array([150.0, 200.0])
    a_crop = crop_affine(center, size, (W, H))
    a_hm = crop_affine(center, size, (W // STRIDE, H // STRIDE))
    crop_to_hm = compose_affine(a_hm, invert_affine(a_crop))
    pts = np.random.default_rng(4).uniform([0, 0], [W - 1, H - 1], (20, 2))
    codec = MSRAHeatmap((W, H))
    np.testing.assert_allclose(codec.crop_to_heatmap(pts), transform_points(crop_to_hm, pts), atol=1e-9)
    # the brightest pixel of an integer-centred target is the mapped pixel
    kp = np.array([[transform_points(invert_affine(crop_to_hm), np.array([[20.0, 30.0]]))[0, 0],
                    transform_points(invert_affine(crop_to_hm), np.array([[20.0, 30.0]]))[0, 1], 2]])
    hm = codec.encode(kp).heatmaps[0]
    assert np.unravel_index(hm.argmax(), hm.shape) == (30, 20)
    assert hm[30, 20] == pytest.approx(1.0)


def test_default_sigma():
    assert default_sigma((48, 64)) == 2.0
    assert default_sigma((72, 96)) == 3.0
    assert MSRAHeatmap((192, 256)).sigma == 2.0


@pytest.mark.parametrize("codec", [MSRAHeatmap((W, H)), UDPHeatmap((W, H))], ids=["msra", "udp"])
def test_flip_of_crop_is_flip_of_heatmap(codec):
    """Encode keypoints and their mirror image (x -> W - 1 - x, left/right swapped): flipping
    the mirrored targets back gives the original targets exactly, without a shift; with the
    one-pixel MSRA shift they are off by one heatmap pixel."""
    spec = COCO17
    kp = random_keypoints(np.random.default_rng(5), spec.num_keypoints, margin_hm=3 * codec.sigma + 1)
    mirrored = kp[list(spec.flip_index)].copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    t, tf = codec.encode(kp), codec.encode(mirrored)
    back = flip_heatmaps(torch.from_numpy(tf.heatmaps)[None], spec.flip_index, shift=codec.flip_shift)
    np.testing.assert_allclose(back[0].numpy(), t.heatmaps, atol=1e-5)
    shifted = flip_heatmaps(torch.from_numpy(tf.heatmaps)[None], spec.flip_index, shift=True)
    dx = codec.decode(shifted)[0, :, 0].numpy() - kp[:, 0]
    one_hm_px = float(codec.heatmap_to_crop(np.array([1.0, 0.0]))[0] - codec.heatmap_to_crop(np.zeros(2))[0])
    np.testing.assert_allclose(dx, one_hm_px, atol=1e-2)
    # flip test average decodes to the original keypoints
    avg = 0.5 * (torch.from_numpy(t.heatmaps)[None] + back)
    assert np.abs(codec.decode(avg)[0, :, :2].numpy() - kp[:, :2]).max() < 1e-2


def test_flip_heatmaps_involution():
    x = torch.randn(2, 17, 8, 6)
    np.testing.assert_array_equal(flip_heatmaps(flip_heatmaps(x, COCO17.flip_index), COCO17.flip_index), x)


def test_to_image_inverts_crop_affine():
    rng = np.random.default_rng(6)
    affines, pts_img = [], []
    for _ in range(4):
        c = rng.uniform(100, 400, 2)
        s = rng.uniform(50, 300, 2)
        affines.append(crop_affine(c, s, (W, H), rotation_deg=rng.uniform(-40, 40), flip=bool(rng.integers(2))))
        pts_img.append(rng.uniform(0, 500, (17, 2)))
    affines, pts_img = np.stack(affines), np.stack(pts_img)
    pts_crop = np.stack([transform_points(a, p) for a, p in zip(affines, pts_img)])
    kp_crop = np.concatenate([pts_crop, np.full((4, 17, 1), 0.7)], axis=-1).astype(np.float32)
    out = to_image(torch.from_numpy(kp_crop), torch.from_numpy(affines))
    np.testing.assert_allclose(out[..., :2].numpy(), pts_img, atol=1e-3)
    assert torch.all(out[..., 2] == torch.tensor(0.7, dtype=torch.float32))


def test_decode_batched_and_list_of_stages():
    codec = MSRAHeatmap((W, H))
    rng = np.random.default_rng(7)
    kps = [random_keypoints(rng, 5, 6) for _ in range(3)]
    hm = torch.stack([torch.from_numpy(codec.encode(k).heatmaps) for k in kps])
    out = codec.decode([torch.zeros_like(hm), hm])     # final stage last
    assert out.shape == (3, 5, 3)
    np.testing.assert_allclose(out[..., :2].numpy(), np.stack(kps)[..., :2], atol=1e-2)
    with pytest.raises(ValueError, match="expects"):
        codec.decode(torch.zeros(1, 5, 10, 10))

"""Heatmap codec round trips, weights, frames and flip test.

Tolerances come from theory:
* DARK on exact Gaussians: log of a Gaussian is a quadratic, so the Taylor step is exact; the
  modulation blur keeps it Gaussian away from the border -> error ~ float precision (< 1e-2 px).
* argmax + quarter offset on a sub-pixel Gaussian: |d - 0.25 sign(d)| <= 0.25 heatmap px per
  axis, i.e. 0.25 * stride crop px.
* argmax on rounded (original MSRA) targets: the rounding error, <= 0.5 heatmap px per axis.
* DARK on noisy maps: no exact bound; the figures are those of benchmarks/codec_dark.py, with
  room for other seeds (the old decoder fails them by a factor of 3 or more).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from posekit.codecs.heatmap import (
    MSRAHeatmap, UDPHeatmap, argmax_quarter, blur_sigma, dark_decode, default_blur_kernel,
    default_sigma, flip_heatmaps, gaussian_heatmaps, to_image,
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
    assert out.shape == (1, 1, len(kp), 3)           # (B, N, K, 3), one person per crop
    return out[0, 0].numpy()


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
    dx = codec.decode(shifted)[0, 0, :, 0].numpy() - kp[:, 0]
    one_hm_px = float(codec.heatmap_to_crop(np.array([1.0, 0.0]))[0] - codec.heatmap_to_crop(np.zeros(2))[0])
    np.testing.assert_allclose(dx, one_hm_px, atol=1e-2)
    # flip test average decodes to the original keypoints
    avg = 0.5 * (torch.from_numpy(t.heatmaps)[None] + back)
    assert np.abs(codec.decode(avg)[0, 0, :, :2].numpy() - kp[:, :2]).max() < 1e-2


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
    assert out.shape == (3, 1, 5, 3)
    np.testing.assert_allclose(out[:, 0, :, :2].numpy(), np.stack(kps)[..., :2], atol=1e-2)
    torch.testing.assert_close(codec.decode({"heatmap": hm, "other": hm[:, :1]}), out)   # an imported graph's dict
    with pytest.raises(ValueError, match="expects"):
        codec.decode(torch.zeros(1, 5, 10, 10))


# ------------------------------------------------------------------------------ DARK on hard maps
HM3 = (72, 96)          # (w, h) heatmaps of a 288x384 input at stride 4, where σ = 3


def sigma3_maps(pts: np.ndarray, rng: np.random.Generator, noise: float) -> torch.Tensor:
    """(1, N, 96, 72) Gaussians of σ = 3 and peak U(0.6, 1) at ``pts``, plus white noise."""
    maps = gaussian_heatmaps(pts, np.ones(len(pts), bool), HM3, 3.0) * rng.uniform(0.6, 1.0, (len(pts), 1, 1))
    return torch.from_numpy((maps + rng.normal(0, noise, maps.shape)).astype(np.float32))[None]


def border_points(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """(n, 2) heatmap points whose x or y is lo-hi px from the border pixel centre."""
    w, h = HM3
    pts = rng.uniform([1, 1], [w - 2, h - 2], (n, 2))
    axis = rng.integers(0, 2, n)
    d = rng.uniform(lo, hi, n)
    pts[np.arange(n), axis] = np.where(rng.random(n) < 0.5, np.array([w, h])[axis] - 1 - d, d)
    return pts


def test_dark_keeps_long_refinements():
    """A noise bump moves the raw maximum of a flat σ = 3 peak 2 px away; the Taylor step from
    there is longer than 1 px. The old decoder dropped it and returned the bare bump pixel."""
    hm = sigma3_maps(np.array([[30.3, 40.2]]), np.random.default_rng(0), 0.0)
    hm[0, 0, 40, 32] = hm.max() + 0.02
    xy = MSRAHeatmap((288, 384)).decode_heatmap_coords(hm)[0, 0, :2].numpy()
    assert np.hypot(*(xy - [30.3, 40.2])) < 0.2, xy


def test_dark_on_noisy_sigma3_maps_interior_and_border():
    """The benchmark's case (white noise 2% of the peak; benchmarks/codec_dark.py: worst 0.23
    heatmap px, the old decoder 106 of 300 points over 0.5 px, worst 1.4)."""
    rng = np.random.default_rng(11)
    m = 9
    pts = np.concatenate([rng.uniform([m, m], [HM3[0] - 1 - m, HM3[1] - 1 - m], (100, 2)),
                          border_points(rng, 100, 1, 3)])
    hm = sigma3_maps(pts, rng, 0.02)
    err = np.hypot(*(MSRAHeatmap((288, 384)).decode_heatmap_coords(hm)[0, :, :2].numpy() - pts).T)
    assert (err > 0.5).sum() == 0 and err.max() < 0.35, (np.sort(err)[-5:])
    assert err[:100].mean() < 0.05 and err[100:].mean() < 0.1


@pytest.mark.parametrize("lo, hi", [(0, 1), (1, 3)])
def test_dark_exact_near_the_border(lo, hi):
    """Exact Gaussians 0-3 px from the border: the modulation never reaches past the edge, so
    DARK stays exact there (the old 17-tap zero-padded blur erred by up to 1.2 px at 1-3 px)."""
    pts = border_points(np.random.default_rng(12), 60, lo, hi)
    hm = sigma3_maps(pts, np.random.default_rng(13), 0.0)
    for k in (None, 17):     # the default (11 taps) and the targets' σ (17 taps)
        err = np.hypot(*(MSRAHeatmap((288, 384), blur_kernel=k).decode_heatmap_coords(hm)[0, :, :2].numpy() - pts).T)
        assert err.max() < 0.01, (k, err.max())


def test_dark_falls_back_where_the_taylor_step_is_invalid():
    """A peak 8 px outside the map (its maximum, even blurred, on the border pixel), a ridge
    along x (flat in x after the blur: H singular), an empty map (H = 0): argmax plus the
    quarter shift, not the bare integer maximum."""
    w, h = HM3
    maps = np.zeros((3, h, w), np.float32)
    maps[0] = gaussian_heatmaps(np.array([[-8.0, 50.3]]), np.ones(1, bool), HM3, 3.0)[0]
    maps[1] = np.exp(-(np.arange(h)[:, None] - 30.3) ** 2 / 18) * np.ones((1, w))
    hm = torch.from_numpy(maps)[None]
    expected = argmax_quarter(hm)[0, :, :2].numpy()
    assert expected.tolist() == [[0.0, 50.25], [0.0, 30.25], [0.0, 0.0]]
    np.testing.assert_array_equal(MSRAHeatmap((288, 384)).decode_heatmap_coords(hm)[0, :, :2].numpy(), expected)
    np.testing.assert_array_equal(dark_decode(hm, 11)[0].numpy(), expected)


def test_blur_kernel_choice():
    assert [default_blur_kernel(s) for s in (1.0, 1.5, 2.0, 3.0)] == [7, 9, 11, 11]
    assert blur_sigma(11) == pytest.approx(2.0) and blur_sigma(17) == pytest.approx(2.9)
    assert MSRAHeatmap((288, 384)).blur_kernel == 11 and MSRAHeatmap((192, 256), blur_kernel=0).blur_kernel == 0
    with pytest.raises(ValueError, match="blur_kernel"):
        MSRAHeatmap((192, 256), blur_kernel=10)


# ------------------------------------------------------------------------------ MMPose's frames
def mmpose_crop_affine(center: np.ndarray, size: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """MMPose's (and HRNet's) top-down warp, from its definition: the box centre goes to
    ``(W / 2, H / 2)``, a point half a box width above it to ``W / 2`` above that."""
    W, H = out_size
    src = np.float32([center, center + [0, -size[0] / 2], center + [-size[0] / 2, -size[0] / 2]])
    dst = np.float32([[W / 2, H / 2], [W / 2, H / 2 - W / 2], [0, H / 2 - W / 2]])
    return cv2.getAffineTransform(src, dst).astype(np.float64)


def test_mmpose_frames_differ_by_half_a_pixel():
    """docs/training.md, "Frames": for the same box and image point, MMPose's crop coordinate is
    posekit's + 0.5 crop px and its heatmap coordinate (``x_crop / s``) posekit's + 0.5 heatmap px."""
    center, size = np.array([310.0, 207.0]), np.array([150.0, 200.0])
    pts = np.random.default_rng(14).uniform(150, 400, (20, 2))
    crop_pk = transform_points(crop_affine(center, size, (W, H)), pts)
    crop_mm = transform_points(mmpose_crop_affine(center, size, (W, H)), pts)
    np.testing.assert_allclose(crop_mm - crop_pk, 0.5, atol=1e-4)
    np.testing.assert_allclose(crop_mm / STRIDE - MSRAHeatmap((W, H)).crop_to_heatmap(crop_pk), 0.5, atol=1e-4)


def test_mmpose_frame_option_decodes_mmpose_weights():
    """A model trained in MMPose puts the peak of a keypoint at input pixel x at x / s. Decoded
    in posekit's frame that lands (s - 1) / 2 = 1.5 px off per axis (2.1 px in all);
    ``mmpose_frame=True`` decodes it where it is, and encodes it the same way."""
    kp = random_keypoints(np.random.default_rng(15), 40, margin_hm=3 * 2.0)
    mm_maps = gaussian_heatmaps(kp[:, :2] / STRIDE, np.ones(40, bool), (W // STRIDE, H // STRIDE), 2.0)
    mm_maps = torch.from_numpy(mm_maps)[None]
    codec = MSRAHeatmap((W, H), mmpose_frame=True)
    np.testing.assert_allclose(codec.decode(mm_maps)[0, 0, :, :2].numpy(), kp[:, :2], atol=1e-2)
    np.testing.assert_allclose(codec.encode(kp).heatmaps, mm_maps[0].numpy(), atol=1e-6)
    off = MSRAHeatmap((W, H)).decode(mm_maps)[0, 0, :, :2].numpy() - kp[:, :2]
    np.testing.assert_allclose(off, (STRIDE - 1) / 2, atol=1e-2)


def test_mmpose_frame_flip_test_uses_the_shift():
    """In MMPose's frame a mirrored crop is a mirrored heatmap moved 1 - 1/s px: the one-pixel
    shift (flip_shift) leaves 0.125 heatmap px after averaging, no shift 0.375."""
    spec = COCO17
    codec = MSRAHeatmap((W, H), mmpose_frame=True)
    assert codec.flip_shift and not MSRAHeatmap((W, H)).flip_shift
    kp = random_keypoints(np.random.default_rng(16), spec.num_keypoints, margin_hm=7)
    mirrored = kp[list(spec.flip_index)].copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    t, tf = torch.from_numpy(codec.encode(kp).heatmaps)[None], torch.from_numpy(codec.encode(mirrored).heatmaps)[None]
    for shift, expected in ((codec.flip_shift, 0.125), (not codec.flip_shift, -0.375)):
        avg = 0.5 * (t + flip_heatmaps(tf, spec.flip_index, shift=shift))
        dx = codec.decode(avg)[0, 0, :, 0].numpy() - kp[:, 0]
        np.testing.assert_allclose(dx, expected * STRIDE, atol=0.05)


@pytest.mark.parametrize("codec", [MSRAHeatmap((W, H), spec=COCO17), UDPHeatmap((W, H), spec=COCO17),
                                   MSRAHeatmap((W, H), mmpose_frame=True, spec=COCO17)],
                         ids=["msra", "udp", "mmpose-frame"])
def test_flip_back_is_the_flip_test_in_every_form_of_heads(codec):
    """``flip_back`` maps the targets of the mirrored keypoints onto the targets of the keypoints
    (posekit's frames: exactly), keeps the form of its argument (a tensor, every stage of a
    list, the decoded entry of a dict), and the flip-test average decodes to the keypoints."""
    spec = COCO17
    kp = random_keypoints(np.random.default_rng(17), spec.num_keypoints, margin_hm=3 * codec.sigma + 1)
    mirrored = kp[list(spec.flip_index)].copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    t = torch.from_numpy(codec.encode(kp).heatmaps)[None]
    tf = torch.from_numpy(codec.encode(mirrored).heatmaps)[None]
    back = codec.flip_back(tf)
    torch.testing.assert_close(back, flip_heatmaps(tf, spec.flip_index, shift=codec.flip_shift))
    if not codec.mmpose_frame:
        torch.testing.assert_close(back, t, atol=1e-5, rtol=0)
    stages = codec.flip_back([tf, tf])
    assert isinstance(stages, list) and len(stages) == 2 and all(torch.equal(x, back) for x in stages)
    assert set(codec.flip_back({"heatmap": tf, "extra": tf})) == {"heatmap"}
    avg = codec.decode(0.5 * (t + back))[0, 0]
    tolerance = 1e-2 if not codec.mmpose_frame else 0.125 * STRIDE + 0.05   # MMPose's shift leaves 1/8 hm px
    assert np.abs(avg[:, :2].numpy() - kp[:, :2]).max() < tolerance


def test_no_flip_test_without_a_spec():
    codec = MSRAHeatmap((W, H))
    assert not codec.supports_flip and MSRAHeatmap((W, H), spec=COCO17).supports_flip
    from posekit.errors import PosekitError
    with pytest.raises(PosekitError, match="without a keypoint spec"):
        codec.flip_back(torch.zeros(1, 17, H // STRIDE, W // STRIDE))

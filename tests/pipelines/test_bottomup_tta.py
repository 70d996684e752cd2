"""Bottom-up test-time augmentation: heads of another input scale resampled onto the base
grid land where the base heads are (the composed affines are exact), and the predictor refuses
what a codec cannot average."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.pipelines.bottomup import resample_heads
from posekit.pipelines.preprocess import letterbox_affine
from posekit.geometry import transform_points


def _gaussians(points_grid: np.ndarray, hw: tuple[int, int], sigma: float = 3.0) -> torch.Tensor:
    """(1, P, h, w) one Gaussian per point (grid pixels)."""
    h, w = hw
    ys, xs = np.mgrid[0:h, 0:w]
    maps = [np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)) for x, y in points_grid]
    return torch.tensor(np.stack(maps)[None], dtype=torch.float32)


def _peak(m: np.ndarray) -> np.ndarray:
    """Sub-pixel peak (intensity-weighted centroid of the 13x13 around the max), (x, y)."""
    y, x = np.unravel_index(np.argmax(m), m.shape)
    ys, xs = np.mgrid[y - 6:y + 7, x - 6:x + 7]
    wgt = m[y - 6:y + 7, x - 6:x + 7]
    return np.array([(xs * wgt).sum() / wgt.sum(), (ys * wgt).sum() / wgt.sum()])


@pytest.mark.parametrize("size_s", [(512, 384), (288, 224), (736, 544)])
def test_resampled_peaks_land_on_the_base_grid(size_s):
    W, H = 640, 480                                   # the image
    size0 = (384, 288)                                # base input, stride 4 -> 96 x 72 grid
    A0, As = letterbox_affine(W, H, size0), letterbox_affine(W, H, size_s)
    pts_image = np.array([[100.0, 120.0], [320.5, 240.0], [500.25, 90.0]])
    g0 = (size0[0] // 4, size0[1] // 4)
    gs = (size_s[0] // 4, size_s[1] // 4)

    def on_grid(A, size, g):
        # the codecs' frame (codecs/paf.py): x_grid = (x_in + 0.5) / stride - 0.5
        return (transform_points(A, pts_image) + 0.5) / 4 - 0.5

    base = {"heatmaps": _gaussians(on_grid(A0, size0, g0), (g0[1], g0[0]))}
    # a Gaussian of the other scale has a width in *its* grid pixels: scale sigma so that both
    # describe the same image-space blob
    s = gs[0] / g0[0]
    heads = {"heatmaps": _gaussians(on_grid(As, size_s, gs), (gs[1], gs[0]), sigma=3.0 * s),
             "stages": ["ignored"]}
    out = resample_heads(heads, base, A0, size0, As, size_s)
    assert set(out) == {"heatmaps"} and out["heatmaps"].shape == base["heatmaps"].shape
    for k in range(len(pts_image)):
        got = _peak(out["heatmaps"][0, k].numpy())
        want = _peak(base["heatmaps"][0, k].numpy())
        assert np.abs(got - want).max() < 0.05, (k, got, want)


def test_same_scale_is_the_identity():
    size = (256, 192)
    A = letterbox_affine(400, 300, size)
    m = torch.rand(2, 5, 48, 64)
    out = resample_heads({"heatmaps": m}, {"heatmaps": m}, A, size, A, size)
    assert torch.allclose(out["heatmaps"], m, atol=1e-5)


def test_a_codec_without_multiscale_is_refused():
    from types import SimpleNamespace

    from posekit.errors import PosekitError
    from posekit.pipelines.bottomup import BottomUpPredictor

    codec = SimpleNamespace(input_size_for=lambda w, h, s: (s, s), supports_flip=False)
    est = SimpleNamespace(kind="bottom-up", input_size=(256, 256), codec=codec, spec=None, name="fake",
                          require_flip=lambda: (_ for _ in ()).throw(PosekitError("fake: no flip test")))
    BottomUpPredictor(est)                                  # one scale: fine
    with pytest.raises(PosekitError, match="multi-scale"):
        BottomUpPredictor(est, scales=(1.0, 0.5))
    with pytest.raises(PosekitError, match="flip"):
        BottomUpPredictor(est, flip_test=True)
    with pytest.raises(PosekitError, match="positive"):
        BottomUpPredictor(est, scales=(1.0, -1))


def test_part_affinity_fields_average_across_scales():
    """Perfect PAF heads of a 1.5x input, resampled onto the base grid and averaged with the base
    heads, decode to the same people as the base heads alone (fields hold unit directions, which a
    uniform rescale keeps): the multi-scale test of the PAF codec loses nobody."""
    from posekit.codecs.paf import PAFCodec
    from posekit.data.synthetic import render_scene
    from posekit.geometry import invert_affine
    from posekit.skeleton import COCO17

    W, H = 320, 240
    rng = np.random.default_rng(3)
    _, rec = render_scene(rng, size=(W, H), num_people=(3, 3))
    kp = rec.keypoints.astype(np.float64)
    size0, size1 = (256, 192), (384, 288)
    A0, A1 = letterbox_affine(W, H, size0), letterbox_affine(W, H, size1)
    c0, c1 = PAFCodec(COCO17, size0, stride=4), PAFCodec(COCO17, size1, stride=4)

    def heads(codec, A):
        k = kp.copy()
        k[..., :2] = transform_points(A, kp[..., :2].reshape(-1, 2)).reshape(k.shape[0], -1, 2)
        t = codec.encode(k)
        return {"heatmaps": torch.from_numpy(t.heatmaps)[None], "pafs": torch.from_numpy(t.pafs)[None]}

    base, big = heads(c0, A0), heads(c1, A1)
    moved = resample_heads(big, base, A0, size0, A1, size1)
    avg = {k: (base[k] + moved[k]) / 2 for k in base}
    want = c0.decode_instances(base)
    got = c0.decode_instances(avg)
    n_want = int((want.scores[0] > 0).sum())
    assert n_want == kp.shape[0]
    assert int((got.scores[0] > 0).sum()) == n_want
    back = lambda inst: transform_points(invert_affine(A0), inst.keypoints[0, :n_want, :, :2].reshape(-1, 2).numpy())
    order_w = np.argsort(want.keypoints[0, :n_want, 0, 0].numpy())
    order_g = np.argsort(got.keypoints[0, :n_want, 0, 0].numpy())
    bw = back(want).reshape(n_want, -1, 2)[order_w]
    bg = back(got).reshape(n_want, -1, 2)[order_g]
    vis = want.keypoints[0, :n_want, :, 2].numpy()[order_w] > 0
    assert np.abs(bw - bg)[vis].max() < 2.0                 # image pixels; a grid cell is 1.25 px

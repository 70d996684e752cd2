"""The fast paths of the grouping give the numbers of the plain ones: numpy max filter vs
torch max-pool, batched limb scoring with its exact prefilter vs per-limb scoring, top-k by
sorting only the positive peaks vs a full stable sort; plateaus give one peak."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from posekit.codecs import PAFCodec
from posekit.grouping.paf import find_peaks, score_limb, score_limbs
from posekit.grouping.peaks import heatmap_peaks, max_filter, subpixel_offsets
from posekit.grouping.tags import top_candidates
from posekit.skeleton import COCO17


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_max_filter_is_max_pool(kernel):
    rng = np.random.default_rng(kernel)
    maps = rng.normal(size=(3, 17, 23)).astype(np.float32)
    ref = F.max_pool2d(torch.from_numpy(maps)[None], kernel, stride=1, padding=kernel // 2)[0].numpy()
    np.testing.assert_array_equal(max_filter(maps, kernel), ref)


def test_plateau_gives_one_peak_and_subpixel_finds_its_centre():
    xs = np.arange(20, dtype=np.float64)
    g = np.exp(-((xs[None, :] - 7.5) ** 2 + (xs[:, None] - 4.0) ** 2) / 8).astype(np.float32)[None]
    assert g[0, 4, 7] == g[0, 4, 8]                         # two equal maxima
    peaks = heatmap_peaks(g, kernel=5)
    assert (peaks > 0).sum() == 1 and peaks[0, 4, 7] > 0   # the first in raster order
    np.testing.assert_allclose(subpixel_offsets(g, [0], [4], [7]), [[0.5, 0.0]], atol=1e-5)
    # a peak at (7.5, 4.5): a 2x2 plateau, one peak, exact position
    g2 = np.exp(-((xs[None, :] - 7.5) ** 2 + (xs[:, None] - 4.5) ** 2) / 8).astype(np.float32)[None]
    ks, ys, xs_ = np.nonzero(heatmap_peaks(g2, kernel=3))
    assert len(ks) == 1 and (ys[0], xs_[0]) == (4, 7)
    np.testing.assert_allclose(find_peaks(g2)[0][0, :2], [7.5, 4.5], atol=1e-4)
    # equal values further apart than the window are two peaks
    two = np.zeros((1, 5, 12), np.float32)
    two[0, 2, 2] = two[0, 2, 8] = 1.0
    assert (heatmap_peaks(two, kernel=5) > 0).sum() == 2


def test_score_limbs_equals_score_limb_on_noisy_fields():
    """Random candidates on perfect fields plus noise, with and without the prefilter's
    condition (a negative threshold turns it off): same scores, same -inf pattern."""
    rng = np.random.default_rng(0)
    codec = PAFCodec(COCO17, (256, 256), stride=4)
    kp = np.zeros((6, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(10, 245, (6, 17, 2))
    kp[..., 2] = 2
    t = codec.encode(kp)
    pafs = t.pafs + rng.normal(0, 0.05, t.pafs.shape).astype(np.float32)
    peaks = [np.concatenate([codec.input_to_heatmap(kp[:, k, :2]), rng.uniform(0, 63, (5, 2))])
             for k in range(17)]
    peaks[3] = np.zeros((0, 2))                              # a joint without candidates
    for thr, frac in ((0.05, 0.8), (0.2, 0.5), (-0.1, 0.8), (0.05, 0.0)):
        fast = score_limbs(pafs, peaks, codec.limbs, 64.0, paf_threshold=thr, min_fraction=frac)
        for l, (a, b) in enumerate(codec.limbs):
            ref = score_limb(pafs[2 * l:2 * l + 2], peaks[a], peaks[b], 64.0, paf_threshold=thr, min_fraction=frac)
            assert fast[l].shape == ref.shape
            np.testing.assert_array_equal(np.isfinite(fast[l]), np.isfinite(ref))
            np.testing.assert_allclose(fast[l][np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-12)
        assert sum(np.isfinite(s).sum() for s in fast) >= 6 * 10   # the true limbs at least


def test_top_candidates_equals_full_stable_sort():
    rng = np.random.default_rng(1)
    heat = rng.uniform(0, 1, (4, 16, 16)).astype(np.float32)
    heat[1] = 0.0
    heat[1, 3, 3] = heat[1, 9, 9] = 0.5                       # fewer positive peaks than M
    heat[2] -= 0.5                                            # negative values too
    tags = rng.normal(size=heat.shape).astype(np.float32)
    for m in (3, 10, 40):
        cand, ctag = top_candidates(heat, tags, max_people=m, kernel=3)
        nms = heatmap_peaks(heat, 3).reshape(4, -1)
        idx = np.argsort(-nms, axis=1, kind="stable")[:, :m]
        np.testing.assert_array_equal(cand[..., 0], idx % 16)
        np.testing.assert_array_equal(cand[..., 1], idx // 16)
        np.testing.assert_array_equal(cand[..., 2], np.take_along_axis(nms, idx, axis=1))
        np.testing.assert_array_equal(ctag, np.take_along_axis(tags.reshape(4, -1), idx, axis=1))


def test_peaks_above_threshold_equal_whole_map_nms():
    """find_peaks' sparse path (only pixels above the threshold) gives exactly the peaks of the
    whole-map 3x3 NMS, plateaus included (random maps, quantised maps full of ties, Gaussians
    centred between pixels)."""
    from posekit.grouping.paf import _peaks_above
    from posekit.grouping.peaks import heatmap_peaks

    rng = np.random.default_rng(0)
    for trial in range(150):
        K, h, w = (int(x) for x in rng.integers(1, 20, 3))
        if trial % 3 == 0:
            hm = rng.random((K, h, w)).astype(np.float32)
        elif trial % 3 == 1:
            hm = (rng.integers(0, 4, (K, h, w)) / 4).astype(np.float32)
        else:
            ys, xs = np.mgrid[0:h, 0:w]
            hm = np.zeros((K, h, w), np.float32)
            for k in range(K):
                for _ in range(3):
                    cx, cy = np.floor(rng.random() * w) + 0.5, rng.random() * h
                    hm[k] = np.maximum(hm[k], np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 2.25))
        for t in (0.0, 0.1, 0.5):
            want = np.nonzero(heatmap_peaks(hm, 3) > t)
            got = _peaks_above(hm, t)
            assert all(np.array_equal(a, b) for a, b in zip(want, got)), (trial, t)

"""MoveNet codecs (single-pose and MultiPose) on synthetic heads with hand-computed answers, in
input pixels (pixel-centre convention)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs import Instances, MoveNetSingleCodec, MultiPoseCodec
from posekit.errors import PosekitError
from posekit.skeleton import COCO17

K = 17
BIG = 12.0  # logit of a sure peak


def _single_heads(B=2, h=12, w=16):
    return {"heatmap": torch.full((B, K, h, w), -10.0), "center": torch.full((B, 1, h, w), -10.0),
            "regress": torch.zeros(B, 2 * K, h, w), "offset": torch.zeros(B, 2 * K, h, w)}


def test_single_picks_centre_regression_and_offset_in_input_pixels():
    heads = _single_heads()
    heat, center, regress, offset = (heads[n] for n in ("heatmap", "center", "regress", "offset"))
    # image 0: person centre at cell (y=5, x=7); keypoint 0 regressed to cell (2, 3)
    center[0, 0, 5, 7] = 5.0
    regress[0, 0, 5, 7], regress[0, 1, 5, 7] = -3.0, -4.0
    # two equally strong heatmap peaks for keypoint 0: the one near the regressed point wins
    heat[0, 0, 2, 3] = 3.0
    heat[0, 0, 10, 14] = 3.0
    offset[0, 0, 2, 3], offset[0, 1, 2, 3] = 0.25, -0.5
    # image 1: a brighter centre far from the middle loses to a dimmer one in the middle
    center[1, 0, 0, 0] = 4.0
    center[1, 0, 6, 8] = 3.0
    heat[1, 1, 6, 9] = 0.0
    codec = MoveNetSingleCodec(input_size=(64, 48))    # grid 16 x 12 at stride 4
    out = codec.decode(heads)
    assert out.shape == (2, 1, K, 3) and out.dtype == torch.float32
    # (cell + offset) / grid * input - 0.5: x = (3 - 0.5) / 16 * 64 - 0.5, y = (2 + 0.25) / 12 * 48 - 0.5
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([9.5, 8.5, float(torch.sigmoid(torch.tensor(3.0)))]))
    # image 1: regressed from (6, 8) with zero vectors, nearest strong peak at (6, 9)
    torch.testing.assert_close(out[1, 0, 1], torch.tensor([9 * 4 - 0.5, 6 * 4 - 0.5, 0.5]))
    assert codec.spec is COCO17 and codec.supports_flip is False


def test_single_checks_the_heads():
    codec = MoveNetSingleCodec(input_size=(256, 256))
    with pytest.raises(PosekitError, match="12 grid belong to a 64x48 input"):
        codec.decode(_single_heads())
    heads = _single_heads(h=64, w=64)
    del heads["center"]
    with pytest.raises(PosekitError, match=r"\['center'\] missing"):
        codec.decode(heads)
    with pytest.raises(PosekitError, match="dict of heads"):
        codec.decode(torch.zeros(1, K, 64, 64))


def _cone_centres(h, w, people):
    """Centre logits with exactly one local maximum per person: ``score`` logit at the person's
    cell, falling off by 0.2 a cell towards the nearest person (steep enough that no other cell is
    a peak within the graph's 1e-6 tolerance on probabilities)."""
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    logit = torch.full((h, w), -float("inf"))
    for score, cy, cx, *_ in people:
        peak = float(np.log(score / (1 - score)))
        logit = torch.maximum(logit, peak - 0.2 * torch.sqrt((gy - cy) ** 2 + (gx - cx) ** 2))
    return logit[None, None]


def _multipose_heads(h, w, people):
    """Heads for people given as (score, cy, cx, kps (K, 2) as (y, x) in cells, box (bh, bw))."""
    heads = {"center": _cone_centres(h, w, people), "heatmap": torch.full((1, K, h, w), -BIG),
             "regress": torch.zeros(1, 2 * K, h, w), "offset": torch.zeros(1, 2 * K, h, w),
             "box_scale": torch.zeros(1, 2, h, w), "box_offset": torch.zeros(1, 2, h, w)}
    for score, cy, cx, kps, (bh, bw) in people:
        heads["box_scale"][0, :, cy, cx] = torch.tensor([bh, bw])
        for k, (y, x) in enumerate(kps):
            iy, ix = int(np.floor(y)), int(np.floor(x))
            heads["heatmap"][0, k, iy, ix] = BIG
            heads["offset"][0, 2 * k, iy, ix] = y - iy
            heads["offset"][0, 2 * k + 1, iy, ix] = x - ix
            heads["regress"][0, 2 * k, cy, cx] = y - cy + 0.3      # regression slightly off: the heatmap wins
            heads["regress"][0, 2 * k + 1, cy, cx] = x - cx - 0.2
    return heads


def test_multipose_decodes_two_known_people_in_input_pixels_and_pads():
    rng = np.random.default_rng(0)
    h = w = 32
    a = np.stack([rng.uniform(2, 14, K), rng.uniform(2, 14, K)], 1)     # (y, x) cells
    b = np.stack([rng.uniform(18, 30, K), rng.uniform(18, 30, K)], 1)
    heads = _multipose_heads(h, w, [(0.9, 8, 8, a, (16, 16)), (0.7, 24, 24, b, (16, 16))])
    out = MultiPoseCodec(max_people=4).decode_instances(heads)           # input 128 x 128
    assert isinstance(out, Instances)
    kp, scores, boxes = out
    assert kp.shape == (1, 4, K, 3) and scores.shape == (1, 4) and boxes.shape == (1, 4, 4)
    # cells (edge frame) -> input pixel centres: 4 * cell - 0.5, returned as (x, y)
    np.testing.assert_allclose(kp[0, 0, :, :2].numpy(), 4 * a[:, ::-1] - 0.5, atol=1e-4)
    np.testing.assert_allclose(kp[0, 1, :, :2].numpy(), 4 * b[:, ::-1] - 0.5, atol=1e-4)
    # score: heatmap probability weighted by exp(-d^2 / (0.3 min(h, w))), d from the winning
    # cell to the regressed point (the true point + (0.3, -0.2))
    d2 = (np.floor(a[:, 0]) - a[:, 0] - 0.3) ** 2 + (np.floor(a[:, 1]) - a[:, 1] + 0.2) ** 2
    np.testing.assert_allclose(kp[0, 0, :, 2].numpy(), np.exp(-d2 / (0.3 * 32)), rtol=1e-4)
    # instance score = centre probability x mean keypoint score (all above 0.127 here)
    np.testing.assert_allclose(scores[0, :2].numpy(), [0.9 * kp[0, 0, :, 2].mean(), 0.7 * kp[0, 1, :, 2].mean()],
                               rtol=1e-4)
    np.testing.assert_allclose(boxes[0, :2].numpy(), [[-0.5, -0.5, 63.5, 63.5], [63.5, 63.5, 127.5, 127.5]])
    # two centre peaks only: rows 2 and 3 are padding, all zero
    assert not kp[0, 2:].any() and not scores[0, 2:].any() and not boxes[0, 2:].any()
    # the input size is an argument where it is not 4x the grid; decode = the keypoints
    kp2 = MultiPoseCodec(max_people=4).decode(heads, input_size=(64, 96))
    np.testing.assert_allclose(kp2[0, 0, :, :2].numpy(), a[:, ::-1] * [2, 3] - 0.5, atol=1e-4)


def test_multipose_pads_a_grid_smaller_than_max_people():
    heads = _multipose_heads(2, 2, [(0.9, 0, 0, np.full((K, 2), 0.5), (2, 2))])
    kp, scores, boxes = MultiPoseCodec(max_people=6).decode_instances(heads)
    assert kp.shape == (1, 6, K, 3) and scores.shape == (1, 6)
    assert scores[0, 0] > 0 and not scores[0, 1:].any() and not kp[0, 1:].any()


def test_multipose_box_mask_keeps_people_apart():
    # person B's keypoint peak lies outside person A's box, so A must not take it
    h = w = 32
    a = np.full((K, 2), 6.5)
    b = np.full((K, 2), 25.5)
    heads = _multipose_heads(h, w, [(0.9, 6, 6, a, (8, 8)), (0.8, 25, 25, b, (8, 8))])
    heads["heatmap"][0, 0, 6, 6] = -BIG      # A's nose is missing: its best in-box cell is weak
    kp = MultiPoseCodec(max_people=2).decode(heads)
    assert kp[0, 0, 0, 2] < 0.01     # not B's nose
    np.testing.assert_allclose(kp[0, 1, 0, :2].numpy(), [25.5 * 4 - 0.5] * 2, atol=1e-4)


def test_multipose_input_size_for_an_image():
    """Long side at the asked size, short side scaled alike, both up to a multiple of 32."""
    codec = MultiPoseCodec()
    assert codec.input_size_for(640, 427, 256) == (256, 192)       # 427 * 0.4 = 170.8 -> 192
    assert codec.input_size_for(427, 640, 320) == (224, 320)
    with pytest.raises(PosekitError, match="multiple of 32"):
        codec.input_size_for(640, 480, 300)

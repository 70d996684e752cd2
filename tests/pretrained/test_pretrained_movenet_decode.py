"""MoveNet single-pose decoding on synthetic heads with hand-computed answers."""

from __future__ import annotations

import torch

from posekit.pretrained.movenet_decode import decode_movenet_single, movenet_normalised_to_pixels


def _heads(B=2, K=3, h=12, w=16):
    heat = torch.full((B, K, h, w), -10.0)
    center = torch.full((B, 1, h, w), -10.0)
    regress = torch.zeros(B, 2 * K, h, w)
    offset = torch.zeros(B, 2 * K, h, w)
    return heat, center, regress, offset


def test_decode_picks_centre_regression_and_offsets():
    heat, center, regress, offset = _heads()
    # image 0: person centre at cell (y=5, x=7); keypoint 0 regressed to (2, 3)
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
    out = decode_movenet_single(heat, center, regress, offset)
    assert out.shape == (2, 3, 3)
    x, y, s = out[0, 0].tolist()
    assert abs(x - (3 - 0.5) / 16) < 1e-6 and abs(y - (2 + 0.25) / 12) < 1e-6
    assert abs(s - torch.sigmoid(torch.tensor(3.0)).item()) < 1e-6
    x, y, s = out[1, 1].tolist()  # regressed from (6, 8), nearest strong peak at (6, 9)
    assert abs(x - 9 / 16) < 1e-6 and abs(y - 6 / 12) < 1e-6 and abs(s - 0.5) < 1e-6


def test_normalised_to_pixels_is_edge_to_centre():
    k = torch.tensor([[[0.0, 1.0, 0.75]]])
    p = movenet_normalised_to_pixels(k, (100, 200))
    assert p.tolist() == [[[-0.5, 99.5, 0.75]]]

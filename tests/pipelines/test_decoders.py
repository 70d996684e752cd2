"""Decoders on synthetic head tensors built from known answers."""

from __future__ import annotations

import numpy as np
import torch

from posekit.pipelines.multipose import decode_multipose
from posekit.pipelines.nanodet import decode_nanodet
from posekit.pipelines.posenet import POSENET_EDGES, decode_posenet
from posekit.pipelines.single import heatmap_argmax_refined

K = 17
BIG = 12.0  # logit of a sure peak


def _multipose_heads(h, w, people):
    """Heads for people given as (cy, cx, kps (K, 2) as (y, x) in cells, box (bh, bw))."""
    center = torch.full((1, 1, h, w), -BIG)
    heat = torch.full((1, K, h, w), -BIG)
    reg = torch.zeros(1, 2 * K, h, w)
    off = torch.zeros(1, 2 * K, h, w)
    bsc = torch.zeros(1, 2, h, w)
    boff = torch.zeros(1, 2, h, w)
    for score, cy, cx, kps, (bh, bw) in people:
        center[0, 0, cy, cx] = float(np.log(score / (1 - score)))
        bsc[0, :, cy, cx] = torch.tensor([bh, bw])
        for k, (y, x) in enumerate(kps):
            iy, ix = int(np.floor(y)), int(np.floor(x))
            heat[0, k, iy, ix] = BIG
            off[0, 2 * k, iy, ix] = y - iy
            off[0, 2 * k + 1, iy, ix] = x - ix
            reg[0, 2 * k, cy, cx] = y - cy + 0.3      # regression slightly off: the heatmap wins
            reg[0, 2 * k + 1, cy, cx] = x - cx - 0.2
    return center, heat, reg, off, bsc, boff


def test_multipose_decodes_two_known_people():
    rng = np.random.default_rng(0)
    h = w = 32
    a = np.stack([rng.uniform(2, 14, K), rng.uniform(2, 14, K)], 1)     # (y, x) cells
    b = np.stack([rng.uniform(18, 30, K), rng.uniform(18, 30, K)], 1)
    heads = _multipose_heads(h, w, [(0.9, 8, 8, a, (16, 16)), (0.7, 24, 24, b, (16, 16))])
    kp, scores, boxes = decode_multipose(*heads, max_people=2)
    assert kp.shape == (1, 2, K, 3)
    np.testing.assert_allclose(kp[0, 0, :, :2].numpy(), a[:, ::-1], atol=1e-5)   # returned as (x, y)
    np.testing.assert_allclose(kp[0, 1, :, :2].numpy(), b[:, ::-1], atol=1e-5)
    # score: heatmap probability weighted by exp(-d^2 / (0.3 min(h, w))), d from the winning
    # cell to the regressed point (the true point + (0.3, -0.2))
    d2 = (np.floor(a[:, 0]) - a[:, 0] - 0.3) ** 2 + (np.floor(a[:, 1]) - a[:, 1] + 0.2) ** 2
    np.testing.assert_allclose(kp[0, 0, :, 2].numpy(), np.exp(-d2 / (0.3 * 32)), rtol=1e-4)
    # instance score = centre score x mean keypoint score (all above 0.127 here)
    np.testing.assert_allclose(scores[0].numpy(), [0.9 * kp[0, 0, :, 2].mean(), 0.7 * kp[0, 1, :, 2].mean()],
                               rtol=1e-4)
    np.testing.assert_allclose(boxes[0, 0].numpy(), [0, 0, 16, 16])
    np.testing.assert_allclose(boxes[0, 1].numpy(), [16, 16, 32, 32])


def test_multipose_box_mask_keeps_people_apart():
    # person B's keypoint peak lies outside person A's box, so A must not take it
    h = w = 32
    a = np.full((K, 2), 6.5)
    b = np.full((K, 2), 25.5)
    heads = list(_multipose_heads(h, w, [(0.9, 6, 6, a, (8, 8)), (0.8, 25, 25, b, (8, 8))]))
    heads[1][0, 0, 6, 6] = -BIG      # A's nose is missing: its best in-box cell is weak
    kp, _, _ = decode_multipose(*heads, max_people=2)
    assert kp[0, 0, 0, 2] < 0.01     # not B's nose
    np.testing.assert_allclose(kp[0, 1, 0, :2].numpy(), [25.5, 25.5], atol=1e-5)


def _posenet_heads(pose_xy, h, w, stride=16):
    """PoseNet heads for one person at pose_xy (K, 2) in input pixels, exactly consistent."""
    heat = np.full((K, h, w), -BIG)
    off = np.zeros((2 * K, h, w))
    fwd = np.zeros((32, h, w))
    bwd = np.zeros((32, h, w))
    cells = []
    for k, (x, y) in enumerate(pose_xy):
        i, j = int(round(y / stride)), int(round(x / stride))
        cells.append((i, j))
        heat[k, i, j] = BIG if k == 0 else 3.0       # the nose is the strongest root
        off[k, i, j] = y - i * stride
        off[K + k, i, j] = x - j * stride
    for e, (p, c) in enumerate(POSENET_EDGES):
        (pi, pj), (ci, cj) = cells[p], cells[c]
        d = pose_xy[c] - pose_xy[p]
        fwd[e, pi, pj], fwd[16 + e, pi, pj] = d[1], d[0]
        bwd[e, ci, cj], bwd[16 + e, ci, cj] = -d[1], -d[0]
    return heat, off, fwd, bwd


def test_posenet_head_built_from_a_pose_decodes_back_to_it():
    rng = np.random.default_rng(1)
    pose = rng.uniform(20, 360, (K, 2))
    # keep keypoints in distinct cells so the constructed fields are unambiguous
    pose = np.array([[16 * (k % 6) * 3.5 + 20 + rng.uniform(-3, 3), 16 * (k // 6) * 7 + 30 + rng.uniform(-3, 3)]
                     for k in range(K)])
    heads = _posenet_heads(pose, 25, 25)
    kp, scores = decode_posenet(*heads, root_threshold=0.5)
    assert kp.shape[0] == 1
    np.testing.assert_allclose(kp[0, :, :2], pose, atol=1e-4)
    assert scores[0] > 0.9


def test_posenet_skips_root_within_nms_radius():
    pose = np.array([[40.0 + 20 * k, 100.0] for k in range(K)])
    heat, off, fwd, bwd = _posenet_heads(pose, 25, 25)
    heat[0, 6, 3] = BIG - 1      # a second nose peak 16 px from the first (radius 20): skipped
    off[0, 6, 3] = 0.0
    kp, _ = decode_posenet(heat, off, fwd, bwd, root_threshold=0.5, nms_radius=20.0)
    assert kp.shape[0] == 1


def test_nanodet_decodes_box_from_distributions():
    # one level, stride 8, 4 x 4 grid (input 32 x 32); person at cell (y=1, x=2)
    s, n = 8, 4
    cls = torch.zeros(1, 80, n, n)
    cls[0, 0, 1, 2] = 0.9
    cls[0, 5, 3, 3] = 0.95          # another class: ignored
    reg = torch.full((1, 44, n, n), -20.0)
    for side, b in enumerate((1, 2, 3, 1)):     # distances l=1, t=2, r=3, b=1 strides
        reg[0, 11 * side + b, 1, 2] = 20.0
    out = decode_nanodet([cls], [reg], (s,), (32, 32), score_threshold=0.3)
    boxes, scores = out[0]
    cx, cy = 2.5 * s, 1.5 * s
    np.testing.assert_allclose(boxes.numpy(), [[cx - 8 - 0.5, cy - 16 - 0.5, cx + 24 - 0.5, cy + 8 - 0.5]], atol=1e-3)
    np.testing.assert_allclose(scores.numpy(), [0.9])
    # the flattened (B, h*w, C) layout gives the same
    flat = decode_nanodet([cls.flatten(2).transpose(1, 2)], [reg.flatten(2).transpose(1, 2)], (s,), (32, 32))
    np.testing.assert_allclose(flat[0][0].numpy(), boxes.numpy())


def test_heatmap_argmax_quarter_offset():
    hm = torch.zeros(1, 2, 8, 8)
    hm[0, 0, 3, 5] = 1.0
    hm[0, 0, 3, 6] = 0.5            # right neighbour higher -> +0.25 in x
    hm[0, 0, 2, 5] = 0.2            # upper neighbour higher -> -0.25 in y
    hm[0, 1, 0, 0] = 1.0
    kp = heatmap_argmax_refined(hm)[0].numpy()
    np.testing.assert_allclose(kp[0], [5.25, 2.75, 1.0])
    np.testing.assert_allclose(kp[1], [0.0, 0.0, 1.0])

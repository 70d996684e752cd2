"""PoseNet codec on synthetic heads built from known poses: torch in, torch out, batched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs import POSENET_EDGES, PoseNetCodec
from posekit.errors import PosekitError
from posekit.skeleton import COCO17

K = 17
E = len(POSENET_EDGES)
BIG = 12.0  # logit of a sure peak
STRIDE = 16


def _heads(poses_xy, h=25, w=25):
    """Batched PoseNet heads, one person per image at ``poses_xy[b]`` (K, 2) input pixels,
    exactly consistent: the heatmap peaks at the keypoints' cells, offsets and displacements
    point exactly at the keypoints."""
    B = len(poses_xy)
    heads = {"heatmap": torch.full((B, K, h, w), -BIG), "offset": torch.zeros(B, 2 * K, h, w),
             "displacement_fwd": torch.zeros(B, 2 * E, h, w), "displacement_bwd": torch.zeros(B, 2 * E, h, w)}
    for b, pose in enumerate(poses_xy):
        cells = [(int(round(y / STRIDE)), int(round(x / STRIDE))) for x, y in pose]
        for k, ((x, y), (i, j)) in enumerate(zip(pose, cells)):
            heads["heatmap"][b, k, i, j] = BIG if k == 0 else 3.0       # the nose is the strongest root
            heads["offset"][b, k, i, j] = y - i * STRIDE
            heads["offset"][b, K + k, i, j] = x - j * STRIDE
        for e, (p, c) in enumerate(POSENET_EDGES):
            (pi, pj), (ci, cj) = cells[p], cells[c]
            dx, dy = pose[c] - pose[p]
            heads["displacement_fwd"][b, e, pi, pj], heads["displacement_fwd"][b, E + e, pi, pj] = dy, dx
            heads["displacement_bwd"][b, e, ci, cj], heads["displacement_bwd"][b, E + e, ci, cj] = -dy, -dx
    return heads


def _spread_pose(rng, x0, y0):
    """A pose whose keypoints sit in distinct cells, so that the fields are unambiguous."""
    return np.array([[x0 + 56 * (k % 6) + rng.uniform(-3, 3), y0 + 112 * (k // 6) + rng.uniform(-3, 3)]
                     for k in range(K)])


def test_batched_heads_built_from_poses_decode_back_to_them():
    rng = np.random.default_rng(1)
    poses = [_spread_pose(rng, 20, 30), _spread_pose(rng, 50, 60)]
    codec = PoseNetCodec(max_people=3, root_threshold=0.5)
    kp, scores, boxes = codec.decode_instances(_heads(poses))
    assert kp.shape == (2, 3, K, 3) and kp.dtype == torch.float32
    assert scores.shape == (2, 3) and boxes.shape == (2, 3, 4)
    for b, pose in enumerate(poses):
        np.testing.assert_allclose(kp[b, 0, :, :2].numpy(), pose, atol=1e-4)   # input pixels, no shift
        assert scores[b, 0] > 0.9
        np.testing.assert_allclose(boxes[b, 0].numpy(), [*pose.min(0), *pose.max(0)], atol=1e-4)
        # one person: rows 1 and 2 are padding, all zero
        assert not kp[b, 1:].any() and not scores[b, 1:].any() and not boxes[b, 1:].any()
    torch.testing.assert_close(codec.decode(_heads(poses)), kp)
    assert codec.spec is COCO17 and codec.supports_flip is False


def test_root_within_nms_radius_is_skipped_and_a_far_one_is_not():
    pose = np.array([[40.0 + 20 * k, 100.0] for k in range(K)])
    heads = _heads([pose])
    # a second nose peak two cells right of the first, at (64 - 10, 96 + 4): 14 px from the first
    heads["heatmap"][0, 0, 6, 4] = BIG - 1
    heads["offset"][0, 0, 6, 4], heads["offset"][0, K, 6, 4] = 4.0, -10.0
    assert (PoseNetCodec(root_threshold=0.5, nms_radius=20.0).decode_instances(heads).scores > 0).sum() == 1
    # with a 5 px radius the second nose roots a second person
    assert (PoseNetCodec(root_threshold=0.5, nms_radius=5.0).decode_instances(heads).scores > 0).sum() == 2


def test_no_root_above_threshold_gives_only_padding():
    heads = _heads([np.array([[40.0 + 20 * k, 100.0] for k in range(K)])])
    heads["heatmap"].fill_(-BIG)
    kp, scores, boxes = PoseNetCodec(max_people=2).decode_instances(heads)
    assert kp.shape == (1, 2, K, 3) and not kp.any() and not scores.any() and not boxes.any()


def test_posenet_checks_the_heads():
    heads = _heads([np.array([[40.0 + 20 * k, 100.0] for k in range(K)])])
    assert PoseNetCodec().decode(heads, input_size=(385, 385)).shape == (1, 20, K, 3)
    with pytest.raises(PosekitError, match="25x25 grid belong to a 385x385 input, not 384x384"):
        PoseNetCodec().decode(heads, input_size=(384, 384))
    heads["offset"] = heads["offset"][..., :-1]
    with pytest.raises(PosekitError, match="on one grid"):
        PoseNetCodec().decode(heads)


def test_posenet_input_size_for_an_image():
    """Sides 16 k + 1: the long side the asked one, the short side scaled alike and rounded up."""
    codec = PoseNetCodec()
    assert codec.input_size_for(640, 480, 385) == (385, 289)       # 480 * 0.6 = 288 -> 18 * 16 + 1
    assert codec.input_size_for(480, 640, 513) == (385, 513)
    with pytest.raises(PosekitError, match="16k \\+ 1"):
        codec.input_size_for(640, 480, 384)

"""Decoders on synthetic head tensors built from known answers (the keypoint codecs' tests are in
tests/codecs/)."""

from __future__ import annotations

import numpy as np
import torch

from posekit.pipelines.nanodet import decode_nanodet


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

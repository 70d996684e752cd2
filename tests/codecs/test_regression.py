from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs.regression import RegressionCodec


def test_regression_roundtrip_and_frame():
    codec = RegressionCodec((96, 128))
    rng = np.random.default_rng(0)
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = rng.uniform([0, 0], [95, 127], (17, 2))
    kp[:, 2] = 2
    t = codec.encode(kp)
    assert t.coords.shape == (17, 2) and t.weights.tolist() == [1.0] * 17
    assert (t.coords >= 0).all() and (t.coords <= 1).all()
    out = codec.decode(torch.from_numpy(t.coords)[None])
    np.testing.assert_allclose(out[0, :, :2].numpy(), kp[:, :2], atol=1e-4)
    assert torch.all(out[..., 2] == 1)
    # flat (B, 2K) output works too
    flat = codec.decode(torch.from_numpy(t.coords).reshape(1, -1))
    np.testing.assert_allclose(flat.numpy(), out.numpy())


def test_regression_edges_by_hand_and_weights():
    codec = RegressionCodec((100, 50))
    kp = np.array([[-0.5, -0.5, 2], [99.5, 49.5, 2], [49.5, 24.5, 2], [10, 10, 0], [120, 10, 2]], np.float32)
    t = codec.encode(kp)
    np.testing.assert_allclose(t.coords[:3], [[0, 0], [1, 1], [0.5, 0.5]], atol=1e-7)
    assert t.weights.tolist() == [1, 1, 1, 0, 0]
    assert RegressionCodec((100, 50), keep_outside=True).encode(kp).weights.tolist() == [1, 1, 1, 0, 1]
    with pytest.raises(ValueError):
        codec.decode(torch.zeros(2, 3, 3))

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
    assert out.shape == (1, 1, 17, 3)                # (B, N, K, 3), one person per crop
    np.testing.assert_allclose(out[0, 0, :, :2].numpy(), kp[:, :2], atol=1e-4)
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


def test_regression_flip_back_undoes_a_mirrored_crop():
    """Coordinates of the mirrored crop (x -> W - 1 - x, left/right swapped) map back onto the
    crop's, in the shape they came in; the flip-test average decodes to the keypoints."""
    from posekit.errors import PosekitError
    from posekit.skeleton import COCO17
    W, H = 96, 128
    codec = RegressionCodec((W, H), spec=COCO17)
    rng = np.random.default_rng(1)
    kp = np.concatenate([rng.uniform([0, 0], [W - 1, H - 1], (17, 2)), np.full((17, 1), 2.0)], 1).astype(np.float32)
    mirrored = kp[list(COCO17.flip_index)].copy()
    mirrored[:, 0] = W - 1 - mirrored[:, 0]
    c = torch.from_numpy(codec.encode(kp).coords)[None]
    cf = torch.from_numpy(codec.encode(mirrored).coords)[None]
    torch.testing.assert_close(codec.flip_back(cf), c, atol=1e-6, rtol=0)
    flat = codec.flip_back(cf.reshape(1, -1))
    assert flat.shape == (1, 34)
    torch.testing.assert_close(flat, c.reshape(1, -1), atol=1e-6, rtol=0)
    out = codec.decode(0.5 * (c + codec.flip_back(cf)))
    assert out.shape == (1, 1, 17, 3)
    np.testing.assert_allclose(out[0, 0, :, :2].numpy(), kp[:, :2], atol=1e-4)
    assert not RegressionCodec((W, H)).supports_flip
    with pytest.raises(PosekitError, match="without a keypoint spec"):
        RegressionCodec((W, H)).flip_back(cf)

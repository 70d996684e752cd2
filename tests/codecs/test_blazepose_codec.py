"""The BlazePose landmark codec on hand-made heads: edge frame to pixel centres, scores."""

from __future__ import annotations

import pytest
import torch

from posekit.codecs import BlazePoseLandmarkCodec
from posekit.errors import PosekitError


def test_landmarks_to_pixel_centres_scored_by_visibility_and_presence():
    B, rows = 2, 39
    lm = torch.zeros(B, rows, 5)
    lm[:, :, 0] = torch.arange(rows) * 6.0 + 0.5           # x in the edge frame
    lm[:, :, 1] = 100.0                                      # y
    lm[:, :, 3] = torch.tensor([0.0, 2.0]).view(B, 1)       # visibility logits
    flag = torch.tensor([[0.8], [0.5]])
    kp = BlazePoseLandmarkCodec().decode({"landmarks": lm.reshape(B, -1), "poseflag": flag, "heatmap": None})
    assert kp.shape == (B, 1, 33, 3) and kp.dtype == torch.float32
    torch.testing.assert_close(kp[0, 0, :, 0], torch.arange(33) * 6.0)            # x - 0.5: pixel centres
    torch.testing.assert_close(kp[:, 0, :, 1], torch.full((B, 33), 99.5))
    torch.testing.assert_close(kp[:, 0, 0, 2], torch.tensor([0.5 * 0.8, torch.sigmoid(torch.tensor(2.0)) * 0.5]))
    assert not BlazePoseLandmarkCodec.supports_flip


def test_missing_or_mismatched_heads_are_one_line():
    with pytest.raises(PosekitError, match=r"heads \['poseflag'\] missing"):
        BlazePoseLandmarkCodec().decode({"landmarks": torch.zeros(1, 195)})
    with pytest.raises(PosekitError, match="must share the batch size"):
        BlazePoseLandmarkCodec().decode({"landmarks": torch.zeros(2, 195), "poseflag": torch.zeros(1, 1)})

"""Decoder of the BlazePose landmark network's heads (lite / full / heavy, MediaPipe Pose).

BlazePose (Bazarevsky et al., CVPR Workshops 2020) regresses its landmarks directly. On a
``(W, H)`` person crop (256 x 256), the heads are, per the model card:

- ``landmarks (B, 195)``: 39 rows of ``[x, y, z, visibility, presence]``; ``x, y`` in input
  pixels of the edge frame (0 = the top/left edge of the input), visibility and presence
  logits; rows 0..32 are :data:`~posekit.skeleton.BLAZEPOSE33`, rows 33..38 auxiliary points;
- ``poseflag (B, 1)``: the probability that a person is in the crop (sigmoid applied).

The codec returns posekit's pixel-centre coordinates ``(x - 0.5, y - 0.5)`` and the score
``sigmoid(visibility) * poseflag``. MediaPipe feeds the network a crop rotated so that the
person is upright (from its own detector's keypoints); posekit's top-down predictor cuts
axis-aligned crops around the person boxes, so people far from upright fare worse. No flip
test (``supports_flip = False``).
"""

from __future__ import annotations

from typing import Mapping

import torch

from posekit.codecs.common import require_heads
from posekit.skeleton import BLAZEPOSE33

__all__ = ["BlazePoseLandmarkCodec"]


class BlazePoseLandmarkCodec:
    """BlazePose's landmark regression: ``decode(heads) -> (B, 1, 33, 3)`` ``[x, y, score]`` in
    pixel-centre coordinates of the ``input_size = (W, H)`` crop (see the module doc). Decode
    only (the weights are imported).

    Args:
        input_size: the model input ``(W, H)`` (256 x 256 for every variant).
    """

    spec = BLAZEPOSE33
    supports_flip = False
    udp_warp = False
    head_names = ("landmarks", "poseflag")
    #: Values per landmark row: x, y, z, visibility, presence.
    row = 5

    def __init__(self, input_size: tuple[int, int] = (256, 256)) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def __repr__(self) -> str:
        return f"BlazePoseLandmarkCodec(input_size={self.input_size})"

    @torch.no_grad()
    def decode(self, heads: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Forward dict -> ``(B, 1, 33, 3)`` float32 ``[x, y, score]`` in input pixels."""
        landmarks, flag = require_heads(heads, self.head_names, type(self).__name__, on_grid=False)
        n = flag.shape[0]
        K = self.spec.num_keypoints
        lm = landmarks.reshape(n, -1, self.row)[:, :K]
        flag = flag.reshape(n, 1)
        kp = torch.stack([lm[..., 0] - 0.5, lm[..., 1] - 0.5, torch.sigmoid(lm[..., 3]) * flag], -1)
        return kp[:, None]

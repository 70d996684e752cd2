"""Single-person pose models run on person crops (the second stage of top-down pipelines).

Each wrapper takes a batch of crops ``(B, H, W, 3)`` uint8 RGB at its ``input_size = (W, H)``
and returns ``(B, K, 3)`` ``[x, y, score]`` in pixel-centre coordinates *of the crop*; the
predictor maps them to the image through the crop matrix's inverse. Calling a wrapper is
``decode(forward(crops))``: the network's raw heads, then keypoints (the predictor times the
two apart).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posekit.codecs import MSRAHeatmap, MoveNetSingleCodec
from posekit.pipelines.preprocess import to_tensor
from posekit.skeleton import BLAZEPOSE33, COCO17, MPII16, KeypointSpec

__all__ = ["CropPoseModel", "MoveNetSingle", "EfficientPoseSingle", "BlazePoseLandmarks"]


class CropPoseModel:
    """Base: holds the module and card, normalises crops, runs the module."""

    spec: KeypointSpec = COCO17

    def __init__(self, model: nn.Module, card) -> None:
        from posekit.pretrained import normalise
        self.model = model
        self.card = card
        self._normalise = normalise
        self.input_size: tuple[int, int] = tuple(card.input_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), next(self.model.buffers())).device

    @torch.no_grad()
    def forward(self, crops: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's raw heads for ``(B, H, W, 3)`` uint8 crops (B >= 1)."""
        x = self._normalise(to_tensor(crops, self.device), self.card)
        heads = self.model(x)
        if len(crops) > 1 and next(iter(heads.values())).shape[0] != len(crops):
            # a graph whose in-graph pre-processing keeps only batch element 0 (MoveNet
            # single-pose unstacks its input): run the crops one at a time
            parts = [self.model(x[i:i + 1]) for i in range(len(crops))]
            heads = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return heads

    @torch.no_grad()
    def decode(self, heads: dict[str, torch.Tensor]) -> np.ndarray:
        """``(B, K, 3)`` float32 ``[x, y, score]`` in crop pixels from :meth:`forward`'s heads."""
        raise NotImplementedError

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """``(B, K, 3)`` float32 ``[x, y, score]`` in crop pixels for ``(B, H, W, 3)`` crops."""
        if len(crops) == 0:
            return np.zeros((0, self.spec.num_keypoints, 3), np.float32)
        return self.decode(self.forward(crops))


class MoveNetSingle(CropPoseModel):
    """MoveNet Lightning (192) / Thunder (256): decoded with
    :class:`posekit.codecs.MoveNetSingleCodec` (the graph's own post-processing); score =
    keypoint heatmap probability."""

    spec = COCO17

    def __init__(self, model: nn.Module, card) -> None:
        super().__init__(model, card)
        self.codec = MoveNetSingleCodec(self.input_size)

    @torch.no_grad()
    def decode(self, h: dict[str, torch.Tensor]) -> np.ndarray:
        return self.codec.decode(h)[:, 0].cpu().numpy()


class EfficientPoseSingle(CropPoseModel):
    """EfficientPose II-Lite (MPII-16): confidence maps at input resolution; argmax with a
    quarter-pixel refinement; channels reordered from the card's ``keypoint_order`` to
    :data:`MPII16`; score = the peak confidence clipped to [0, 1]."""

    spec = MPII16

    def __init__(self, model: nn.Module, card) -> None:
        super().__init__(model, card)
        order = card.keypoint_order or MPII16.names
        self._perm = [list(order).index(n) for n in MPII16.names]
        # confidence maps at input resolution: heatmap size = input size
        self.codec = MSRAHeatmap(self.input_size, heatmap_size=self.input_size, decoder="argmax")

    @torch.no_grad()
    def decode(self, heads: dict[str, torch.Tensor]) -> np.ndarray:
        return self.codec.decode(heads["heatmap"][:, self._perm]).cpu().numpy()


class BlazePoseLandmarks(CropPoseModel):
    """BlazePose landmark network (lite/full/heavy) on an upright square crop: the first 33
    landmarks (x, y in input pixels, edge frame); score = sigmoid(visibility) times the
    person-present flag. Without BlazePose's own detector the crop is not rotated, so people
    far from upright fare worse."""

    spec = BLAZEPOSE33

    @torch.no_grad()
    def decode(self, h: dict[str, torch.Tensor]) -> np.ndarray:
        n = h["poseflag"].shape[0]
        lm = h["landmarks"].float().reshape(n, -1, 5)[:, :33]
        flag = h["poseflag"].float().reshape(n, 1)
        kp = torch.stack([lm[..., 0] - 0.5, lm[..., 1] - 0.5, torch.sigmoid(lm[..., 3]) * flag], -1)
        return kp.cpu().numpy().astype(np.float32)

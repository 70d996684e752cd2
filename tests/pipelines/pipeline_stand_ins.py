"""Stand-ins for the predictor tests: an estimator around a plain function of the crops.

``crop_estimator(fn, input_size)`` is a real :class:`posekit.models.estimator.Estimator` whose
network calls ``fn(crops (B, H, W, 3) uint8) -> (B, K, 3)`` crop keypoints and whose codec
passes them through, so a test scripts what "the model" finds in each crop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posekit.models.estimator import Estimator
from posekit.skeleton import COCO17, KeypointSpec


class KeypointsCodec:
    """The heads are the crop keypoints ``(B, K, 3)``; decode adds the person axis."""

    supports_flip = False
    udp_warp = False

    def decode(self, heads: torch.Tensor) -> torch.Tensor:
        return heads[:, None]


class CropFunction(nn.Module):
    """A network that runs ``fn`` on the uint8 crops it is given."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.register_buffer("anchor", torch.zeros(1))      # gives the estimator its device

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.fn(crops.numpy()), np.float32))


def uint8_inputs(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """No normalisation: the crops as they are."""
    return torch.from_numpy(np.ascontiguousarray(batch)).to(device)


def crop_estimator(fn, input_size: tuple[int, int], spec: KeypointSpec = COCO17) -> Estimator:
    return Estimator(CropFunction(fn), KeypointsCodec(), input_size=input_size, spec=spec,
                     normalise=uint8_inputs, name="stand-in")

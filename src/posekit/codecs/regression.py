"""Direct coordinate regression codec (DeepPose, Toshev & Szegedy, CVPR 2014).

DeepPose regresses joint positions normalised by the person box: ``N(p; b) = (p - b_c) / b_size``.
Here the box is the input crop itself, measured edge to edge, so normalised coordinates are

    ``u = (x_crop + 0.5) / W``,  ``v = (y_crop + 0.5) / H``

``(0, 0)`` is the crop's top-left corner and ``(1, 1)`` its bottom-right corner (a point may
fall outside ``[0, 1]`` when it lies outside the crop). Decode inverts this exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["RegressionTarget", "RegressionCodec"]


@dataclass(frozen=True)
class RegressionTarget:
    """Attributes:
        coords: ``(K, 2)`` float32 normalised ``[u, v]`` (0 where the weight is 0).
        weights: ``(K,)`` float32, 1 for a labelled keypoint (``v > 0``) inside the crop, else 0.
    """

    coords: np.ndarray
    weights: np.ndarray


class RegressionCodec:
    """Keypoints in crop pixels <-> coordinates normalised to ``[0, 1]`` of the crop.

    Args:
        input_size: crop ``(W, H)``.
        keep_outside: give weight 1 to labelled keypoints outside the crop (default: 0).
    """

    flip_shift = False
    udp_warp = False

    def __init__(self, input_size: tuple[int, int] = (192, 256), keep_outside: bool = False) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.keep_outside = keep_outside

    def __repr__(self) -> str:
        return f"RegressionCodec(input_size={self.input_size})"

    def encode(self, keypoints_crop: np.ndarray) -> RegressionTarget:
        """``(K, 3)`` crop-frame ``[x, y, v]`` -> :class:`RegressionTarget`."""
        kp = np.asarray(keypoints_crop, np.float64)
        if kp.ndim != 2 or kp.shape[1] < 3:
            raise ValueError(f"encode expects (K, 3) keypoints, got shape {kp.shape}")
        size = np.array(self.input_size, np.float64)
        uv = (kp[:, :2] + 0.5) / size
        valid = (kp[:, 2] > 0) & np.isfinite(uv).all(axis=1)
        if not self.keep_outside:
            valid &= ((uv >= 0) & (uv <= 1)).all(axis=1)
        uv = np.where(valid[:, None], uv, 0.0)
        return RegressionTarget(coords=uv.astype(np.float32), weights=valid.astype(np.float32))

    def decode(self, coords: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Model output ``(B, K, 2)`` or ``(B, 2K)`` (or a list of stages, final last) ->
        ``(B, K, 3)`` ``[x, y, score]`` in crop pixels; regression has no confidence, so the
        score is 1."""
        if isinstance(coords, (list, tuple)):
            coords = coords[-1]
        c = coords.detach().float()
        if c.ndim == 2:
            c = c.reshape(c.shape[0], -1, 2)
        if c.ndim != 3 or c.shape[-1] != 2:
            raise ValueError(f"RegressionCodec.decode expects (B, K, 2) or (B, 2K), got {tuple(coords.shape)}")
        size = c.new_tensor(self.input_size)
        xy = c * size - 0.5
        return torch.cat([xy, torch.ones_like(xy[..., :1])], dim=-1)

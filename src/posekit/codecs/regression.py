"""Direct coordinate regression codec (DeepPose, Toshev & Szegedy, CVPR 2014).

DeepPose regresses joint positions normalised by the person box: ``N(p; b) = (p - b_c) / b_size``.
Here the box is the input crop itself, measured edge to edge, so normalised coordinates are

    ``u = (x_crop + 0.5) / W``,  ``v = (y_crop + 0.5) / H``

``(0, 0)`` is the crop's top-left corner and ``(1, 1)`` its bottom-right corner (a point may
fall outside ``[0, 1]`` when it lies outside the crop). Decode inverts this exactly and returns
``(B, 1, K, 3)`` (the contract of :mod:`posekit.codecs`). A mirror of the crop maps ``u`` to
``1 - u`` (``x -> W - 1 - x``), which is what :meth:`RegressionCodec.flip_back` undoes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from posekit.codecs.common import Heads, final_head, map_final
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

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
        spec: the keypoint spec (its left/right pairs are what :meth:`flip_back` swaps);
            without one there is no flip test (``supports_flip``).

    ``decode(heads)`` takes ``(B, K, 2)`` or ``(B, 2K)`` coordinates, a list of stages (the
    last is decoded) or a dict whose ``"coords"`` entry holds them.
    """

    flip_shift = False
    udp_warp = False
    #: The key of the coordinates in a dict of heads.
    head_key = "coords"

    def __init__(self, input_size: tuple[int, int] = (192, 256), keep_outside: bool = False,
                 spec: KeypointSpec | None = None) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.keep_outside = keep_outside
        self.spec = spec

    def __repr__(self) -> str:
        return f"RegressionCodec(input_size={self.input_size}" + (f", spec={self.spec.name})" if self.spec else ")")

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

    def _coords(self, heads: Heads) -> torch.Tensor:
        """The ``(B, K, 2)`` normalised coordinates in ``heads``."""
        c = final_head(heads, self.head_key, "RegressionCodec")
        shape = tuple(c.shape)
        if c.ndim == 2:
            c = c.reshape(c.shape[0], -1, 2)
        if c.ndim != 3 or c.shape[-1] != 2:
            raise ValueError(f"RegressionCodec.decode expects (B, K, 2) or (B, 2K), got {shape}")
        return c

    def decode(self, heads: Heads) -> torch.Tensor:
        """Model output ``(B, K, 2)`` or ``(B, 2K)`` (or a list of stages, final last, or a dict)
        -> ``(B, 1, K, 3)`` ``[x, y, score]`` in crop pixels; regression has no confidence, so
        the score is 1."""
        c = self._coords(heads).detach().float()
        size = c.new_tensor(self.input_size)
        xy = c * size - 0.5
        return torch.cat([xy, torch.ones_like(xy[..., :1])], dim=-1)[:, None]

    @property
    def supports_flip(self) -> bool:
        """Whether :meth:`flip_back` can run: it needs the spec's left/right pairs."""
        return self.spec is not None

    def flip_back(self, heads: Heads) -> Heads:
        """Coordinates predicted for horizontally mirrored crops -> those of the original crops:
        ``u -> 1 - u`` and left/right swapped, in the form and shape of ``heads``."""
        if self.spec is None:
            raise PosekitError("RegressionCodec was built without a keypoint spec: no flip test "
                               "(it needs the left/right pairs)")

        def flip(t: torch.Tensor) -> torch.Tensor:
            c = self._coords(t)[:, list(self.spec.flip_index)]
            c = torch.stack([1.0 - c[..., 0], c[..., 1]], dim=-1)
            return c.reshape(t.shape)
        return map_final(heads, self.head_key, flip)

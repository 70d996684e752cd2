"""Heatmap non-maximum suppression shared by the bottom-up groupings (PAF and tags)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from posekit.errors import PosekitError

__all__ = ["as_maps", "heatmap_peaks"]


def as_maps(x: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """``x`` as a float32 numpy array of shape ``(K, h, w)``; another shape is a PosekitError
    naming ``name``."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 3:
        raise PosekitError(f"{name} must be (K, h, w), got shape {a.shape}")
    return a.astype(np.float32, copy=False)


def heatmap_peaks(heatmaps: np.ndarray | torch.Tensor, kernel: int = 5) -> np.ndarray:
    """Heatmap NMS by max-pooling: keep a pixel only where it equals the maximum of its
    ``kernel x kernel`` neighbourhood, zero elsewhere.

    ``heatmaps (K, h, w)`` -> ``(K, h, w)`` float32 (peaks keep their value).
    """
    hm = torch.from_numpy(np.ascontiguousarray(as_maps(heatmaps, "heatmaps")))
    pooled = F.max_pool2d(hm[None], kernel, stride=1, padding=kernel // 2)[0]
    return torch.where(hm == pooled, hm, torch.zeros_like(hm)).numpy()

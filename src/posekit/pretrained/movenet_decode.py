"""Decode MoveNet single-pose heads (Lightning / Thunder), batched, in torch.

MoveNet (Google, 2021; a CenterNet-style model, Zhou et al., "Objects as Points", 2019) emits
four stride-4 maps over the ``(H/4, W/4)`` grid of its square input:

- ``heatmap`` ``(B, 17, h, w)`` keypoint logits, COCO-17 order;
- ``center`` ``(B, 1, h, w)`` person-centre logits;
- ``regress`` ``(B, 34, h, w)`` centre-to-keypoint vectors in grid cells, channel ``2k`` = dy,
  ``2k+1`` = dx of keypoint ``k``;
- ``offset`` ``(B, 34, h, w)`` sub-cell offsets, same channel layout.

The in-graph post-processing, re-implemented here: pick the centre cell maximising
``sigmoid(center) / (d_c + 1.8)``, with ``d_c`` the distance (cells) to the grid's middle
``(h/2, w/2)``; regress the keypoints from that cell; for each keypoint pick the cell maximising
``sigmoid(heatmap_k) / (d_k + 1.8)`` with ``d_k`` the distance to the regressed point; add the
offset there. The result is MoveNet's normalised coordinate ``(cell + offset) / size``
(0 = top/left image edge, 1 = bottom/right edge), which posekit turns into pixel-centre
coordinates ``x = x_norm * W - 0.5``.
"""

from __future__ import annotations

import torch

__all__ = ["decode_movenet_single", "movenet_normalised_to_pixels"]

_EPS = 1.8  # MoveNet's distance bias, from the graph (``add_5/y``; 1.7998 after float16 storage)


def decode_movenet_single(heatmap: torch.Tensor, center: torch.Tensor, regress: torch.Tensor,
                          offset: torch.Tensor) -> torch.Tensor:
    """Single-person MoveNet decode.

    Args:
        heatmap: ``(B, K, h, w)`` keypoint logits. center: ``(B, 1, h, w)`` logits.
        regress: ``(B, 2K, h, w)``; offset: ``(B, 2K, h, w)`` (channels interleaved dy, dx).

    Returns:
        ``(B, K, 3)`` float32 ``[x_norm, y_norm, score]``: normalised coordinates in [0, 1] of
        the model input (edge frame) and the keypoint's heatmap probability.
    """
    B, K, h, w = heatmap.shape
    dev = heatmap.device
    heat = torch.sigmoid(heatmap.float())
    gy = torch.arange(h, device=dev, dtype=torch.float32).view(1, 1, h, 1)
    gx = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, 1, w)
    # 1. person centre: sigmoid(centre) weighted towards the middle of the grid
    dc = torch.sqrt((gy - h // 2) ** 2 + (gx - w // 2) ** 2)[:, 0]  # (1, h, w)
    ctr = torch.sigmoid(center.float())[:, 0] / (dc + _EPS)
    ci = torch.argmax(ctr.reshape(B, -1), dim=1)  # first maximum, like tf.argmax
    cy, cx = torch.div(ci, w, rounding_mode="floor"), ci % w
    bidx = torch.arange(B, device=dev)
    # 2. regressed keypoints from the centre cell, (B, K) in grid cells
    reg = regress.float()[bidx, :, cy, cx].view(B, K, 2)
    ry = cy.float().view(B, 1) + reg[..., 0]
    rx = cx.float().view(B, 1) + reg[..., 1]
    # 3. per keypoint, the heatmap cell closest to the regressed point wins
    dist = torch.sqrt((gy - ry.view(B, K, 1, 1)) ** 2 + (gx - rx.view(B, K, 1, 1)) ** 2)
    ki = torch.argmax((heat / (dist + _EPS)).reshape(B, K, -1), dim=2)  # (B, K)
    ky, kx = torch.div(ki, w, rounding_mode="floor"), ki % w
    kidx = torch.arange(K, device=dev).view(1, K)
    b2 = bidx.view(B, 1)
    off = offset.float().view(B, K, 2, h, w)[b2, kidx, :, ky, kx]  # (B, K, 2)
    score = heat[b2, kidx, ky, kx]
    y = (ky.float() + off[..., 0]) / h
    x = (kx.float() + off[..., 1]) / w
    return torch.stack([x, y, score], dim=-1)


def movenet_normalised_to_pixels(kps: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    """``[x_norm, y_norm, s]`` -> posekit pixel-centre coordinates of an ``(H, W)`` input."""
    out = kps.clone()
    out[..., 0] = kps[..., 0] * size_hw[1] - 0.5
    out[..., 1] = kps[..., 1] * size_hw[0] - 0.5
    return out

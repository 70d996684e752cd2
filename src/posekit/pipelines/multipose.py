"""Decoder for MoveNet MultiPose's raw heads (a CenterNet-style bottom-up model).

MoveNet MultiPose (Google, 2021; "objects as points", Zhou et al. 2019) predicts, at stride 4:

* ``center (B, 1, h, w)``: logits of person centres;
* ``heatmap (B, K, h, w)``: logits of keypoint heatmaps;
* ``regress (B, 2K, h, w)``: from a centre cell, the displacement ``(dy, dx)`` of each keypoint
  (channels ``2k, 2k+1``), in heatmap cells;
* ``offset (B, 2K, h, w)``: sub-cell offset ``(dy, dx)`` of keypoint k at a heatmap cell;
* ``box_scale (B, 2, h, w)``: box ``(height, width)`` at a centre cell, in cells;
* ``box_offset (B, 2, h, w)``: ``(dy, dx)`` from the centre cell to the box centre.

The decode below follows the model's own in-graph post-processing: peaks of the centre map
(5x5 max-pool NMS), the top ``max_people``; for each centre, the regressed keypoints; each
keypoint heatmap is weighted by ``exp(-d^2 / (0.3 min(h, w)))``, ``d`` the distance to the
regressed point, and masked to the person's box; the weighted argmax plus its offset is the
keypoint; the instance score is the centre score times the mean of the keypoint scores above
0.127 (the graph's constant).

Coordinates are returned in *heatmap cell units as the graph defines them*: ``(x, y)`` such
that ``(x / w, y / h)`` is the position as a fraction of the input's extent (edge to edge).
Subtract 0.5 to get pixel-centre heatmap coordinates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["decode_multipose"]


@torch.no_grad()
def decode_multipose(center: torch.Tensor, heatmap: torch.Tensor, regress: torch.Tensor,
                     offset: torch.Tensor, box_scale: torch.Tensor, box_offset: torch.Tensor,
                     max_people: int = 6, keypoint_threshold: float = 0.127,
                     spread: float = 0.3, logits: bool = True,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode batched MultiPose heads.

    Args: the six heads as listed in the module docstring (NCHW); ``logits``: whether the
        centre and keypoint heatmaps are pre-sigmoid.

    Returns:
        keypoints ``(B, N, K, 3)`` ``[x, y, score]`` (graph cell units, see module doc),
        scores ``(B, N)`` instance scores, boxes ``(B, N, 4)`` xyxy in the same units;
        ``N = min(max_people, h * w)``, sorted by the centre score (zero-score rows may remain).
    """
    B, K, h, w = heatmap.shape
    c = center.float()
    hm = heatmap.float()
    if logits:
        c, hm = c.sigmoid(), hm.sigmoid()
    peak = (c - F.max_pool2d(c, 5, stride=1, padding=2)).abs() < 1e-6
    c = (c * peak).reshape(B, -1)
    n = min(max_people, h * w)
    cscore, idx = c.topk(n, dim=1)                                           # (B, N)
    cy, cx = (idx // w), (idx % w)

    def at_centres(t: torch.Tensor) -> torch.Tensor:                          # (B, C, h, w) -> (B, N, C)
        flat = t.float().reshape(B, t.shape[1], -1)
        return flat.gather(2, idx[:, None, :].expand(-1, t.shape[1], -1)).transpose(1, 2)

    reg = at_centres(regress).reshape(B, n, K, 2)
    ry = cy[..., None].float() + reg[..., 0]                                 # (B, N, K)
    rx = cx[..., None].float() + reg[..., 1]
    bsz = at_centres(box_scale).clamp_min(0.0)                                # (B, N, 2) = (h, w)
    boff = at_centres(box_offset)
    by, bx = cy.float() + boff[..., 0], cx.float() + boff[..., 1]
    y0 = (by - bsz[..., 0] / 2).clamp(0, h)
    y1 = (by + bsz[..., 0] / 2).clamp(0, h)
    x0 = (bx - bsz[..., 1] / 2).clamp(0, w)
    x1 = (bx + bsz[..., 1] / 2).clamp(0, w)

    gy = torch.arange(h, dtype=torch.float32, device=hm.device).view(1, 1, 1, h, 1)
    gx = torch.arange(w, dtype=torch.float32, device=hm.device).view(1, 1, 1, 1, w)
    # the weight exp(-d^2 / s) and the box mask are separable in y and x: two small factors
    # (B, N, K, h, 1) and (B, N, K, 1, w), one product over the (B, N, K, h, w) maps
    s = spread * min(h, w)
    wy = torch.exp(-(gy - ry[..., None, None]) ** 2 / s) * ((gy >= y0[..., None, None, None])
                                                           & (gy < y1[..., None, None, None]))
    wx = torch.exp(-(gx - rx[..., None, None]) ** 2 / s) * ((gx >= x0[..., None, None, None])
                                                           & (gx < x1[..., None, None, None]))
    weighted = hm[:, None] * wy * wx                                          # (B, N, K, h, w)
    best = weighted.reshape(B, n, K, -1).argmax(-1)                          # (B, N, K)
    ky, kx = best // w, best % w
    # score: the graph reads the weighted map maxed over instances at the chosen cell
    pooled = weighted.amax(dim=1).reshape(B, K, -1)                          # (B, K, h*w)
    kscore = pooled[:, None].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
    off = offset.float().reshape(B, K, 2, h * w)
    oy = off[:, None, :, 0].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
    ox = off[:, None, :, 1].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
    kp = torch.stack([kx.float() + ox, ky.float() + oy, kscore], dim=-1)
    good = kscore > keypoint_threshold
    mean_kp = (kscore * good).sum(-1) / good.sum(-1).clamp_min(1)
    scores = cscore * mean_kp
    boxes = torch.stack([x0, y0, x1, y1], dim=-1)
    return kp, scores, boxes

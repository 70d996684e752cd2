"""Decoders of MoveNet's heads: single-pose (Lightning / Thunder) and MultiPose, batched in torch.

MoveNet (Google, 2021) is CenterNet-style (Zhou, Wang, Krähenbühl, *Objects as Points*, 2019).
Both variants emit stride-4 maps over the ``(h, w) = (H/4, W/4)`` grid of their ``(W, H)`` input,
channels first, COCO-17 keypoints:

- ``heatmap (B, 17, h, w)``: keypoint logits;
- ``center (B, 1, h, w)``: person-centre logits;
- ``regress (B, 34, h, w)``: centre-to-keypoint vectors in grid cells, channel ``2k`` = dy,
  ``2k + 1`` = dx of keypoint ``k``;
- ``offset (B, 34, h, w)``: sub-cell keypoint offsets, same channel layout;
- MultiPose only: ``box_scale (B, 2, h, w)`` box ``(height, width)`` in cells at a centre cell,
  ``box_offset (B, 2, h, w)`` ``(dy, dx)`` from the centre cell to the box centre.

Frames. The graphs define a keypoint at cell ``(i, j)`` with offset ``(oy, ox)`` as the fraction
``((j + ox) / w, (i + oy) / h)`` of the input's extent, edge to edge (0 = top/left edge, 1 =
bottom/right edge). The codecs return posekit's pixel-centre coordinates of the ``(W, H)``
input: ``x = (j + ox) / w * W - 0.5``, ``y = (i + oy) / h * H - 0.5``.

Flip test does not apply (``supports_flip = False``): the centre choice is biased towards the
grid's middle cell ``(h // 2, w // 2)``, which is not symmetric under a mirror of an even grid.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F

from posekit.codecs.common import Instances, letterbox_input_size, require_heads
from posekit.errors import PosekitError
from posekit.skeleton import COCO17

__all__ = ["MoveNetSingleCodec", "MultiPoseCodec"]

_CENTRE_BIAS = 1.8  # MoveNet's distance bias, from the graph (``add_5/y``; 1.7998 after float16 storage)


def _single_normalised(heatmap: torch.Tensor, center: torch.Tensor, regress: torch.Tensor,
                       offset: torch.Tensor) -> torch.Tensor:
    """MoveNet single-pose's in-graph post-processing on float32 NCHW heads.

    Pick the centre cell maximising ``sigmoid(center) / (d_c + 1.8)``, ``d_c`` its distance in
    cells to ``(h // 2, w // 2)``; regress the keypoints from it; for each keypoint pick the cell
    maximising ``sigmoid(heatmap_k) / (d_k + 1.8)``, ``d_k`` the distance to the regressed point;
    add the offset there.

    Returns ``(B, K, 3)`` ``[x, y, score]``: ``x, y`` normalised to the input's extent (edge
    frame, see the module doc), score the keypoint's heatmap probability at the chosen cell.
    """
    B, K, h, w = heatmap.shape
    dev = heatmap.device
    heat = torch.sigmoid(heatmap)
    gy = torch.arange(h, device=dev, dtype=torch.float32).view(1, 1, h, 1)
    gx = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, 1, w)
    # 1. person centre: sigmoid(centre) weighted towards the middle of the grid
    dc = torch.sqrt((gy - h // 2) ** 2 + (gx - w // 2) ** 2)[:, 0]         # (1, h, w)
    ctr = torch.sigmoid(center)[:, 0] / (dc + _CENTRE_BIAS)
    ci = torch.argmax(ctr.reshape(B, -1), dim=1)                           # first maximum, like tf.argmax
    cy, cx = torch.div(ci, w, rounding_mode="floor"), ci % w
    bidx = torch.arange(B, device=dev)
    # 2. regressed keypoints from the centre cell, (B, K) in grid cells
    reg = regress[bidx, :, cy, cx].view(B, K, 2)
    ry = cy.float().view(B, 1) + reg[..., 0]
    rx = cx.float().view(B, 1) + reg[..., 1]
    # 3. per keypoint, the heatmap cell closest to the regressed point wins
    dist = torch.sqrt((gy - ry.view(B, K, 1, 1)) ** 2 + (gx - rx.view(B, K, 1, 1)) ** 2)
    ki = torch.argmax((heat / (dist + _CENTRE_BIAS)).reshape(B, K, -1), dim=2)  # (B, K)
    ky, kx = torch.div(ki, w, rounding_mode="floor"), ki % w
    kidx = torch.arange(K, device=dev).view(1, K)
    b2 = bidx.view(B, 1)
    off = offset.view(B, K, 2, h, w)[b2, kidx, :, ky, kx]                  # (B, K, 2) = (dy, dx)
    score = heat[b2, kidx, ky, kx]
    y = (ky.float() + off[..., 0]) / h
    x = (kx.float() + off[..., 1]) / w
    return torch.stack([x, y, score], dim=-1)


class MoveNetSingleCodec:
    """MoveNet single-pose (Lightning 192, Thunder 256): the graph's own post-processing.

    ``decode(heads)`` takes the forward dict ``{"heatmap", "center", "regress", "offset"}``
    (``(B, C, h, w)``, ``(h, w) = (H/4, W/4)``) and returns ``(B, 1, 17, 3)`` float32
    ``[x, y, score]`` in pixel-centre coordinates of the ``input_size = (W, H)`` input; score =
    the keypoint's heatmap probability. Decode only (the weights are imported, not trained here).

    Args:
        input_size: the model input ``(W, H)``: ``(192, 192)`` Lightning, ``(256, 256)`` Thunder.
    """

    spec = COCO17
    stride = 4
    supports_flip = False
    udp_warp = False
    head_names = ("heatmap", "center", "regress", "offset")

    def __init__(self, input_size: tuple[int, int] = (256, 256)) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def __repr__(self) -> str:
        return f"MoveNetSingleCodec(input_size={self.input_size})"

    @torch.no_grad()
    def decode(self, heads: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Forward dict -> ``(B, 1, 17, 3)`` ``[x, y, score]`` in input pixels."""
        heatmap, center, regress, offset = require_heads(heads, self.head_names, type(self).__name__)
        W, H = self.input_size
        h, w = heatmap.shape[-2:]
        if (w * self.stride, h * self.stride) != (W, H):
            raise PosekitError(f"MoveNetSingleCodec(input_size={self.input_size}): heads on a {w}x{h} "
                               f"grid belong to a {w * self.stride}x{h * self.stride} input")
        kp = _single_normalised(heatmap, center, regress, offset)
        x = kp[..., 0] * W - 0.5
        y = kp[..., 1] * H - 0.5
        return torch.stack([x, y, kp[..., 2]], dim=-1)[:, None]


class MultiPoseCodec:
    """MoveNet MultiPose: the graph's own post-processing, with ``max_people`` centres.

    Peaks of the centre heatmap (5x5 max-pool NMS), the top ``max_people``; for each centre, the
    regressed keypoints; each keypoint heatmap is weighted by ``exp(-d^2 / (spread min(h, w)))``,
    ``d`` the distance to the regressed point, and masked to the person's box; the weighted argmax
    plus its offset is the keypoint, scored by the weighted map (maxed over the people) there; the
    instance score is the centre probability times the mean of the keypoint scores above
    ``keypoint_threshold`` (the graph's 0.127).

    Input size. MultiPose runs on any input whose sides are multiples of 32, so it varies per
    image; it is an argument of :meth:`decode_instances` (default ``stride * (w, h)`` of the heads,
    which is what a multiple-of-32 input gives), and :meth:`input_size_for` picks it for an image.

    Args:
        max_people: rows per image (the graph keeps 6).
        keypoint_threshold: keypoint scores counted in the instance score.
        spread: width of the distance weighting, as a fraction of ``min(h, w)``.
    """

    spec = COCO17
    stride = 4
    supports_flip = False
    udp_warp = False
    head_names = ("center", "heatmap", "regress", "offset", "box_scale", "box_offset")
    #: Input sides are multiples of this.
    multiple = 32

    def __init__(self, max_people: int = 6, keypoint_threshold: float = 0.127, spread: float = 0.3) -> None:
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        self.max_people = int(max_people)
        self.keypoint_threshold = float(keypoint_threshold)
        self.spread = float(spread)

    def __repr__(self) -> str:
        return (f"MultiPoseCodec(max_people={self.max_people}, keypoint_threshold={self.keypoint_threshold:g}, "
                f"spread={self.spread:g})")

    def input_size_for(self, width: int, height: int, long_side: int) -> tuple[int, int]:
        """The input ``(W, H)`` for a ``width x height`` image letterboxed at ``long_side``: the
        long side ``long_side``, the short side scaled alike, both rounded up to a multiple of 32.
        ``long_side`` must be a multiple of 32 (:class:`PosekitError` otherwise)."""
        return letterbox_input_size(width, height, long_side, self.multiple, "MultiPose")

    @torch.no_grad()
    def decode_instances(self, heads: Mapping[str, torch.Tensor],
                         input_size: tuple[int, int] | None = None) -> Instances:
        """Forward dict -> :class:`Instances` (``N = max_people``) in pixel-centre coordinates of
        the ``input_size = (W, H)`` input the heads were computed from."""
        center, heatmap, regress, offset, box_scale, box_offset = require_heads(
            heads, self.head_names, type(self).__name__)
        B, K, h, w = heatmap.shape
        W, H = input_size if input_size is not None else (w * self.stride, h * self.stride)
        c, hm = center.sigmoid(), heatmap.sigmoid()
        peak = (c - F.max_pool2d(c, 5, stride=1, padding=2)).abs() < 1e-6
        n = min(self.max_people, h * w)
        cscore, idx = (c * peak).reshape(B, -1).topk(n, dim=1)                   # (B, n)
        cy, cx = (idx // w), (idx % w)

        def at_centres(t: torch.Tensor) -> torch.Tensor:                          # (B, C, h, w) -> (B, n, C)
            flat = t.reshape(B, t.shape[1], -1)
            return flat.gather(2, idx[:, None, :].expand(-1, t.shape[1], -1)).transpose(1, 2)

        reg = at_centres(regress).reshape(B, n, K, 2)
        ry = cy[..., None].float() + reg[..., 0]                                 # (B, n, K)
        rx = cx[..., None].float() + reg[..., 1]
        bsz = at_centres(box_scale).clamp_min(0.0)                                # (B, n, 2) = (h, w)
        boff = at_centres(box_offset)
        by, bx = cy.float() + boff[..., 0], cx.float() + boff[..., 1]
        y0 = (by - bsz[..., 0] / 2).clamp(0, h)
        y1 = (by + bsz[..., 0] / 2).clamp(0, h)
        x0 = (bx - bsz[..., 1] / 2).clamp(0, w)
        x1 = (bx + bsz[..., 1] / 2).clamp(0, w)

        gy = torch.arange(h, dtype=torch.float32, device=hm.device).view(1, 1, 1, h, 1)
        gx = torch.arange(w, dtype=torch.float32, device=hm.device).view(1, 1, 1, 1, w)
        # the weight exp(-d^2 / s) and the box mask are separable in y and x: two small factors
        # (B, n, K, h, 1) and (B, n, K, 1, w), one product over the (B, n, K, h, w) maps
        s = self.spread * min(h, w)
        wy = torch.exp(-(gy - ry[..., None, None]) ** 2 / s) * ((gy >= y0[..., None, None, None])
                                                               & (gy < y1[..., None, None, None]))
        wx = torch.exp(-(gx - rx[..., None, None]) ** 2 / s) * ((gx >= x0[..., None, None, None])
                                                               & (gx < x1[..., None, None, None]))
        weighted = hm[:, None] * wy * wx                                          # (B, n, K, h, w)
        best = weighted.reshape(B, n, K, -1).argmax(-1)                          # (B, n, K)
        ky, kx = best // w, best % w
        # score: the graph reads the weighted map maxed over people at the chosen cell
        pooled = weighted.amax(dim=1).reshape(B, K, -1)                          # (B, K, h*w)
        kscore = pooled[:, None].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
        off = offset.reshape(B, K, 2, h * w)
        oy = off[:, None, :, 0].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
        ox = off[:, None, :, 1].expand(-1, n, -1, -1).gather(3, best[..., None])[..., 0]
        good = kscore > self.keypoint_threshold
        scores = cscore * ((kscore * good).sum(-1) / good.sum(-1).clamp_min(1))
        # grid cells (edge frame) -> input pixel centres: cell / grid * input - 0.5
        kp = torch.stack([(kx.float() + ox) * W / w - 0.5, (ky.float() + oy) * H / h - 0.5, kscore], dim=-1)
        boxes = torch.stack([x0 * W / w - 0.5, y0 * H / h - 0.5, x1 * W / w - 0.5, y1 * H / h - 0.5], dim=-1)
        # a row whose centre is no peak (fewer peaks than rows) is padding
        real = cscore > 0
        kp = torch.where(real[..., None, None], kp, torch.zeros_like(kp))
        boxes = torch.where(real[..., None], boxes, torch.zeros_like(boxes))
        scores = torch.where(real, scores, torch.zeros_like(scores))
        pad = self.max_people - n
        return Instances(F.pad(kp, (0, 0, 0, 0, 0, pad)), F.pad(scores, (0, pad)), F.pad(boxes, (0, 0, 0, pad)))

    def decode(self, heads: Mapping[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Forward dict -> keypoints ``(B, max_people, 17, 3)`` (:meth:`decode_instances`)."""
        return self.decode_instances(heads, input_size).keypoints

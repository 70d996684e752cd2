"""Decoder for NanoDet's raw heads: per-stride class scores and distribution-focal boxes.

NanoDet (RangiLyu, 2020; Apache-2.0) is an anchor-free one-stage detector with a GFL head
(Li et al. 2020, "Generalized Focal Loss"). At each stride ``s`` (8, 16, 32) and each cell
``(i, j)`` of the ``(H/s, W/s)`` grid it predicts

* ``scores (B, C, h, w)``: per-class quality scores (sigmoid);
* ``reg (B, 4 * (R + 1), h, w)``: for each side (left, top, right, bottom), a discrete
  distribution over distances ``0..R`` (in units of ``s``) from the cell's centre point,
  channel ``(R + 1) * side + bin``.

(The flattened ``(B, h*w, C)`` form, rows in row-major cell order, is accepted too.)

The distance to each side is the expectation of its softmax distribution times ``s``; the
centre point of cell ``(i, j)`` is ``((j + 0.5) s, (i + 0.5) s)`` in input pixels measured from
the input's top-left edge. Boxes come out in that edge-based frame; :func:`decode_nanodet`
subtracts 0.5 to give posekit's pixel-centre coordinates of the network input.
"""

from __future__ import annotations

import torch

__all__ = ["decode_nanodet"]


@torch.no_grad()
def decode_nanodet(scores: list[torch.Tensor], regs: list[torch.Tensor], strides: tuple[int, ...],
                   input_size: tuple[int, int], class_index: int = 0, score_threshold: float = 0.3,
                   logits: bool = False, center_offset: float = 0.5,
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Decode one class's boxes from NanoDet heads (batched).

    Args:
        scores: per stride, ``(B, C, h, w)``; regs: per stride, ``(B, 4 (R+1), h, w)``.
        strides: the stride of each level; input_size: ``(W, H)`` of the network input.
        class_index: the class to keep (0 is COCO "person").
        score_threshold: candidates below it are dropped (before NMS).
        logits: whether ``scores`` are pre-sigmoid.
        center_offset: cell centre at ``(j + center_offset) * s``.

    Returns: per image, ``(boxes (M, 4) xyxy, scores (M,))`` in pixel-centre coordinates of
    the network input, unsorted, before NMS.
    """
    W, H = input_size
    B = scores[0].shape[0]
    out_boxes: list[list[torch.Tensor]] = [[] for _ in range(B)]
    out_scores: list[list[torch.Tensor]] = [[] for _ in range(B)]
    for sc, rg, s in zip(scores, regs, strides):
        w = (W + s - 1) // s
        if sc.dim() == 4:
            w = sc.shape[-1]
            sc = sc.flatten(2).transpose(1, 2)
            rg = rg.flatten(2).transpose(1, 2)
        p = sc[..., class_index].float()
        if logits:
            p = p.sigmoid()
        bins = rg.shape[-1] // 4
        for b in range(B):
            keep = torch.nonzero(p[b] > score_threshold).flatten()
            if keep.numel() == 0:
                continue
            dist = rg[b, keep].float().reshape(-1, 4, bins).softmax(-1)
            dist = (dist * torch.arange(bins, dtype=torch.float32, device=dist.device)).sum(-1) * s
            cy = (keep // w).float() * s + center_offset * s
            cx = (keep % w).float() * s + center_offset * s
            box = torch.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], -1)
            out_boxes[b].append(box - 0.5)
            out_scores[b].append(p[b, keep])
    result = []
    for b in range(B):
        if out_boxes[b]:
            result.append((torch.cat(out_boxes[b]), torch.cat(out_scores[b])))
        else:
            result.append((torch.zeros(0, 4), torch.zeros(0)))
    return result

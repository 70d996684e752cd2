"""A small trainable bottom-up model: part affinity fields or associative-embedding heads at
stride 4, for CPU-sized experiments (the bottom-up "learning, proved" run and the tests).

Not a paper's architecture. The pieces are the usual ones:

* a light residual encoder (He et al., CVPR 2016, BasicBlocks) down to 1/32, then a top-down
  path with lateral 1x1 connections back to 1/4 (the feature-pyramid idea of Lin et al., CVPR
  2017; SimpleBaseline's deconvolutions with skips, Xiao et al. 2018, in a cheaper form), so the
  stride-4 features see the whole of a 128x128 image;
* heads as the bottom-up papers define them: ``head="paf"`` gives confidence maps and part
  affinity fields (Cao et al., CVPR 2017 / TPAMI 2019), ``head="ae"`` gives detection heatmaps
  and 1-dim tags (Newell et al., NeurIPS 2017);
* ``stages`` prediction stages with intermediate supervision as in OpenPose: stage 1 predicts
  from the features, each later stage from the features concatenated with the previous
  stage's predictions.

``forward(images (B, 3, H, W))`` (H and W multiples of 32) returns the heads contract of the
bottom-up models: a dict with the final stage's heads under plain keys and every stage (final
included) in ``"stages"``:

* ``head="paf"``: ``"heatmaps" (B, K, H/4, W/4)``, ``"pafs" (B, 2L, H/4, W/4)``;
* ``head="ae"``: ``"heatmaps" (B, K, H/4, W/4)``, ``"tags" (B, K, H/4, W/4)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.blocks import BasicBlock, conv_bn_act, make_stage

__all__ = ["BottomUpTiny", "bottomup_tiny"]

#: Limbs of COCO-17 in the PAF codec's order (``len(tree_first(COCO17.limbs, 17))``).
COCO17_NUM_LIMBS = 19


class BottomUpTiny(nn.Module):
    """Residual encoder (1/4 .. 1/32) + top-down path to 1/4 + ``stages`` prediction stages.

    Args:
        num_keypoints: K.
        num_limbs: L, the number of part affinity fields (``head="paf"``; the codec's limbs).
        head: ``"paf"`` or ``"ae"``.
        width: channels at 1/4 (the encoder uses ``width * (1, 2, 4, 4)`` at 1/4 .. 1/32).
        stages: prediction stages (>= 1).
        input_size: the default input ``(H, W)``.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 17, num_limbs: int = COCO17_NUM_LIMBS, head: str = "paf",
                 width: int = 32, stages: int = 2, input_size: tuple[int, int] = (128, 128)) -> None:
        super().__init__()
        if head not in ("paf", "ae"):
            raise ValueError(f"head must be 'paf' or 'ae', got {head!r}")
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        self.default_input_size = tuple(input_size)
        self.head = head
        self.num_keypoints = num_keypoints
        self.num_limbs = num_limbs
        self.keys = ("heatmaps", "pafs") if head == "paf" else ("heatmaps", "tags")
        self.channels = (num_keypoints, 2 * num_limbs) if head == "paf" else (num_keypoints, num_keypoints)
        c = (width, 2 * width, 4 * width, 4 * width)
        self.stem = nn.Sequential(conv_bn_act(3, width // 2, 3, 2), conv_bn_act(width // 2, c[0], 3, 2))  # 1/4
        self.encoder = nn.ModuleList([
            make_stage(BasicBlock, c[0], c[0], 1),            # 1/4
            make_stage(BasicBlock, c[0], c[1], 1, stride=2),  # 1/8
            make_stage(BasicBlock, c[1], c[2], 2, stride=2),  # 1/16
            make_stage(BasicBlock, c[2], c[3], 1, stride=2),  # 1/32
        ])
        # top-down: lateral 1x1 of every level to `width`, added to the upsampled coarser level
        self.laterals = nn.ModuleList(conv_bn_act(ci, width, 1, act=None) for ci in c)
        self.smooth = conv_bn_act(width, width, 3)
        out = sum(self.channels)
        self.stages = nn.ModuleList()
        for s in range(stages):
            cin = width if s == 0 else width + out
            self.stages.append(nn.Sequential(conv_bn_act(cin, width, 3), conv_bn_act(width, width, 3),
                                             conv_bn_act(width, width, 3), nn.Conv2d(width, out, 1)))
        for stage in self.stages:
            nn.init.normal_(stage[-1].weight, std=0.001)
            nn.init.zeros_(stage[-1].bias)

    def features(self, images: Tensor) -> Tensor:
        """``(B, 3, H, W)`` -> ``(B, width, H/4, W/4)``."""
        x = self.stem(images)
        levels = []
        for stage in self.encoder:
            x = stage(x)
            levels.append(x)
        y = self.laterals[-1](levels[-1])
        for lat, feat in zip(reversed(self.laterals[:-1]), reversed(levels[:-1])):
            y = F.interpolate(y, size=feat.shape[-2:], mode="nearest") + lat(feat)
        return self.smooth(F.relu(y))

    def forward(self, images: Tensor) -> dict:
        f = self.features(images)
        stages = []
        pred = None
        for stage in self.stages:
            pred = stage(f if pred is None else torch.cat([f, pred], dim=1))
            parts = torch.split(pred, list(self.channels), dim=1)
            stages.append(dict(zip(self.keys, parts)))
        return {**stages[-1], "stages": stages}


def bottomup_tiny(*, num_keypoints: int = 17, num_limbs: int = COCO17_NUM_LIMBS, head: str = "paf",
                  width: int = 32, stages: int = 2, input_size: tuple[int, int] = (128, 128)) -> BottomUpTiny:
    """A small bottom-up model (not a paper's): PAF (``head="paf"``) or AE (``head="ae"``)
    heads at stride 4 on a light residual encoder with a top-down path; see the module doc."""
    return BottomUpTiny(num_keypoints=num_keypoints, num_limbs=num_limbs, head=head, width=width,
                        stages=stages, input_size=input_size)

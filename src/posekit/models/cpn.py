"""Cascaded Pyramid Network (CPN): GlobalNet + RefineNet on a ResNet-50.

Reference: Chen, Wang, Peng, Zhang, Yu, Sun, "Cascaded Pyramid Network for Multi-Person Pose
Estimation", CVPR 2018. Configuration of the paper (and of its released TensorFlow code,
tf-cpn, read for the structure only):

- GlobalNet: an FPN-like top-down path over the ResNet stages C2..C5 (strides 4..32). Each
  stage gets a 1x1 lateral conv to 256 channels (+BN+ReLU); the coarser map is upsampled
  bilinearly, passed through a 1x1 conv ("a 1x1 convolution before each element-wise sum";
  bias, no BN, as in tf-cpn) and added. At every level a 1x1 conv (256, +BN+ReLU) and a 3x3
  conv (+BN) predict K heatmaps, upsampled bilinearly to the stride-4 output size: four
  "global" outputs.
- RefineNet: the level-i GlobalNet features (i = 0 for C2 ... 3 for C5) go through i
  bottleneck blocks (256 -> 128 -> 256), are upsampled to stride 4 and concatenated
  (1024 channels); a bottleneck (to 256, projection shortcut) and a 3x3 conv (+BN) give
  the refined heatmaps.
- Training: L2 on the global outputs, online hard keypoint mining (top-M of K keypoint
  losses) on the refined output. The model returns raw heads; the losses live elsewhere.

``forward(images (B, 3, H, W)) -> [global_C2, global_C3, global_C4, global_C5, refine]``,
each ``(B, K, H/4, W/4)``; the refined (final) output is last. H and W multiples of 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.backbones.resnet import ResNet
from posekit.models.blocks import Bottleneck, conv_bn_act


def _up(x: Tensor, size: torch.Size | tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class GlobalNet(nn.Module):
    """Top-down pyramid over ``[C2..C5]``. ``forward(feats) -> (features, heatmaps)``: two
    lists ordered C2..C5; features are ``(B, 256, H/2^i, W/2^i)``, heatmaps are upsampled to
    the C2 size ``(B, K, H/4, W/4)``."""

    def __init__(self, in_channels: tuple[int, ...], num_keypoints: int,
                 channels: int = 256) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn_act(c, channels, 1) for c in in_channels)
        # tf-cpn: the merge conv has a bias and no BN; the 3x3 predictor has BN, no ReLU
        self.merge = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in in_channels[:-1])
        self.predict = nn.ModuleList(
            nn.Sequential(conv_bn_act(channels, channels, 1),
                          conv_bn_act(channels, num_keypoints, 3, act=None))
            for _ in in_channels)

    def forward(self, feats: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        n = len(feats)
        out_size = feats[0].shape[-2:]
        fms: list[Tensor] = [feats[0]] * n
        heatmaps: list[Tensor] = [feats[0]] * n
        prev = None
        for i in reversed(range(n)):
            x = self.lateral[i](feats[i])
            if prev is not None:
                x = x + self.merge[i](_up(prev, x.shape[-2:]))
            fms[i] = x
            heatmaps[i] = _up(self.predict[i](x), out_size)
            prev = x
        return fms, heatmaps


class RefineNet(nn.Module):
    """Level i (0 = finest) gets i bottlenecks, all are upsampled to the finest size and
    concatenated, then one bottleneck and a 3x3 conv: ``-> (B, K, H/4, W/4)``."""

    def __init__(self, num_levels: int, num_keypoints: int, channels: int = 256) -> None:
        super().__init__()
        planes = channels // Bottleneck.expansion * 2  # 128 for 256 channels, as in tf-cpn
        self.levels = nn.ModuleList(
            nn.Sequential(*[_bottleneck(channels, planes, channels) for _ in range(i)])
            for i in range(num_levels))
        self.fuse = _bottleneck(channels * num_levels, planes, channels)
        self.predict = conv_bn_act(channels, num_keypoints, 3, act=None)

    def forward(self, fms: list[Tensor]) -> Tensor:
        size = fms[0].shape[-2:]
        x = torch.cat([_up(m(f), size) for m, f in zip(self.levels, fms)], dim=1)
        return self.predict(self.fuse(x))


class _RefineBottleneck(nn.Module):
    """1x1 (planes) -> 3x3 (planes) -> 1x1 (cout), BN after each, projection shortcut when
    needed. ``(B, cin, H, W) -> (B, cout, H, W)``."""

    def __init__(self, cin: int, planes: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn_act(cin, planes, 1), conv_bn_act(planes, planes, 3),
                                  conv_bn_act(planes, cout, 1, act=None))
        self.shortcut = nn.Identity() if cin == cout else conv_bn_act(cin, cout, 1, act=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _bottleneck(cin: int, planes: int, cout: int) -> nn.Module:
    return _RefineBottleneck(cin, planes, cout)


class CPN(nn.Module):
    """ResNet + GlobalNet + RefineNet (Chen et al. 2018). See the module docstring."""

    output_kind = "heatmap"
    stride = 4

    def __init__(self, depth: int = 50, num_keypoints: int = 17,
                 input_size: tuple[int, int] = (256, 192)) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.backbone = ResNet(depth)
        self.global_net = GlobalNet(self.backbone.channels, num_keypoints)
        self.refine_net = RefineNet(len(self.backbone.channels), num_keypoints)

    def forward(self, images: Tensor) -> list[Tensor]:
        fms, global_heatmaps = self.global_net(self.backbone(images))
        return [*global_heatmaps, self.refine_net(fms)]


def cpn_r50(*, num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192)) -> CPN:
    """CPN with a ResNet-50 trunk, 256x192 input, 64x48 output (Chen et al., CVPR 2018)."""
    return CPN(50, num_keypoints=num_keypoints, input_size=input_size)

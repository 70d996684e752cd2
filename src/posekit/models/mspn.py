"""Multi-Stage Pose Network (MSPN).

Reference: Li, Wang, Yin, Peng, Du, Xiao, Yu, Lu, Wei, Sun, "Rethinking on Multi-Stage
Networks for Human Pose Estimation", arXiv:1901.00148, 2019. Configuration of the paper (and
of its released PyTorch code, megvii-research/MSPN, read for the structure only):

- a shared ResNet stem (7x7/2 conv + BN + ReLU + 3x3/2 max-pool, 64 channels, stride 4);
- each stage is a single-stage module: a ResNet-50 encoder (layer1..layer4, strides 4..32)
  and a GlobalNet-like decoder: at each level a 1x1 lateral conv to 256 (+BN), plus the
  upsampled coarser map through a 1x1 conv (+BN), summed and ReLU'd; each level predicts K
  heatmaps by 1x1 conv (256, +BN+ReLU) and 3x3 conv (+BN), upsampled bilinearly to the
  stride-4 output size (coarse-to-fine supervision: one output per level, supervised with
  Gaussian kernels that shrink from coarse to fine; OHKM on the finest output);
- cross-stage feature aggregation: every encoder level of stage s+1 receives, added to its
  output, ``1x1conv(encoder level of stage s)`` and ``1x1conv(decoder level of stage s)``
  (+BN+ReLU each);
- the input of stage s+1's encoder is the finest decoder map of stage s through a 1x1 conv
  to 64 channels (+BN+ReLU).

Zoo names: ``mspn`` is the 4-stage ResNet-50 network of the paper's headline results
(COCO 75.9 AP val at 256x192); ``mspn_2stg`` is the 2-stage ResNet-50 network (the model
released with the code, 74.5 AP). Both take ``num_stages``-free builders; the class
accepts any ``num_stages >= 1``.

``forward(images (B, 3, H, W)) -> list of 4 * num_stages heatmaps (B, K, H/4, W/4)``,
ordered stage by stage and, inside a stage, from the coarsest level (C5, stride 32) to the
finest (C2, stride 4). The last element, finest level of the last stage, is the prediction.
H and W must be multiples of 32.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.backbones.resnet import RESNET_SPECS, ResNetStem, init_resnet_
from posekit.models.blocks import conv_bn_act, make_stage


def _up(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class Encoder(nn.Module):
    """ResNet layer1..layer4 with optional cross-stage additions.
    ``forward(x (B, 64, H/4, W/4), skips) -> [C2, C3, C4, C5]`` (finest first)."""

    def __init__(self, depth: int = 50) -> None:
        super().__init__()
        block, blocks = RESNET_SPECS[depth]
        cin = 64
        layers = []
        for i, (p, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            layers.append(make_stage(block, cin, p, n, stride=1 if i == 0 else 2))
            cin = p * block.expansion
        self.layers = nn.ModuleList(layers)
        self.channels = tuple(p * block.expansion for p in (64, 128, 256, 512))

    def forward(self, x: Tensor, skips: list[Tensor] | None = None) -> list[Tensor]:
        feats = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if skips is not None:
                x = x + skips[i]
            feats.append(x)
        return feats


class DecoderLevel(nn.Module):
    """One upsampling unit: ``forward(c, coarser) -> (features (B, 256, h, w),
    heatmaps (B, K, out_h, out_w))``."""

    def __init__(self, cin: int, num_keypoints: int, channels: int, has_coarser: bool) -> None:
        super().__init__()
        self.lateral = conv_bn_act(cin, channels, 1, act=None)
        self.merge = conv_bn_act(channels, channels, 1, act=None) if has_coarser else None
        self.relu = nn.ReLU(inplace=True)
        self.predict = nn.Sequential(conv_bn_act(channels, channels, 1),
                                     conv_bn_act(channels, num_keypoints, 3, act=None))

    def forward(self, c: Tensor, coarser: Tensor | None,
                out_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
        x = self.lateral(c)
        if self.merge is not None and coarser is not None:
            x = x + self.merge(_up(coarser, tuple(c.shape[-2:])))
        x = self.relu(x)
        return x, _up(self.predict(x), out_size)


class StageModule(nn.Module):
    """Encoder + decoder of one stage, plus the 1x1 convs that feed the next stage."""

    def __init__(self, num_keypoints: int, channels: int, depth: int, feeds_next: bool) -> None:
        super().__init__()
        self.encoder = Encoder(depth)
        ch = self.encoder.channels
        self.decoder = nn.ModuleList(
            DecoderLevel(ch[i], num_keypoints, channels, has_coarser=i < 3)
            for i in range(4))  # index i = level C(i+2); C5 (i=3) has no coarser map
        self.feeds_next = feeds_next
        if feeds_next:
            self.skip_enc = nn.ModuleList(conv_bn_act(c, c, 1) for c in ch)
            self.skip_dec = nn.ModuleList(conv_bn_act(channels, c, 1) for c in ch)
            self.cross = conv_bn_act(channels, 64, 1)

    def forward(self, x: Tensor, skips: list[Tensor] | None
                ) -> tuple[list[Tensor], list[Tensor] | None, Tensor | None]:
        feats = self.encoder(x, skips)
        out_size = tuple(feats[0].shape[-2:])
        dec: list[Tensor] = [feats[0]] * 4
        heatmaps = []
        coarser = None
        for i in reversed(range(4)):
            coarser, hm = self.decoder[i](feats[i], coarser, out_size)
            dec[i] = coarser
            heatmaps.append(hm)  # coarse to fine
        if not self.feeds_next:
            return heatmaps, None, None
        next_skips = [self.skip_enc[i](feats[i]) + self.skip_dec[i](dec[i]) for i in range(4)]
        return heatmaps, next_skips, self.cross(dec[0])


class MSPN(nn.Module):
    """Multi-stage pose network (Li et al. 2019). See the module docstring."""

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_stages: int = 4, num_keypoints: int = 17, depth: int = 50,
                 channels: int = 256, input_size: tuple[int, int] = (256, 192)) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"MSPN needs num_stages >= 1, got {num_stages}")
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stages = num_stages
        self.stem = ResNetStem()
        self.stages = nn.ModuleList(
            StageModule(num_keypoints, channels, depth, feeds_next=s < num_stages - 1)
            for s in range(num_stages))
        init_resnet_(self)

    def forward(self, images: Tensor) -> list[Tensor]:
        x = self.stem(images)
        skips = None
        outputs: list[Tensor] = []
        for stage in self.stages:
            heatmaps, skips, cross = stage(x, skips)
            outputs += heatmaps
            if cross is not None:
                x = cross
        return outputs


def mspn(*, num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192)) -> MSPN:
    """4-stage MSPN, ResNet-50 per stage, 256x192 input (Li et al. 2019)."""
    return MSPN(4, num_keypoints=num_keypoints, input_size=input_size)


def mspn_2stg(*, num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192)) -> MSPN:
    """2-stage MSPN, ResNet-50 per stage, 256x192 input (Li et al. 2019)."""
    return MSPN(2, num_keypoints=num_keypoints, input_size=input_size)

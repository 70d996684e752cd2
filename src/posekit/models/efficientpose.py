"""EfficientPose RT, I, II, III, IV and the Lite variants RT Lite, I Lite, II Lite.

Reference: Groos, Ramampiaro & Ihlen, "EfficientPose: Scalable single-person pose estimation",
Applied Intelligence 51, 2021 (arXiv:2004.12186); official release github.com/daniegr/EfficientPose.

Architecture (paper Fig. 2; layer shapes checked against the official converted PyTorch/TF.js
graphs):

1. **Multi-scale feature extractor.** The high-resolution image ``(B, 3, H, W)`` goes through
   the first three stages of an EfficientNet ("high-level backbone") to ``H/8``. Except for RT
   and the Lite models, a low-resolution copy (the image average-pooled by 2) goes through the
   first two stages of a smaller EfficientNet ("low-level backbone"), which also ends at
   ``H/8``; the two are concatenated into the cross-resolution features ``F``.
2. **Detection passes** (1 + 2, as in OpenPose): pass 1 (part affinity fields in the paper),
   then passes 2 and 3 (confidence maps), each taking ``concat(previous pass, F)``. A pass is a
   chain of *Mobile DenseNet* blocks: three E-MBConv6 5x5 blocks of ``width`` outputs with
   dense connections, whose output is ``concat(m3, m2, m1)`` (``3 * width`` channels); from
   the second block on, the block input is added to its output (skip). E-MBConv uses E-swish
   (beta 1.25) and squeeze-excitation; Lite models use ReLU6 and no SE.
3. A 1x1 conv to ``K`` confidence maps at ``H/8``, then **bilinear-initialised transposed
   convolutions** (3 x 4x4 stride 2, ``K -> K``) back to the input resolution.

``forward`` returns the final confidence maps ``(B, K, H, W)`` (stride 1), as the released
inference models do; the paper's intermediate PAF / pass-2 supervision heads are not built.
Keypoints default to the 16 MPII joints. ``tf_padding=True`` pads strided convolutions like
TensorFlow (see :mod:`posekit.models.backbones.efficientnet`), for imported TF weights; the
low-resolution input is ``avg_pool2d(images, 2)`` as in the official converted models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.backbones.efficientnet import EfficientNet, conv_bn, make_act


@dataclass(frozen=True)
class EfficientPoseSpec:
    """One EfficientPose variant: input size, backbones (EfficientNet variant names, ``low``
    None for single-resolution models), detection width and Mobile DenseNet blocks per pass."""

    input_size: int
    high: str
    low: str | None
    blocks_per_pass: int
    lite: bool = False


# Backbones and detection-block depth per variant (paper Table 1; widths follow from the
# backbone: the detection width is the high-level backbone's stage-3 width).
SPECS: dict[str, EfficientPoseSpec] = {
    "rt": EfficientPoseSpec(224, "b0", None, 1),
    "i": EfficientPoseSpec(256, "b2", "b0", 1),
    "ii": EfficientPoseSpec(368, "b4", "b0", 2),
    "iii": EfficientPoseSpec(480, "b5", "b1", 3),
    "iv": EfficientPoseSpec(600, "b7", "b3", 4),
    "rt_lite": EfficientPoseSpec(224, "lite0", None, 1, lite=True),
    "i_lite": EfficientPoseSpec(256, "lite2", None, 1, lite=True),
    "ii_lite": EfficientPoseSpec(368, "lite4", None, 2, lite=True),
}


class EMBConv(nn.Module):
    """E-MBConv6 5x5 of the detection blocks: 1x1 expand to ``6 * width`` -> 5x5 depthwise ->
    SE (reduce to ``width / 4``) -> 1x1 linear projection to ``width``; no shortcut.
    ``(B, cin, h, w) -> (B, width, h, w)``."""

    def __init__(self, cin: int, width: int, lite: bool) -> None:
        super().__init__()
        act = "relu6" if lite else "eswish"
        mid = 6 * width
        self.expand = conv_bn(cin, mid, 1, act=act)
        self.dw = conv_bn(mid, mid, 5, groups=mid, act=act)
        self.se: nn.Module | None = None
        if not lite:
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(mid, width // 4, 1),
                                    make_act(act), nn.Conv2d(width // 4, mid, 1), nn.Sigmoid())
        self.project = conv_bn(mid, width, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = self.dw(self.expand(x))
        if self.se is not None:
            y = y * self.se(y)
        return self.project(y)


class MobileDenseBlock(nn.Module):
    """Three densely connected E-MBConvs. ``(B, cin, h, w) -> (B, 3 * width, h, w)`` holding
    ``concat(m3, m2, m1)``; with ``skip`` the input (then ``3 * width`` channels) is added."""

    def __init__(self, cin: int, width: int, lite: bool, skip: bool) -> None:
        super().__init__()
        self.m1 = EMBConv(cin, width, lite)
        self.m2 = EMBConv(width, width, lite)
        self.m3 = EMBConv(2 * width, width, lite)
        self.skip = skip

    def forward(self, x: Tensor) -> Tensor:
        y1 = self.m1(x)
        d2 = torch.cat([self.m2(y1), y1], dim=1)
        y = torch.cat([self.m3(d2), d2], dim=1)
        return y + x if self.skip else y


def detection_pass(cin: int, width: int, blocks: int, lite: bool) -> nn.Sequential:
    """``blocks`` Mobile DenseNet blocks; ``(B, cin, h, w) -> (B, 3 * width, h, w)``."""
    return nn.Sequential(*[MobileDenseBlock(cin if i == 0 else 3 * width, width, lite, i > 0)
                           for i in range(blocks)])


def bilinear_kernel(size: int) -> Tensor:
    """``(size, size)`` bilinear interpolation kernel for a transposed conv of stride
    ``(size + 1) // 2`` (Long et al. 2015, FCN)."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    r = 1 - np.abs(np.arange(size) - centre) / factor
    return torch.from_numpy(np.outer(r, r).astype(np.float32))


class EfficientPose(nn.Module):
    """EfficientPose network (see module docstring).

    ``forward(images (B, 3, H, W))`` -> confidence maps ``(B, K, H, W)``; H and W must be
    multiples of 8.
    """

    output_kind = "heatmap"
    stride = 1

    def __init__(self, spec: EfficientPoseSpec, num_keypoints: int = 16,
                 tf_padding: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.default_input_size = (spec.input_size, spec.input_size)
        self.high = EfficientNet(spec.high, num_stages=3, tf_padding=tf_padding)
        feat = self.high.out_channels
        self.low: EfficientNet | None = None
        if spec.low is not None:
            self.low = EfficientNet(spec.low, num_stages=2, tf_padding=tf_padding)
            feat += self.low.out_channels
        width = self.high.out_channels
        out = 3 * width
        self.pass1 = detection_pass(feat, width, spec.blocks_per_pass, spec.lite)
        self.pass2 = detection_pass(out + feat, width, spec.blocks_per_pass, spec.lite)
        self.pass3 = detection_pass(out + feat, width, spec.blocks_per_pass, spec.lite)
        self.confs = nn.Conv2d(out, num_keypoints, 1)
        k = num_keypoints
        self.upscale = nn.Sequential(nn.ConvTranspose2d(k, k, 4, 2, 1, bias=False),
                                     nn.ConvTranspose2d(k, k, 4, 2, 1, bias=False),
                                     nn.ConvTranspose2d(k, k, 4, 2, 1, bias=True))
        with torch.no_grad():
            for up in self.upscale:
                up.weight.zero_()
                for c in range(k):
                    up.weight[c, c] = bilinear_kernel(4)
                if up.bias is not None:
                    up.bias.zero_()

    def forward(self, images: Tensor) -> Tensor:
        feats = self.high(images)
        if self.low is not None:
            feats = torch.cat([feats, self.low(F.avg_pool2d(images, 2))], dim=1)
        x = self.pass1(feats)
        x = self.pass2(torch.cat([x, feats], dim=1))
        x = self.pass3(torch.cat([x, feats], dim=1))
        return self.upscale(self.confs(x))


def _builder(name: str) -> Callable[..., nn.Module]:
    def build(num_keypoints: int = 16, tf_padding: bool = False) -> nn.Module:
        return EfficientPose(SPECS[name], num_keypoints=num_keypoints, tf_padding=tf_padding)
    build.__name__ = f"efficientpose_{name}"
    build.__doc__ = f"EfficientPose {name.upper().replace('_', ' ')} (Groos et al. 2021)."
    return build


efficientpose_rt = _builder("rt")
efficientpose_i = _builder("i")
efficientpose_ii = _builder("ii")
efficientpose_iii = _builder("iii")
efficientpose_iv = _builder("iv")
efficientpose_rt_lite = _builder("rt_lite")
efficientpose_i_lite = _builder("i_lite")
efficientpose_ii_lite = _builder("ii_lite")

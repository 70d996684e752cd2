"""EfficientNet building blocks and compound scaling (B0-B7 and Lite0-Lite4).

References:
- Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
  ICML 2019 (MBConv with squeeze-excitation, swish, compound scaling of width, depth and
  resolution; Table 1 gives the B0 stages used as ``BASE_STAGES`` here).
- Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.
- EfficientNet-Lite (TensorFlow TPU model garden, 2020): the mobile variant without
  squeeze-excitation, with ReLU6 instead of swish, and with the stem (32 channels), the head
  (1280 channels) and the repeats of the first and last stage kept fixed while scaling.

Shapes: every module here maps ``(B, C, H, W)`` to ``(B, C', H/s, W/s)``. Padding is the
symmetric ``k // 2`` of PyTorch convolutions by default. TensorFlow's "same" padding puts the
odd pixel of a strided convolution after the image (e.g. (0, 1) for a 3x3 stride-2 conv on an
even input); ``tf_padding=True`` reproduces it (needed to run weights trained in TensorFlow).
Shapes, parameters and multiply-adds are the same either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ESwish(nn.Module):
    """E-swish, ``beta * x * sigmoid(x)`` (Alcaide 2018); EfficientPose uses beta = 1.25."""

    def __init__(self, beta: float = 1.25) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: Tensor) -> Tensor:
        return self.beta * x * torch.sigmoid(x)


def make_act(name: str) -> nn.Module:
    """Activation by name: ``swish`` (= SiLU), ``eswish`` (beta 1.25), ``relu6``, ``relu``."""
    if name == "swish":
        return nn.SiLU(inplace=True)
    if name == "eswish":
        return ESwish(1.25)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"unknown activation {name!r}; expected swish, eswish, relu6 or relu")


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "same" padding computed from the input size:
    total ``max((ceil(n / s) - 1) * s + k - n, 0)``, the smaller half before."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for n, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                           reversed(self.stride), strict=True):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def conv_bn(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1,
            act: str | None = None, tf_padding: bool = False) -> nn.Sequential:
    """Conv (no bias, 'same' padding) -> BatchNorm (TF defaults eps=1e-3) -> optional act.
    Parameter names are ``0.weight`` (conv) and ``1.*`` (BatchNorm) in both padding modes."""
    conv = (Conv2dSame(cin, cout, k, stride, 0, groups=groups, bias=False)
            if tf_padding and stride > 1 else
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False))
    layers: list[nn.Module] = [conv, nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]
    if act is not None:
        layers.append(make_act(act))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel attention: global mean -> 1x1 reduce (bias) -> act -> 1x1 expand (bias) ->
    sigmoid -> rescale. ``(B, C, H, W) -> (B, C, H, W)``. ``reduced`` is computed by the caller
    from the *block input* width, as in EfficientNet (``max(1, int(cin * 0.25))``)."""

    def __init__(self, channels: int, reduced: int, act: str = "swish") -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = make_act(act)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        s = self.expand(self.act(self.reduce(s)))
        return x * torch.sigmoid(s)


class MBConv(nn.Module):
    """Mobile inverted bottleneck (Sandler et al. 2018) with optional squeeze-excitation:
    1x1 expand (skipped when ``expand == 1``) -> kxk depthwise (stride) -> SE -> 1x1 project
    (linear). Identity shortcut when the stride is 1 and ``cin == cout`` and ``residual``.

    ``(B, cin, H, W) -> (B, cout, H/stride, W/stride)``.
    """

    def __init__(self, cin: int, cout: int, expand: int = 6, kernel: int = 3, stride: int = 1,
                 se_ratio: float = 0.25, act: str = "swish", residual: bool = True,
                 tf_padding: bool = False) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = conv_bn(cin, mid, 1, act=act) if expand != 1 else None
        self.dw = conv_bn(mid, mid, kernel, stride, groups=mid, act=act, tf_padding=tf_padding)
        self.se = (SqueezeExcite(mid, max(1, int(cin * se_ratio)), act)
                   if se_ratio > 0 else None)
        self.project = conv_bn(mid, cout, 1)
        self.use_residual = residual and stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = x if self.expand is None else self.expand(x)
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.use_residual else y


@dataclass(frozen=True)
class StageArgs:
    """One EfficientNet stage of identical MBConv blocks (B0 values before scaling)."""

    kernel: int
    repeats: int
    cout: int
    expand: int
    stride: int


# EfficientNet-B0, Tan & Le 2019, Table 1 (stages 2-8; the stem is stage 1).
BASE_STAGES: tuple[StageArgs, ...] = (
    StageArgs(3, 1, 16, 1, 1),
    StageArgs(3, 2, 24, 6, 2),
    StageArgs(5, 2, 40, 6, 2),
    StageArgs(3, 3, 80, 6, 2),
    StageArgs(5, 3, 112, 6, 1),
    StageArgs(5, 4, 192, 6, 2),
    StageArgs(3, 1, 320, 6, 1),
)


@dataclass(frozen=True)
class EfficientNetSpec:
    """Compound-scaling coefficients of one variant."""

    width: float
    depth: float
    resolution: int
    dropout: float
    lite: bool = False


EFFICIENTNET_SPECS: dict[str, EfficientNetSpec] = {
    "b0": EfficientNetSpec(1.0, 1.0, 224, 0.2),
    "b1": EfficientNetSpec(1.0, 1.1, 240, 0.2),
    "b2": EfficientNetSpec(1.1, 1.2, 260, 0.3),
    "b3": EfficientNetSpec(1.2, 1.4, 300, 0.3),
    "b4": EfficientNetSpec(1.4, 1.8, 380, 0.4),
    "b5": EfficientNetSpec(1.6, 2.2, 456, 0.4),
    "b6": EfficientNetSpec(1.8, 2.6, 528, 0.5),
    "b7": EfficientNetSpec(2.0, 3.1, 600, 0.5),
    "lite0": EfficientNetSpec(1.0, 1.0, 224, 0.2, lite=True),
    "lite1": EfficientNetSpec(1.0, 1.1, 240, 0.2, lite=True),
    "lite2": EfficientNetSpec(1.1, 1.2, 260, 0.3, lite=True),
    "lite3": EfficientNetSpec(1.2, 1.4, 280, 0.3, lite=True),
    "lite4": EfficientNetSpec(1.4, 1.8, 300, 0.3, lite=True),
}


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width`` and round to a multiple of ``divisor``, never going
    more than 10% below the scaled value (EfficientNet reference rule)."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(repeats: int, depth: float) -> int:
    """Scale a stage's block count by ``depth``, rounding up."""
    return int(math.ceil(depth * repeats))


class EfficientNet(nn.Module):
    """EfficientNet trunk: stem (3x3/2 conv) and the first ``num_stages`` MBConv stages, plus
    (when ``num_stages == 7`` and ``include_top``) the 1x1 head conv, global pooling and a
    classifier.

    ``forward(x (B, 3, H, W))`` returns the last stage's feature map
    ``(B, out_channels, H/stride, W/stride)``, or logits ``(B, num_classes)`` with the top.
    """

    def __init__(self, variant: str = "b0", num_stages: int = 7, include_top: bool = False,
                 num_classes: int = 1000, tf_padding: bool = False) -> None:
        super().__init__()
        if variant not in EFFICIENTNET_SPECS:
            raise ValueError(f"unknown EfficientNet variant {variant!r}; "
                             f"expected one of {sorted(EFFICIENTNET_SPECS)}")
        if not 1 <= num_stages <= len(BASE_STAGES):
            raise ValueError(f"num_stages must be in 1..{len(BASE_STAGES)}, got {num_stages}")
        spec = EFFICIENTNET_SPECS[variant]
        self.spec = spec
        act = "relu6" if spec.lite else "swish"
        se_ratio = 0.0 if spec.lite else 0.25
        stem = 32 if spec.lite else round_filters(32, spec.width)
        self.stem = conv_bn(3, stem, 3, 2, act=act, tf_padding=tf_padding)
        stages: list[nn.Sequential] = []
        cin, stride = stem, 2
        last = len(BASE_STAGES) - 1
        for i, st in enumerate(BASE_STAGES[:num_stages]):
            cout = round_filters(st.cout, spec.width)
            fixed = spec.lite and i in (0, last)
            n = st.repeats if fixed else round_repeats(st.repeats, spec.depth)
            blocks = [MBConv(cin if j == 0 else cout, cout, st.expand, st.kernel,
                             st.stride if j == 0 else 1, se_ratio, act,
                             tf_padding=tf_padding) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin, stride = cout, stride * st.stride
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin
        self.stride = stride
        self.head: nn.Module | None = None
        if include_top:
            if num_stages != len(BASE_STAGES):
                raise ValueError("include_top needs all 7 stages")
            head = 1280 if spec.lite else round_filters(1280, spec.width)
            self.head = nn.Sequential(conv_bn(cin, head, 1, act=act),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Dropout(spec.dropout), nn.Linear(head, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem(x))
        return x if self.head is None else self.head(x)

"""Stacked Hourglass Networks.

Reference: Newell, Yang, Deng, "Stacked Hourglass Networks for Human Pose Estimation",
ECCV 2016. Configuration of the paper (and of its released Torch code, ``hg.lua``):

- input 256x256, output 64x64 (stride 4);
- stem: 7x7/2 conv (64) + BN + ReLU, residual 64->128, 2x2 max-pool, residual 128->128,
  residual 128->256;
- each hourglass has 4 downsamplings (64 -> 4 px) with one residual module per step, 256
  features throughout, nearest-neighbour upsampling and element-wise skip additions;
- the residual module is the pre-activation bottleneck BN-ReLU-1x1(128)-BN-ReLU-3x3(128)-
  BN-ReLU-1x1(256), with an identity skip (1x1 conv when the channel count changes);
- after each hourglass: residual, 1x1 conv+BN+ReLU, 1x1 conv to the K heatmaps; between
  stacks the features and the heatmaps are mapped back by 1x1 convs and added to the stack
  input (intermediate supervision).

``forward(images (B, 3, H, W)) -> list of num_stacks heatmaps (B, K, H/4, W/4)``, final last.
H and W must be multiples of 64 (four 2x poolings after the stride-4 stem).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn


class PreActResidual(nn.Module):
    """Pre-activation bottleneck residual module of the hourglass paper.
    ``(B, cin, H, W) -> (B, cout, H, W)``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, 1, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


ResidualFactory = Callable[[int, int, int], nn.Module]
"""``factory(cin, cout, depth_level) -> module``; ``depth_level`` lets PRM pick per level."""


def _plain_residual(cin: int, cout: int, level: int) -> nn.Module:
    return PreActResidual(cin, cout)


class Hourglass(nn.Module):
    """One hourglass of ``depth`` downsamplings: ``(B, f, H, W) -> (B, f, H, W)``.

    ``up``: residual at this resolution; ``low1``: pool + residual; ``low2``: inner hourglass
    (or a residual at the bottom); ``low3``: residual; output ``up + upsample(low3)``.
    ``make_up(f, f, depth)`` and ``make_low(f, f, depth)`` build the residual modules so that
    PRM can use its own module at selected levels.
    """

    def __init__(self, depth: int, features: int, make_up: ResidualFactory = _plain_residual,
                 make_low: ResidualFactory = _plain_residual,
                 make_low3: ResidualFactory | None = None) -> None:
        super().__init__()
        make_low3 = make_low3 or make_low
        self.up = make_up(features, features, depth)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = make_low(features, features, depth)
        if depth > 1:
            self.low2: nn.Module = Hourglass(depth - 1, features, make_up, make_low, make_low3)
        else:
            self.low2 = make_low(features, features, depth)
        self.low3 = make_low3(features, features, depth)

    def forward(self, x: Tensor) -> Tensor:
        up = self.up(x)
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return up + F.interpolate(low, scale_factor=2.0, mode="nearest")


def conv1x1_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """The ``lin`` layer of hg.lua: 1x1 conv (with bias) -> BN -> ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class StackChain(nn.Module):
    """Hourglasses chained with intermediate supervision (Newell et al. 2016, Sec. 3.4).

    After hourglass i, ``post[i]`` gives features y, a 1x1 conv gives K heatmaps, and both are
    mapped back to ``features`` channels by 1x1 convs and added to the stack's input before
    hourglass i + 1. ``forward(x (B, f, h, w)) -> [heatmaps (B, K, h, w)] * num_stacks``.
    Shared by the plain and the PRM hourglass networks.
    """

    def __init__(self, hourglasses: list[nn.Module], posts: list[nn.Module], features: int,
                 num_keypoints: int) -> None:
        super().__init__()
        n = len(hourglasses)
        self.hourglasses = nn.ModuleList(hourglasses)
        self.post = nn.ModuleList(posts)
        self.heads = nn.ModuleList(nn.Conv2d(features, num_keypoints, 1) for _ in range(n))
        self.remap_features = nn.ModuleList(nn.Conv2d(features, features, 1) for _ in range(n - 1))
        self.remap_heatmaps = nn.ModuleList(
            nn.Conv2d(num_keypoints, features, 1) for _ in range(n - 1))

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        for i, hourglass in enumerate(self.hourglasses):
            y = self.post[i](hourglass(x))
            heatmaps = self.heads[i](y)
            outputs.append(heatmaps)
            if i < len(self.hourglasses) - 1:
                x = x + self.remap_features[i](y) + self.remap_heatmaps[i](heatmaps)
        return outputs


class StackedHourglass(nn.Module):
    """Newell et al. 2016 stacked hourglass; see the module docstring.

    ``forward(images (B, 3, H, W)) -> [heatmaps (B, K, H/4, W/4)] * num_stacks`` (final last).
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_stacks: int = 8, num_keypoints: int = 16, features: int = 256,
                 input_size: tuple[int, int] = (256, 256), post_residual: bool = True) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        f = features
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            PreActResidual(64, 128), nn.MaxPool2d(2, 2),
            PreActResidual(128, 128), PreActResidual(128, f),
        )
        # hg.lua: residual then lin after each hourglass. post_residual=False gives the head of
        # the PRM paper's baseline (BN-ReLU then lin), used only to reproduce its figures.
        self.stack = StackChain(
            [Hourglass(4, f) for _ in range(num_stacks)],
            [nn.Sequential(PreActResidual(f, f) if post_residual
                           else nn.Sequential(nn.BatchNorm2d(f), nn.ReLU(inplace=True)),
                           conv1x1_bn_relu(f, f))
             for _ in range(num_stacks)],
            f, num_keypoints)

    def forward(self, images: Tensor) -> list[Tensor]:
        return self.stack(self.stem(images))


def _builder(num_stacks: int) -> Callable[..., StackedHourglass]:
    def build(*, num_keypoints: int = 16,
              input_size: tuple[int, int] = (256, 256)) -> StackedHourglass:
        return StackedHourglass(num_stacks, num_keypoints=num_keypoints, input_size=input_size)
    build.__name__ = f"hourglass_{num_stacks}"
    build.__doc__ = (f"{num_stacks}-stack hourglass, 256 features, 64x64 output at 256x256 "
                     "(Newell et al., ECCV 2016). Default 16 keypoints (MPII).")
    return build


hourglass_1 = _builder(1)
hourglass_2 = _builder(2)
hourglass_4 = _builder(4)
hourglass_8 = _builder(8)

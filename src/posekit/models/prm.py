"""Stacked hourglass with Pyramid Residual Modules, variant B (PRM-B).

Reference: Yang, Li, Ouyang, Li, Wang, "Learning Feature Pyramids for Human Pose Estimation",
ICCV 2017. Configuration follows the paper and its released Torch code (bearpaw/PyraNet,
``hg-prm.lua``, ``PRM.lua``), read for the structure only:

- PRM-B: the pre-activation bottleneck of the hourglass (BN-ReLU-1x1(f/2)-BN-ReLU-3x3(f/2))
  is summed with a pyramid branch whose *shared* 1x1 reduction to ``D = f // base_width``
  channels feeds ``C`` (cardinality) sub-branches. Sub-branch c (c = 1..C) subsamples the map
  by fractional max-pooling with ratio ``2^(-c/C)``, applies a 3x3 conv (D -> D) and upsamples
  back bilinearly; the sub-branches are summed, then BN-ReLU-1x1 (D -> f/2). The sum of both
  branches goes through BN-ReLU-1x1 (f/2 -> f) and is added to the skip. Variant A would give
  each sub-branch its own 1x1 reduction; B shares it (fewer parameters, same accuracy in the
  paper's Table 2).
- Where PRMs are used (as in ``hg-prm.lua``): the three stem residuals; in each hourglass the
  upper-branch modules of the 64, 32 and 16 px levels and the lower-branch modules feeding
  the 32 and 16 px levels. The other modules (coarser levels) are plain residuals. The
  lower branch's last module (``low3``) has a 1x1-conv skip.
- Head after each hourglass: BN-ReLU, 1x1 conv+BN+ReLU, 1x1 conv to K heatmaps (no extra
  residual, unlike Newell's hg.lua); stacks are chained as in the hourglass.
- 8 stacks, 256 features, 256x256 input, 64x64 output. ``base_width=9, cardinality=4`` are
  the values of the released training script (``experiments/mpii/hg-prm-stack2.sh``).

Fractional max-pooling is stochastic in training (random pooling regions, as in Graham 2014
and the Torch layer); in eval mode this module uses fixed, evenly spaced regions
(``u = 0.5``) so that inference is deterministic.

``forward(images (B, 3, H, W)) -> list of num_stacks heatmaps (B, K, H/4, W/4)``, final last.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.hourglass import Hourglass, StackChain, conv1x1_bn_relu


def _bn_relu(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]


class FractionalMaxPool(nn.Module):
    """2x2 fractional max-pooling to ``floor(ratio * size)``: random regions in training,
    fixed regions (sample 0.5) in eval. ``(B, C, H, W) -> (B, C, floor(rH), floor(rW))``."""

    def __init__(self, ratio: float) -> None:
        super().__init__()
        self.ratio = ratio

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        out = (max(1, int(h * self.ratio)), max(1, int(w * self.ratio)))
        samples = None
        if not self.training:
            samples = torch.full((b, c, 2), 0.5, dtype=x.dtype, device=x.device)
        return F.fractional_max_pool2d(x, 2, output_size=out, _random_samples=samples)


class PyramidBranch(nn.Module):
    """Sum over c = 1..C of ``up(conv3x3(fracpool_{2^(-c/C)}(x)))``. ``(B, D, H, W) ->
    (B, D, H, W)``."""

    def __init__(self, channels: int, cardinality: int) -> None:
        super().__init__()
        self.pools = nn.ModuleList(FractionalMaxPool(2.0 ** (-c / cardinality))
                                   for c in range(1, cardinality + 1))
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, 1, 1)
                                   for _ in range(cardinality))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        out = None
        for pool, conv in zip(self.pools, self.convs):
            y = F.interpolate(conv(pool(x)), size=size, mode="bilinear", align_corners=True)
            out = y if out is None else out + y
        assert out is not None
        return out


class Residual(nn.Module):
    """Pre-activation bottleneck residual (optionally with a PRM-B pyramid branch).

    ``preact=False`` drops the leading BN-ReLU of both branches (the first stem module).
    The skip is the identity, or BN-ReLU-1x1 conv when the channels change or
    ``conv_skip``. ``(B, cin, H, W) -> (B, cout, H, W)``.
    """

    def __init__(self, cin: int, cout: int, *, pyramid: bool, preact: bool = True,
                 conv_skip: bool = False, base_width: int = 9, cardinality: int = 4) -> None:
        super().__init__()
        half = cout // 2
        pre = _bn_relu(cin) if preact else []
        self.main = nn.Sequential(*pre, nn.Conv2d(cin, half, 1), *_bn_relu(half),
                                  nn.Conv2d(half, half, 3, 1, 1))
        self.pyramid: nn.Module | None = None
        if pyramid:
            d = cout // base_width
            pre = _bn_relu(cin) if preact else []
            self.pyramid = nn.Sequential(*pre, nn.Conv2d(cin, d, 1), *_bn_relu(d),
                                         PyramidBranch(d, cardinality), *_bn_relu(d),
                                         nn.Conv2d(d, half, 1))
        self.merge = nn.Sequential(*_bn_relu(half), nn.Conv2d(half, cout, 1))
        if cin == cout and not conv_skip:
            self.skip: nn.Module = nn.Identity()
        else:
            self.skip = nn.Sequential(*_bn_relu(cin), nn.Conv2d(cin, cout, 1))

    def forward(self, x: Tensor) -> Tensor:
        y = self.main(x)
        if self.pyramid is not None:
            y = y + self.pyramid(x)
        return self.merge(y) + self.skip(x)


class PyramidHourglassNet(nn.Module):
    """8-stack hourglass with PRM-B (Yang et al. 2017). See the module docstring.

    ``forward(images (B, 3, H, W)) -> [heatmaps (B, K, H/4, W/4)] * num_stacks``, H and W
    multiples of 64.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_stacks: int = 8, num_keypoints: int = 16, features: int = 256,
                 base_width: int = 9, cardinality: int = 4,
                 input_size: tuple[int, int] = (256, 256)) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        f = features
        kw = dict(base_width=base_width, cardinality=cardinality)

        def up(cin: int, cout: int, level: int) -> nn.Module:
            return Residual(cin, cout, pyramid=level >= 2, **kw)

        def low(cin: int, cout: int, level: int) -> nn.Module:
            return Residual(cin, cout, pyramid=level >= 3, **kw)

        def low3(cin: int, cout: int, level: int) -> nn.Module:
            return Residual(cin, cout, pyramid=level >= 3, conv_skip=True, **kw)

        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3), *_bn_relu(64),
            Residual(64, 128, pyramid=True, preact=False, **kw), nn.MaxPool2d(2, 2),
            Residual(128, 128, pyramid=True, **kw), Residual(128, f, pyramid=True, **kw),
        )
        self.stack = StackChain([Hourglass(4, f, up, low, low3) for _ in range(num_stacks)],
                                [nn.Sequential(*_bn_relu(f), conv1x1_bn_relu(f, f))
                                 for _ in range(num_stacks)],
                                f, num_keypoints)

    def forward(self, images: Tensor) -> list[Tensor]:
        return self.stack(self.stem(images))


def prm(*, num_keypoints: int = 16, input_size: tuple[int, int] = (256, 256),
        num_stacks: int = 8, base_width: int = 9, cardinality: int = 4) -> PyramidHourglassNet:
    """8-stack hourglass with PRM-B, 256x256 input, 64x64 output (Yang et al., ICCV 2017)."""
    return PyramidHourglassNet(num_stacks, num_keypoints=num_keypoints, base_width=base_width,
                               cardinality=cardinality, input_size=input_size)

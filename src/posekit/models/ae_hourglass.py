"""Associative Embedding's stacked hourglass: detection heatmaps and tags for bottom-up grouping.

Reference: Newell, Huang, Deng, "Associative Embedding: End-to-End Learning for Joint Detection
and Grouping", NeurIPS 2017. Configuration of the paper's COCO network as its released training
code builds it (``princeton-vl/pose-ae-train``, ``models/posenet.py`` and ``models/layers.py``,
``task/pose.py``: 4 stacks, 256 features, ``increase`` 128, input 512, output 128):

- **stem**: 7x7/2 convolution (64), 3x3 (128), 2x2 max-pooling, 3x3 (128), 3x3 (``features``):
  ``(B, 3, H, W) -> (B, f, H/4, W/4)``;
- **hourglass** of 4 downsamplings whose width *grows* by ``increase`` at every level (256,
  384, 512, 640, 768 by default; the 2016 hourglass keeps 256 throughout): at a level of width
  ``c`` the upper branch is a 3x3 convolution ``c -> c``, the lower branch 2x2 max-pooling,
  3x3 ``c -> c + increase``, the inner hourglass (a 3x3 ``c + increase`` convolution at the
  bottom), 3x3 ``c + increase -> c`` and nearest 2x upsampling; the branches are added. Plain
  3x3 convolutions with bias and ReLU replace the 2016 residual modules;
- after each hourglass two 3x3 convolutions and a 1x1 prediction of ``2K`` channels: K
  detection heatmaps, then K one-dimensional tags; between stacks the features and the
  predictions are mapped back by 1x1 convolutions and added to the stack input (the chain of
  :class:`posekit.models.hourglass.StackChain`);
- no batch normalisation (the released configuration; ``batch_norm=True`` adds BN after each
  3x3 convolution's ReLU, as the code's ``bn`` option does).

``forward(images (B, 3, H, W))`` returns the bottom-up heads contract: ``{"heatmaps": (B, K, H/4,
W/4), "tags": (B, K, H/4, W/4), "stages": [{"heatmaps", "tags"}] * num_stacks}``, the top-level
heads being the last stack's. H and W must be multiples of 64.

Complexity (docs/models_bottomup.md): 138.8 M parameters and 206.0 G multiply-adds / 2^30 at
512x512 for K = 17. The HRNet/HigherHRNet papers' 277.8 M / 206.9 come from the HRNet
repository's ``get_model_summary``, which counts every parameter twice for this network (both
the code's ``Conv`` wrapper and the ``nn.Conv2d`` inside it match its "Conv" class-name test)
and the released head's 68 output channels (only the first 34 are used); with 68 channels
(``num_keypoints=34``) we get 2 x 138.89 = 277.79 M and 206.95.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from posekit.models.hourglass import StackChain

__all__ = ["AEHourglass", "WideHourglass", "ae_hourglass"]


def _conv(cin: int, cout: int, k: int, stride: int = 1, batch_norm: bool = False) -> nn.Sequential:
    """Convolution (bias, 'same' padding) -> ReLU [-> BatchNorm]."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2), nn.ReLU(inplace=True)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class WideHourglass(nn.Module):
    """An hourglass of ``depth`` downsamplings whose width grows by ``increase`` per level:
    ``(B, features, H, W) -> (B, features, H, W)``; H and W divisible by ``2**depth``."""

    def __init__(self, depth: int, features: int, increase: int = 128, batch_norm: bool = False) -> None:
        super().__init__()
        inner = features + increase
        self.up = _conv(features, features, 3, batch_norm=batch_norm)
        self.pool = nn.MaxPool2d(2, 2)
        self.low1 = _conv(features, inner, 3, batch_norm=batch_norm)
        self.low2: nn.Module = (WideHourglass(depth - 1, inner, increase, batch_norm) if depth > 1
                                else _conv(inner, inner, 3, batch_norm=batch_norm))
        self.low3 = _conv(inner, features, 3)  # the released code never normalises this one

    def forward(self, x: Tensor) -> Tensor:
        low = self.low3(self.low2(self.low1(self.pool(x))))
        return self.up(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


class AEHourglass(nn.Module):
    """Newell et al. 2017 stacked hourglass with detection and tag heads; see the module
    docstring.

    Args:
        num_keypoints: K (K heatmaps and K tag maps per stack).
        num_stacks: hourglasses in the chain, each supervised.
        features: width of the stack input and of each hourglass's outer level.
        increase: channels added at each of the 4 levels of an hourglass.
        batch_norm: BatchNorm after the 3x3 convolutions (off in the released network).
        input_size: default input ``(H, W)``.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 17, num_stacks: int = 4, features: int = 256,
                 increase: int = 128, batch_norm: bool = False,
                 input_size: tuple[int, int] = (512, 512)) -> None:
        super().__init__()
        if num_stacks < 1:
            raise ValueError(f"ae_hourglass needs num_stacks >= 1, got {num_stacks}")
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stacks = num_stacks
        f, bn = features, batch_norm
        self.stem = nn.Sequential(_conv(3, 64, 7, 2, bn), _conv(64, 128, 3, batch_norm=bn), nn.MaxPool2d(2, 2),
                                  _conv(128, 128, 3, batch_norm=bn), _conv(128, f, 3, batch_norm=bn))
        self.stack = StackChain(
            [WideHourglass(4, f, increase, bn) for _ in range(num_stacks)],
            [nn.Sequential(_conv(f, f, 3), _conv(f, f, 3)) for _ in range(num_stacks)],
            f, 2 * num_keypoints)

    def forward(self, images: Tensor) -> dict:
        k = self.num_keypoints
        stages = [{"heatmaps": out[:, :k], "tags": out[:, k:]} for out in self.stack(self.stem(images))]
        return {**stages[-1], "stages": stages}


def ae_hourglass(*, num_keypoints: int = 17, num_stacks: int = 4, features: int = 256, increase: int = 128,
                 batch_norm: bool = False, input_size: tuple[int, int] = (512, 512)) -> AEHourglass:
    """Associative Embedding's 4-stack hourglass (Newell et al., NeurIPS 2017): widths 256 + 128
    per level, K heatmaps + K tags per stack at stride 4, input 512x512, output 128x128."""
    return AEHourglass(num_keypoints=num_keypoints, num_stacks=num_stacks, features=features,
                       increase=increase, batch_norm=batch_norm, input_size=input_size)

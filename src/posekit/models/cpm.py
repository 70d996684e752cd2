"""Convolutional Pose Machines (CPM).

Reference: Wei, Ramakrishna, Kanade, Sheikh, "Convolutional Pose Machines", CVPR 2016.
Configuration of the paper's Figure 2 (368x368 input, 46x46 belief maps, stride 8, T = 6):

- stage 1 (image -> beliefs): C9(128) P C9(128) P C9(128) P C5(32) C9(512) C1(512) C1(P');
- stages t >= 2 share one image-feature network x': C9(128) P C9(128) P C9(128) P C5(32);
  each concatenates x' (32 channels), the previous beliefs (P') and the centre map (1), then
  C11(128) C11(128) C11(128) C1(128) C1(P').
  (``Cn(c)``: n x n convolution with c filters, stride 1, 'same' padding, ReLU; ``P``: 3x3/2
  max-pooling; the last convolution of a stage has no ReLU.)
- the centre map is a Gaussian (sigma 21 input pixels in the paper's code) placed at the
  person's centre, which tells the network which person to parse. In a top-down crop the
  person is centred, so this module builds the map itself at the crop centre; pass
  ``center_map=False`` to drop that input channel (the only change in channel count).
- the paper predicts P' = P + 1 maps (the parts plus background). The zoo contract is one map
  per keypoint, so ``background=False`` (default) gives P' = K; ``background=True`` gives
  K + 1 with the background map last.
- intermediate supervision: every stage's belief maps are returned and each gets the L2 loss.

This is the architecture drawn in the paper; the released Caffe models of the authors replace
the first stage's and x''s layers with a VGG-19-style trunk (not reproduced here).

``forward(images (B, 3, H, W)) -> list of num_stages belief maps (B, P', H/8, W/8)``, final
last; H and W must be multiples of 8.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv(cin: int, cout: int, k: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, 1, k // 2)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


def _pool() -> nn.Module:
    return nn.MaxPool2d(3, 2, 1)


def image_features() -> list[nn.Module]:
    """C9(128) P C9(128) P C9(128) P C5(32): ``(B, 3, H, W) -> (B, 32, H/8, W/8)``."""
    return [*_conv(3, 128, 9), _pool(), *_conv(128, 128, 9), _pool(),
            *_conv(128, 128, 9), _pool(), *_conv(128, 32, 5)]


def center_gaussian(size: tuple[int, int], stride: int, sigma: float,
                    device: torch.device, dtype: torch.dtype) -> Tensor:
    """Centre map ``(1, 1, h, w)`` on the stride-``stride`` grid of an ``(H, W)`` = ``size``
    input: ``exp(-d^2 / (2 sigma^2))`` with d the distance in input pixels from the image
    centre ((W-1)/2, (H-1)/2); output pixel j has its centre at input
    ``stride*j + (stride-1)/2``."""
    h, w = size[0] // stride, size[1] // stride
    ys = torch.arange(h, device=device, dtype=dtype) * stride + (stride - 1) / 2
    xs = torch.arange(w, device=device, dtype=dtype) * stride + (stride - 1) / 2
    dy = (ys - (size[0] - 1) / 2)[:, None]
    dx = (xs - (size[1] - 1) / 2)[None, :]
    return torch.exp(-(dx ** 2 + dy ** 2) / (2 * sigma ** 2))[None, None]


class CPM(nn.Module):
    """Convolutional Pose Machine (Wei et al. 2016). See the module docstring."""

    output_kind = "heatmap"
    stride = 8

    def __init__(self, num_keypoints: int = 14, num_stages: int = 6, center_map: bool = True,
                 background: bool = False, center_sigma: float = 21.0,
                 input_size: tuple[int, int] = (368, 368)) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"CPM needs num_stages >= 1, got {num_stages}")
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stages = num_stages
        self.use_center_map = center_map
        self.center_sigma = center_sigma
        p = num_keypoints + int(background)
        self.stage1 = nn.Sequential(*image_features(), *_conv(32, 512, 9), *_conv(512, 512, 1),
                                    *_conv(512, p, 1, relu=False))
        self.features = nn.Sequential(*image_features()) if num_stages > 1 else None
        cin = 32 + p + int(center_map)
        self.stages = nn.ModuleList(
            nn.Sequential(*_conv(cin, 128, 11), *_conv(128, 128, 11), *_conv(128, 128, 11),
                          *_conv(128, 128, 1), *_conv(128, p, 1, relu=False))
            for _ in range(num_stages - 1))

    def forward(self, images: Tensor) -> list[Tensor]:
        beliefs = self.stage1(images)
        outputs = [beliefs]
        if self.features is None:
            return outputs
        feats = self.features(images)
        extra = []
        if self.use_center_map:
            size = (images.shape[-2], images.shape[-1])
            cmap = center_gaussian(size, self.stride, self.center_sigma, images.device,
                                   images.dtype)
            extra = [cmap.expand(images.shape[0], 1, *feats.shape[-2:])]
        for stage in self.stages:
            beliefs = stage(torch.cat([feats, beliefs, *extra], dim=1))
            outputs.append(beliefs)
        return outputs


def cpm(*, num_keypoints: int = 14, input_size: tuple[int, int] = (368, 368),
        num_stages: int = 6, center_map: bool = True, background: bool = False) -> CPM:
    """6-stage CPM at 368x368, 46x46 belief maps (Wei et al., CVPR 2016). Default 14
    keypoints (LSP)."""
    return CPM(num_keypoints, num_stages=num_stages, center_map=center_map,
               background=background, input_size=input_size)

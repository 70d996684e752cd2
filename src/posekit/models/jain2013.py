"""Per-part ConvNet detectors on 64x64 patches, run fully convolutionally.

Reference: Jain, Tompson, Andriluka, Taylor, Bregler, "Learning Human Pose Estimation Features
with Convolutional Networks", arXiv:1312.7302 (ICLR 2014).

The paper trains one binary ConvNet per body part on 64x64 RGB patches: local contrast
normalisation (LCN), three convolution stages (5x5 filters, ReLU, 2x2 max-pooling after the
first two) and fully connected layers ending in a part / not-part score; at test time the
detector slides over the image. Here:

- the K part detectors are K *independent* networks packed into one module: the first
  convolution has K*c1 filters over the shared LCN image, every later layer is a grouped
  convolution with ``groups=K`` (exactly K separate networks, one per part);
- the fully connected layers are written as convolutions (the first with a 9x9 kernel, the
  spatial size left after the conv stages of a 64x64 patch; the others 1x1), so the whole
  sliding window is one fully convolutional pass with stride 4 (the two poolings);
- the image is zero-padded by 30 px after LCN so that output cell (i, j) scores the 64x64
  window centred on the centre of input cells ``[4i, 4i+3] x [4j, 4j+3]``: an input of H x W
  gives exactly H/4 x W/4 scores (H, W multiples of 4);
- the output is one logit map per part (the two-way softmax of a binary classifier equals a
  sigmoid of one logit). The paper's higher-level weak spatial model on top of the detector
  maps is not part of this module.

Layer widths (convolutions 32, 32, 64; fully connected 256, 128) are our reading of the
paper's description and were not verified against its figure; they are builder arguments.

``forward(images (B, 3, H, W)) -> logits (B, K, H/4, W/4)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PATCH = 64
PAD = 30  # left/top padding so that window i is centred on output cell i (see docstring)


def gaussian_kernel(size: int = 9, sigma: float = 2.25) -> Tensor:
    """Normalised ``(size, size)`` Gaussian."""
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


class LocalContrastNorm(nn.Module):
    """Subtractive then divisive local contrast normalisation (Jarrett et al. 2009), over all
    channels jointly, with a 9x9 Gaussian window. No parameters.

    ``v = x - mean_local(x)``; ``s = sqrt(mean_local(v^2))``; ``y = v / max(s, mean(s))``
    (``mean(s)`` per image). Borders are handled by dividing by the window's coverage.
    ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, size: int = 9, sigma: float = 2.25, eps: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("kernel", gaussian_kernel(size, sigma)[None, None],
                             persistent=False)
        self.eps = eps

    def _local_mean(self, x: Tensor) -> Tensor:
        # x: (B, 1, H, W), averaged over channels already; coverage fixes the zero padding
        pad = self.kernel.shape[-1] // 2
        num = F.conv2d(x, self.kernel, padding=pad)
        cov = F.conv2d(torch.ones_like(x[:1]), self.kernel, padding=pad)
        return num / cov

    def forward(self, x: Tensor) -> Tensor:
        v = x - self._local_mean(x.mean(dim=1, keepdim=True))
        s = self._local_mean((v ** 2).mean(dim=1, keepdim=True)).clamp_min(0).sqrt()
        floor = s.mean(dim=(2, 3), keepdim=True).clamp_min(self.eps)
        return v / torch.maximum(s, floor)


class Jain2013(nn.Module):
    """K per-part ConvNet detectors evaluated densely. See the module docstring.

    ``forward(images (B, 3, H, W)) -> (B, K, H/4, W/4)`` part logits.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 14, conv_channels: tuple[int, int, int] = (32, 32, 64),
                 fc_channels: tuple[int, int] = (256, 128),
                 input_size: tuple[int, int] = (256, 256)) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = k = num_keypoints
        c1, c2, c3 = conv_channels
        f1, f2 = fc_channels
        self.lcn = LocalContrastNorm()
        relu = nn.ReLU
        self.detectors = nn.Sequential(
            nn.Conv2d(3, k * c1, 5), relu(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(k * c1, k * c2, 5, groups=k), relu(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(k * c2, k * c3, 5, groups=k), relu(inplace=True),
            # fully connected layers of each 64x64 detector, as convolutions (9x9 = spatial
            # size left of a 64x64 patch: 64-4=60, /2=30, -4=26, /2=13, -4=9)
            nn.Conv2d(k * c3, k * f1, 9, groups=k), relu(inplace=True),
            nn.Conv2d(k * f1, k * f2, 1, groups=k), relu(inplace=True),
            nn.Conv2d(k * f2, k, 1, groups=k),
        )

    def forward(self, images: Tensor) -> Tensor:
        h, w = images.shape[-2:]
        if h % 4 or w % 4:
            raise ValueError(f"jain2013 needs H and W multiples of 4, got {(h, w)}")
        x = F.pad(self.lcn(images), (PAD, PAD, PAD, PAD))
        return self.detectors(x)

    def patch_logits(self, patches: Tensor) -> Tensor:
        """Score 64x64 patches directly (the training view): ``(N, 3, 64, 64) -> (N, K)``.
        LCN is applied to the patch itself."""
        if tuple(patches.shape[-2:]) != (PATCH, PATCH):
            raise ValueError(f"patches must be {PATCH}x{PATCH}, got {tuple(patches.shape[-2:])}")
        return self.detectors(self.lcn(patches)).flatten(1)


def jain2013(*, num_keypoints: int = 14, input_size: tuple[int, int] = (256, 256),
             conv_channels: tuple[int, int, int] = (32, 32, 64),
             fc_channels: tuple[int, int] = (256, 128)) -> Jain2013:
    """Per-part 64x64 ConvNet detectors with LCN, fully convolutional, stride 4 (Jain et al.
    2013). Default 14 keypoints (LSP)."""
    return Jain2013(num_keypoints, conv_channels=conv_channels, fc_channels=fc_channels,
                    input_size=input_size)

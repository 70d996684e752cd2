"""HigherHRNet: HRNet with a deconvolution module for 1/2-resolution heatmaps, plus AE tags.

Reference: Cheng, Xiao, Wang, Shi, Huang, Zhang, "HigherHRNet: Scale-Aware Representation
Learning for Bottom-Up Human Pose Estimation", CVPR 2020 (Sec. 3 and the official configuration
``w32_512_adam_lr1e-3``: one deconvolution, 32 channels, kernel 4, 4 basic blocks, features
concatenated with the 1/4 predictions, 1x1 final layers, AE tags at 1/4 only).

Structure, for an input ``(B, 3, H, W)`` (H and W multiples of 32):

- **Backbone**: HRNet-W32 (:class:`posekit.models.hrnet.HRNet`, its head removed): the
  highest-resolution branch ``(B, 32, H/4, W/4)``.
- **1/4 head**: a 1x1 convolution to ``2K`` channels: K heatmaps, then K tags (one per joint).
- **Deconvolution module**: the features concatenated with the 1/4 predictions (``32 + 2K``
  channels) -> 4x4 stride-2 transposed convolution to 32 channels + BN + ReLU -> 4
  BasicBlocks (32) -> ``(B, 32, H/2, W/2)``; a 1x1 convolution gives K heatmaps at 1/2.

``forward`` returns the bottom-up heads contract: ``{"heatmaps": (B, K, H/4, W/4), "tags": (B,
K, H/4, W/4), "heatmaps_hr": (B, K, H/2, W/2), "stages": [{"heatmaps", "tags"},
{"heatmaps_hr"}]}`` (the loss supervises heatmaps at both resolutions and tags at 1/4;
inference averages the upsampled 1/4 heatmaps with the 1/2 ones, see
:class:`posekit.codecs.ae.AECodec`).

Complexity (docs/models_bottomup.md): 28.65 M parameters against the paper's 28.6 M; 47.9
"GFLOPs" at 512x512 is the HRNet repository's ``get_model_summary`` count (a transposed
convolution counted at every *output* pixel) / 2^30.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.models.blocks import BasicBlock
from posekit.models.hrnet import HRNet, HRNetSpec

__all__ = ["HigherHRNet", "higherhrnet_w32"]


class HigherHRNet(nn.Module):
    """HRNet backbone + 1/4 heatmaps and tags + deconvolution module to 1/2 heatmaps; see the
    module docstring.

    Args:
        num_keypoints: K.
        width: HRNet width C (32 for W32).
        deconv_channels: channels of the deconvolution module.
        num_basic_blocks: BasicBlocks after the deconvolution.
        input_size: default input ``(H, W)``.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 17, width: int = 32, deconv_channels: int = 32,
                 num_basic_blocks: int = 4, input_size: tuple[int, int] = (512, 512)) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        k = num_keypoints
        self.backbone = HRNet(HRNetSpec(width, self.default_input_size), num_keypoints=k)
        self.backbone.head = nn.Identity()  # the backbone returns the 1/4 branch (B, C, H/4, W/4)
        self.final = nn.Conv2d(width, 2 * k, 1)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(width + 2 * k, deconv_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(deconv_channels), nn.ReLU(inplace=True),
            *(BasicBlock(deconv_channels, deconv_channels) for _ in range(num_basic_blocks)))
        self.final_hr = nn.Conv2d(deconv_channels, k, 1)

    def forward(self, images: Tensor) -> dict:
        k = self.num_keypoints
        feats = self.backbone(images)
        low = self.final(feats)
        heatmaps_hr = self.final_hr(self.deconv(torch.cat([feats, low], dim=1)))
        first = {"heatmaps": low[:, :k], "tags": low[:, k:]}
        return {**first, "heatmaps_hr": heatmaps_hr, "stages": [first, {"heatmaps_hr": heatmaps_hr}]}


def higherhrnet_w32(*, num_keypoints: int = 17, input_size: tuple[int, int] = (512, 512)) -> HigherHRNet:
    """HigherHRNet-W32 (Cheng et al., CVPR 2020): HRNet-W32, K heatmaps + K tags at 1/4, one
    deconvolution module to K heatmaps at 1/2; input 512x512."""
    return HigherHRNet(num_keypoints=num_keypoints, input_size=input_size)

"""PoseFix: a model-agnostic pose refiner (image crop + input pose -> refined pose heatmaps).

Reference: Moon, Chang & Lee, "PoseFix: Model-agnostic General Human Pose Refinement Network",
CVPR 2019 (arXiv:1812.03595). The refiner sees the crop and the pose to refine, the latter
rendered as ``K`` Gaussian heatmaps at the crop's resolution and concatenated to the image's
three channels; the paper's network is a SimpleBaseline (ResNet-152 with its first convolution
taking ``3 + K`` channels, three deconvolutions), trained on ground truth corrupted by the
errors pose estimators make (:mod:`posekit.data.posefix`). Here the trunk is a ResNet-18
SimpleBaseline with 64-channel deconvolutions and skip connections (posekit's CPU-sized
``synthetic_sb_r18`` model), and the loss is the heatmap MSE only (the paper adds an integral
coordinate loss).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posekit.models.simple_baseline import SimpleBaseline

__all__ = ["render_pose", "PoseFixNet"]


def render_pose(pose_crop: Tensor, size_hw: tuple[int, int], sigma: float = 2.0) -> Tensor:
    """Render ``(B, K, 3)`` crop-pixel poses ``[x, y, v]`` as ``(B, K, H, W)`` Gaussians of std
    ``sigma`` pixels, peak 1, centred on the keypoint (integer coordinates are pixel centres);
    joints with ``v <= 0`` or non-finite coordinates give an all-zero map."""
    H, W = size_hw
    xs = torch.arange(W, device=pose_crop.device, dtype=torch.float32)
    ys = torch.arange(H, device=pose_crop.device, dtype=torch.float32)
    x = pose_crop[..., 0:1].float()
    y = pose_crop[..., 1:2].float()
    ok = (pose_crop[..., 2] > 0) & torch.isfinite(pose_crop[..., :2]).all(-1)
    x = torch.where(ok[..., None], x, torch.zeros_like(x))
    y = torch.where(ok[..., None], y, torch.zeros_like(y))
    gx = torch.exp(-((xs - x) ** 2) / (2 * sigma ** 2))            # (B, K, W)
    gy = torch.exp(-((ys - y) ** 2) / (2 * sigma ** 2))            # (B, K, H)
    return gy[..., :, None] * gx[..., None, :] * ok[..., None, None].float()


class PoseFixNet(nn.Module):
    """``forward(images (B, 3, H, W), pose (B, K, 3) in crop pixels) -> (B, K, H/4, W/4)``
    refined heatmaps (decode with the MSRA heatmap codec of the same input size)."""

    output_kind = "heatmap"
    stride = 4

    def __init__(self, num_keypoints: int = 17, depth: int = 18, deconv_channels: int = 64,
                 skips: bool = True, pose_sigma: float = 2.0) -> None:
        super().__init__()
        self.num_keypoints = num_keypoints
        self.pose_sigma = float(pose_sigma)
        self.net = SimpleBaseline(depth, num_keypoints=num_keypoints, deconv_channels=deconv_channels, skips=skips)
        self.net.backbone.stem.conv1 = nn.Conv2d(3 + num_keypoints, 64, 7, 2, 3, bias=False)

    def forward(self, images: Tensor, pose: Tensor) -> Tensor:
        maps = render_pose(pose, tuple(images.shape[-2:]), self.pose_sigma).to(images.dtype)
        return self.net(torch.cat([images, maps], dim=1))

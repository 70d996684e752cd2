"""DeepPose: cascaded direct regression of joint coordinates.

Reference: Toshev, Szegedy, "DeepPose: Human Pose Estimation via Deep Neural Networks",
CVPR 2014.

Stage 1 is an AlexNet-like regressor on the whole 220x220 input:
C(55x55x96) LRN P C(27x27x256) LRN P C(13x13x384) C(13x13x384) C(13x13x256) P F(4096) F(4096)
then a linear layer to 2K numbers (filters 11x11/4, 5x5, 3x3, 3x3, 3x3; ReLU after every
layer but the last; dropout on the F layers). It regresses *normalised* coordinates
``N(y; b) = (y - b_center) / b_size`` with ``b`` the input box.

Stages s = 2..S (the cascade): for each joint i, a box ``b_i`` centred on the stage s-1
estimate ``y_i`` with side ``sigma * diam(y)`` is cropped from the input and resized to the
regressor's input size (bilinear ``grid_sample``); ``diam`` is the distance between opposing
torso joints (left shoulder and right hip). One regressor per stage, shared by all joints
(same architecture as stage 1, own parameters), predicts for joint i the displacement
``N(y_i - y_i^{s-1}; b_i)``: the i-th of its K outputs is used for the crop of joint i. Stages
are trained one after the other in the paper; here the crop boxes and the previous estimate
are detached, so the loss of stage s trains only stage s's regressor when the losses of all
stages are summed. (The paper's training-time augmentation of stage s >= 2 with simulated
stage s-1 predictions belongs in the data pipeline, not in this module.)

Coordinates: output ``(B, K, 2)`` holds ``(u, v)`` with ``x = (u + 0.5) * W - 0.5`` and
``y = (v + 0.5) * H - 0.5`` in input-pixel coordinates (pixel centres at integers), so
``[-0.5, 0.5]`` spans the input edge to edge.

``forward(images (B, 3, H, W)) -> list of num_stages tensors (B, K, 2)``, final last.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posekit.skeleton import COCO17, FLIC11, LSP14, MPII16


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class AlexNetRegressor(nn.Module):
    """AlexNet-like regressor of the DeepPose paper. ``(B, 3, H, W) -> (B, out_features)``.
    ``input_size`` fixes the flattened size before the first F layer."""

    def __init__(self, out_features: int, input_size: tuple[int, int] = (220, 220),
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, 4, 4), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, 1, 2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        h, w = input_size
        for k, s, p in ((11, 4, 4), (3, 2, 0), (3, 2, 0), (3, 2, 0)):
            h, w = _conv_out(h, k, s, p), _conv_out(w, k, s, p)
        if h < 1 or w < 1:
            raise ValueError(f"DeepPose input {input_size} is too small (need >= 67 px)")
        self.regressor = nn.Sequential(
            nn.Flatten(), nn.Linear(256 * h * w, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, out_features),
        )
        nn.init.normal_(self.regressor[-1].weight, std=1e-3)
        nn.init.zeros_(self.regressor[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.regressor(self.features(x))


def default_torso_pair(num_keypoints: int) -> tuple[int, int] | None:
    """(left_shoulder, right_hip) indices for the COCO, MPII, LSP and FLIC layouts, chosen by
    keypoint count; None when the count matches none of them."""
    for spec in (COCO17, MPII16, LSP14, FLIC11):
        if spec.num_keypoints == num_keypoints:
            return spec.names.index("left_shoulder"), spec.names.index("right_hip")
    return None


def crop_around(images: Tensor, centers: Tensor, sizes: Tensor,
                out_size: tuple[int, int]) -> Tensor:
    """Square crops (in pixels) around normalised centres, resized by bilinear sampling.

    images ``(B, 3, H, W)``; centers ``(B, K, 2)`` normalised ``(u, v)`` as in the module
    docstring; sizes ``(B,)`` box side in input pixels. Returns ``(B*K, 3, out_h, out_w)``,
    batch-major (image b, joint k at row ``b*K + k``); the box fills the crop edge to edge.
    """
    b, _, h, w = images.shape
    k = centers.shape[1]
    theta = images.new_zeros(b, k, 2, 3)
    theta[..., 0, 0] = (sizes / w)[:, None]
    theta[..., 1, 1] = (sizes / h)[:, None]
    theta[..., :, 2] = 2.0 * centers  # normalised centre -> grid coords in [-1, 1]
    grid = F.affine_grid(theta.reshape(b * k, 2, 3), [b * k, 3, *out_size], align_corners=False)
    src = images[:, None].expand(b, k, *images.shape[1:]).reshape(b * k, *images.shape[1:])
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class DeepPose(nn.Module):
    """DeepPose cascade (Toshev & Szegedy 2014). See the module docstring.

    ``forward(images (B, 3, H, W)) -> [(B, K, 2)] * num_stages``, normalised coordinates.
    """

    output_kind = "regression"
    stride = 1

    def __init__(self, num_keypoints: int = 14, num_stages: int = 3, sigma: float = 1.0,
                 torso_pair: tuple[int, int] | None = None,
                 input_size: tuple[int, int] = (220, 220), dropout: float = 0.5) -> None:
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"DeepPose needs num_stages >= 1, got {num_stages}")
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_stages = num_stages
        self.sigma = sigma
        self.torso_pair = torso_pair if torso_pair is not None else default_torso_pair(
            num_keypoints)
        self.crop_size = tuple(input_size)
        self.stages = nn.ModuleList(
            AlexNetRegressor(2 * num_keypoints, input_size, dropout) for _ in range(num_stages))

    def diameter(self, coords: Tensor, size: tuple[int, int]) -> Tensor:
        """Pose diameter in input pixels, ``(B,)``: torso-pair distance, or the diagonal of
        the joints' bounding box when no pair is known."""
        h, w = size
        px = coords * coords.new_tensor([w, h])
        if self.torso_pair is not None:
            i, j = self.torso_pair
            return (px[:, i] - px[:, j]).norm(dim=-1)
        return (px.amax(dim=1) - px.amin(dim=1)).norm(dim=-1)

    def forward(self, images: Tensor) -> list[Tensor]:
        b = images.shape[0]
        k = self.num_keypoints
        size = (images.shape[-2], images.shape[-1])
        if size != self.crop_size:
            stage_input = F.interpolate(images, size=self.crop_size, mode="bilinear",
                                        align_corners=False)
        else:
            stage_input = images
        coords = self.stages[0](stage_input).view(b, k, 2)
        outputs = [coords]
        for stage in self.stages[1:]:
            prev = coords.detach()
            # at least 1 px so that a collapsed early estimate still gives a valid crop
            box = (self.sigma * self.diameter(prev, size)).clamp_min(1.0)
            crops = crop_around(images, prev, box, self.crop_size)  # (B*K, 3, h, w)
            disp = stage(crops).view(b, k, k, 2)  # per crop: all K joints' displacements
            own = disp[:, torch.arange(k), torch.arange(k)]  # (B, K, 2): joint i from crop i
            scale = torch.stack([box / size[1], box / size[0]], dim=-1)[:, None]  # (B, 1, 2)
            coords = prev + own * scale
            outputs.append(coords)
        return outputs


def deeppose(*, num_keypoints: int = 14, input_size: tuple[int, int] = (220, 220),
             num_stages: int = 3, sigma: float = 1.0,
             torso_pair: tuple[int, int] | None = None) -> DeepPose:
    """DeepPose with 3 stages at 220x220 (Toshev & Szegedy, CVPR 2014). Default 14
    keypoints (LSP)."""
    return DeepPose(num_keypoints, num_stages=num_stages, sigma=sigma, torso_pair=torso_pair,
                    input_size=input_size)

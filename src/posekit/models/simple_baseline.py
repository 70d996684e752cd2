"""SimpleBaseline: a ResNet followed by three deconvolutions.

Reference: Xiao, Wu, Wei, "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018.
Configuration of the paper: ResNet-18/50/101/152 (ImageNet trunk, no classifier), then three
4x4 stride-2 transposed convolutions of 256 channels each with BatchNorm and ReLU, then a 1x1
convolution to one heatmap per keypoint. Output stride 4: a 256x192 crop gives 64x48 heatmaps.

``forward(images (B, 3, H, W)) -> heatmaps (B, K, H/4, W/4)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from posekit.models.backbones.resnet import ResNet


def deconv_layers(cin: int, channels: int = 256, num_layers: int = 3) -> nn.Sequential:
    """``num_layers`` x (ConvTranspose 4x4/2, pad 1 -> BN -> ReLU): each doubles H and W."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.ConvTranspose2d(cin, channels, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
        cin = channels
    return nn.Sequential(*layers)


class SimpleBaseline(nn.Module):
    """ResNet-``depth`` + 3 deconvolutions + 1x1 head (Xiao et al. 2018).

    ``forward(images (B, 3, H, W)) -> (B, num_keypoints, H/4, W/4)``, H and W multiples of 32.
    """

    output_kind = "heatmap"
    stride = 4

    def __init__(self, depth: int = 50, num_keypoints: int = 17,
                 input_size: tuple[int, int] = (256, 192), deconv_channels: int = 256,
                 skips: bool = False) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.backbone = ResNet(depth)
        self.deconv = deconv_layers(self.backbone.channels[-1], deconv_channels)
        self.final = nn.Conv2d(deconv_channels, num_keypoints, 1)
        # lateral 1x1 conv + BN from C4, C3, C2 (the sizes of deconvolutions 1, 2, 3)
        self.skips = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, deconv_channels, 1, bias=False), nn.BatchNorm2d(deconv_channels))
            for c in reversed(self.backbone.channels[:-1])) if skips else None
        for m in self.deconv.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, images: Tensor) -> Tensor:
        feats = self.backbone(images)
        if self.skips is None:
            return self.final(self.deconv(feats[-1]))
        x = feats[-1]
        for i, lateral in enumerate(self.skips):
            x = self.deconv[3 * i: 3 * i + 3](x) + lateral(feats[-2 - i])
        return self.final(x)


def _builder(depth: int) -> Callable[..., SimpleBaseline]:
    def build(*, num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192),
              deconv_channels: int = 256, skips: bool = False) -> SimpleBaseline:
        return SimpleBaseline(depth, num_keypoints=num_keypoints, input_size=input_size,
                              deconv_channels=deconv_channels, skips=skips)
    build.__name__ = f"simple_baseline_r{depth}"
    build.__doc__ = (f"SimpleBaseline with a ResNet-{depth} trunk (Xiao et al., ECCV 2018); "
                     "``deconv_channels`` is the width of the three deconvolutions (256 in the paper); "
                     "``skips=True`` adds the trunk's C4/C3/C2 features to them (not in the paper).")
    return build


simple_baseline_r18 = _builder(18)
simple_baseline_r50 = _builder(50)
simple_baseline_r101 = _builder(101)
simple_baseline_r152 = _builder(152)

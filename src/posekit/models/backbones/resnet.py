"""ResNet-18/34/50/101/152 feature extractor (no classifier).

Reference: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016.
The stride sits on the 3x3 convolution of the bottleneck ("ResNet v1.5"), as in the torchvision
weights that SimpleBaselines, CPN and MSPN start from.

``ResNet(depth)(images)`` returns the four stage outputs ``[C2, C3, C4, C5]`` with strides 4, 8,
16 and 32 and ``channels`` = (64, 128, 256, 512) times the block expansion (1 for 18/34, 4 for
50/101/152). Shapes for an input ``(B, 3, H, W)``: ``C_i`` is ``(B, channels[i-2], H/2^i, W/2^i)``
(rounded up by the padding of the strided convolutions).
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.models.blocks import BasicBlock, Bottleneck, make_stage

#: depth -> (block, blocks per stage)
RESNET_SPECS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNetStem(nn.Module):
    """7x7/2 conv (64) -> BN -> ReLU -> 3x3/2 max-pool: ``(B, 3, H, W) -> (B, 64, H/4, W/4)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class ResNet(nn.Module):
    """ResNet trunk without the average pool and the classifier.

    ``forward(images (B, 3, H, W)) -> [C2, C3, C4, C5]`` (strides 4, 8, 16, 32).
    Attribute ``channels``: the channel count of each of the four outputs.
    """

    def __init__(self, depth: int = 50) -> None:
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_SPECS)}, got {depth}")
        block, blocks = RESNET_SPECS[depth]
        self.depth = depth
        self.stem = ResNetStem()
        planes = (64, 128, 256, 512)
        cin = 64
        stages = []
        for i, (p, n) in enumerate(zip(planes, blocks)):
            stages.append(make_stage(block, cin, p, n, stride=1 if i == 0 else 2))
            cin = p * block.expansion
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.channels: tuple[int, int, int, int] = tuple(p * block.expansion for p in planes)
        init_resnet_(self)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        c2 = self.layer1(x)
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c2, c3, c4, c5]


def init_resnet_(module: nn.Module) -> None:
    """He (fan-out) init for convolutions, unit BatchNorm, as in the ResNet paper."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resnet(depth: int) -> ResNet:
    """ResNet-``depth`` trunk, ``depth`` in 18, 34, 50, 101, 152."""
    return ResNet(depth)

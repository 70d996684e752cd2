"""DeeperCut's part detector: a ResNet at stride 8 with score maps, location refinement and
pairwise offsets.

Reference: Insafutdinov, Pishchulin, Andres, Andriluka, Schiele, "DeeperCut: A Deeper,
Stronger, and Faster Multi-Person Pose Estimation Model", ECCV 2016 (Sec. 2: part detectors;
Sec. 3: image-conditioned pairwise terms). The grouping is DeepCut's ILP
(:mod:`posekit.grouping.ilp`), the targets :class:`posekit.codecs.deepercut.DeeperCutCodec`.

Structure, for an input ``(B, 3, H, W)`` (H and W multiples of 16):

- **Trunk**: ResNet-101 (``depth``) without its classifier. Large receptive field at a fine
  stride: the paper removes the stride of the conv5 bank and dilates its 3x3 convolutions by 2
  (the "hole" algorithm), so conv5 runs at stride 16 with the receptive field of the
  stride-32 network (C5: ``(B, 2048, H/16, W/16)``).
- **Heads**: a 3x3 transposed convolution with stride 2 (the paper's deconvolution for
  two-fold up-sampling, as in its released code) per output, from C5 to stride 8:
  ``scoremaps (B, K, H/8, W/8)`` (logits; sigmoid cross-entropy), ``locref (B, 2K, H/8, W/8)``
  (location refinement: the offset from each cell to the part, in input pixels divided by the
  codec's ``locref_stdev``; channels ``2k, 2k + 1`` = x, y) and ``pairwise (B, 2K(K-1), H/8,
  W/8)`` (from each part to every other part, :func:`posekit.codecs.deepercut.pair_index`).
- **Intermediate supervision**: score maps from inside the conv4 bank (after unit
  ``intermediate_unit``, default the middle one: 12 of ResNet-101's 23, the value of the
  released configuration), through their own stride-2 deconvolution: ``stages[0]["scoremaps"]``.

``forward`` returns the bottom-up heads contract: ``{"scoremaps", "locref", "pairwise",
"stages": [{"scoremaps": conv4 intermediate}, {"scoremaps", "locref", "pairwise"}]}``.

Complexity against the HRNet paper's table (42.6 M parameters, 41.2 GFLOPs; see
docs/deepercut.md and ``benchmarks/ilp.py``'s sibling figures there): the ResNet-101 trunk alone
has 42.50 M parameters; the heads add 0.16 M (intermediate), 0.31 M (score maps), 0.63 M
(locref) and 10.0 M (pairwise, 544 channels for COCO-17). ``tests/models/test_deepercut.py``
pins the counts.
"""

from __future__ import annotations

from torch import Tensor, nn

from posekit.models.backbones.resnet import ResNet

__all__ = ["DeeperCut", "deepercut"]


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    """3x3 transposed convolution, stride 2: ``(B, cin, h, w) -> (B, cout, 2h, 2w)``."""
    return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)


class DeeperCut(nn.Module):
    """ResNet (conv5 dilated, stride 16) + stride-2 deconvolution heads (stride 8).

    ``forward(images (B, 3, H, W))`` -> dict (module docstring), H and W multiples of 16.
    """

    output_kind = "heatmap"
    stride = 8

    def __init__(self, num_keypoints: int = 17, depth: int = 101, input_size: tuple[int, int] = (512, 512),
                 intermediate_unit: int | None = None, pairwise: bool = True) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.num_keypoints = K = num_keypoints
        if depth not in (50, 101, 152):
            raise ValueError(f"DeeperCut needs a bottleneck ResNet (depth 50, 101 or 152), got {depth}")
        self.backbone = ResNet(depth)
        # conv5 at stride 16 with dilation 2 (the hole algorithm)
        for i, block in enumerate(self.backbone.layer4):
            block.conv2.stride, block.conv2.dilation, block.conv2.padding = (1, 1), (2, 2), (2, 2)
            if i == 0 and block.downsample is not None:
                block.downsample[0].stride = (1, 1)
        units = len(self.backbone.layer3)
        if intermediate_unit is None:
            intermediate_unit = units // 2 + 1      # 12 of ResNet-101's 23 conv4 units
        if not 1 <= intermediate_unit < units:
            raise ValueError(f"intermediate_unit must be in [1, {units - 1}], got {intermediate_unit}")
        self.intermediate_unit = intermediate_unit
        c4, c5 = self.backbone.channels[2], self.backbone.channels[3]
        self.intermediate = _deconv(c4, K)
        self.scoremap = _deconv(c5, K)
        self.locref = _deconv(c5, 2 * K)
        self.pairwise = _deconv(c5, 2 * K * (K - 1)) if pairwise else None
        for head in (self.intermediate, self.scoremap, self.locref, self.pairwise):
            if head is not None:
                nn.init.normal_(head.weight, std=0.001)
                nn.init.zeros_(head.bias)

    def forward(self, images: Tensor) -> dict:
        b = self.backbone
        x = b.layer2(b.layer1(b.stem(images)))
        mid = b.layer3[:self.intermediate_unit](x)
        c5 = b.layer4(b.layer3[self.intermediate_unit:](mid))
        out = {"scoremaps": self.scoremap(c5), "locref": self.locref(c5)}
        if self.pairwise is not None:
            out["pairwise"] = self.pairwise(c5)
        out["stages"] = [{"scoremaps": self.intermediate(mid)}, {k: v for k, v in out.items()}]
        return out


def deepercut(*, num_keypoints: int = 17, depth: int = 101, input_size: tuple[int, int] = (512, 512),
              intermediate_unit: int | None = None, pairwise: bool = True) -> DeeperCut:
    """DeeperCut's part detector (Insafutdinov et al., ECCV 2016): ResNet-``depth`` (101 or 152
    in the paper), conv5 dilated, stride-8 deconvolution heads; ``input_size`` ``(H, W)``;
    ``intermediate_unit``: the conv4 unit after which the intermediate score maps branch off
    (default ``units // 2 + 1``: 12 for ResNet-101);
    ``pairwise=False`` drops the pairwise head (then ``forward`` has no ``"pairwise"``)."""
    return DeeperCut(num_keypoints, depth, input_size, intermediate_unit, pairwise)

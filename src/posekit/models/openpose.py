"""OpenPose: part affinity fields and confidence maps in multi-stage CNN refinement.

References: Cao, Hidalgo, Simon, Wei, Sheikh, "OpenPose: Realtime Multi-Person 2D Pose
Estimation using Part Affinity Fields", TPAMI 2019 (the design built here), and Cao, Simon, Wei,
Sheikh, "Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields", CVPR 2017.

Structure, for an input ``(B, 3, H, W)`` (H and W multiples of 8):

- **Stem** ``F``: the first 10 convolutions of VGG-19 (conv1_1 .. conv4_2: 64, 64, P, 128, 128,
  P, 256 x 4, P, 512, 512; 3x3, ``P`` a 2x2/2 max-pooling) and the two extra 3x3 convolutions
  of OpenPose (conv4_3_CPM 256, conv4_4_CPM 128): ``(B, 128, H/8, W/8)``.
- **T_p PAF stages** then **T_c confidence-map stages** (2019 design, eq. 4-5):
  ``L^1 = phi^1(F)``, ``L^t = phi^t(F, L^{t-1})``; ``S^{T_p+1} = rho(F, L^{T_p})``,
  ``S^t = rho^t(F, L^{T_p}, S^{t-1})`` (inputs concatenated on channels).
- **Stage**: five *conv blocks*, each three 3x3 convolutions whose three outputs are
  concatenated (the 2019 paper's replacement of the 2017 7x7 convolutions: same receptive
  field, fewer operations, the concatenation keeping both shallow and deep features), then a
  1x1 convolution and the 1x1 prediction (no activation on the prediction).
- **Widths** as in the released BODY_25 network (``models/pose/body_25/pose_deploy.prototxt``
  of the OpenPose repository, the model the 2019 paper evaluates): the first stage of each kind
  has 96-channel convolutions and a 256-channel 1x1, later stages 128 and 512; activations are
  PReLU (``prelu=False`` gives ReLU), also on conv4_2 and the two extra stem convolutions.
  BODY_25 has 4 PAF stages and 2 confidence-map stages, the defaults.

Heads (``forward`` returns the bottom-up heads contract, a dict):

- ``"pafs"``: ``(B, 2L, H/8, W/8)`` of the last PAF stage; channels ``2l, 2l+1`` are the x and y
  components of limb ``l`` in the codec's limb order (:class:`posekit.codecs.paf.PAFCodec`;
  COCO-17: 19 limbs);
- ``"heatmaps"``: ``(B, K, H/8, W/8)`` of the last confidence-map stage (one map per keypoint,
  no background map: the released models add one, ``K + 1``);
- ``"stages"``: every stage in order, ``[{"pafs": ...}] * T_p + [{"heatmaps": ...}] * T_c``, the
  final ones included, for intermediate supervision.

Complexity (``benchmarks/complexity_bottomup.py``, docs/models_bottomup.md): 26.05 M parameters
and 80.32 G multiply-adds at 368x368 with COCO-17 heads, against 25.94 M / 160.36 GFLOPs quoted by
the EfficientPose paper (Groos et al. 2021), whose FLOPs are 2 x multiply-adds and whose OpenPose
was trained on MPII (other head widths). The 2017 CVPR network (two branches, 6 stages of 7x7
convolutions) is not built here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["OpenPose", "openpose", "COCO17_NUM_LIMBS"]

#: Limbs of COCO-17 in the PAF codec's order: ``len(tree_first(COCO17.limbs, 17))``.
COCO17_NUM_LIMBS = 19


def _act(channels: int, prelu: bool) -> nn.Module:
    return nn.PReLU(channels) if prelu else nn.ReLU(inplace=True)


def _conv3(cin: int, cout: int, prelu: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), _act(cout, prelu))


def vgg19_stem(prelu: bool = True) -> nn.Sequential:
    """VGG-19 conv1_1 .. conv4_2 plus conv4_3_CPM (256) and conv4_4_CPM (128):
    ``(B, 3, H, W) -> (B, 128, H/8, W/8)``. ReLU in the VGG layers; conv4_2 and the two CPM
    layers use PReLU when ``prelu`` (as BODY_25)."""
    layers: list[nn.Module] = []
    cin = 3
    for block, (width, n) in enumerate(((64, 2), (128, 2), (256, 4), (512, 2))):
        for i in range(n):
            last_vgg = block == 3 and i == n - 1
            layers += [nn.Conv2d(cin, width, 3, 1, 1), _act(width, prelu and last_vgg)]
            cin = width
        if block < 3:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [*_conv3(512, 256, prelu), *_conv3(256, 128, prelu)]
    return nn.Sequential(*layers)


class ConvBlock(nn.Module):
    """Three 3x3 convolutions in a chain whose three outputs are concatenated (OpenPose 2019):
    ``(B, cin, h, w) -> (B, 3 * width, h, w)``."""

    def __init__(self, cin: int, width: int, prelu: bool) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv3(c, width, prelu) for c in (cin, width, width))

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for conv in self.convs:
            x = conv(x)
            outs.append(x)
        return torch.cat(outs, dim=1)


class Stage(nn.Module):
    """One refinement stage: 5 conv blocks, a 1x1 convolution to ``mid`` channels (with its
    activation) and the 1x1 prediction: ``(B, cin, h, w) -> (B, cout, h, w)``."""

    def __init__(self, cin: int, cout: int, width: int, mid: int, prelu: bool, blocks: int = 5) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ConvBlock(cin if b == 0 else 3 * width, width, prelu)
                                      for b in range(blocks)))
        self.mid = nn.Sequential(nn.Conv2d(3 * width, mid, 1), _act(mid, prelu))
        self.predict = nn.Conv2d(mid, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.predict(self.mid(self.blocks(x)))


class OpenPose(nn.Module):
    """OpenPose 2019 network; see the module docstring.

    Args:
        num_keypoints: K confidence maps.
        num_limbs: L part affinity fields (2L channels).
        paf_stages, cm_stages: T_p and T_c (>= 1 each).
        prelu: PReLU activations (BODY_25); False for ReLU.
        input_size: default input ``(H, W)``.

    ``forward(images (B, 3, H, W)) -> {"pafs", "heatmaps", "stages"}`` at ``(H/8, W/8)``.
    """

    output_kind = "heatmap"
    stride = 8

    def __init__(self, num_keypoints: int = 17, num_limbs: int = COCO17_NUM_LIMBS, paf_stages: int = 4,
                 cm_stages: int = 2, prelu: bool = True, input_size: tuple[int, int] = (368, 368)) -> None:
        super().__init__()
        if paf_stages < 1 or cm_stages < 1:
            raise ValueError(f"OpenPose needs >= 1 PAF and >= 1 confidence-map stage, got {paf_stages} "
                             f"and {cm_stages}")
        self.default_input_size = tuple(input_size)
        self.num_keypoints = num_keypoints
        self.num_limbs = num_limbs
        k, p = num_keypoints, 2 * num_limbs
        f = 128
        self.stem = vgg19_stem(prelu)

        def widths(first: bool) -> tuple[int, int]:
            return (96, 256) if first else (128, 512)

        self.paf_stages = nn.ModuleList(
            Stage(f if t == 0 else f + p, p, *widths(t == 0), prelu) for t in range(paf_stages))
        self.cm_stages = nn.ModuleList(
            Stage(f + p if t == 0 else f + p + k, k, *widths(t == 0), prelu) for t in range(cm_stages))

    def forward(self, images: Tensor) -> dict:
        feats = self.stem(images)
        stages: list[dict[str, Tensor]] = []
        pafs = self.paf_stages[0](feats)
        stages.append({"pafs": pafs})
        for stage in self.paf_stages[1:]:
            pafs = stage(torch.cat([feats, pafs], dim=1))
            stages.append({"pafs": pafs})
        heatmaps = self.cm_stages[0](torch.cat([feats, pafs], dim=1))
        stages.append({"heatmaps": heatmaps})
        for stage in self.cm_stages[1:]:
            heatmaps = stage(torch.cat([feats, pafs, heatmaps], dim=1))
            stages.append({"heatmaps": heatmaps})
        return {"pafs": pafs, "heatmaps": heatmaps, "stages": stages}


def openpose(*, num_keypoints: int = 17, num_limbs: int = COCO17_NUM_LIMBS, paf_stages: int = 4,
             cm_stages: int = 2, prelu: bool = True,
             input_size: tuple[int, int] = (368, 368)) -> OpenPose:
    """OpenPose (Cao et al., TPAMI 2019), BODY_25 layout: VGG-19 stem, 4 PAF stages and 2
    confidence-map stages of dense 3x3 conv blocks, stride 8, input 368x368. Default COCO-17
    heads: 17 maps and the 19 limbs of :class:`posekit.codecs.paf.PAFCodec` (38 channels)."""
    return OpenPose(num_keypoints=num_keypoints, num_limbs=num_limbs, paf_stages=paf_stages,
                    cm_stages=cm_stages, prelu=prelu, input_size=input_size)

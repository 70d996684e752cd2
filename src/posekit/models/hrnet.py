"""HRNet-W32 and HRNet-W48 for top-down pose estimation.

Reference: Sun, Xiao, Liu & Wang, "Deep High-Resolution Representation Learning for Human Pose
Estimation", CVPR 2019 (Sec. 3 and the official configuration w32/w48_256x192).

Structure, for an input ``(B, 3, H, W)``:

- **Stem**: two 3x3 stride-2 convs (64 channels) -> ``H/4``.
- **Stage 1**: 4 Bottleneck blocks (64 -> 256 channels), one branch at ``H/4``.
- **Stages 2, 3, 4**: 1, 4 and 3 *exchange units* (multi-resolution modules) with 2, 3 and 4
  parallel branches of widths ``C, 2C, 4C, 8C`` at ``H/4 .. H/32``. Each module runs 4
  BasicBlocks on every branch and then fuses: branch ``i`` receives the sum of all branches,
  lower resolutions brought up by 1x1 conv + BN + nearest upsampling, higher resolutions
  brought down by chains of 3x3 stride-2 conv + BN (ReLU between), followed by ReLU.
  A *transition* before each stage adapts widths and adds the new lowest-resolution branch
  (3x3 stride-2 conv from the previous lowest branch).
- The last module only produces the highest-resolution branch, and a 1x1 conv **head** turns
  it into ``K`` heatmaps ``(B, K, H/4, W/4)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from posekit.models.blocks import BasicBlock, Bottleneck, make_stage


@dataclass(frozen=True)
class HRNetSpec:
    """Width ``C`` of the highest-resolution branch and default input size (H, W)."""

    width: int
    input_size: tuple[int, int]
    modules: tuple[int, int, int] = (1, 4, 3)
    blocks: int = 4


def _bn_conv(cin: int, cout: int, k: int, stride: int, relu: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                               nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class FuseLayer(nn.Module):
    """Brings branch ``j`` (width ``cj``) to the resolution and width of branch ``i``."""

    def __init__(self, widths: tuple[int, ...], i: int, j: int) -> None:
        super().__init__()
        layers: list[nn.Module]
        if j > i:   # lower resolution: 1x1 conv, then upsample by 2^(j-i)
            layers = _bn_conv(widths[j], widths[i], 1, 1, relu=False)
            layers.append(nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"))
        else:       # higher resolution: (i - j) stride-2 3x3 convs, the last one to width i
            layers = []
            for step in range(i - j):
                last = step == i - j - 1
                layers += _bn_conv(widths[j], widths[i] if last else widths[j], 3, 2,
                                   relu=not last)
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class HighResolutionModule(nn.Module):
    """One exchange unit: ``blocks`` BasicBlocks per branch, then multi-resolution fusion.

    Input: list of ``n`` maps ``(B, widths[b], H/4/2^b, W/4/2^b)``. Output: the same list, or
    only the highest-resolution map (as a one-element list) when ``multi_scale_output`` is False.
    """

    def __init__(self, widths: tuple[int, ...], blocks: int, multi_scale_output: bool) -> None:
        super().__init__()
        self.branches = nn.ModuleList(make_stage(BasicBlock, w, w, blocks) for w in widths)
        n_out = len(widths) if multi_scale_output else 1
        self.fuse = nn.ModuleList(
            nn.ModuleList(nn.Identity() if i == j else FuseLayer(widths, i, j)
                          for j in range(len(widths)))
            for i in range(n_out))
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        out = []
        for layers in self.fuse:
            y = layers[0](xs[0])
            for j in range(1, len(xs)):
                y = y + layers[j](xs[j])
            out.append(self.relu(y))
        return out


class Transition(nn.Module):
    """Adapts ``n`` branches of ``cin`` widths to ``n + 1`` branches of ``cout`` widths."""

    def __init__(self, cin: tuple[int, ...], cout: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for b, w in enumerate(cout):
            if b < len(cin):
                layers.append(nn.Identity() if cin[b] == w
                              else nn.Sequential(*_bn_conv(cin[b], w, 3, 1, relu=True)))
            else:
                layers.append(nn.Sequential(*_bn_conv(cin[-1], w, 3, 2, relu=True)))
        self.layers = nn.ModuleList(layers)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        return [layer(xs[min(b, len(xs) - 1)]) for b, layer in enumerate(self.layers)]


class HRNet(nn.Module):
    """HRNet pose network. ``forward(images (B, 3, H, W))`` -> heatmaps ``(B, K, H/4, W/4)``;
    H and W must be multiples of 32."""

    output_kind = "heatmap"
    stride = 4

    def __init__(self, spec: HRNetSpec, num_keypoints: int = 17) -> None:
        super().__init__()
        self.spec = spec
        self.default_input_size = spec.input_size
        c = spec.width
        self.stem = nn.Sequential(*_bn_conv(3, 64, 3, 2, relu=True),
                                  *_bn_conv(64, 64, 3, 2, relu=True))
        self.layer1 = make_stage(Bottleneck, 64, 64, 4)
        widths: tuple[int, ...] = (64 * Bottleneck.expansion,)
        transitions, stages = [], []
        for s, n_modules in enumerate(spec.modules):
            new = tuple(c * 2 ** b for b in range(s + 2))
            transitions.append(Transition(widths, new))
            last_stage = s == len(spec.modules) - 1
            stages.append(nn.ModuleList(
                HighResolutionModule(new, spec.blocks,
                                     multi_scale_output=not (last_stage and m == n_modules - 1))
                for m in range(n_modules)))
            widths = new
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)
        self.head = nn.Conv2d(c, num_keypoints, 1)

    def forward(self, images: Tensor) -> Tensor:
        xs = [self.layer1(self.stem(images))]
        for transition, stage in zip(self.transitions, self.stages, strict=True):
            xs = transition(xs)
            for module in stage:
                xs = module(xs)
        return self.head(xs[0])


def hrnet_w32(num_keypoints: int = 17) -> nn.Module:
    """HRNet-W32, default input 256x192 (Sun et al. 2019)."""
    return HRNet(HRNetSpec(32, (256, 192)), num_keypoints=num_keypoints)


def hrnet_w48(num_keypoints: int = 17) -> nn.Module:
    """HRNet-W48, default input 384x288 (Sun et al. 2019)."""
    return HRNet(HRNetSpec(48, (384, 288)), num_keypoints=num_keypoints)

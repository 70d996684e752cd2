"""EvoPose2D-S, -M and -L, and the weight transfer used by its neuroevolution.

Reference: McNally, Vats, Wong & McPhee, "EvoPose2D: Pushing the Boundaries of 2D Human Pose
Estimation using Accelerated Neuroevolution with Weight Transfer", IEEE Access 9, 2021
(arXiv:2011.08446); official code github.com/wmcnally/evopose2d.

The network is an EfficientNet-style trunk whose seven MBConv stages are described by a
searched **genotype** (per stage: kernel size, repeats, output channels / 8, stride), followed
by a SimpleBaseline-style head: three 3x3 stride-2 transposed convs (128 channels, BN,
swish) and a 1x1 conv to ``K`` heatmaps. The searched genotype has four stride-2 steps
(stem + three stages), so the trunk ends at ``H/16`` and the heatmaps are at ``H/2``.

EvoPose2D-S is the searched network at 256x192. M (384x288) and L (512x384) are the same
genotype compound-scaled to the larger input like EfficientNet: with
``s = (H + W) / 2`` and ``phi = ln(s / 224) / ln(1.15)``, depth is multiplied by
``1.2 ** phi`` and width by ``1.1 ** phi`` (official code ``scaling_parameters``).

**Weight transfer** (paper Sec. III-B): a mutated child inherits its parent's weights layer by
layer; where shapes differ, the overlapping part is copied: channels are truncated or the
child's extra channels keep their own initialisation (1-D tensors such as BatchNorm statistics
are padded with the parent's mean), and spatial kernels are centre-cropped or centre-padded.
A layer the parent lacks (a stage with more repeats) is taken from the parent's last block of
the same stage. See :func:`transfer_weights`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from posekit.models.backbones.efficientnet import (
    BASE_STAGES,
    MBConv,
    conv_bn,
    make_act,
    round_filters,
    round_repeats,
)


@dataclass(frozen=True)
class BlockGene:
    """One stage of the genotype: kernel size, repeats, output channels / 8, stride."""

    kernel: int
    repeats: int
    filters8: int
    stride: int


@dataclass(frozen=True)
class Genotype:
    """Seven stage genes; the expansion ratios (1, then 6) and SE ratio 0.25 are fixed."""

    blocks: tuple[BlockGene, ...]

    @classmethod
    def from_lists(cls, rows: list[list[int]] | tuple[tuple[int, ...], ...]) -> Genotype:
        """Build from the official ``[[kernel, repeats, filters/8, stride], ...]`` form."""
        return cls(tuple(BlockGene(*(int(v) for v in row)) for row in rows))

    def mutate_stage(self, stage: int, **changes: int) -> Genotype:
        """A copy with the fields of stage ``stage`` replaced (kernel, repeats, filters8,
        stride); the building block of a neuroevolution mutation."""
        blocks = list(self.blocks)
        blocks[stage] = replace(blocks[stage], **changes)
        return Genotype(tuple(blocks))


# EfficientNet-B0 as a genotype: the parent network of the search.
B0_GENOTYPE = Genotype(tuple(BlockGene(s.kernel, s.repeats, s.cout // 8, s.stride)
                             for s in BASE_STAGES))

# The searched genotype of EvoPose2D (paper Table/Fig. of the final network; identical in the
# official configs evopose2d_{S,M,L}.yaml).
EVOPOSE2D_GENOTYPE = Genotype.from_lists([
    [3, 1, 2, 1],
    [3, 3, 3, 2],
    [5, 2, 5, 2],
    [3, 4, 10, 2],
    [5, 2, 14, 1],
    [5, 4, 16, 1],
    [3, 2, 10, 1],
])


def scaling_coefficients(input_size: tuple[int, int], base: int = 224, alpha: float = 1.2,
                         beta: float = 1.1, gamma: float = 1.15) -> tuple[float, float]:
    """``(depth, width)`` multipliers for an ``(H, W)`` input (EfficientNet compound scaling
    with the resolution measured as ``(H + W) / 2``)."""
    size = sum(input_size) / 2
    phi = (math.log(size) - math.log(base)) / math.log(gamma)
    return alpha ** phi, beta ** phi


@dataclass(frozen=True)
class EvoPose2DSpec:
    """Genotype, input size (H, W) and head settings of one network."""

    genotype: Genotype
    input_size: tuple[int, int]
    head_channels: int = 128
    head_kernel: int = 3
    final_kernel: int = 1
    activation: str = "swish"
    #: The resolution ``(H + W) / 2`` at which the genotype is unscaled (EfficientNet's 224);
    #: a search at a small input sets it to that input's, so the genotype is built as is.
    compound_base: int = 224


class EvoPose2D(nn.Module):
    """EvoPose2D network. ``forward(images (B, 3, H, W))`` -> heatmaps ``(B, K, H/s, W/s)``
    where ``s = 2 ** (1 + number of stride-2 stages) / 8`` (2 for the searched genotype)."""

    output_kind = "heatmap"

    def __init__(self, spec: EvoPose2DSpec, num_keypoints: int = 17) -> None:
        super().__init__()
        self.spec = spec
        self.default_input_size = spec.input_size
        depth, width = scaling_coefficients(spec.input_size, base=spec.compound_base)
        act = spec.activation
        cin = round_filters(32, width)
        self.stem = conv_bn(3, cin, 3, 2, act=act)
        stages: list[nn.Sequential] = []
        stride = 2
        for base, gene in zip(BASE_STAGES, spec.genotype.blocks, strict=True):
            cout = round_filters(gene.filters8 * 8, width)
            n = round_repeats(gene.repeats, depth)
            stages.append(nn.Sequential(*[
                MBConv(cin if j == 0 else cout, cout, base.expand, gene.kernel,
                       gene.stride if j == 0 else 1, 0.25, act) for j in range(n)]))
            cin, stride = cout, stride * gene.stride
        self.stages = nn.Sequential(*stages)
        head = round_filters(spec.head_channels, width)
        k = spec.head_kernel
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.ConvTranspose2d(cin if i == 0 else head, head, k, 2, (k - 1) // 2,
                                          output_padding=1 if k % 2 == 1 else 0, bias=False),
                       nn.BatchNorm2d(head, eps=1e-3, momentum=0.01), make_act(act)]
        self.head = nn.Sequential(*layers)
        self.final = nn.Conv2d(head, num_keypoints, spec.final_kernel,
                               padding=spec.final_kernel // 2)
        self.stride = stride // 8

    def forward(self, images: Tensor) -> Tensor:
        return self.final(self.head(self.stages(self.stem(images))))


# --------------------------------------------------------------------------- weight transfer

_STAGE_KEY = re.compile(r"^stages\.(\d+)\.(\d+)\.(.+)$")


def _transfer_tensor(src: Tensor, dst: Tensor) -> Tensor:
    """Copy the overlap of ``src`` into a copy of ``dst`` (see module docstring)."""
    out = dst.clone()
    if src.shape == dst.shape:
        return src.clone()
    if src.dim() == 0 or src.dim() != dst.dim():
        return out
    if src.dim() == 1:
        n = min(src.shape[0], dst.shape[0])
        out[:n] = src[:n]
        if dst.shape[0] > n and src.is_floating_point():
            out[n:] = src.mean()
        return out
    # Leading dims (out, in[, ...]) truncate to the overlap; the last two (kernel) dims of 4-D
    # tensors are centre-cropped or centre-padded.
    lead = [min(a, b) for a, b in zip(src.shape[:2], dst.shape[:2], strict=True)]
    s_idx: list[slice] = [slice(0, n) for n in lead]
    d_idx: list[slice] = [slice(0, n) for n in lead]
    for ks, kd in zip(src.shape[2:], dst.shape[2:], strict=True):
        if ks >= kd:
            p = (ks - kd) // 2
            s_idx.append(slice(p, p + kd))
            d_idx.append(slice(0, kd))
        else:
            p = (kd - ks) // 2
            s_idx.append(slice(0, ks))
            d_idx.append(slice(p, p + ks))
    out[tuple(d_idx)] = src[tuple(s_idx)]
    return out


def transfer_weights(parent: nn.Module, child: nn.Module) -> nn.Module:
    """Inherit ``parent``'s weights into ``child`` (in place; returns ``child``).

    Every child tensor of the state dict (parameters and BatchNorm buffers) is matched by name;
    a block the parent lacks (``stages.i.j`` with ``j`` beyond the parent's repeats) takes the
    parent's last block ``j'`` of stage ``i``. Equal shapes are copied; different shapes get
    the overlap: output/input channels truncated (extra child channels keep the child's
    initialisation, extra 1-D entries get the parent's mean), spatial kernels centre-cropped or
    centre-padded. Tensors with no parent counterpart are left untouched. With identical
    architectures the child becomes an exact copy of the parent.
    """
    p_state = parent.state_dict()
    last_block: dict[tuple[int, str], int] = {}
    for key in p_state:
        m = _STAGE_KEY.match(key)
        if m:
            i, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
            last_block[(i, rest)] = max(j, last_block.get((i, rest), -1))
    new_state = {}
    for key, dst in child.state_dict().items():
        src_key = key
        if key not in p_state:
            m = _STAGE_KEY.match(key)
            if m and (int(m.group(1)), m.group(3)) in last_block:
                i, rest = int(m.group(1)), m.group(3)
                src_key = f"stages.{i}.{last_block[(i, rest)]}.{rest}"
        if src_key in p_state:
            new_state[key] = _transfer_tensor(p_state[src_key].detach(), dst)
    with torch.no_grad():
        child.load_state_dict(new_state, strict=False)
    return child


# --------------------------------------------------------------------------------- builders

def evopose2d_s(num_keypoints: int = 17) -> nn.Module:
    """EvoPose2D-S, 256x192 input, 128x96 heatmaps (McNally et al. 2021)."""
    return EvoPose2D(EvoPose2DSpec(EVOPOSE2D_GENOTYPE, (256, 192)), num_keypoints)


def evopose2d_m(num_keypoints: int = 17) -> nn.Module:
    """EvoPose2D-M, 384x288 input (the S genotype compound-scaled)."""
    return EvoPose2D(EvoPose2DSpec(EVOPOSE2D_GENOTYPE, (384, 288)), num_keypoints)


def evopose2d_l(num_keypoints: int = 17) -> nn.Module:
    """EvoPose2D-L, 512x384 input (the S genotype compound-scaled)."""
    return EvoPose2D(EvoPose2DSpec(EVOPOSE2D_GENOTYPE, (512, 384)), num_keypoints)

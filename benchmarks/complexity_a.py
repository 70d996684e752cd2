"""Parameters and multiply-adds of the classic top-down models, ours against the papers.

Run: ``.venv/bin/python benchmarks/complexity_a.py`` (about half a minute: models are built on
the ``meta`` device, so no weights are allocated and no arithmetic is done; the counts are
identical to a CPU run).

Convention: "GFLOPs" in the pose papers are multiply-accumulates; ``count_macs`` halves the
FlopCounterMode total (conv/matmul only). The paper column gives the figure the task quotes
(papers or the survey); ``-`` where no figure was found. See docs/models_a.md for the notes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from torch import nn

from posekit.models import cpm, cpn, deeppose, hourglass, jain2013, mspn, prm, simple_baseline
from posekit.models.blocks import Bottleneck
from posekit.models.conventions import count_hrnet_summary
from posekit.models.complexity import count_macs, count_params


class _Subsample(nn.Module):
    """Shortcut of a strided unit whose width does not change (TF-slim's ``subsample``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::2, ::2]


def cpn_r50_slim_trunk(**kw) -> nn.Module:
    """CPN-R50 with the trunk laid out as TF-slim's stock ``resnet_v1_50``: each of blocks 1-3
    downsamples in its *last* unit (stride in the 3x3, subsampled identity shortcut) instead of
    the first unit of the next block, so the next block's first unit (and its projection) runs
    at the lower resolution. Same units, same parameters, less compute. C2..C5 are still taken
    at strides 4..32 (C2 before block 1's strided unit). Only for counting: tf-cpn's own
    ``resnet50`` downsamples in the first unit, as ``posekit.models.cpn`` does."""
    model = cpn.cpn_r50(**kw)
    dev = next(model.parameters()).device
    counts, planes, cin, stages = (3, 4, 6, 3), (64, 128, 256, 512), 64, []
    carry = None                                   # the strided last unit of the previous block
    for i, (n, p) in enumerate(zip(counts, planes)):
        units = [carry] if carry is not None else []
        for _ in range(n - (1 if i < 3 else 0)):
            units.append(Bottleneck(cin, p, 1))
            cin = p * Bottleneck.expansion
        stages.append(nn.Sequential(*units))
        if i < 3:
            carry = Bottleneck(cin, p, 2)
            carry.downsample = _Subsample()
    bb = model.backbone
    bb.layer1, bb.layer2, bb.layer3, bb.layer4 = (s.to(dev) for s in stages)
    return model

# (zoo name, builder, input (H, W), keypoints, paper params M, paper GMACs)
ROWS: list[tuple[str, Callable[..., nn.Module], tuple[int, int], int,
                 float | None, float | None]] = [
    ("jain2013", jain2013.jain2013, (256, 256), 14, None, None),
    ("deeppose", deeppose.deeppose, (220, 220), 14, 40.0, None),
    ("cpm", cpm.cpm, (368, 368), 14, None, None),
    ("hourglass_1", hourglass.hourglass_1, (256, 256), 16, None, None),
    ("hourglass_2", hourglass.hourglass_2, (256, 256), 16, None, None),
    ("hourglass_4", hourglass.hourglass_4, (256, 256), 16, None, None),
    ("hourglass_8", hourglass.hourglass_8, (256, 256), 16, 25.1, 19.1),
    # Newell's network with the post-hourglass head of the PRM paper's baseline (BN-ReLU + lin
    # instead of residual + lin): the configuration behind the 19.1 figure, see the docs.
    ("hourglass_8 (PRM-baseline head)",
     lambda **kw: hourglass.StackedHourglass(8, post_residual=False, **kw), (256, 256), 16,
     None, 19.1),
    ("prm", prm.prm, (256, 256), 16, 28.1, 21.3),
    ("simple_baseline_r18", simple_baseline.simple_baseline_r18, (256, 192), 17,
     None, None),
    ("simple_baseline_r50", simple_baseline.simple_baseline_r50, (256, 192), 17,
     34.0, 8.9),
    ("simple_baseline_r101", simple_baseline.simple_baseline_r101, (256, 192), 17,
     53.0, 12.4),
    ("simple_baseline_r152", simple_baseline.simple_baseline_r152, (256, 192), 17,
     68.6, 15.7),
    ("simple_baseline_r152", simple_baseline.simple_baseline_r152, (384, 288), 17,
     68.6, 35.6),
    ("cpn_r50", cpn.cpn_r50, (256, 192), 17, 27.0, 6.2),
    ("cpn_r50 (TF-slim resnet_v1_50 trunk layout)", cpn_r50_slim_trunk, (256, 192), 17, 27.0, 6.2),
    ("mspn_2stg", mspn.mspn_2stg, (256, 192), 17, None, None),
    ("mspn", mspn.mspn, (256, 192), 17, None, None),
]


def _pct(ours: float, paper: float | None) -> str:
    return "-" if paper is None else f"{100 * (ours - paper) / paper:+.1f}%"


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def hrnet_summary_gmacs(model: nn.Module, size: tuple[int, int]) -> float:
    """The convention of the HRNet repository's ``get_model_summary`` (which produced the
    HRNet paper's comparison table, source of the SimpleBaseline and CPN figures), in G:
    :func:`posekit.models.conventions.count_hrnet_summary` / 2^30. For a transposed
    convolution this counts every weight once per *output* pixel, 4x the true multiply-adds of
    a stride-2 4x4 deconvolution."""
    return count_hrnet_summary(model, size) / 2**30


def measure(builder: Callable[..., nn.Module], size: tuple[int, int], k: int,
            device: str) -> tuple[float, float, float]:
    """(params in millions, multiply-adds in G, HRNet-summary "GFLOPs") for one model at input
    ``size`` = (H, W)."""
    with torch.device(device):
        model = builder(num_keypoints=k, input_size=size)
    return (count_params(model) / 1e6, count_macs(model, size) / 1e9,
            hrnet_summary_gmacs(model, size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="meta",
                        help="meta (default, fast, no weights) or cpu")
    args = parser.parse_args(argv)
    print("| model | input HxW | K | params (M) | paper | diff | GMACs | HRNet-summary G "
          "| paper G | diff (GMACs) | diff (HRNet-summary) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, builder, size, k, p_params, p_macs in ROWS:
        params, macs, summary = measure(builder, size, k, args.device)
        print(f"| {name} | {size[0]}x{size[1]} | {k} | {params:.2f} | {_fmt(p_params)} | "
              f"{_pct(params, p_params)} | {macs:.2f} | {summary:.2f} | {_fmt(p_macs)} | "
              f"{_pct(macs, p_macs)} | {_pct(summary, p_macs)} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

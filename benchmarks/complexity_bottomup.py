"""Parameters and compute of the bottom-up architectures against the papers, each figure in the
paper's own convention.

Usage: ``.venv/bin/python benchmarks/complexity_bottomup.py`` (prints a Markdown table; about
half a minute: the models are built on the ``meta`` device, so nothing is allocated or computed).
``--figure docs/images/bottomup_complexity.png`` also draws where each model's parameters and
multiply-adds are, per component (stem, stages, stacks, heads).

Conventions (see docs/models_bottomup.md):
- ``MACs`` = multiply-accumulates of conv/linear/matmul ops (``posekit.models.complexity``);
  a transposed convolution costs its true multiply-adds (per *input* pixel).
- OpenPose's 25.94 M / 160.36 G are the EfficientPose paper's (Groos et al. 2021, and its
  repository's README): TensorFlow-profiler FLOPs = 2 x MACs.
- The AE hourglass' 277.8 M / 206.9 and HigherHRNet's 28.6 M / 47.9 are from the HigherHRNet
  paper's table (the AE row also in HRNet's): the HRNet repositories' ``get_model_summary``,
  which counts ``weight.numel() x output H x W`` for every module whose class name contains
  "Conv" (a stride-2 transposed convolution so counts 4x), and the parameters of every such
  module -- in Newell's code both the ``Conv`` wrapper and its ``nn.Conv2d``, i.e. twice. The
  AE row is that count / 2^30, the HigherHRNet rows / 1e9 (both reproduced below).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from posekit.models.ae_hourglass import ae_hourglass
from posekit.models.conventions import count_hrnet_summary
from posekit.models.complexity import count_macs, count_params
from posekit.models.higherhrnet import HigherHRNet, higherhrnet_w32
from posekit.models.openpose import openpose




# (row label, builder, input (H, W), params as the paper counts them (model -> count),
#  compute in the paper's convention (model, size -> G), paper params M, paper G, convention,
#  explanation of the gap)
Row = tuple[str, Callable[[], nn.Module], tuple[int, int], Callable[[nn.Module], float],
            Callable[[nn.Module, tuple[int, int]], float], float, float, str, str]

ROWS: list[Row] = [
    ("openpose", openpose, (368, 368), count_params,
     lambda m, s: 2 * count_macs(m, s) / 1e9, 25.94, 160.36, "2 x MACs / 1e9",
     "BODY_25 layout with COCO-17 heads (17 maps, 19 limbs); EfficientPose trained OpenPose on "
     "MPII, with other head widths (next row)"),
    ("openpose, MPII-16 heads (16 maps, 15 limbs), ReLU",
     lambda: openpose(num_keypoints=16, num_limbs=15, prelu=False), (368, 368), count_params,
     lambda m, s: 2 * count_macs(m, s) / 1e9, 25.94, 160.36, "2 x MACs / 1e9",
     "heads and PReLU move the count by < 0.5%; the profiler's FLOPs also hold element-wise ops"),
    ("ae_hourglass (K = 17)", ae_hourglass, (512, 512), lambda m: 2 * count_params(m),
     lambda m, s: count_hrnet_summary(m, s) / 2**30, 277.8, 206.9, "2 x params; MACs / 2^30",
     "the released head has 68 output channels (34 used; next row)"),
    ("ae_hourglass as released (68 output channels)", lambda: ae_hourglass(num_keypoints=34), (512, 512),
     lambda m: 2 * count_params(m), lambda m, s: count_hrnet_summary(m, s) / 2**30, 277.8, 206.9,
     "2 x params; MACs / 2^30", "reproduced: parameters counted twice by get_model_summary"),
    ("higherhrnet_w32", higherhrnet_w32, (512, 512), count_params,
     lambda m, s: count_hrnet_summary(m, s) / 1e9, 28.6, 47.9, "summary / 1e9",
     "reproduced; true MACs lower (deconvolution counted 4x by the summary)"),
    ("HigherHRNet-W48 (not in the zoo)",
     lambda: HigherHRNet(width=48, deconv_channels=48, input_size=(640, 640)), (640, 640), count_params,
     lambda m, s: count_hrnet_summary(m, s) / 1e9, 63.8, 154.3, "summary / 1e9", "reproduced (checks the convention)"),
]


def pct(ours: float, paper: float) -> str:
    return f"{100 * (ours - paper) / paper:+.2f}%"


#: zoo name -> [(component label, module-name prefixes)] for the figure.
COMPONENTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "openpose": [("VGG-19 stem", ("stem",))]
    + [(f"PAF stage {t + 1}", (f"paf_stages.{t}",)) for t in range(4)]
    + [(f"map stage {t + 1}", (f"cm_stages.{t}",)) for t in range(2)],
    "ae_hourglass": [("stem", ("stem",))]
    + [(f"stack {i + 1}", tuple(f"stack.{part}.{i}" for part in
                                ("hourglasses", "post", "heads", "remap_features", "remap_heatmaps")))
       for i in range(4)],
    "higherhrnet_w32": [("HRNet stem + stage 1", ("backbone.stem", "backbone.layer1"))]
    + [(f"HRNet stage {s + 2}", (f"backbone.transitions.{s}", f"backbone.stages.{s}")) for s in range(3)]
    + [("1/4 heads", ("final",)), ("deconv module", ("deconv",)), ("1/2 head", ("final_hr",))],
}


def breakdown(name: str) -> list[tuple[str, float, float]]:
    """``[(component, params M, true GMACs)]`` of zoo model ``name`` at its default input."""
    from posekit.models import create

    with torch.device("meta"):
        model = create(name)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, *model.default_input_size, device="meta"))
    flops = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    root = type(model).__name__
    rows = []
    for label, prefixes in COMPONENTS[name]:
        params = sum(p.numel() for n, p in model.named_parameters() if n.startswith(tuple(f"{x}." for x in prefixes)))
        macs = sum(_outermost(flops, f"{root}.{x}") for x in prefixes) / 2
        rows.append((label, params / 1e6, macs / 1e9))
    return rows


def _outermost(flops: dict[str, int], base: str) -> int:
    """FLOPs under module ``base``: FlopCounterMode's counts are nested (a parent includes its
    children) and a container that is never called itself (a ModuleList) has no entry, so sum
    the outermost entries at or below ``base``."""
    below = [k for k in flops if k == base or k.startswith(base + ".")]
    return sum(flops[k] for k in below
               if not any(k.startswith(a + ".") for a in below if a != k))


def draw(path: Path) -> None:
    """One panel per model: parameters and multiply-adds of each component."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 10))
    for ax, name in zip(axes, COMPONENTS):
        rows = breakdown(name)
        y = range(len(rows))
        ax.barh([i - 0.2 for i in y], [r[1] for r in rows], height=0.4, label="parameters (M)")
        ax.barh([i + 0.2 for i in y], [r[2] for r in rows], height=0.4, label="multiply-adds (G)")
        ax.set_yticks(list(y), [r[0] for r in rows])
        ax.invert_yaxis()
        h, w = create_size(name)
        ax.set_title(f"{name}: {sum(r[1] for r in rows):.1f} M parameters, "
                     f"{sum(r[2] for r in rows):.1f} G multiply-adds at {h}x{w}")
        ax.legend(loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def create_size(name: str) -> tuple[int, int]:
    from posekit.models import ZOO
    w, h = ZOO[name].input_wh
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", type=Path, help="also draw the per-component breakdown to this PNG")
    args = parser.parse_args()
    print("| model | input HxW | params (M) | params, paper's count (M) | paper (M) | diff | true GMACs "
          "| compute, paper's convention (G) | paper (G) | diff | convention | gap explained |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, build, size, paper_params, paper_compute, pp, pg, conv, why in ROWS:
        with torch.device("meta"):
            model = build()
        p, pc = count_params(model), paper_params(model)
        macs, g = count_macs(model, size), paper_compute(model, size)
        print(f"| {label} | {size[0]}x{size[1]} | {p / 1e6:.2f} | {pc / 1e6:.2f} | {pp} | {pct(pc / 1e6, pp)} "
              f"| {macs / 1e9:.2f} | {g:.2f} | {pg} | {pct(g, pg)} | {conv} | {why} |")
    if args.figure:
        draw(args.figure)
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()

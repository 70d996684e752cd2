"""Parameters and multiply-adds of HRNet, EfficientPose and EvoPose2D against their papers.

Usage: ``python benchmarks/complexity_b.py`` (prints a Markdown table; a few seconds, the
models are built on the ``meta`` device so nothing is computed).

Conventions (see docs/models_b.md):
- ``MACs`` = multiply-accumulates of conv/linear/matmul ops, ``posekit.models.complexity``.
- HRNet's paper "GFLOPs" are MACs / 2**30 (official ``get_model_summary`` divides by 1024**3).
- EfficientPose's paper "FLOPs" are 2 x MACs (TensorFlow profiler, multiply and add counted
  separately); its and EvoPose2D's parameter counts are Keras counts, which include the
  BatchNorm moving mean and variance.
- EvoPose2D's paper figure is the TF profiler count / 2, i.e. MACs.
"""

from __future__ import annotations

import torch
from torch import nn

from posekit.models import create
from posekit.models.complexity import count_macs, count_params

# name -> (paper params M, paper compute G, convention of the paper's compute figure)
PAPER: dict[str, tuple[float | None, float | None, str]] = {
    "hrnet_w32": (28.5, 7.1, "MACs/2^30"),
    "hrnet_w48": (63.6, 32.9, "MACs/2^30"),
    "efficientpose_rt": (0.46, 0.87, "2*MACs"),
    "efficientpose_i": (0.72, 1.67, "2*MACs"),
    "efficientpose_ii": (1.73, 7.70, "2*MACs"),
    "efficientpose_iii": (3.23, 23.35, "2*MACs"),
    "efficientpose_iv": (6.56, 72.89, "2*MACs"),
    "efficientpose_rt_lite": (0.40, 0.86, "2*MACs"),
    "efficientpose_i_lite": (0.59, 1.54, "2*MACs"),
    "efficientpose_ii_lite": (1.46, 7.25, "2*MACs"),
    "evopose2d_s": (2.53, 1.07, "MACs"),
    "evopose2d_m": (None, None, "MACs"),
    "evopose2d_l": (None, None, "MACs"),
}


def keras_params(model: nn.Module) -> int:
    """Parameters plus BatchNorm moving statistics (what Keras' ``count_params`` reports)."""
    return count_params(model) + sum(b.numel() for k, b in model.named_buffers()
                                     if "running" in k)


def in_paper_convention(macs: int, convention: str) -> float:
    return {"MACs/2^30": macs / 2**30, "2*MACs": 2 * macs / 1e9, "MACs": macs / 1e9}[convention]


def pct(ours: float, paper: float | None) -> str:
    return "" if paper is None else f"{100 * (ours - paper) / paper:+.1f}%"


def main() -> None:
    print("| model | input HxW | params (M) | Keras params (M) | paper params (M) | diff "
          "| MACs (G) | in paper convention | paper (G) | diff | convention |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in PAPER:
        with torch.device("meta"):
            model = create(name)
        h, w = model.default_input_size
        p, kp = count_params(model), keras_params(model)
        macs = count_macs(model, (h, w))
        pp, pg, conv = PAPER[name]
        compared = p if name.startswith("hrnet") else kp
        ours_g = in_paper_convention(macs, conv)
        print(f"| {name} | {h}x{w} | {p / 1e6:.3f} | {kp / 1e6:.3f} | "
              f"{'' if pp is None else pp} | {pct(compared / 1e6, pp)} | {macs / 1e9:.3f} | "
              f"{ours_g:.3f} | {'' if pg is None else pg} | {pct(ours_g, pg)} | {conv} |")


if __name__ == "__main__":
    main()

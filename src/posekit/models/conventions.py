"""Which "GFLOPs" each model's paper means: the compute conventions, one per model.

Pose papers print "GFLOPs" for three different quantities. posekit counts multiply-adds
(MACs) of conv / linear / matmul ops (:func:`posekit.models.complexity.count_macs`) and
converts them into the convention of each model's paper, found in the papers' official code by
``benchmarks/complexity_a.py`` and ``benchmarks/complexity_b.py`` (see ``docs/models.md``,
``docs/models_a.md``, ``docs/models_b.md``):

* ``"macs"``: GFLOPs = MACs / 10^9, a multiply-add counted once (EvoPose2D's
  ``get_flops / 2``; MobileNet's "Mult-Adds"; NanoDet's README; and posekit's choice for the
  papers that print no figure);
* ``"hrnet_summary"``: the HRNet repository's ``get_model_summary``, behind HRNet's
  comparison table and the SimpleBaseline, CPN, Hourglass and PRM figures quoted in it (and
  HigherHRNet's table): ``weight.numel() x output H x W`` for every module whose class name
  contains "Conv", plus Linear layers, divided by 2^30. Equal to MACs / 2^30 for models
  without transposed convolutions; a stride-2 transposed convolution counts 4x its MACs;
* ``"hrnet_summary_1e9"``: the same ``get_model_summary`` count divided by 10^9 instead of
  2^30 (HigherHRNet's table: its 47.9 G for W32 at 512 is reproduced only this way, by
  ``benchmarks/complexity_bottomup.py``);
* ``"2macs"``: FLOPs = 2 x MACs / 10^9, a multiply and an add counted separately (the
  TensorFlow profiler, EfficientPose).

:data:`MODEL_CONVENTIONS` names the convention of every zoo architecture and every pretrained
model (a test fails when a zoo entry or a card lacks one), with where it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ComputeConvention", "CONVENTIONS", "MODEL_CONVENTIONS", "convention_of", "count_hrnet_summary",
           "paper_gflops"]


@dataclass(frozen=True)
class ComputeConvention:
    """One meaning of a paper's "GFLOPs": ``key``, a short ``label`` and what it counts."""

    key: str
    label: str
    description: str


CONVENTIONS: dict[str, ComputeConvention] = {c.key: c for c in (
    ComputeConvention("macs", "GFLOPs = GMACs",
                      "multiply-adds of conv/linear/matmul ops / 1e9 (a multiply-add counted as one FLOP)"),
    ComputeConvention("hrnet_summary", "GFLOPs = HRNet get_model_summary",
                      "sum over conv modules of weight.numel() x output H x W, plus Linear, / 2^30 "
                      "(HRNet repository's get_model_summary; a stride-2 deconvolution counts 4x its MACs)"),
    ComputeConvention("hrnet_summary_1e9", "GFLOPs = HRNet get_model_summary / 1e9",
                      "the get_model_summary count divided by 1e9 instead of 2^30 (HigherHRNet's table)"),
    ComputeConvention("2macs", "GFLOPs = 2 x GMACs",
                      "2 x multiply-adds / 1e9 (TensorFlow profiler: a multiply and an add counted separately)"),
)}

_NO_FIGURE = "the paper prints no compute figure: posekit's MAC convention"
_HRTAB = "HRNet's comparison table (get_model_summary), reproduced within 1% by benchmarks/complexity_a.py"
_EP = "EfficientPose's TF-profiler FLOPs, reproduced within 2% by benchmarks/complexity_b.py"

#: Model name (zoo entry or pretrained card) -> (convention key, where it comes from).
MODEL_CONVENTIONS: dict[str, tuple[str, str]] = {
    # trainable architectures (posekit.models.zoo)
    "jain2013": ("macs", _NO_FIGURE),
    "deeppose": ("macs", _NO_FIGURE),
    "cpm": ("macs", _NO_FIGURE),
    **{f"hourglass_{n}": ("hrnet_summary", "the PRM paper's table (its 19.1 G for the 8-stack network), "
                          "reproduced by benchmarks/complexity_a.py") for n in (1, 2, 4, 8)},
    "prm": ("hrnet_summary", "the PRM paper's table (21.3 G), reproduced within 0.2% by benchmarks/complexity_a.py"),
    **{f"simple_baseline_r{n}": ("hrnet_summary", _HRTAB) for n in (18, 50, 101, 152)},
    "cpn_r50": ("hrnet_summary", _HRTAB + " (with TF-slim's trunk layout)"),
    "mspn": ("macs", "MSPN's figures not reproduced here: posekit's MAC convention"),
    "mspn_2stg": ("macs", "MSPN's figures not reproduced here: posekit's MAC convention"),
    "hrnet_w32": ("hrnet_summary", "HRNet's get_model_summary (= MACs / 2^30 here), 7.1 G reproduced"),
    "hrnet_w48": ("hrnet_summary", "HRNet's get_model_summary (= MACs / 2^30 here), 32.9 G reproduced"),
    **{f"efficientpose_{v}": ("2macs", _EP) for v in ("rt", "i", "ii", "iii", "iv", "rt_lite", "i_lite", "ii_lite")},
    **{f"evopose2d_{v}": ("macs", "EvoPose2D's train.py: TF profiler count / 2") for v in ("s", "m", "l")},
    "bottomup_tiny": ("macs", "posekit's own model: MACs"),
    "sstn_sb_r18": ("macs", "RMPE's paper prints no compute figure: posekit's MAC convention"),
    # bottom-up architectures (issue 11)
    "openpose": ("2macs", "EfficientPose's comparison (TF-profiler FLOPs, 160.36 G at 368), reproduced within "
                 "0.2% by benchmarks/complexity_bottomup.py"),
    "ae_hourglass": ("hrnet_summary", "HigherHRNet's and HRNet's tables (get_model_summary / 2^30, 206.9 G), "
                     "reproduced within 0.5% by benchmarks/complexity_bottomup.py"),
    "higherhrnet_w32": ("hrnet_summary_1e9", "HigherHRNet's table (get_model_summary / 1e9, 47.9 G), reproduced "
                        "by benchmarks/complexity_bottomup.py"),
    "deepercut": ("macs", "DeeperCut's paper prints no compute figure: posekit's MAC convention"),
    # pretrained models (posekit.pretrained.cards)
    "movenet_lightning": ("macs", "no paper (model card only): MACs"),
    "movenet_thunder": ("macs", "no paper (model card only): MACs"),
    "movenet_multipose": ("macs", "no paper (model card only): MACs"),
    "posenet": ("macs", "MobileNetV1 paper's Mult-Adds"),
    "efficientpose_ii_lite": ("2macs", _EP),
    "blazepose_lite": ("macs", "BlazePose's figure not reproduced here: posekit's MAC convention"),
    "blazepose_full": ("macs", "BlazePose's figure not reproduced here: posekit's MAC convention"),
    "blazepose_heavy": ("macs", "BlazePose's figure not reproduced here: posekit's MAC convention"),
    "blazepose_detector": ("macs", "BlazeFace-style detector, no figure: posekit's MAC convention"),
    "nanodet": ("macs", "NanoDet's README FLOPs (MACs, thop/mmcv counters)"),
}


def convention_of(name: str) -> tuple[ComputeConvention, str]:
    """The convention of model ``name`` (zoo entry or pretrained card) and its source note; for
    a name not in :data:`MODEL_CONVENTIONS` (e.g. a checkpoint's custom name), posekit's MACs."""
    key, note = MODEL_CONVENTIONS.get(name, ("macs", "not a zoo or pretrained name: posekit's MAC convention"))
    return CONVENTIONS[key], note


def count_hrnet_summary(model: nn.Module, input_size: tuple[int, int]) -> int:
    """The HRNet repository's ``get_model_summary`` count for one ``(1, 3, H, W)`` input
    (``input_size`` is ``(H, W)``): ``weight.numel() x batch x output H x W`` for every module
    whose class name contains "Conv", plus ``output.numel() x in_features`` for Linear layers
    (not divided by 2^30). The model runs once in eval mode (works on the ``meta`` device)."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        nonlocal total
        if not isinstance(output, torch.Tensor):
            return
        if "Conv" in type(module).__name__ and isinstance(getattr(module, "weight", None), torch.Tensor) \
                and output.dim() >= 3:
            total += module.weight.numel() * output.shape[0] * output.shape[-2] * output.shape[-1]
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return int(total)


def paper_gflops(convention: ComputeConvention, macs: int, hrnet_summary: int | None = None) -> float:
    """``macs`` (one forward pass) in ``convention``, in G; ``hrnet_summary`` (from
    :func:`count_hrnet_summary`) is needed for the ``"hrnet_summary"`` convention."""
    if convention.key == "macs":
        return macs / 1e9
    if convention.key == "2macs":
        return 2 * macs / 1e9
    if convention.key in ("hrnet_summary", "hrnet_summary_1e9"):
        if hrnet_summary is None:
            raise ValueError(f"the {convention.key} convention needs count_hrnet_summary's count")
        return hrnet_summary / (2**30 if convention.key == "hrnet_summary" else 1e9)
    raise ValueError(f"unknown convention {convention.key!r}")

"""Losses for top-down keypoint models: heatmap MSE, OHKM, multi-stage sums, regression.

Shapes: predicted and target heatmaps ``(B, K, h, w)``, target weights ``(B, K)``; regression
coordinates ``(B, K, 2)`` (or ``(B, 2K)``). All losses return a scalar tensor.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["KeypointMSELoss", "OHKMMSELoss", "RegressionLoss", "multi_stage_loss"]


def _per_joint_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``0.5 * mean_{pixels} w_bk (pred - target)^2`` -> ``(B, K)``."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    err = 0.5 * (pred.float() - target.float()).pow(2).flatten(2).mean(-1)
    if weights is not None:
        err = err * weights.reshape(err.shape).float()
    return err


class KeypointMSELoss(nn.Module):
    """Heatmap MSE with target weights (Simple Baselines / HRNet):

    ``L = 1/(B K) Σ_{b,k} w_bk · ½ · mean_{u,v} (P_bk(u,v) - T_bk(u,v))²``

    With ``use_target_weight=False`` every ``w_bk = 1``. The ½ keeps values comparable with the
    published training logs.
    """

    def __init__(self, use_target_weight: bool = True) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return _per_joint_mse(pred, target, weights if self.use_target_weight else None).mean()


class OHKMMSELoss(nn.Module):
    """Online hard keypoint mining (Chen et al., *Cascaded Pyramid Network*, CVPR 2018): per
    sample, the weighted per-joint MSE of :class:`KeypointMSELoss` is computed, and only the
    ``topk`` largest joints contribute:

    ``L = 1/B Σ_b 1/topk Σ_{k in top-k(b)} w_bk · ½ · mean_{u,v} (P_bk - T_bk)²``
    """

    def __init__(self, topk: int = 8, use_target_weight: bool = True) -> None:
        super().__init__()
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        self.topk = topk
        self.use_target_weight = use_target_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        per_joint = _per_joint_mse(pred, target, weights if self.use_target_weight else None)  # (B, K)
        k = min(self.topk, per_joint.shape[1])
        return per_joint.topk(k, dim=1).values.mean()


class RegressionLoss(nn.Module):
    """L1 or L2 loss on normalised coordinates (DeepPose used L2):

    ``L = Σ_{b,k} w_bk ρ(p_bk - t_bk) / max(1, Σ_{b,k} w_bk)``, with ``ρ`` the sum over x, y of
    ``|·|`` (``"l1"``) or ``(·)²`` (``"l2"``).
    """

    def __init__(self, kind: str = "l2", use_target_weight: bool = True) -> None:
        super().__init__()
        if kind not in ("l1", "l2"):
            raise ValueError(f"kind must be 'l1' or 'l2', got {kind!r}")
        self.kind = kind
        self.use_target_weight = use_target_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        pred = pred.reshape(target.shape).float()
        d = pred - target.float()
        rho = (d.abs() if self.kind == "l1" else d.pow(2)).sum(-1)   # (B, K)
        if weights is None or not self.use_target_weight:
            weights = torch.ones_like(rho)
        weights = weights.reshape(rho.shape).float()
        return (rho * weights).sum() / weights.sum().clamp_min(1.0)


def multi_stage_loss(heads: torch.Tensor | list[torch.Tensor], targets: torch.Tensor | list[torch.Tensor],
                     weights: torch.Tensor | None, loss_fn: Callable[..., torch.Tensor],
                     stage_weights: list[float] | None = None) -> torch.Tensor:
    """Intermediate supervision (CPM, Stacked Hourglass, CPN, MSPN): ``Σ_s λ_s loss_fn(P_s, T_s, w)``.

    Args:
        heads: the model's raw output, a Tensor or a list of per-stage Tensors (final last).
        targets: one target for every stage, or a list with one per stage (e.g. CPN's
            GlobalNet and RefineNet targets with different σ).
        weights: ``(B, K)`` target weights, or None.
        loss_fn: e.g. ``KeypointMSELoss()``.
        stage_weights: ``λ_s``, default all 1.
    """
    stages = list(heads) if isinstance(heads, (list, tuple)) else [heads]
    tlist = list(targets) if isinstance(targets, (list, tuple)) else [targets] * len(stages)
    if len(tlist) != len(stages):
        raise ValueError(f"{len(stages)} stages but {len(tlist)} targets")
    lam = stage_weights or [1.0] * len(stages)
    if len(lam) != len(stages):
        raise ValueError(f"{len(stages)} stages but {len(lam)} stage weights")
    total = stages[0].new_zeros((), dtype=torch.float32)
    for s, (p, t, l) in enumerate(zip(stages, tlist, lam)):
        if p.shape != t.shape:
            raise ValueError(f"stage {s}: output {tuple(p.shape)} does not match target {tuple(t.shape)}")
        total = total + l * loss_fn(p, t, weights)
    return total

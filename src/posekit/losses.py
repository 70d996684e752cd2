"""Losses for top-down keypoint models: heatmap MSE, OHKM, multi-stage sums, regression; for
bottom-up models: masked multi-stage L2 on part affinity fields and confidence maps
(:func:`paf_loss`), heatmaps plus the associative-embedding grouping loss (:func:`ae_loss_total`).

Shapes: predicted and target heatmaps ``(B, K, h, w)``, target weights ``(B, K)``; regression
coordinates ``(B, K, 2)`` (or ``(B, 2K)``). All losses return a scalar tensor.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

__all__ = ["KeypointMSELoss", "OHKMMSELoss", "RegressionLoss", "multi_stage_loss", "masked_l2", "paf_loss",
           "ae_loss_total", "sstn_loss", "deepercut_loss"]


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


# ---------------------------------------------------------------------------------- bottom-up
def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
              weights: torch.Tensor | None = None) -> torch.Tensor:
    """``1/(B C h w) Σ_{b,c,p} W_b(p) w_bc (P_bc(p) - T_bc(p))²``: the mean squared error over
    every map and pixel, with the loss mask ``W (B, h, w)`` (0 on crowd regions and unlabelled
    people) and the per-channel weights ``w (B, C)`` (0 for a channel no person in the image has
    labelled); either may be None (all ones). ``pred``, ``target``: ``(B, C, h, w)``.

    A plain mean (HigherHRNet's heatmap loss; OpenPose's Caffe loss is the sum over pixels over
    twice the batch, which differs by a constant factor that Adam's step does not see)."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    err = (pred.float() - target.float()).pow(2)
    if mask is not None:
        err = err * mask.float().reshape(err.shape[0], 1, *err.shape[2:])
    if weights is not None:
        err = err * weights.float().reshape(*err.shape[:2], 1, 1)
    return err.mean()


def _stages(heads) -> list:
    """The stages of a bottom-up model's heads dict (``heads["stages"]``, or the dict itself)."""
    if not isinstance(heads, dict):
        raise ValueError(f"a bottom-up loss needs the model's heads as a dict, got {type(heads).__name__}")
    return list(heads.get("stages") or [heads])


def paf_loss(heads: dict, batch: dict) -> torch.Tensor:
    """OpenPose's loss (Cao et al., CVPR 2017, eq. 1-3; TPAMI 2019): L2 on the part affinity
    fields and the confidence maps of *every* stage (intermediate supervision), masked by
    ``W(p)``:

    ``L = Σ_t Σ_{key ∈ stage t} masked_l2(P_t^key, T^key, W, w^key)``

    Args:
        heads: ``{"pafs", "heatmaps", "stages": [...]}``; each stage holds ``"pafs" (B, 2L, h, w)``
            and/or ``"heatmaps" (B, K, h, w)`` (OpenPose 2019's PAF stages hold only fields, its
            confidence-map stages only maps).
        batch: :class:`~posekit.codecs.paf.PAFTarget` fields, collated: ``pafs (B, 2L, h, w)``,
            ``heatmaps (B, K, h, w)``, ``mask (B, h, w)``, ``paf_weights (B, L)`` (each limb's
            weight applies to both its channels), ``heatmap_weights (B, K)``.
    """
    paf_w = batch["paf_weights"].repeat_interleave(2, dim=1)
    total = batch["mask"].new_zeros((), dtype=torch.float32)
    n = 0
    for stage in _stages(heads):
        if "pafs" in stage:
            total = total + masked_l2(stage["pafs"], batch["pafs"], batch["mask"], paf_w)
            n += 1
        if "heatmaps" in stage:
            total = total + masked_l2(stage["heatmaps"], batch["heatmaps"], batch["mask"], batch["heatmap_weights"])
            n += 1
    if n == 0:
        raise ValueError("paf_loss: no stage holds 'pafs' or 'heatmaps'")
    return total


#: Weights of the AE grouping terms against the heatmap loss: 1e-3 each, as in Newell et al.'s
#: code (``pull_loss``/``push_loss`` 1e-3, ``detection_loss`` 1) and HigherHRNet's configs
#: (``PULL_LOSS_FACTOR``/``PUSH_LOSS_FACTOR`` 0.001, ``HEATMAPS_LOSS_FACTOR`` 1.0).
AE_PULL_WEIGHT = 1e-3
AE_PUSH_WEIGHT = 1e-3


def ae_loss_total(heads: dict, batch: dict, codec, pull_weight: float = AE_PULL_WEIGHT,
                  push_weight: float = AE_PUSH_WEIGHT) -> torch.Tensor:
    """Associative Embedding's loss (Newell et al., NeurIPS 2017) per stage (stacked hourglass:
    every stack supervised), with HigherHRNet's multi-resolution supervision (Cheng et al.,
    CVPR 2020: heatmaps at 1/4 and 1/2, tags only at 1/4):

    ``L = Σ_t [ masked_l2(H_t, T, W, w) + pull_weight · pull(tags_t) + push_weight · push(tags_t)
    + masked_l2(H_t^hr, T^hr, W^hr, w) ]``, each term present when the stage has its head.

    Args:
        heads: ``{"heatmaps", "tags", ["heatmaps_hr"], "stages": [...]}``.
        batch: ``heatmaps (B, K, h, w)``, ``mask (B, h, w)``, ``heatmap_weights (B, K)``,
            ``keypoints (B, M, K, 3)`` (the padded people in input pixels; for the tags, mapped
            to the grid by ``codec.input_to_heatmap``), and with HigherHRNet ``heatmaps_hr
            (B, K, 2h, 2w)``, ``mask_hr (B, 2h, 2w)``.
        codec: the AE codec (its ``input_to_heatmap``).
        pull_weight, push_weight: see :data:`AE_PULL_WEIGHT`; the terms are those of
            :func:`posekit.grouping.tags.ae_loss_terms` (push with σ = 1).
    """
    from posekit.grouping.tags import ae_loss_terms
    kp = batch["keypoints"]
    kp_hm = torch.cat([codec.input_to_heatmap(kp[..., :2]), kp[..., 2:]], dim=-1)
    total = kp.new_zeros((), dtype=torch.float32)
    for stage in _stages(heads):
        if "heatmaps" in stage:
            total = total + masked_l2(stage["heatmaps"], batch["heatmaps"], batch.get("mask"),
                                      batch.get("heatmap_weights"))
        if "tags" in stage:
            pull, push = ae_loss_terms(stage["tags"].float(), kp_hm)
            total = total + pull_weight * pull + push_weight * push
        if "heatmaps_hr" in stage:
            total = total + masked_l2(stage["heatmaps_hr"], batch["heatmaps_hr"], batch.get("mask_hr"),
                                      batch.get("heatmap_weights"))
    return total


def sstn_loss(heads: dict, batch: dict, loss_fn: Callable, parallel_weight: float = 1.0,
              theta_weight: float = 1.0) -> torch.Tensor:
    """RMPE's SSTN loss (Fang et al., ICCV 2017, Sec. 3.2): the heatmap loss of the SSTN's output
    (in the input crop's frame) against the crop's targets, plus ``parallel_weight`` times the
    loss of the parallel SPPE branch (in the STN's frame) against the *centred* targets; when
    ``heads`` holds ``theta`` (an SSTN with ``theta_loss=True``, not in the paper), plus
    ``theta_weight`` times the mean L1 distance between ``theta (B, 2, 3)`` and the transform to
    the centred crop (:func:`posekit.models.sstn.centring_theta`, from ``keypoints`` and the
    centred targets; samples without enough joints left out).

    ``heads``: ``{"heatmaps": (B, K, h, w), "parallel": (B, K, h, w)}``
    (:class:`posekit.models.sstn.SSTN` with ``parallel=True``); ``batch``: ``heatmaps``,
    ``weights`` and ``parallel_heatmaps``, ``parallel_weights`` (a TopDownDataset with
    ``centred_targets``); ``loss_fn(pred, target, weights)`` e.g. :class:`KeypointMSELoss`."""
    if not isinstance(heads, dict) or "parallel" not in heads:
        raise ValueError("sstn_loss needs the SSTN's heads with its parallel branch (forward(images, parallel=True))")
    if "parallel_heatmaps" not in batch:
        raise ValueError("sstn_loss needs the centred targets 'parallel_heatmaps' (TopDownDataset(centred_targets=True))")
    main = loss_fn(heads["heatmaps"], batch["heatmaps"], batch["weights"])
    par = loss_fn(heads["parallel"], batch["parallel_heatmaps"], batch["parallel_weights"])
    total = main + parallel_weight * par
    if "theta" in heads:
        from posekit.models.sstn import centring_theta
        theta = heads["theta"].float()
        target, valid = centring_theta(batch["keypoints"], batch["parallel_heatmaps"], batch["parallel_weights"],
                                       tuple(batch["image"].shape[-2:]))
        err = (theta - target).abs().mean((1, 2))
        total = total + theta_weight * (err * valid).sum() / valid.sum().clamp(min=1)
    return total


def _masked_mean(per_element: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w * e) / max(1, #{w > 0})``: the mean over the weighted elements (TF's
    ``SUM_BY_NONZERO_WEIGHTS`` reduction, which DeeperCut's code uses)."""
    weights = weights.float()
    return (per_element * weights).sum() / (weights > 0).sum().clamp_min(1)


def deepercut_loss(heads: dict, batch: dict, locref_weight: float = 0.05,
                   pairwise_weight: float = 0.1) -> torch.Tensor:
    """DeeperCut's loss (Insafutdinov et al., ECCV 2016), summed over ``heads["stages"]``
    (intermediate supervision: the conv4 stage has score maps only):

    * score maps: sigmoid cross-entropy against the binary discs, weighted by
      ``scoremap_weights``;
    * location refinement: Huber loss (delta 1) on the offsets within ``locref_mask``, times
      ``locref_weight``;
    * pairwise offsets: Huber loss within ``pairwise_mask``, times ``pairwise_weight``.

    Each term is averaged over the elements of non-zero weight. The weights 0.05 and 0.1 are
    those of the released DeeperCut configuration as DeepLabCut keeps it (``locref_loss_weight``,
    ``pairwise_loss_weight``).

    ``heads``: the model's dict (``scoremaps (B, K, h, w)``, ``locref (B, 2K, h, w)``, ``pairwise
    (B, 2K(K-1), h, w)``, ``stages``); ``batch``: the collated
    :class:`~posekit.codecs.deepercut.DeeperCutTarget` fields (``scoremaps``,
    ``scoremap_weights``, ``locref_targets``, ``locref_mask``, ``pairwise_targets``,
    ``pairwise_mask``) with a leading batch dimension."""
    total = batch["scoremaps"].new_zeros((), dtype=torch.float32)
    for stage in _stages(heads):
        if "scoremaps" in stage:
            ce = nn.functional.binary_cross_entropy_with_logits(
                stage["scoremaps"].float(), batch["scoremaps"].float(), reduction="none")
            total = total + _masked_mean(ce, batch["scoremap_weights"])
        if "locref" in stage:
            hub = nn.functional.huber_loss(stage["locref"].float(), batch["locref_targets"].float(),
                                           reduction="none", delta=1.0)
            total = total + locref_weight * _masked_mean(hub, batch["locref_mask"])
        if "pairwise" in stage:
            hub = nn.functional.huber_loss(stage["pairwise"].float(), batch["pairwise_targets"].float(),
                                           reduction="none", delta=1.0)
            total = total + pairwise_weight * _masked_mean(hub, batch["pairwise_mask"])
    return total

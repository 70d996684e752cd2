"""Losses checked against values computed by hand."""

from __future__ import annotations

import pytest
import torch

from posekit.losses import KeypointMSELoss, OHKMMSELoss, RegressionLoss, multi_stage_loss


def maps():
    # B=1, K=3, 1x2 maps; per-joint 0.5*mean sq errors: joint0 = 0.5*(1+0)/2 = 0.25,
    # joint1 = 0.5*(4+4)/2 = 2.0, joint2 = 0.5*(9+1)/2 = 2.5
    pred = torch.tensor([[[[1.0, 0.0]], [[2.0, 2.0]], [[3.0, 1.0]]]])
    target = torch.zeros_like(pred)
    return pred, target


def test_mse_by_hand():
    pred, target = maps()
    w = torch.tensor([[1.0, 0.0, 1.0]])
    assert KeypointMSELoss()(pred, target, w).item() == pytest.approx((0.25 + 0 + 2.5) / 3)
    assert KeypointMSELoss(use_target_weight=False)(pred, target, w).item() == pytest.approx((0.25 + 2.0 + 2.5) / 3)
    with pytest.raises(ValueError, match="differ in shape"):
        KeypointMSELoss()(pred, target[..., :1], w)


def test_ohkm_by_hand():
    pred, target = maps()
    w = torch.ones(1, 3)
    assert OHKMMSELoss(topk=2)(pred, target, w).item() == pytest.approx((2.0 + 2.5) / 2)
    assert OHKMMSELoss(topk=1)(pred, target, torch.tensor([[1.0, 1.0, 0.0]])).item() == pytest.approx(2.0)
    # topk >= K is the plain mean
    assert OHKMMSELoss(topk=8)(pred, target, w).item() == pytest.approx(KeypointMSELoss()(pred, target, w).item())
    # per sample: the second sample's hard joints are different
    p2 = torch.cat([pred, pred.flip(1)])
    assert OHKMMSELoss(topk=1)(p2, torch.zeros_like(p2), torch.ones(2, 3)).item() == pytest.approx(2.5)


def test_multi_stage_sum_and_gradients():
    pred, target = maps()
    w = torch.ones(1, 3)
    a = pred.clone().requires_grad_(True)
    b = (pred * 0).requires_grad_(True)
    loss = multi_stage_loss([a, b], target, w, KeypointMSELoss())
    assert loss.item() == pytest.approx((0.25 + 2.0 + 2.5) / 3)
    loss.backward()
    assert a.grad.abs().sum() > 0 and b.grad is not None
    assert multi_stage_loss(pred, target, w, KeypointMSELoss()).item() == pytest.approx(4.75 / 3)
    assert multi_stage_loss([pred, pred], [target, target], w, KeypointMSELoss(), [0.5, 2.0]).item() == \
        pytest.approx(2.5 * 4.75 / 3)
    with pytest.raises(ValueError, match="stage 1"):
        multi_stage_loss([pred, pred[..., :1]], target, w, KeypointMSELoss())


def test_regression_losses_by_hand():
    pred = torch.tensor([[[0.5, 0.5], [0.0, 1.0]]])
    target = torch.tensor([[[0.25, 0.5], [1.0, 1.0]]])
    w = torch.tensor([[1.0, 1.0]])
    assert RegressionLoss("l1")(pred, target, w).item() == pytest.approx((0.25 + 1.0) / 2)
    assert RegressionLoss("l2")(pred, target, w).item() == pytest.approx((0.0625 + 1.0) / 2)
    assert RegressionLoss("l2")(pred.reshape(1, 4), target, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(1.0)

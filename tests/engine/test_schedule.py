from __future__ import annotations

import math

import pytest

from posekit.engine.config import ScheduleConfig
from posekit.engine.schedule import lr_at


def test_warmup_then_cosine():
    cfg = ScheduleConfig(kind="cosine", warmup_steps=10, warmup_factor=0.1, min_lr_factor=0.0)
    assert lr_at(0, 1.0, 110, cfg) == pytest.approx(0.1)
    assert lr_at(5, 1.0, 110, cfg) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(10, 1.0, 110, cfg) == pytest.approx(1.0)
    # t = (step - 10) / (110 - 1 - 10)
    assert lr_at(10 + 99 // 2, 1.0, 110, cfg) == pytest.approx(0.5 * (1 + math.cos(math.pi * 49 / 99)))
    assert lr_at(109, 1.0, 110, cfg) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(500, 1.0, 110, cfg) == pytest.approx(0.0, abs=1e-12)
    floor = ScheduleConfig(kind="cosine", min_lr_factor=0.1)
    assert lr_at(99, 2.0, 100, floor) == pytest.approx(0.2)


def test_step_and_constant():
    cfg = ScheduleConfig(kind="step", milestones=(170, 200), gamma=0.1)
    assert [lr_at(s, 1e-3, 210, cfg) for s in (0, 169, 170, 199, 200)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    assert lr_at(7, 0.5, 10, ScheduleConfig(kind="constant")) == 0.5
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_at(0, 1.0, 10, ScheduleConfig(kind="exponential"))


def test_warmup_then_linear_decay_to_zero_as_mspn():
    """MSPN: linear warm-up from 0.1 over 2,400 iterations, then linear decay to 0 at the last."""
    cfg = ScheduleConfig(kind="linear", warmup_steps=2400, warmup_factor=0.1, min_lr_factor=0.0)
    total = 96_000
    assert lr_at(0, 4e-3, total, cfg) == pytest.approx(4e-4)
    assert lr_at(2400, 4e-3, total, cfg) == pytest.approx(4e-3)
    mid = 2400 + (total - 1 - 2400) // 2
    assert lr_at(mid, 4e-3, total, cfg) == pytest.approx(4e-3 * (1 - (mid - 2400) / (total - 1 - 2400)))
    assert lr_at(total - 1, 4e-3, total, cfg) == pytest.approx(0.0, abs=1e-15)
    floor = ScheduleConfig(kind="linear", min_lr_factor=0.2)
    assert lr_at(50, 1.0, 101, floor) == pytest.approx(0.2 + 0.8 * 0.5)


def test_schedule_is_pure():
    cfg = ScheduleConfig(kind="cosine", warmup_steps=3)
    assert [lr_at(s, 1.0, 20, cfg) for s in range(20)] == [lr_at(s, 1.0, 20, cfg) for s in range(20)]

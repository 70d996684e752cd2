"""Learning-rate schedules as pure functions of the step (as in nanoGPT's ``get_lr``).

Because the rate depends on nothing but the step, resuming needs only the step number.
"""

from __future__ import annotations

import bisect
import math

from posekit.engine.config import ScheduleConfig

__all__ = ["lr_at"]


def lr_at(step: int, base_lr: float, total_steps: int, cfg: ScheduleConfig) -> float:
    """Learning rate for 0-based ``step`` of ``total_steps``.

    * warm-up (``step < warmup_steps``): linear from ``warmup_factor * base_lr`` to ``base_lr``:
      ``lr = base_lr * (f + (1 - f) * step / warmup_steps)``;
    * ``"cosine"``: with ``t = (step - warmup) / max(1, total - 1 - warmup)`` clipped to [0, 1],
      ``lr = base_lr * (m + (1 - m) * (1 + cos(π t)) / 2)``, ``m = min_lr_factor``;
    * ``"linear"``: with the same ``t``, ``lr = base_lr * (m + (1 - m) * (1 - t))`` (MSPN's decay
      to ``m * base_lr`` at the last step);
    * ``"step"``: ``lr = base_lr * gamma ** (number of milestones <= step)``;
    * ``"constant"``: ``base_lr``.
    """
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        f = cfg.warmup_factor
        return base_lr * (f + (1.0 - f) * step / cfg.warmup_steps)
    if cfg.kind == "constant":
        return base_lr
    if cfg.kind == "step":
        return base_lr * cfg.gamma ** bisect.bisect_right(sorted(cfg.milestones), step)
    if cfg.kind in ("cosine", "linear"):
        span = max(1, total_steps - 1 - cfg.warmup_steps)
        t = min(1.0, max(0.0, (step - cfg.warmup_steps) / span))
        m = cfg.min_lr_factor
        decay = 0.5 * (1.0 + math.cos(math.pi * t)) if cfg.kind == "cosine" else 1.0 - t
        return base_lr * (m + (1.0 - m) * decay)
    raise ValueError(f"unknown schedule kind {cfg.kind!r}; valid: cosine, linear, step, constant")

"""Milliseconds per stage of a predictor's last call (``predictor.timings``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["StageTimer"]


class StageTimer:
    """Wall-clock milliseconds per named stage, summed over the ``with timer("stage"):``
    blocks of one call. ``ms`` lists every stage (0.0 for a stage that did not run)."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        self.ms: dict[str, float] = dict.fromkeys(stages, 0.0)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] = self.ms.get(stage, 0.0) + (time.perf_counter() - t0) * 1e3

"""Named experiment presets: plain functions returning an :class:`ExperimentConfig`.

``posekit train PRESET --set key=value`` starts from one of these. To add a preset, write a
function and add it to :data:`PRESETS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from posekit.engine.config import (
    DataConfig, ExperimentConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig,
)
from posekit.errors import PosekitError

__all__ = ["PRESETS", "get_preset", "synthetic_sb_r18", "synthetic_tiny", "coco_sample_finetune"]

# ../shared/data beside the repository root (src/posekit/engine -> parents[3] is the repo).
SHARED_DATA = (Path(__file__).resolve().parents[3] / ".." / "shared" / "data").resolve()


def synthetic_sb_r18() -> ExperimentConfig:
    """SimpleBaseline R18 at 128x96 on procedural synthetic figures: the "learning, proved"
    run. Measured: PCK@0.2 (box-normalised) 0.916 after 400 steps / 223 s on 2 shared CPU
    cores (benchmarks/learning_curve.py; see docs/training.md)."""
    return ExperimentConfig(
        name="synthetic_sb_r18",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(96, 128), num_train=2048,
                        num_val=128, aug=True),
        model=ModelConfig(arch="simple_baseline_r18", codec="msra", decoder="dark"),
        optim=OptimConfig(optimizer="adamw", lr=2e-3, weight_decay=1e-4, grad_clip=5.0),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.02),
        train=TrainConfig(steps=560, batch_size=16, eval_every=80, checkpoint_every=80, log_every=10),
    )


def synthetic_tiny() -> ExperimentConfig:
    """A seconds-long run for tests and smoke checks (64x64 crops, SimpleBaseline R18)."""
    return ExperimentConfig(
        name="synthetic_tiny",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(64, 64), num_train=256,
                        num_val=32, aug=False),
        model=ModelConfig(arch="simple_baseline_r18", codec="msra"),
        optim=OptimConfig(optimizer="adam", lr=1e-3),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=2),
        train=TrainConfig(steps=6, batch_size=8, eval_every=0, checkpoint_every=3, log_every=1,
                          progress=False),
    )


def coco_sample_finetune() -> ExperimentConfig:
    """Overfit the 14 people of the COCO sample (../shared/data/coco): proves the real-data
    path, reading COCO JSON, GT-box crops, training, and COCO AP on the same people. No
    augmentation, so no flip test either (a model never shown mirrored people is not
    mirror-consistent)."""
    coco = SHARED_DATA / "coco"
    return ExperimentConfig(
        name="coco_sample_finetune",
        data=DataConfig(dataset="coco", spec="coco17", ann=str(coco / "test_coco.json"), images=str(coco),
                        input_size=(96, 128), aug=False),
        model=ModelConfig(arch="simple_baseline_r18", codec="msra", decoder="dark"),
        optim=OptimConfig(optimizer="adam", lr=2e-3),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.05),
        train=TrainConfig(steps=300, batch_size=14, eval_every=100, checkpoint_every=100, log_every=10,
                          flip_test=False),
    )


PRESETS: dict[str, Callable[[], ExperimentConfig]] = {
    "synthetic_sb_r18": synthetic_sb_r18,
    "synthetic_tiny": synthetic_tiny,
    "coco_sample_finetune": coco_sample_finetune,
}


def get_preset(name: str) -> ExperimentConfig:
    """The preset called ``name``; an unknown name is an error listing the valid ones."""
    if name not in PRESETS:
        raise PosekitError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()

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
    run (target: torso-normalised PCK@0.2 >= 0.90 on held-out scenes within 5 minutes on a
    2-core CPU; see docs/training.md for the measured curve).

    Chosen for a short CPU budget, where the number of optimizer steps is what counts:

    * fp32: bf16 autocast (``train.amp``) is only faster on CPUs with AVX512-BF16/AMX; on the
      AVX2-only development CPU a step took 19 s with it against 0.77 s without;
    * σ = 2 heatmap pixels at 24x32 (the default would be 1): a wider target gives a useful
      gradient sooner when training from scratch; DARK decoding keeps the sub-pixel accuracy;
    * skip connections (``skips=True``, not in the paper): the trunk's C4/C3/C2 features are
      added to the deconvolutions of the same size. From scratch, without them the stride-32
      bottleneck is all the head sees, and wrists and elbows are learnt slowly: 0.860 torso
      PCK@0.2 after 440 steps (287 s) without, 0.937 with, at the same cost per step;
    * 64-channel deconvolutions (the paper's 256 is for COCO): 0.56 s a step instead of 0.87,
      and torso PCK@0.2 at equal time is higher;
    * 360 steps (about 4.3 minutes here), evaluated every 90;
    * mild augmentation (flip, scale 0.85-1.15, rotation ±15° half the time, no half-body
      crops): the held-out figures lean by at most 25° and are whole, so the default strong
      augmentation (±40°, half-body) spends the few epochs on cases that are never tested.
    """
    return ExperimentConfig(
        name="synthetic_sb_r18",
        data=DataConfig(dataset="synthetic", spec="coco17", input_size=(96, 128), num_train=2048,
                        num_val=128, aug=True,
                        aug_kwargs={"scale_range": [0.85, 1.15], "rotation_deg": 15.0, "rotation_prob": 0.5,
                                    "half_body_prob": 0.0}),
        model=ModelConfig(arch="simple_baseline_r18", kwargs={"deconv_channels": 64, "skips": True}, codec="msra",
                          decoder="dark", sigma=2.0),
        optim=OptimConfig(optimizer="adamw", lr=2e-3, weight_decay=1e-4, grad_clip=5.0),
        schedule=ScheduleConfig(kind="cosine", warmup_steps=10, min_lr_factor=0.02),
        train=TrainConfig(steps=360, batch_size=16, eval_every=90, checkpoint_every=90, log_every=10),
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

"""Experiment configuration: one frozen dataclass per concern, composed into ExperimentConfig.

Presets are plain functions in :mod:`posekit.engine.presets`. Command-line overrides are
dotted ``section.field=value`` strings, checked against the fields: an unknown key is a
:class:`~posekit.errors.PosekitError` listing the valid keys. Values are parsed as JSON when
possible (``1e-3``, ``true``, ``[96, 128]``, ``{"a": 1}``), else taken as strings, then
coerced to the type of the field's current value.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posekit.errors import PosekitError

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "TrainConfig", "ExperimentConfig",
           "apply_overrides", "valid_keys", "config_to_dict", "config_from_dict", "save_config"]


@dataclass(frozen=True)
class DataConfig:
    """What to train and validate on.

    ``dataset``: ``"synthetic"`` (procedural figures, see ``posekit.data.synthetic``),
    ``"coco"`` (COCO keypoints JSON) or ``"mpii"`` (MPII JSON). ``ann``/``images`` are the
    training annotation file and image folder; ``val_ann``/``val_images`` default to them.
    ``input_size`` is ``(W, H)``. ``num_train``/``num_val``/``data_seed`` size and seed the
    synthetic sets. ``aug`` switches training augmentation on; ``aug_kwargs`` overrides fields
    of :class:`posekit.data.transforms.AugConfig` (e.g. ``{"rotation_deg": 15}``).
    """

    dataset: str = "synthetic"
    spec: str = "coco17"
    ann: str = ""
    images: str = ""
    val_ann: str = ""
    val_images: str = ""
    input_size: tuple[int, int] = (96, 128)
    num_train: int = 2048
    num_val: int = 256
    data_seed: int = 0
    aug: bool = True
    aug_kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """``arch``: a zoo name (``posekit.models.create``); ``kwargs``: extra builder arguments.
    ``codec``: ``"msra"``, ``"udp"`` or ``"regression"``; ``sigma`` 0 = the default σ for the
    heatmap size; ``decoder``: ``"dark"`` or ``"argmax"``; ``stride``: input / heatmap size."""

    arch: str = "simple_baseline_r18"
    kwargs: dict = field(default_factory=dict)
    codec: str = "msra"
    sigma: float = 0.0
    decoder: str = "dark"
    stride: int = 4


@dataclass(frozen=True)
class OptimConfig:
    """Adam or AdamW; ``grad_clip`` is the max global gradient norm (0 = off)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    grad_clip: float = 0.0


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning rate as a pure function of the step (see ``posekit.engine.schedule``).
    ``kind``: ``"cosine"``, ``"step"`` or ``"constant"``; linear warm-up from
    ``warmup_factor * lr`` over ``warmup_steps``; cosine decays to ``min_lr_factor * lr`` at the
    last step; step multiplies by ``gamma`` at each of ``milestones``."""

    kind: str = "cosine"
    warmup_steps: int = 0
    warmup_factor: float = 0.001
    min_lr_factor: float = 0.0
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """Loop settings. ``batch_size`` is the *global* batch (split across DDP ranks).
    ``eval_every``/``checkpoint_every``/``log_every`` in steps (0 = only at the end; for
    ``eval_every``, -1 = never).
    ``loss``: ``"mse"`` or ``"ohkm"``. ``amp``: autocast (bf16 on CPU, fp16 on CUDA)."""

    steps: int = 1000
    batch_size: int = 32
    seed: int = 0
    eval_every: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    loss: str = "mse"
    ohkm_topk: int = 8
    use_target_weight: bool = True
    amp: bool = False
    device: str = "auto"
    flip_test: bool = True
    threads: int = 0
    progress: bool = True


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS = ("data", "model", "optim", "schedule", "train")


def valid_keys(cfg: ExperimentConfig | None = None) -> list[str]:
    """All dotted keys an override may set, e.g. ``"optim.lr"``."""
    cfg = cfg or ExperimentConfig()
    keys = ["name"]
    for sec in SECTIONS:
        keys += [f"{sec}.{f.name}" for f in dataclasses.fields(getattr(cfg, sec))]
    return keys


def _coerce(key: str, raw: str, current: Any) -> Any:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    try:
        if isinstance(current, bool):
            if isinstance(value, str) and value.lower() in ("true", "yes", "on", "false", "no", "off"):
                return value.lower() in ("true", "yes", "on")
            if value in (0, 1):
                return bool(value)
            raise ValueError
        if isinstance(current, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError
            return value
        if isinstance(current, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                value = [json.loads(v) for v in value.split(",") if v.strip()]
            if isinstance(value, (int, float)):
                value = [value]
            if not isinstance(value, list):
                raise ValueError
            return tuple(value)
        if isinstance(current, dict):
            if not isinstance(value, dict):
                raise ValueError
            return value
        return raw if not isinstance(value, str) else value
    except (ValueError, json.JSONDecodeError):
        raise PosekitError(f"config key {key!r}: cannot use {raw!r} as a {type(current).__name__} "
                           f"(current value {current!r})") from None


def apply_overrides(cfg: ExperimentConfig, overrides: list[str] | tuple[str, ...] | dict[str, Any]) -> ExperimentConfig:
    """Apply ``["optim.lr=1e-3", "train.steps=200"]`` (or a dict of key -> value) and return a
    new config. Unknown keys raise :class:`PosekitError` naming the valid keys."""
    items = overrides.items() if isinstance(overrides, dict) else [_split(o) for o in overrides]
    keys = valid_keys(cfg)
    for key, raw in items:
        if key not in keys:
            raise PosekitError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")
        if key == "name":
            cfg = dataclasses.replace(cfg, name=str(raw))
            continue
        sec, fname = key.split(".", 1)
        section = getattr(cfg, sec)
        current = getattr(section, fname)
        value = _coerce(key, raw, current) if isinstance(raw, str) else raw
        cfg = dataclasses.replace(cfg, **{sec: dataclasses.replace(section, **{fname: value})})
    return cfg


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise PosekitError(f"override {item!r} is not of the form section.key=value")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def config_to_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict) -> ExperimentConfig:
    """Inverse of :func:`config_to_dict`; unknown keys are refused, missing keys take defaults
    (so checkpoints of older versions still load)."""
    classes = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
               "schedule": ScheduleConfig, "train": TrainConfig}
    kwargs: dict[str, Any] = {}
    for key, value in d.items():
        if key == "name":
            kwargs["name"] = value
            continue
        if key not in classes:
            raise PosekitError(f"config has an unknown section {key!r}; valid: {', '.join(SECTIONS)}")
        cls = classes[key]
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(value) - set(names)
        if unknown:
            raise PosekitError(f"config section {key!r} has unknown keys {sorted(unknown)}")
        fields = {}
        for k, v in value.items():
            default = cls().__getattribute__(k)
            fields[k] = tuple(v) if isinstance(default, tuple) else v
        kwargs[key] = cls(**fields)
    return ExperimentConfig(**kwargs)


def config_json(cfg: ExperimentConfig) -> str:
    return json.dumps(config_to_dict(cfg), indent=2, sort_keys=False)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    Path(path).write_text(config_json(cfg) + "\n")

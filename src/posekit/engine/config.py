"""Experiment configuration: one frozen dataclass per concern, composed into ExperimentConfig.

Presets are plain functions in :mod:`posekit.engine.presets`. Command-line overrides are
dotted ``section.field=value`` strings, checked against the fields: an unknown key is a
:class:`~posekit.errors.PosekitError` listing the valid keys. Values are parsed as JSON when
possible (``1e-3``, ``true``, ``[96, 128]``, ``{"a": 1}``), else taken as strings, then
coerced to the type of the field's current value.

Every value is then checked by :func:`check_field`: the type of the field, every number
finite (also inside ``model.kwargs`` and ``data.aug_kwargs``), and numeric fields within
:data:`BOUNDS`, so ``optim.lr=NaN`` or ``train.batch_size=0`` is refused when the override is
parsed, naming the key; string fields with a fixed set of values (:data:`CHOICES`) are
checked the same way. :func:`validate_config` checks a whole config the same way (plus the
checks between fields); :func:`config_from_dict` (configs read back from a checkpoint or a
``config.json``) and the training loop use it.

Paths: ``data.root`` is the data set's folder, and :func:`resolve_data_paths` (called once, at
the start of training) joins the relative data and box paths to it, so a preset holds paths
in the data set's standard layout and the data set may live anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posekit.errors import PosekitError

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "ScheduleConfig", "TrainConfig", "EvalConfig",
           "ExperimentConfig", "Bounds", "BOUNDS", "CHOICES", "BOTTOMUP_CODECS", "MOVED_KEYS", "apply_overrides", "coerce_override", "check_field",
           "validate_config", "valid_keys", "config_to_dict", "config_from_dict", "save_config",
           "resolve_data_paths"]


@dataclass(frozen=True)
class DataConfig:
    """What to train and validate on.

    ``dataset``: ``"synthetic"`` (procedural figures, see ``posekit.data.synthetic``),
    ``"coco"`` (COCO keypoints JSON) or ``"mpii"`` (MPII JSON). ``ann``/``images`` are the
    training annotation file and image folder; ``val_ann``/``val_images`` default to them.
    ``root`` is the data set's folder: relative ``ann``, ``images``, ``val_ann``, ``val_images``
    (and ``eval.boxes``) are taken relative to it, once, by :func:`resolve_data_paths` when
    training starts (the paper presets hold paths in the data set's standard layout, e.g.
    ``annotations/person_keypoints_train2017.json``, and ``root`` is set with
    ``--set data.root=/data/coco``). With ``root`` empty, relative paths are relative to the
    working folder.
    ``input_size`` is ``(W, H)`` (bottom-up codecs: square, ``(S, S)``, the whole-image input).
    ``num_train``/``num_val``/``data_seed`` size and seed the synthetic sets; ``num_people`` is
    the inclusive range of people per synthetic scene. ``aug`` switches training augmentation on; ``aug_kwargs`` overrides fields
    of :class:`posekit.data.transforms.AugConfig` (e.g. ``{"rotation_deg": 15}``).
    RMPE (``posekit.data.pgpg``): ``detector_jitter`` > 0 replaces the true person boxes of the
    training and evaluation crops by those of a simulated detector (``SimulatedDetector``: centre
    pulled toward the pelvis by ``detector_pull``, then shifted and each side scaled by up to
    ± ``detector_jitter``); ``pgpg_atoms`` > 0 trains on PGPG proposals instead, learnt from the
    simulated detector's training boxes with that many atomic poses (needs ``detector_jitter``).
    """

    dataset: str = "synthetic"
    spec: str = "coco17"
    root: str = ""
    ann: str = ""
    images: str = ""
    val_ann: str = ""
    val_images: str = ""
    input_size: tuple[int, int] = (96, 128)
    num_train: int = 2048
    num_val: int = 256
    data_seed: int = 0
    num_people: tuple[int, int] = (1, 2)
    aug: bool = True
    aug_kwargs: dict = field(default_factory=dict)
    detector_jitter: float = 0.0
    detector_pull: float = 0.3
    pgpg_atoms: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """``arch``: a zoo name (``posekit.models.create``); ``kwargs``: extra builder arguments.
    ``codec``: ``"msra"``, ``"udp"`` or ``"regression"`` (top-down), or a bottom-up codec of
    :data:`BOTTOMUP_CODECS`: ``"paf"`` (OpenPose's fields), ``"ae"`` (associative embedding),
    ``"ae_hr"`` (AE with HigherHRNet's 1/2-resolution heatmaps), ``"deepercut"``; ``sigma`` 0 = the default σ for the
    heatmap size; ``decoder``: ``"dark"`` or ``"argmax"``; ``stride``: input / heatmap size."""

    arch: str = "simple_baseline_r18"
    kwargs: dict = field(default_factory=dict)
    codec: str = "msra"
    sigma: float = 0.0
    decoder: str = "dark"
    stride: int = 4


@dataclass(frozen=True)
class OptimConfig:
    """The optimizer (built by :func:`posekit.engine.train.build_optimizer`):

    * ``"adam"`` / ``"adamw"``: ``beta1``, ``beta2``, ``eps``; ``weight_decay`` is L2 added to
      the gradient for Adam (as ``torch.optim.Adam``, TF's ``l2_regularizer`` and Caffe) and
      decoupled for AdamW;
    * ``"sgd"``: ``momentum``, ``nesterov``, ``weight_decay`` (L2);
    * ``"rmsprop"``: ``alpha`` (the squared-gradient average's smoothing; Torch7's and
      PyTorch's 0.99), ``eps`` (added to the root, as Torch7 and PyTorch do), ``momentum``,
      ``weight_decay``.

    ``grad_clip`` is the max global gradient norm (0 = off)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    momentum: float = 0.0
    nesterov: bool = False
    alpha: float = 0.99
    grad_clip: float = 0.0


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning rate as a pure function of the step (see ``posekit.engine.schedule``).
    ``kind``: ``"cosine"``, ``"linear"``, ``"step"`` or ``"constant"``; linear warm-up from
    ``warmup_factor * lr`` over ``warmup_steps``; cosine and linear decay to ``min_lr_factor * lr`` at the
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
    ``loss``: ``"mse"`` or ``"ohkm"``. ``amp``: autocast (bf16 on CPU, fp16 on CUDA).
    (The flip test moved to ``eval.flip_test``; ``train.flip_test`` is still accepted.)"""

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
    threads: int = 0
    progress: bool = True


@dataclass(frozen=True)
class EvalConfig:
    """The evaluation protocol of a top-down model (the papers' test settings).

    * ``boxes``: person boxes as a COCO results JSON (``[{"image_id", "bbox": [x, y, w, h],
      "score", "category_id": 1}, ...]``), relative to ``data.root``; ``""`` = the ground-truth
      boxes. The COCO presets name ``person_detection_results/COCO_val2017_detections_AP_H_56_person.json``,
      the person detections (56.4 AP) that Simple Baselines and HRNet evaluate with.
    * ``box_score_threshold``: boxes scoring below it are dropped (HRNet's ``IMAGE_THRE``).
    * ``flip_test``: average the heatmaps of the crop and of its mirror.
    * ``flip_shift``: shift the flipped-back heatmaps one heatmap pixel right: ``"auto"`` (what
      the codec's frame needs, ``codec.flip_shift``: no shift for posekit's codecs, whose
      mirrored crop is exactly the mirrored heatmap; shift for ``mmpose_frame`` weights),
      ``"on"`` or ``"off"``. The papers' ``SHIFT_HEATMAP: true`` corrects their own
      ``x_crop = stride * x_heatmap`` frame; posekit's ``"auto"`` is its equivalent.
    * ``keypoint_score_threshold``: an instance's score is its box score times the mean of its
      keypoint scores above this (HRNet's ``IN_VIS_THRE``); 0 = the mean of all of them.
    * ``oks_nms_threshold``: per image, a pose whose OKS with a higher-scored pose exceeds this
      is dropped (HRNet's ``OKS_THRE``); 1 = no OKS-NMS.
    * ``metric``: ``"auto"`` (COCO AP for COCO, PCKh@0.5 for MPII, PCK otherwise), ``"coco"``,
      ``"pckh"`` or ``"pck"``.
    """

    boxes: str = ""
    box_score_threshold: float = 0.0
    flip_test: bool = True
    flip_shift: str = "auto"
    keypoint_score_threshold: float = 0.2
    oks_nms_threshold: float = 1.0
    metric: str = "auto"


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS = ("data", "model", "optim", "schedule", "train", "eval")
SECTION_CLASSES = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig,
                   "schedule": ScheduleConfig, "train": TrainConfig, "eval": EvalConfig}

#: Keys that moved, old -> new: overrides and configs read back (checkpoints, config.json)
#: with the old key still work.
MOVED_KEYS: dict[str, str] = {"train.flip_test": "eval.flip_test"}

#: The values a string field may take (the other string fields are checked where they are used).
CHOICES: dict[str, tuple[str, ...]] = {
    "optim.optimizer": ("adam", "adamw", "sgd", "rmsprop"),
    "schedule.kind": ("cosine", "linear", "step", "constant"),
    "eval.flip_shift": ("auto", "on", "off"),
    "eval.metric": ("auto", "coco", "pckh", "pck"),
    "model.codec": ("msra", "udp", "regression", "paf", "ae", "ae_hr", "deepercut"),
}

#: The codecs of whole-image (bottom-up) models: BottomUpDataset, bottom-up losses and estimator.
BOTTOMUP_CODECS: tuple[str, ...] = ("paf", "ae", "ae_hr", "deepercut")


@dataclass(frozen=True)
class Bounds:
    """The interval a numeric field (or each number of a tuple field) must lie in:
    ``low <= v <= high``, with ``<`` instead of ``<=`` on an open side; None = unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, v: float) -> bool:
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return self.high is None or (v < self.high if self.high_open else v <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        return (f"in {'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)}"
                f"{')' if self.high_open else ']'}")


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


_SEED = Bounds(0, 2 ** 32 - 1)

#: Allowed range of every numeric field (tuple fields: of each element). Every number must
#: also be finite. ``tests/engine/test_config.py`` checks that no numeric field is missing.
BOUNDS: dict[str, Bounds] = {
    "data.input_size": Bounds(1),
    "data.num_train": Bounds(1),
    "data.num_val": Bounds(1),
    "data.data_seed": _SEED,
    "data.detector_jitter": Bounds(0, 0.9),
    "data.detector_pull": Bounds(0, 1),
    "data.pgpg_atoms": Bounds(0),
    "data.num_people": Bounds(0),
    "model.sigma": Bounds(0),                       # 0 = the codec's default
    "model.stride": Bounds(1),
    "optim.lr": Bounds(0, low_open=True),
    "optim.weight_decay": Bounds(0),
    "optim.beta1": Bounds(0, 1, high_open=True),
    "optim.beta2": Bounds(0, 1, high_open=True),
    "optim.eps": Bounds(0, low_open=True),
    "optim.momentum": Bounds(0, 1, high_open=True),
    "optim.alpha": Bounds(0, 1, high_open=True),
    "optim.grad_clip": Bounds(0),                   # 0 = off
    "schedule.warmup_steps": Bounds(0),
    "schedule.warmup_factor": Bounds(0, 1),
    "schedule.min_lr_factor": Bounds(0, 1),
    "schedule.milestones": Bounds(0),
    "schedule.gamma": Bounds(0, low_open=True),
    "train.steps": Bounds(1),
    "train.batch_size": Bounds(1),
    "train.seed": _SEED,
    "train.eval_every": Bounds(-1),                 # -1 = never, 0 = at the end
    "train.checkpoint_every": Bounds(0),            # 0 = at the end
    "train.log_every": Bounds(0),
    "train.ohkm_topk": Bounds(1),
    "train.threads": Bounds(0),                     # 0 = torch's default
    "eval.box_score_threshold": Bounds(0, 1),
    "eval.keypoint_score_threshold": Bounds(0, 1, high_open=True),   # 0 = mean of all scores
    "eval.oks_nms_threshold": Bounds(0, 1, low_open=True),          # 1 = no OKS-NMS
}


@functools.lru_cache(maxsize=None)
def _field_type(key: str) -> Any:
    """The annotated type of a dotted key, e.g. ``float`` or ``tuple[int, int]``."""
    if key == "name":
        return str
    sec, fname = key.split(".", 1)
    return typing.get_type_hints(SECTION_CLASSES[sec])[fname]


def _is_number(v: Any, kind: type) -> bool:
    """``v`` is an int (``kind`` int) or an int or float (``kind`` float), never a bool."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) if kind is int else isinstance(v, (int, float))


def _non_finite(value: Any) -> bool:
    """Whether a float anywhere in ``value`` (nested lists and dicts too) is NaN or infinite."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return False


def check_field(key: str, value: Any) -> None:
    """Refuse a value of the dotted ``key`` that has the wrong type, a NaN or infinity anywhere,
    a number outside :data:`BOUNDS` or a string outside :data:`CHOICES`, with a
    :class:`PosekitError` naming the key."""
    kind = _field_type(key)
    bounds = BOUNDS.get(key)
    need = f"a finite number {bounds}" if bounds is not None else "made of finite numbers"
    if _non_finite(value):
        raise PosekitError(f"config key {key!r} must be {need}, got {value!r}")
    origin = typing.get_origin(kind) or kind
    if origin is tuple:
        args = typing.get_args(kind)
        item = args[0]
        if not isinstance(value, (tuple, list)) or not all(_is_number(v, item) for v in value):
            raise PosekitError(f"config key {key!r} must be a list of {item.__name__}s, got {value!r}")
        if args[-1] is not Ellipsis and len(value) != len(args):
            raise PosekitError(f"config key {key!r} must hold {len(args)} numbers, got {value!r}")
        numbers = list(value)
    elif kind in (int, float):
        if not _is_number(value, kind):
            raise PosekitError(f"config key {key!r} must be {'an int' if kind is int else 'a number'}, got {value!r}")
        numbers = [value]
    else:
        if not isinstance(value, origin):
            raise PosekitError(f"config key {key!r} must be a {origin.__name__}, got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise PosekitError(f"config key {key!r} must be one of {', '.join(CHOICES[key])}, got {value!r}")
        numbers = []
    if bounds is not None:
        for v in numbers:
            if not bounds.contains(v):
                raise PosekitError(f"config key {key!r} must be {bounds}, got {value!r}")


def validate_config(cfg: ExperimentConfig, source: str | None = None) -> None:
    """Check every field with :func:`check_field`, then the fields that depend on each other.
    ``source`` (a file name) starts the error message when given."""
    try:
        for key in valid_keys(cfg):
            check_field(key, _get(cfg, key))
        if cfg.model.codec != "regression" and min(cfg.data.input_size) < cfg.model.stride:
            raise PosekitError(f"config key 'data.input_size' {tuple(cfg.data.input_size)} is smaller than "
                               f"model.stride={cfg.model.stride}: the heatmaps would be empty")
        if cfg.model.codec in BOTTOMUP_CODECS and cfg.data.input_size[0] != cfg.data.input_size[1]:
            raise PosekitError(f"config key 'data.input_size' {tuple(cfg.data.input_size)}: the bottom-up codec "
                               f"{cfg.model.codec!r} trains on square whole images, give (S, S)")
        if cfg.data.num_people[0] > cfg.data.num_people[1]:
            raise PosekitError(f"config key 'data.num_people' {tuple(cfg.data.num_people)}: the range's low end "
                               "is above its high end")
    except PosekitError as e:
        if source:
            raise PosekitError(f"{source}: {e}") from None
        raise


def _get(cfg: ExperimentConfig, key: str) -> Any:
    if key == "name":
        return cfg.name
    sec, fname = key.split(".", 1)
    return getattr(getattr(cfg, sec), fname)


def valid_keys(cfg: ExperimentConfig | None = None) -> list[str]:
    """All dotted keys an override may set, e.g. ``"optim.lr"``."""
    cfg = cfg or ExperimentConfig()
    keys = ["name"]
    for sec in SECTIONS:
        keys += [f"{sec}.{f.name}" for f in dataclasses.fields(getattr(cfg, sec))]
    return keys


def coerce_override(key: str, raw: str, current: Any) -> Any:
    """The value of the override ``key=raw`` (command-line text), typed like ``current``, the
    field's present value (JSON where it parses; ``true``/``false``; comma lists for tuples);
    a :class:`PosekitError` naming the key when it cannot be."""
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
        key = MOVED_KEYS.get(key, key)
        if key not in keys:
            raise PosekitError(f"unknown config key {key!r}; valid keys: {', '.join(keys)}")
        if key == "name":
            cfg = dataclasses.replace(cfg, name=str(raw))
            continue
        sec, fname = key.split(".", 1)
        section = getattr(cfg, sec)
        current = getattr(section, fname)
        value = coerce_override(key, raw, current) if isinstance(raw, str) else raw
        if isinstance(current, tuple) and isinstance(value, list):
            value = tuple(value)
        check_field(key, value)
        cfg = dataclasses.replace(cfg, **{sec: dataclasses.replace(section, **{fname: value})})
    validate_config(cfg)
    return cfg


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise PosekitError(f"override {item!r} is not of the form section.key=value")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def config_to_dict(cfg: ExperimentConfig) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict, source: str | None = None) -> ExperimentConfig:
    """Inverse of :func:`config_to_dict`, checked by :func:`validate_config`; unknown keys are
    refused, missing keys take defaults (so checkpoints of older versions still load).
    ``source`` (the file the dict was read from) starts every error message."""
    where = f"{source}: " if source else ""
    if not isinstance(d, dict):
        raise PosekitError(f"{where}config is not a JSON object")
    kwargs: dict[str, Any] = {}
    d = _move_keys(d)
    for key, value in d.items():
        if key == "name":
            kwargs["name"] = value
            continue
        if key not in SECTION_CLASSES:
            raise PosekitError(f"{where}config has an unknown section {key!r}; valid: {', '.join(SECTIONS)}")
        cls = SECTION_CLASSES[key]
        if not isinstance(value, dict):
            raise PosekitError(f"{where}config section {key!r} is not a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(value) - names
        if unknown:
            raise PosekitError(f"{where}config section {key!r} has unknown keys {sorted(unknown)}")
        fields = {}
        for k, v in value.items():
            kind = typing.get_origin(_field_type(f"{key}.{k}")) or _field_type(f"{key}.{k}")
            if kind is tuple and isinstance(v, list):
                v = tuple(v)
            elif kind is float and _is_number(v, int):
                v = float(v)
            fields[k] = v
        kwargs[key] = cls(**fields)
    cfg = ExperimentConfig(**kwargs)
    validate_config(cfg, source)
    return cfg


def _move_keys(d: dict) -> dict:
    """A copy of a config dict with the keys of :data:`MOVED_KEYS` at their new places (a
    value already at the new place wins)."""
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for old, new in MOVED_KEYS.items():
        (old_sec, old_name), (new_sec, new_name) = old.split("."), new.split(".")
        section = d.get(old_sec)
        if isinstance(section, dict) and old_name in section:
            value = section.pop(old_name)
            target = d.setdefault(new_sec, {})
            if isinstance(target, dict):
                target.setdefault(new_name, value)
    return d


def resolve_data_paths(cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with ``data.root`` made absolute and the relative ``data.ann``, ``data.images``,
    ``data.val_ann``, ``data.val_images`` and ``eval.boxes`` joined to it; unchanged when
    ``data.root`` is empty. Resolving twice changes nothing. A ``data.root`` that is not a
    folder is a :class:`PosekitError` saying how to set it."""
    root = cfg.data.root
    if not root:
        return cfg
    base = Path(root).expanduser()
    if not base.is_dir():
        raise PosekitError(f"data.root {root!r} is not a folder ({base.absolute()}): set the data set's location "
                           f"with --set data.root=/path/to/{cfg.data.dataset} (the folder holding "
                           f"{cfg.data.ann or 'its annotation file'})")
    base = base.resolve()

    def under_root(path: str) -> str:
        return str(base / path) if path and not Path(path).is_absolute() else path

    d = cfg.data
    data = dataclasses.replace(d, root=str(base), ann=under_root(d.ann), images=under_root(d.images),
                               val_ann=under_root(d.val_ann), val_images=under_root(d.val_images))
    return dataclasses.replace(cfg, data=data, eval=dataclasses.replace(cfg.eval, boxes=under_root(cfg.eval.boxes)))


def config_json(cfg: ExperimentConfig) -> str:
    return json.dumps(config_to_dict(cfg), indent=2, sort_keys=False)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    """Write the config as JSON, atomically (temporary file, then rename)."""
    from posekit.io import write_text_atomic
    write_text_atomic(path, config_json(cfg) + "\n")

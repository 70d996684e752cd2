from __future__ import annotations

import json

import pytest

from posekit.engine.config import (
    ExperimentConfig, apply_overrides, config_from_dict, config_to_dict, save_config, valid_keys,
)
from posekit.engine.presets import PRESETS, get_preset
from posekit.errors import PosekitError


def test_overrides_are_typed_and_return_new_config():
    base = get_preset("synthetic_sb_r18")
    cfg = apply_overrides(base, ["optim.lr=1e-4", "train.steps=12", "train.amp=true",
                                 "data.input_size=64,48", "schedule.milestones=[10, 20]",
                                 "model.kwargs={\"input_size\": [64, 48]}", "name=x", "model.arch=hrnet_w32"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)
    assert cfg.train.steps == 12 and cfg.train.amp is True
    assert cfg.data.input_size == (64, 48)
    assert cfg.schedule.milestones == (10, 20)
    assert cfg.model.kwargs == {"input_size": [64, 48]}
    assert cfg.name == "x" and cfg.model.arch == "hrnet_w32"
    assert base.optim.lr == 2e-3            # frozen: the preset is untouched
    with pytest.raises(Exception):
        cfg.optim.lr = 1.0                  # dataclasses.FrozenInstanceError


def test_unknown_key_lists_the_valid_keys():
    with pytest.raises(PosekitError) as e:
        apply_overrides(ExperimentConfig(), ["optim.lrr=1"])
    msg = str(e.value)
    assert "unknown config key 'optim.lrr'" in msg
    for key in ("optim.lr", "train.steps", "data.input_size", "schedule.kind"):
        assert key in msg
    with pytest.raises(PosekitError, match="valid keys"):
        apply_overrides(ExperimentConfig(), ["nosection=1"])
    with pytest.raises(PosekitError, match="section.key=value"):
        apply_overrides(ExperimentConfig(), ["optim.lr"])


@pytest.mark.parametrize("item", ["train.steps=abc", "train.steps=1.5", "optim.lr=fast", "train.amp=maybe"])
def test_bad_values_are_named(item):
    with pytest.raises(PosekitError, match=item.split("=")[0]):
        apply_overrides(ExperimentConfig(), [item])


def test_unknown_preset_lists_presets():
    with pytest.raises(PosekitError, match="valid presets: .*synthetic_sb_r18"):
        get_preset("nope")


def test_json_round_trip(tmp_path):
    for name in PRESETS:
        cfg = get_preset(name)
        assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    save_config(get_preset("synthetic_tiny"), tmp_path / "c.json")
    assert config_from_dict(json.loads((tmp_path / "c.json").read_text())) == get_preset("synthetic_tiny")
    with pytest.raises(PosekitError, match="unknown keys"):
        config_from_dict({"optim": {"lrr": 1}})
    assert len(valid_keys()) == len(set(valid_keys()))


@pytest.mark.parametrize("item", [
    "optim.lr=NaN", "optim.lr=-Infinity", "optim.lr=Infinity", "optim.lr=1e999", "optim.lr=0", "optim.lr=-1e-3",
    "train.batch_size=0", "train.steps=-5", "train.steps=0", "train.seed=-1", "train.eval_every=-2",
    "optim.beta2=1", "optim.weight_decay=-0.1", "schedule.warmup_factor=2", "schedule.gamma=0",
    "schedule.milestones=[10, -1]", "data.input_size=0,64", "data.input_size=64,NaN", "data.input_size=[64]",
    "model.sigma=-1", "model.stride=0", 'model.kwargs={"deconv_channels": NaN}',
    'data.aug_kwargs={"rotation_deg": Infinity}', "optim.momentum=1", "optim.alpha=-0.1", "optim.eps=0",
    "eval.oks_nms_threshold=0", "eval.oks_nms_threshold=1.5", "eval.box_score_threshold=-0.1",
    "eval.keypoint_score_threshold=1",
])
def test_non_finite_and_out_of_range_values_are_refused_naming_the_key(item):
    key = item.split("=")[0]
    with pytest.raises(PosekitError, match=f"config key '{key}' must "):
        apply_overrides(get_preset("synthetic_tiny"), [item])


def test_bounds_cover_every_numeric_field_and_every_float_refuses_nan():
    """A numeric field added without bounds fails here; NaN is refused by every float field."""
    import typing

    from posekit.engine.config import BOUNDS, SECTION_CLASSES

    numeric = []
    for sec, cls in SECTION_CLASSES.items():
        for name, kind in typing.get_type_hints(cls).items():
            items = typing.get_args(kind) if typing.get_origin(kind) is tuple else (kind,)
            if any(t in (int, float) for t in items):
                numeric.append(f"{sec}.{name}")
                if kind is float:
                    with pytest.raises(PosekitError, match=f"config key '{sec}.{name}' must be a finite number"):
                        apply_overrides(ExperimentConfig(), [f"{sec}.{name}=NaN"])
    assert sorted(numeric) == sorted(BOUNDS)
    assert "data.num_people" in numeric          # bottom-up synthetic scenes (issue 11)


def test_heatmaps_must_not_be_empty():
    with pytest.raises(PosekitError, match="smaller than model.stride=4"):
        apply_overrides(ExperimentConfig(), ["data.input_size=3,64"])
    cfg = apply_overrides(ExperimentConfig(), ["data.input_size=3,64", "model.codec=regression"])
    assert cfg.data.input_size == (3, 64)


def test_dict_overrides_are_checked_too():
    with pytest.raises(PosekitError, match="config key 'train.batch_size' must be >= 1, got 0"):
        apply_overrides(ExperimentConfig(), {"train.batch_size": 0})
    with pytest.raises(PosekitError, match=r"config key 'optim.lr' must be a number, got \[1\]"):
        apply_overrides(ExperimentConfig(), {"optim.lr": [1]})
    assert apply_overrides(ExperimentConfig(), {"data.input_size": [32, 48]}).data.input_size == (32, 48)


def test_config_read_back_is_validated_naming_the_file():
    """A config from a checkpoint or config.json gets the same checks, its file named."""
    for d, problem in [({"train": {"batch_size": 0}}, "config key 'train.batch_size' must be >= 1, got 0"),
                       ({"optim": {"lr": float("nan")}}, "config key 'optim.lr' must be a finite number > 0"),
                       ({"optim": {"lr": "fast"}}, "config key 'optim.lr' must be a number"),
                       ({"train": {"amp": "yes"}}, "config key 'train.amp' must be a bool"),
                       ({"train": 5}, "config section 'train' is not a JSON object"),
                       ([1, 2], "config is not a JSON object")]:
        with pytest.raises(PosekitError) as e:
            config_from_dict(d, source="runs/x/config.json")
        assert str(e.value).startswith(f"runs/x/config.json: {problem}"), str(e.value)
    cfg = config_from_dict({"model": {"sigma": 2}, "data": {"input_size": [64, 64]}})
    assert cfg.model.sigma == 2.0 and isinstance(cfg.model.sigma, float) and cfg.data.input_size == (64, 64)


def test_presets_pass_the_checks():
    from posekit.engine.config import validate_config
    for name in PRESETS:
        validate_config(get_preset(name))


def test_save_config_is_atomic(tmp_path, monkeypatch):
    import os
    save_config(get_preset("synthetic_tiny"), tmp_path / "config.json")
    before = (tmp_path / "config.json").read_text()

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(PosekitError, match="cannot write"):
        save_config(get_preset("synthetic_sb_r18"), tmp_path / "config.json")
    monkeypatch.undo()
    assert (tmp_path / "config.json").read_text() == before
    assert os.listdir(tmp_path) == ["config.json"]


@pytest.mark.parametrize("item", ["optim.optimizer=lion", "eval.flip_shift=maybe", "eval.metric=pcp"])
def test_string_fields_with_fixed_choices_are_checked(item):
    key = item.split("=")[0]
    with pytest.raises(PosekitError, match=f"config key '{key}' must be one of "):
        apply_overrides(ExperimentConfig(), [item])
    with pytest.raises(PosekitError, match=f"runs/x/config.json: config key '{key}' must be one of "):
        sec, name = key.split(".")
        config_from_dict({sec: {name: item.split("=")[1]}}, source="runs/x/config.json")


def test_the_flip_test_moved_to_eval_and_old_configs_still_load():
    """train.flip_test (checkpoints and command lines of before the eval section) is read as
    eval.flip_test; a value given at the new place wins."""
    assert apply_overrides(ExperimentConfig(), ["train.flip_test=false"]).eval.flip_test is False
    assert config_from_dict({"train": {"flip_test": False, "steps": 5}}).eval.flip_test is False
    assert config_from_dict({"train": {"flip_test": False}, "eval": {"flip_test": True}}).eval.flip_test is True
    assert "train.flip_test" not in valid_keys() and "eval.flip_test" in valid_keys()

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

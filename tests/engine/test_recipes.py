"""The papers' training recipes (posekit.engine.presets.RECIPES): every value has a source, the
table in docs/training.md is the one the presets give, data paths resolve against data.root,
the optimizers the recipes name are built as configured, and every recipe trains two steps on
a real sample (its real model, codec, input size and augmentation)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from posekit.engine import presets as P
from posekit.engine import train as T
from posekit.engine.config import apply_overrides, resolve_data_paths, validate_config
from posekit.errors import PosekitError

REQUIRED = ("hrnet_w32_coco_256x192", "hrnet_w48_coco_384x288", "simple_baseline_r50_coco_256x192",
            "simple_baseline_r152_coco_384x288", "cpn_r50_coco_256x192", "mspn_coco_256x192", "hourglass8_mpii_256",
            "cpm_mpii_368", "prm_mpii_256", "efficientpose_ii_mpii", "evopose2d_s_coco_256x192", "deeppose_lsp",
            "jain2013_flic")
DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_every_required_recipe_exists_passes_the_checks_and_cites_every_value():
    assert set(REQUIRED) <= set(P.RECIPES) <= set(P.PRESETS)
    for name, recipe in P.RECIPES.items():
        cfg = P.get_preset(name)
        validate_config(cfg)
        assert cfg.name == name
        assert set(recipe.sources) == set(P.RECIPE_ITEMS), name
        assert all(source.strip() for source in recipe.sources.values()), name
        values = P.recipe_values(cfg, recipe)
        assert set(values) == set(P.RECIPE_ITEMS), name
        assert cfg.data.root and not Path(cfg.data.ann).is_absolute(), f"{name}: paths relative to data.root"


def test_epochs_are_steps_for_the_stated_data_set_size():
    """HRNet-W32: 210 epochs of 149,813 people at batch 128 = 210 x ceil(149813 / 128) = 210 x 1171."""
    cfg = P.get_preset("hrnet_w32_coco_256x192")
    assert (cfg.train.steps, cfg.train.batch_size) == (245_910, 128)
    assert cfg.schedule.milestones == (170 * 1171, 200 * 1171)
    assert P.epochs_of(cfg, P.RECIPES["hrnet_w32_coco_256x192"]) == 210
    assert P.epoch_steps(140, 149_813, 128) == 163_940
    # CPN: 24M samples at batch 32, halved every 3.6M samples
    cpn = P.get_preset("cpn_r50_coco_256x192")
    assert cpn.train.steps * 32 == 24_000_000 and cpn.schedule.milestones[0] * 32 == 3_600_000


def test_recipe_table_in_docs_is_the_one_the_presets_give():
    """docs/training.md holds the output of recipe_table() between its markers (renew with
    ``python benchmarks/recipe_table.py --write``)."""
    text = DOC.read_text()
    start, end = "<!-- recipe-table:start -->\n", "<!-- recipe-table:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0] == P.recipe_table()


def test_list_presets_shows_the_recipes_readably():
    from posekit.commands.train import preset_listing
    text = preset_listing(100)
    for name in REQUIRED:
        assert f"\n{name}\n" in f"\n{text}\n"
    assert "Needs --set data.root" in " ".join(text.split())


def test_data_paths_resolve_against_data_root_once(tmp_path):
    (tmp_path / "annotations").mkdir()
    cfg = apply_overrides(P.get_preset("hrnet_w32_coco_256x192"), [f"data.root={tmp_path}"])
    resolved = resolve_data_paths(cfg)
    assert resolved.data.ann == str(tmp_path.resolve() / "annotations/person_keypoints_train2017.json")
    assert resolved.data.images == str(tmp_path.resolve() / "train2017")
    assert resolved.data.val_images == str(tmp_path.resolve() / "val2017")
    assert resolved.eval.boxes == str(tmp_path.resolve() / P.COCO_VAL_DETECTIONS)
    assert resolve_data_paths(resolved) == resolved                     # twice changes nothing
    absolute = apply_overrides(cfg, ["data.ann=/elsewhere/a.json"])
    assert resolve_data_paths(absolute).data.ann == "/elsewhere/a.json"
    assert resolve_data_paths(P.get_preset("synthetic_tiny")) == P.get_preset("synthetic_tiny")   # no root


def test_a_missing_data_root_is_one_line_saying_how_to_set_it(tmp_path, capsys):
    from posekit.cli import main
    out = tmp_path / "run"
    assert main(["train", "hrnet_w32_coco_256x192", "--out", str(out),
                 "--set", f"data.root={tmp_path / 'nowhere'}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("posekit train: error: data.root ") and "--set data.root=/path/to/coco" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("optimizer, cls, expect", [
    ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
    ("rmsprop", torch.optim.RMSprop, {"alpha": 0.95, "eps": 1e-6, "momentum": 0.5, "weight_decay": 1e-4}),
    ("adam", torch.optim.Adam, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-4}),
])
def test_build_optimizer_uses_every_configured_field(optimizer, cls, expect):
    cfg = apply_overrides(P.get_preset("synthetic_tiny"), [
        f"optim.optimizer={optimizer}", "optim.lr=0.01", "optim.momentum=0.9" if optimizer == "sgd" else
        "optim.momentum=0.5", "optim.nesterov=true" if optimizer == "sgd" else "optim.nesterov=false",
        "optim.weight_decay=5e-4" if optimizer == "sgd" else "optim.weight_decay=1e-4",
        "optim.alpha=0.95", "optim.eps=1e-6", "optim.beta1=0.8", "optim.beta2=0.99"])
    opt = T.build_optimizer(torch.nn.Linear(2, 2), cfg.optim)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.01
    for key, value in expect.items():
        assert group[key] == value, key


def test_rmsprop_step_is_torch7s_rmsprop():
    """One step of the Hourglass / PRM optimizer on a known gradient: Torch7's ``optim.rmsprop``
    (m = alpha m + (1 - alpha) g^2; x -= lr g / (sqrt(m) + eps)), as pose-hg-train and PyraNet use it."""
    cfg = P.get_preset("hourglass8_mpii_256").optim
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = T.build_optimizer(torch.nn.ParameterList([w]), cfg)
    g = torch.tensor([0.5, -3.0])
    w.grad = g.clone()
    opt.step()
    m = (1 - cfg.alpha) * g * g
    expected = torch.tensor([1.0, -2.0]) - cfg.lr * g / (m.sqrt() + cfg.eps)
    assert torch.allclose(w.detach(), expected, rtol=0, atol=1e-7)


def test_nesterov_without_momentum_is_refused():
    cfg = apply_overrides(P.get_preset("synthetic_tiny"), ["optim.optimizer=sgd", "optim.nesterov=true"])
    with pytest.raises(PosekitError, match="optim.nesterov needs optim.momentum > 0"):
        T.build_optimizer(torch.nn.Linear(2, 2), cfg.optim)


def _sample_overrides(name: str, shared: Path) -> list[str]:
    """Point a recipe at a real sample: COCO recipes at the COCO sample, the others (MPII, and
    LSP / FLIC, which posekit.engine.data does not read yet) at the MPII sample, 16 joints."""
    cfg = P.get_preset(name)
    common = ["train.steps=2", "train.batch_size=2", "train.eval_every=-1", "train.log_every=1",
              "train.progress=false"]
    if cfg.data.dataset == "coco":
        return common + [f"data.root={shared / 'coco'}", "data.ann=test_coco.json", "data.images=."]
    return common + [f"data.root={shared / 'mpii'}", "data.ann=test_mpii.json", "data.images=.",
                     "data.dataset=mpii", "data.spec=mpii16", "data.val_ann=", "data.val_images="]


@pytest.mark.parametrize("name", sorted(P.RECIPES))
def test_recipe_trains_two_steps_on_a_real_sample(name, shared_data, tmp_path, monkeypatch):
    """The recipe's model, codec, input size, optimizer, schedule and augmentation, two steps
    at batch 2 on the sample; no evaluation, and the checkpoint is not encoded (hundreds of MB
    of weights and optimizer state for the large models; checkpoints are tested elsewhere)."""
    monkeypatch.setattr(T, "encode_checkpoint", lambda *args, **kwargs: b"")
    monkeypatch.setattr(T, "write_checkpoint", lambda path, data: Path(path))
    cfg = apply_overrides(P.get_preset(name), _sample_overrides(name, shared_data))
    result = T.train(cfg, tmp_path)
    assert [s for s, _ in result.losses] == [0, 1]
    assert all(math.isfinite(v) for _, v in result.losses)
    saved = (tmp_path / "config.json").read_text()
    assert str(shared_data.resolve()) in saved                      # paths resolved against data.root

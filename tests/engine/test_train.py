"""The training loop end to end on tiny synthetic runs: exact resume, NaN stop, CLI, eval-model."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from posekit.engine import train as T
from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.config import apply_overrides
from posekit.engine.presets import get_preset
from posekit.errors import PosekitError

TINY = ["train.steps=6", "train.batch_size=4", "train.eval_every=-1", "train.checkpoint_every=3",
        "data.num_train=48", "data.num_val=8", "data.aug=true", "train.threads=1"]


def tiny(*extra: str):
    return apply_overrides(get_preset("synthetic_tiny"), TINY + list(extra))


def test_resume_continues_the_loss_curve_exactly(tmp_path):
    cfg = tiny()
    full = T.train(cfg, tmp_path / "full")
    assert [s for s, _ in full.losses] == list(range(6))
    first = T.train(cfg, tmp_path / "split", stop_at=3)
    assert first.losses == full.losses[:3]
    ckpt = tmp_path / "split" / "checkpoint.safetensors"
    assert load_checkpoint(ckpt).step == 3
    rest = T.train(cfg, tmp_path / "split", resume=ckpt)
    assert [s for s, _ in rest.losses] == [3, 4, 5]
    print("\nuninterrupted:", full.losses[3:], "\nresumed:      ", rest.losses)
    for (s, a), (_, b) in zip(full.losses[3:], rest.losses):
        assert a == pytest.approx(b, abs=1e-6, rel=0), f"step {s}: {a} vs {b}"
    # the log of the resumed run holds the whole curve
    rows = (tmp_path / "split" / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,lr,loss") and len(rows) == 1 + 6
    # the final weights agree too
    a = load_checkpoint(tmp_path / "full" / "checkpoint.safetensors").model_state()
    b = load_checkpoint(tmp_path / "split" / "checkpoint.safetensors").model_state()
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 1e-5


def test_nan_loss_stops_naming_step_and_batch_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = T.multi_stage_loss

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 4 else loss      # the 4th step is step 3
    monkeypatch.setattr(T, "multi_stage_loss", poisoned)
    cfg = tiny("train.checkpoint_every=2")
    with pytest.raises(T.TrainingDiverged) as e:
        T.train(cfg, tmp_path)
    msg = str(e.value)
    assert "loss is nan at step 3" in msg
    assert "batch of dataset indices [" in msg
    assert "checkpoint.safetensors" in msg
    ck = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert ck.step == 2
    assert all(torch.isfinite(v).all() for v in ck.model_state().values() if v.is_floating_point())
    assert isinstance(e.value, PosekitError)       # the CLI turns it into one line


def test_amp_bf16_and_ohkm_and_udp_run(tmp_path):
    cfg = tiny("train.steps=2", "train.amp=true", "train.loss=ohkm", "model.codec=udp", "train.checkpoint_every=0")
    res = T.train(cfg, tmp_path)
    assert len(res.losses) == 2 and all(v == v for _, v in res.losses)


def _run_cli(argv: list[str]) -> int:
    from posekit.commands import train as cmd
    parser = argparse.ArgumentParser(prog="posekit")
    cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_train_then_eval_model_on_real_coco(tmp_path, shared_data, capsys):
    out = tmp_path / "run"
    assert _run_cli(["train", "synthetic_tiny", "--out", str(out), "--set", "train.steps=2",
                     "--set", "train.eval_every=-1", "--set", "data.num_train=16", "--set", "train.batch_size=2"]) == 0
    printed = capsys.readouterr().out
    assert '"steps": 2' in printed and "done: 2 steps" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["steps"] == 2
    coco = shared_data / "coco"
    assert _run_cli(["eval-model", str(out / "checkpoint.safetensors"), "--gt", str(coco / "test_coco.json"),
                     "--images", str(coco), "--batch-size", "8"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"AP", "AP50", "AR"} and 0.0 <= metrics["AP"] <= 1.0
    # a checkpoint of a COCO-17 model refuses an MPII-16 set, without a shape trace
    mpii = shared_data / "mpii"
    with pytest.raises(PosekitError, match="16 keypoints per person"):
        _run_cli(["eval-model", str(out / "checkpoint.safetensors"), "--gt", str(mpii / "test_mpii.json"),
                  "--images", str(mpii)])
    with pytest.raises(PosekitError, match="unknown config key 'optim.lrr'; valid keys: .*optim.lr"):
        _run_cli(["train", "synthetic_tiny", "--set", "optim.lrr=1"])


def test_resume_refuses_other_arch(tmp_path):
    cfg = tiny("train.steps=1", "train.checkpoint_every=0")
    T.train(cfg, tmp_path / "a")
    other = tiny("train.steps=2", "model.arch=simple_baseline_r50")
    with pytest.raises(PosekitError, match="architecture 'simple_baseline_r18', not 'simple_baseline_r50'"):
        T.train(other, tmp_path / "b", resume=tmp_path / "a" / "checkpoint.safetensors")

"""The training loop end to end on tiny synthetic runs: exact resume, NaN stop, interrupts,
run-folder safety, CLI, eval-model."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal

import pytest
import torch

from posekit.engine import train as T
from posekit.engine.checkpoint import load_checkpoint, save_checkpoint
from posekit.engine.config import apply_overrides
from posekit.engine.data import build_codec, build_train_set, global_batch
from posekit.engine.presets import get_preset
from posekit.errors import PosekitError
from posekit.skeleton import get_spec

# One-stack hourglass (3.4M parameters, BatchNorm, a list of heads): a run of 6 steps with two
# checkpoints takes about 1 s on a free CPU core (SimpleBaseline R18: 2 s).
TINY = ["train.steps=6", "train.batch_size=4", "train.eval_every=-1", "train.checkpoint_every=3",
        "data.num_train=48", "data.num_val=8", "data.aug=true", "train.threads=1", "model.arch=hourglass_1"]


def tiny(*extra: str):
    return apply_overrides(get_preset("synthetic_tiny"), TINY + list(extra))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The losses of the 6-step TINY run without any interruption (shared by the resume tests)."""
    return T.train(tiny(), tmp_path_factory.mktemp("full"))


def batch_indices(cfg, step: int) -> list[int]:
    """The dataset indices of step ``step``'s global batch, computed independently of the loop."""
    n = len(build_train_set(cfg, build_codec(cfg), get_spec(cfg.data.spec)))
    return [index for _, index in global_batch(n, cfg.train.batch_size, cfg.train.seed, step)]


def log_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def assert_continues(full: list[tuple[int, float]], rest: list[tuple[int, float]]) -> None:
    """The resumed losses are the uninterrupted run's, step for step."""
    assert rest and [s for s, _ in rest] == [s for s, _ in full[-len(rest):]]
    for (s, a), (_, b) in zip(full[-len(rest):], rest):
        assert a == pytest.approx(b, abs=1e-6, rel=0), f"step {s}: {a} vs {b}"


def calls_of(monkeypatch, name: str, at: int, action) -> dict:
    """Wrap ``posekit.engine.train.<name>`` so that its call number ``at`` (0-based) runs
    ``action()`` first. The loop calls load_batch and multi_stage_loss once per step, so call k
    is step k (later calls are the checks before saving)."""
    real = getattr(T, name)
    calls = {"n": 0}

    def wrapped(*args, **kwargs):
        n = calls["n"]
        calls["n"] += 1
        if n == at:
            action()
        return real(*args, **kwargs)
    monkeypatch.setattr(T, name, wrapped)
    return calls


def interrupt() -> None:
    raise KeyboardInterrupt


def test_resume_continues_the_loss_curve_exactly(tmp_path, uninterrupted):
    cfg = tiny()
    full = uninterrupted
    assert [s for s, _ in full.losses] == list(range(6))
    first = T.train(cfg, tmp_path / "split", stop_at=3)
    assert first.losses == full.losses[:3]
    ckpt = tmp_path / "split" / "checkpoint.safetensors"
    assert load_checkpoint(ckpt).step == 3
    rest = T.train(cfg, tmp_path / "split", resume=ckpt)
    assert [s for s, _ in rest.losses] == [3, 4, 5]
    print("\nuninterrupted:", full.losses[3:], "\nresumed:      ", rest.losses)
    assert_continues(full.losses, rest.losses)
    # the log of the resumed run holds the whole curve
    rows = (tmp_path / "split" / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("step,lr,loss") and len(rows) == 1 + 6
    # the final weights agree too
    a = load_checkpoint(full.checkpoint).model_state()
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
    # the real dataset indices of step 3's batch (it lies in epoch 0: the epoch would read [0, 0, 0, 0])
    assert f"loss is nan at step 3 (batch of dataset indices {batch_indices(cfg, 3)})" in msg
    assert msg.endswith(f"last good checkpoint: {tmp_path / 'checkpoint.safetensors'} (step 2)")
    ck = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert ck.step == 2
    assert all(torch.isfinite(v).all() for v in ck.model_state().values() if v.is_floating_point())
    assert isinstance(e.value, PosekitError)       # the CLI turns it into one line


def test_weights_blown_up_by_a_huge_learning_rate_are_never_saved_as_last_good(tmp_path):
    """The learning rate jumps to 1e12 at step 3 (schedule 'step', gamma 1e15): step 3's update
    blows the weights up (max |w| ~1e12) and step 4's loss is NaN. A checkpoint is due every 2
    steps; the one after step 3's update (the state after 4 steps) must not be written, so the
    last good one is the state after 2 steps: finite, of sane size, and resumable."""
    blow_up = ["train.checkpoint_every=2", "schedule.kind=step", "schedule.milestones=[3]", "schedule.gamma=1e15",
               "schedule.warmup_steps=0"]
    cfg = tiny(*blow_up)
    with pytest.raises(T.TrainingDiverged) as e:
        T.train(cfg, tmp_path)
    assert f"loss is nan at step 4 (batch of dataset indices {batch_indices(cfg, 4)})" in str(e.value)
    assert str(e.value).endswith("(step 2)")
    ckpt = tmp_path / "checkpoint.safetensors"
    ck = load_checkpoint(ckpt)
    weights = [v for v in ck.model_state().values() if v.is_floating_point()]
    assert ck.step == 2 and all(torch.isfinite(v).all() for v in weights)
    assert max(v.abs().max().item() for v in weights) < 100
    # resumable: with a sane learning rate the run goes on from step 2 with finite losses
    rest = T.train(tiny(*blow_up, "schedule.gamma=1", "train.steps=4"), tmp_path, resume=ckpt)
    assert [s for s, _ in rest.losses] == [2, 3] and all(math.isfinite(v) for _, v in rest.losses)


def test_amp_bf16_and_ohkm_and_udp_take_effect(tmp_path):
    """Step 0 (same weights, same batch) of four runs that differ in one option each: every
    option changes the loss, by the amount it should."""
    def step0(*extra: str) -> float:
        run = tmp_path / str(len(os.listdir(tmp_path)))
        return T.train(tiny("train.steps=1", "train.checkpoint_every=0", *extra), run).losses[0][1]
    mse = step0()
    amp = step0("train.amp=true")
    ohkm = step0("train.loss=ohkm", "train.ohkm_topk=4")
    udp = step0("model.codec=udp")
    print(f"\nstep-0 losses: mse {mse}, bf16 autocast {amp}, ohkm {ohkm}, udp {udp}")
    assert amp != mse and amp == pytest.approx(mse, rel=0.05)   # bf16 ran, and computed the same loss roughly
    assert ohkm > mse                   # the mean of the 4 hardest joints' terms, not of all 17
    assert udp != mse and udp == pytest.approx(mse, rel=0.5)    # other targets, same scale


def _run_cli(argv: list[str]) -> int:
    from posekit.commands import train as cmd
    parser = argparse.ArgumentParser(prog="posekit")
    cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _oracle(cfg, gt, images):
    """A forward function that returns, for each crop of the evaluation set (or its mirror),
    the codec's target heatmaps of its ground-truth keypoints: a perfect model."""
    from posekit.data.datasets import FolderImages, TopDownDataset
    from posekit.data.formats import read_annotations
    spec = get_spec(cfg.data.spec)
    codec = build_codec(cfg)
    ds = TopDownDataset(read_annotations(gt, image_dir=images, spec=spec), FolderImages(images), spec,
                        input_size=tuple(cfg.data.input_size), train=False)
    crops = [(s["image"], s["keypoints"].numpy()) for s in (ds[i] for i in range(len(ds)))]
    W = cfg.data.input_size[0]

    def forward(images_batch: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images_batch:
            for crop, kp in crops:
                if torch.equal(image, crop):
                    break
                if torch.equal(image, crop.flip(-1)):    # the mirrored crop: x -> W - 1 - x, left <-> right
                    kp = kp[list(spec.flip_index)].copy()
                    kp[:, 0] = W - 1 - kp[:, 0]
                    break
            else:
                raise AssertionError("the oracle was given an unknown crop")
            out.append(torch.from_numpy(codec.encode(kp).heatmaps))
        return torch.stack(out)
    return forward


def test_cli_train_then_eval_model_on_real_coco(tmp_path, shared_data, capsys, monkeypatch):
    out = tmp_path / "run"
    assert _run_cli(["train", "synthetic_tiny", "--out", str(out), "--set", "train.steps=2", "--set", "model.arch=hourglass_1",
                     "--set", "train.eval_every=-1", "--set", "data.num_train=16", "--set", "train.batch_size=2"]) == 0
    printed = capsys.readouterr().out
    assert '"steps": 2' in printed and "done: 2 steps" in printed
    saved = json.loads((out / "config.json").read_text())
    assert saved["train"]["steps"] == 2
    coco = shared_data / "coco"
    ckpt = out / "checkpoint.safetensors"
    eval_args = ["eval-model", str(ckpt), "--gt", str(coco / "test_coco.json"), "--images", str(coco), "--batch-size", "8"]
    # the same table as `posekit eval`, and the same numbers with --json
    assert _run_cli(eval_args) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f"{ckpt} on {coco / 'test_coco.json'}"
    assert _run_cli(eval_args + ["--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"AP", "AP50", "AR"}
    assert f"  {'AP':<22} {metrics['AP']:8.4f}" in table
    assert metrics["AP"] < 0.5            # two steps from scratch have not learnt to find people

    # a perfect model (the target heatmaps of the ground truth) scores AP 1: cropping, flip test,
    # decoding, back-projection and image ids are all right
    from posekit.engine import data as engine_data
    from posekit.engine.config import config_from_dict
    forward = _oracle(config_from_dict(load_checkpoint(ckpt).config), coco / "test_coco.json", coco)
    real_create = engine_data.create_model

    def create_oracle(*args, **kwargs):
        model = real_create(*args, **kwargs)
        model.forward = forward
        return model
    monkeypatch.setattr(engine_data, "create_model", create_oracle)
    perfect = {}
    for flip in ("--flip-test", "--no-flip"):
        assert _run_cli(eval_args + ["--json"] + (["--no-flip"] if flip == "--no-flip" else [])) == 0
        perfect[flip] = json.loads(capsys.readouterr().out)
    print(f"\noracle: {perfect}")
    assert all(m["AP"] >= 0.99 and m["AR"] >= 0.99 for m in perfect.values()), perfect
    monkeypatch.undo()

    # a checkpoint of a COCO-17 model refuses an MPII-16 set, without a shape trace
    mpii = shared_data / "mpii"
    with pytest.raises(PosekitError, match="16 keypoints per person"):
        _run_cli(["eval-model", str(ckpt), "--gt", str(mpii / "test_mpii.json"), "--images", str(mpii)])
    with pytest.raises(PosekitError, match="unknown config key 'optim.lrr'; valid keys: .*optim.lr"):
        _run_cli(["train", "synthetic_tiny", "--set", "optim.lrr=1"])


def test_resume_refuses_other_arch(tmp_path):
    cfg = tiny("train.steps=1", "train.checkpoint_every=0")
    T.train(cfg, tmp_path / "a")
    other = tiny("train.steps=2", "model.arch=simple_baseline_r18")
    with pytest.raises(PosekitError, match="architecture 'hourglass_1', not 'simple_baseline_r18'"):
        T.train(other, tmp_path / "b", resume=tmp_path / "a" / "checkpoint.safetensors")


def test_other_model_kwargs_are_one_line_in_resume_and_eval_model(tmp_path):
    """Same tensor names, other shapes: the message names what the checkpoint was made with,
    what was asked for and the first tensor that differs (not a 42-line size-mismatch trace)."""
    r18 = "model.arch=simple_baseline_r18"
    cfg = tiny("train.steps=1", "train.checkpoint_every=0", r18, 'model.kwargs={"deconv_channels": 32}')
    T.train(cfg, tmp_path / "a")
    ckpt = tmp_path / "a" / "checkpoint.safetensors"
    other = tiny("train.steps=2", r18)
    with pytest.raises(PosekitError) as e:
        T.train(other, tmp_path / "b", resume=ckpt)
    assert str(e.value) == (f"{ckpt}: checkpoint made with simple_baseline_r18 with model.kwargs="
                            f"{{\"deconv_channels\": 32}}, but the model asked for is simple_baseline_r18 with "
                            f"model.kwargs={{}}: tensor 'deconv.0.weight' is (512, 32, 4, 4) in the checkpoint, "
                            f"(512, 256, 4, 4) in the model")
    # eval-model on a checkpoint whose config does not describe its weights
    ck = load_checkpoint(ckpt)
    from posekit.engine.data import create_model
    model = create_model("simple_baseline_r18", 17, {"deconv_channels": 32})
    ck.load_model(model, "simple_baseline_r18", get_spec("coco17"), {"deconv_channels": 32})
    edited = dict(ck.config, model=dict(ck.config["model"], kwargs={"deconv_channels": 16}))
    save_checkpoint(tmp_path / "edited.safetensors", model, arch="simple_baseline_r18", spec=get_spec("coco17"),
                    config=edited)
    with pytest.raises(PosekitError, match=r"edited.safetensors: its weights do not fit the simple_baseline_r18 with "
                                           r"model.kwargs=\{\"deconv_channels\": 16\} its config names .*: tensor "
                                           r"'deconv.0.weight' is \(512, 32, 4, 4\) in the checkpoint, "
                                           r"\(512, 16, 4, 4\) in the model$"):
        _run_cli(["eval-model", str(tmp_path / "edited.safetensors"), "--gt", "unused.json", "--images", "."])


@pytest.mark.parametrize("override, message", [
    ("optim.lr=NaN", "config key 'optim.lr' must be a finite number > 0, got nan"),
    ("optim.lr=-Infinity", "config key 'optim.lr' must be a finite number > 0, got -inf"),
    ("train.batch_size=0", "config key 'train.batch_size' must be >= 1, got 0"),
    ("train.steps=-5", "config key 'train.steps' must be >= 1, got -5"),
])
def test_cli_refuses_bad_numbers_in_one_line_before_writing_anything(tmp_path, capsys, override, message):
    from posekit.cli import main
    out = tmp_path / "run"
    assert main(["train", "synthetic_tiny", "--out", str(out), "--set", override]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"posekit train: error: {message}\n"
    assert not out.exists()                  # nothing accepted into a config.json


def test_existing_run_folder_is_refused_unless_resumed_or_overwritten(tmp_path, capsys):
    from posekit.cli import main
    out = tmp_path / "run"
    args = ["train", "synthetic_tiny", "--out", str(out), "--set", "data.num_train=16", "--set", "train.batch_size=2",
            "--set", "train.eval_every=-1", "--set", "model.arch=hourglass_1"]
    assert main(args + ["--set", "train.steps=2"]) == 0
    before = {name: (out / name).read_bytes() for name in ("checkpoint.safetensors", "log.csv")}
    capsys.readouterr()
    assert main(args + ["--set", "train.steps=3"]) == 1
    ckpt = out / "checkpoint.safetensors"
    assert capsys.readouterr().err == (f"posekit train: error: {out}: already holds a run (checkpoint.safetensors, "
                                       f"log.csv, config.json); continue it with --resume {ckpt} or replace it "
                                       f"with --overwrite\n")
    assert {name: (out / name).read_bytes() for name in before} == before
    # --resume continues it (its folder is the default --out) ...
    assert main(["train", "synthetic_tiny", "--resume", str(ckpt)] + args[4:] + ["--set", "train.steps=3"]) == 0
    assert [r["step"] for r in log_rows(out / "log.csv")] == ["1", "2", "3"] and load_checkpoint(ckpt).step == 3
    # ... and --overwrite replaces it
    assert main(args + ["--set", "train.steps=1", "--overwrite"]) == 0
    assert [r["step"] for r in log_rows(out / "log.csv")] == ["1"] and load_checkpoint(ckpt).step == 1


def test_interrupt_before_the_first_checkpoint_saves_one_and_resume_is_exact(tmp_path, monkeypatch, uninterrupted):
    """A KeyboardInterrupt between steps (raised by the data loader as step 4 starts) with no
    checkpoint written yet: the state after 4 steps is saved, and resuming from it gives the
    uninterrupted run's losses."""
    calls_of(monkeypatch, "load_batch", 4, interrupt)
    with pytest.raises(T.TrainingInterrupted) as e:
        T.train(tiny("train.checkpoint_every=0"), tmp_path)
    ckpt = tmp_path / "checkpoint.safetensors"
    assert str(e.value) == f"interrupted after 4 steps; checkpoint saved: {ckpt} (step 4)"
    assert e.value.step == 4 and e.value.checkpoint == ckpt and load_checkpoint(ckpt).step == 4
    monkeypatch.undo()
    rest = T.train(tiny("train.checkpoint_every=0"), tmp_path, resume=ckpt)
    assert_continues(uninterrupted.losses, rest.losses)
    assert [r["step"] for r in log_rows(tmp_path / "log.csv")] == [str(s) for s in range(1, 7)]


@pytest.mark.parametrize("signum, times, code, what", [
    (signal.SIGINT, 1, 130, "interrupted"),
    # SLURM / Kubernetes stop a job with SIGTERM; a repeated one acts as one Ctrl-C
    (signal.SIGTERM, 2, 143, "stopped by SIGTERM"),
])
def test_ctrl_c_or_sigterm_finishes_the_step_saves_and_says_its_step(tmp_path, monkeypatch, capsys, uninterrupted,
                                                                     signum, times, code, what):
    """A real SIGINT (or two SIGTERMs) during step 2: the step is finished, the state after 3
    steps saved, the CLI says so in one line and exits 128 + the signal number; the handlers
    are restored; --resume continues the loss curve exactly."""
    from posekit.cli import main

    def send():
        for _ in range(times):
            os.kill(os.getpid(), signum)
    before = signal.getsignal(signal.SIGTERM)
    calls_of(monkeypatch, "load_batch", 2, send)
    out = tmp_path / "run"
    sets = [a for kv in TINY for a in ("--set", kv)]
    assert main(["train", "synthetic_tiny", "--out", str(out)] + sets) == code
    ckpt = out / "checkpoint.safetensors"
    assert capsys.readouterr().err.endswith(f"posekit train: {what} after 3 steps; checkpoint saved: {ckpt} "
                                            f"(step 3); continue with --resume {ckpt}\n")
    assert load_checkpoint(ckpt).step == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler      # handlers restored
    assert signal.getsignal(signal.SIGTERM) is before
    monkeypatch.undo()
    assert main(["train", "synthetic_tiny", "--resume", str(ckpt)] + sets) == 0
    rows = log_rows(out / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert [float(r["loss"]) for r in rows] == pytest.approx([v for _, v in uninterrupted.losses], rel=1e-7)


def test_interrupt_inside_a_step_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """Inside a step (here: in the loss of step 4) the weights may be half updated: nothing is
    saved, and the message names the last checkpoint (step 3)."""
    calls_of(monkeypatch, "multi_stage_loss", 4, interrupt)
    with pytest.raises(T.TrainingInterrupted) as e:
        T.train(tiny(), tmp_path)
    ckpt = tmp_path / "checkpoint.safetensors"
    assert str(e.value) == f"interrupted inside a step, nothing saved; last checkpoint: {ckpt} (step 3)"
    assert e.value.step == 3 and load_checkpoint(ckpt).step == 3


def test_after_a_kill_resume_cleans_temp_files_and_logs_each_step_once(tmp_path, monkeypatch, uninterrupted):
    """A crash at step 5 (checkpoint at 3; log rows up to 5, the last one half written) and a
    temporary file of a writer killed mid-write: resuming removes the file and cuts the log
    back to step 3, so it holds each step once, with the uninterrupted run's losses."""
    import subprocess
    import sys

    def crash():
        raise RuntimeError("killed")
    calls_of(monkeypatch, "load_batch", 5, crash)
    with pytest.raises(RuntimeError, match="killed"):
        T.train(tiny(), tmp_path)
    monkeypatch.undo()
    assert [r["step"] for r in log_rows(tmp_path / "log.csv")] == ["1", "2", "3", "4", "5"]
    with open(tmp_path / "log.csv", "a") as f:
        f.write("6,0.00099")                                   # a row cut by the kill
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".checkpoint.safetensors.tmp-{dead.pid}"
    stale.write_bytes(b"\0" * 1000)
    rest = T.train(tiny(), tmp_path, resume=tmp_path / "checkpoint.safetensors")
    assert_continues(uninterrupted.losses, rest.losses)
    assert not stale.exists()
    rows = log_rows(tmp_path / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    assert [float(r["loss"]) for r in rows] == pytest.approx([v for _, v in uninterrupted.losses], rel=1e-7)


def test_list_presets_prints_whole_descriptions_wrapped():
    import inspect

    from posekit.commands.train import preset_listing
    from posekit.engine.presets import PRESETS
    text = preset_listing(72)
    assert all(len(line) <= 72 for line in text.splitlines())
    flat = " ".join(text.split())
    for name, fn in PRESETS.items():
        first_paragraph = " ".join(inspect.getdoc(fn).split("\n\n")[0].split())
        assert f"{name} {first_paragraph}" in flat
    assert "optim.lr" in flat

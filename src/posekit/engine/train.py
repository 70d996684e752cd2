"""The training loop: one explicit function, read top to bottom (after nanoGPT's train.py).

    cfg = presets.get_preset("synthetic_sb_r18")
    result = train(cfg, "runs/sb_r18")             # or resume="runs/sb_r18/checkpoint.safetensors"

What happens, in order:

1. process group (torchrun), device, seeds;
2. keypoint spec, codec, training set and evaluation set;
3. model from the zoo, optimizer (Adam/AdamW), optional resume (weights, optimizer, step, RNG);
4. for each step: learning rate from the pure schedule function; the step's global batch
   (a function of seed and step, so resuming and DDP see the same samples); forward under
   optional autocast; loss; a NaN/inf loss stops training with the step and the batch named
   and the last good checkpoint left untouched; backward, gradient clipping, optimizer step;
   CSV log; evaluation every ``eval_every`` steps; checkpoint every ``checkpoint_every`` steps.

Files in ``out_dir``: ``config.json`` (resolved config), ``log.csv`` (one row per logged step),
``eval.csv`` (one row per evaluation), ``checkpoint.safetensors`` (latest, atomic).
"""

from __future__ import annotations

import csv
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from posekit.device import resolve_device
from posekit.engine import distributed as D
from posekit.engine.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from posekit.engine.config import ExperimentConfig, config_to_dict, save_config
from posekit.engine.data import build_codec, build_eval_set, build_train_set, create_model, global_batch, load_batch
from posekit.engine.evaluate import evaluate_model
from posekit.engine.schedule import lr_at
from posekit.errors import PosekitError
from posekit.losses import KeypointMSELoss, OHKMMSELoss, RegressionLoss, multi_stage_loss
from posekit.skeleton import get_spec

__all__ = ["train", "TrainResult", "TrainingDiverged", "build_optimizer", "seed_everything"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.safetensors"


class TrainingDiverged(PosekitError):
    """The loss became NaN or infinite; the message names the step, the batch and the last
    good checkpoint."""


@dataclass
class TrainResult:
    out_dir: Path
    losses: list[tuple[int, float]] = field(default_factory=list)   # (step, global mean loss)
    evals: list[dict] = field(default_factory=list)                 # {"step": s, metric: value}
    checkpoint: Path | None = None
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def build_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    """Adam or AdamW over all trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    kw = dict(lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, **kw)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, **kw)
    raise PosekitError(f"unknown optimizer {cfg.optimizer!r}; valid: adam, adamw")


def train(cfg: ExperimentConfig, out_dir: str | Path, resume: str | Path | None = None,
          stop_at: int | None = None) -> TrainResult:
    """Train ``cfg`` into ``out_dir``; see the module docstring.

    Args:
        resume: a checkpoint to continue from (same arch and spec; the step, optimizer and
            RNG states are restored, so the loss curve continues exactly).
        stop_at: stop after this step (as if interrupted), keeping the schedule of
            ``cfg.train.steps``. Used to test resuming.
    """
    t_start = time.time()
    out = Path(out_dir)
    tc = cfg.train

    # 1. process group, device, seeds ------------------------------------------------------
    device = resolve_device(tc.device)
    dist_info = D.init_distributed(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    seed_everything(tc.seed)
    if dist_info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.json")

    # 2. spec, codec, data -----------------------------------------------------------------
    spec = get_spec(cfg.data.spec)
    codec = build_codec(cfg)
    train_set = build_train_set(cfg, codec, spec)
    eval_set = build_eval_set(cfg, spec) if (tc.eval_every >= 0 and dist_info.is_main) else None
    regression = cfg.model.codec == "regression"

    # 3. model, optimizer, resume ----------------------------------------------------------
    model = create_model(cfg.model.arch, spec.num_keypoints, cfg.model.kwargs).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    start_step = 0
    ckpt_path = out / CHECKPOINT_NAME
    last_good: Path | None = None
    if resume is not None:
        ckpt = load_checkpoint(resume)
        ckpt.load_model(model, cfg.model.arch, spec)
        ckpt.load_optimizer(optimizer)
        restore_rng(ckpt.tensors, ckpt.state.get("rng", {}))
        start_step = ckpt.step
        last_good = Path(resume)
        log.info("resumed from %s at step %d", resume, start_step)
    ddp_model = D.wrap_model(model, dist_info, device)
    if regression:
        loss_fn = RegressionLoss("l2", use_target_weight=tc.use_target_weight)
    elif tc.loss == "ohkm":
        loss_fn = OHKMMSELoss(topk=tc.ohkm_topk, use_target_weight=tc.use_target_weight)
    elif tc.loss == "mse":
        loss_fn = KeypointMSELoss(use_target_weight=tc.use_target_weight)
    else:
        raise PosekitError(f"unknown loss {tc.loss!r}; valid: mse, ohkm")
    amp_dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    scaler = torch.amp.GradScaler(device.type, enabled=tc.amp and amp_dtype == torch.float16)

    end_step = tc.steps if stop_at is None else min(tc.steps, stop_at)
    result = TrainResult(out_dir=out)
    log_file = eval_file = None
    if dist_info.is_main:
        log_file = _csv_appender(out / "log.csv", ["step", "lr", "loss", "seconds", "images_per_s"], resume is not None)
        eval_file = _csv_appender(out / "eval.csv", None, resume is not None)
    progress = None
    if tc.progress and dist_info.is_main:
        from tqdm import tqdm
        progress = tqdm(total=end_step, initial=start_step, desc=cfg.name, unit="step", dynamic_ncols=True)

    def save(step: int, extra: dict | None = None) -> Path | None:
        if not dist_info.is_main:
            return None
        return save_checkpoint(ckpt_path, model, arch=cfg.model.arch, spec=spec, config=config_to_dict(cfg),
                               optimizer=optimizer, step=step, extra=extra)

    # 4. the loop ------------------------------------------------------------------------
    ddp_model.train()
    t_last = time.time()
    try:
        for step in range(start_step, end_step):
            lr = lr_at(step, cfg.optim.lr, tc.steps, cfg.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr

            # The step's global batch: (dataset index, augmentation seed) pairs that depend
            # only on (seed, step); this rank takes its contiguous share.
            keys = global_batch(len(train_set), tc.batch_size, tc.seed, step)
            local_keys = D.shard_batch(keys, dist_info)
            batch = load_batch(train_set, local_keys, device)    # image (b,3,H,W), targets, weights

            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=tc.amp):
                heads = ddp_model(batch["image"])
            heads = [h.float() for h in heads] if isinstance(heads, (list, tuple)) else heads.float()
            if regression:
                final = heads[-1] if isinstance(heads, (list, tuple)) else heads
                loss = loss_fn(final, batch["coords"], batch["weights"])
            else:
                loss = multi_stage_loss(heads, batch["heatmaps"], batch["weights"], loss_fn)

            global_loss = D.all_reduce_mean(loss.detach(), dist_info)
            if not torch.isfinite(global_loss):
                where = last_good if last_good is not None else "none written yet"
                raise TrainingDiverged(
                    f"loss is {global_loss.item()} at step {step} (batch of dataset indices "
                    f"{[k[0] for k in keys]}); training stopped, last good checkpoint: {where}")

            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()

            done = step + 1
            loss_value = float(global_loss)
            result.losses.append((step, loss_value))
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{loss_value:.3g}", lr=f"{lr:.2g}")
            if log_file is not None and (tc.log_every <= 1 or done % tc.log_every == 0 or done == end_step):
                now = time.time()
                steps_logged = tc.log_every if tc.log_every > 1 else 1
                log_file({"step": done, "lr": f"{lr:.6g}", "loss": f"{loss_value:.9g}",
                          "seconds": f"{now - t_start:.2f}",
                          "images_per_s": f"{steps_logged * tc.batch_size / max(now - t_last, 1e-9):.2f}"})
                t_last = now

            is_last = done == end_step
            if eval_set is not None and ((tc.eval_every > 0 and done % tc.eval_every == 0)
                                         or (is_last and done == tc.steps)):
                metrics = evaluate_model(model, codec, eval_set, spec, device=device,
                                         flip_test=tc.flip_test, batch_size=max(tc.batch_size, 16))
                row = {"step": done, "seconds": round(time.time() - t_start, 2), **metrics}
                result.evals.append(row)
                eval_file(row)
                log.info("step %d: %s", done, json.dumps(metrics))
                ddp_model.train()
            D.barrier(dist_info)
            if (tc.checkpoint_every > 0 and done % tc.checkpoint_every == 0) or is_last:
                path = save(done, extra=result.evals[-1] if result.evals else None)
                if path is not None:
                    last_good = result.checkpoint = path
                D.barrier(dist_info)
    finally:
        if progress is not None:
            progress.close()
        D.cleanup()
    result.seconds = time.time() - t_start
    return result


def _csv_appender(path: Path, columns: list[str] | None, append: bool):
    """A function writing one dict per row (header from the first row when ``columns`` is
    None); appends when resuming, so one log holds the whole curve."""
    state = {"columns": columns, "header": append and path.exists() and path.stat().st_size > 0}
    if not append and path.exists():
        path.unlink()

    def write(row: dict) -> None:
        cols = state["columns"] or list(row)
        state["columns"] = cols
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            if not state["header"]:
                w.writeheader()
                state["header"] = True
            w.writerow(row)
    return write

"""The training loop: one explicit function, read top to bottom (after nanoGPT's train.py).

    cfg = presets.get_preset("synthetic_sb_r18")
    result = train(cfg, "runs/sb_r18")             # or resume="runs/sb_r18/checkpoint.safetensors"

What happens, in order:

1. the config is checked (:func:`~posekit.engine.config.validate_config`) and its relative data
   paths joined to ``data.root`` (:func:`~posekit.engine.config.resolve_data_paths`); process group
   (torchrun), device, seeds; a run folder that already holds a run is refused unless the run
   resumes from its checkpoint or ``overwrite`` is set;
2. keypoint spec, codec, training set and evaluation set;
3. model from the zoo, optimizer (Adam, AdamW, SGD or RMSprop: :func:`build_optimizer`),
   optional resume (weights, optimizer, step, RNG);
   only now is the run folder touched: temporary files of killed writers are removed, the old
   run files deleted (``overwrite``) or ``log.csv``/``eval.csv`` cut back to the checkpoint's
   step (resume), and ``config.json`` written;
4. for each step: learning rate from the pure schedule function; the step's global batch
   (a function of seed and step, so resuming and DDP see the same samples); forward under
   optional autocast; loss; a NaN/inf loss stops training with the step, the dataset indices of
   the batch and the last good checkpoint named; backward, gradient clipping, optimizer step;
   CSV log; evaluation every ``eval_every`` steps; checkpoint every ``checkpoint_every`` steps.

**A checkpoint holds only weights that are finite and gave a finite loss.** The checkpoint of
step ``s`` is the state after ``s`` updates. It is captured (copied) at the start of step
``s``, after checking that every weight, buffer and optimizer tensor is finite, and written
only once step ``s``'s forward pass gave a finite loss: weights that one update blew up are
never saved, and the previous checkpoint stays the last good one. The last checkpoint of a run
(and the one written on an interrupt) is checked the same way by one extra forward pass on the
next step's batch, without an update.

**Ctrl-C** (SIGINT) finishes the current step, writes a checkpoint of the state after it
(checked as above, written atomically as always) and raises :class:`TrainingInterrupted`
naming it; in a single process a second Ctrl-C stops at once. **SIGTERM** (how SLURM,
Kubernetes and ``kill`` stop a job) does the same as the first Ctrl-C, every time it comes
(the scheduler's SIGKILL follows after its grace period anyway). Under DDP the ranks agree at
every step boundary (one all-reduce of a flag), so all stop after the same step, whichever
received the signal, and rank 0 writes; repeated signals are ignored there, since torchrun
forwards the terminal's Ctrl-C to workers that already received it (and kills them 30 s
later). A ``KeyboardInterrupt`` raised between steps (e.g. from a data loader) is checkpointed
the same way; one raised inside a step's forward or update leaves the last checkpoint, since
the BatchNorm statistics or the weights may be half updated.

Files in ``out_dir``: ``config.json`` (resolved config), ``log.csv`` (one row per logged step),
``eval.csv`` (one row per evaluation), ``checkpoint.safetensors`` (latest, atomic).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from posekit.device import resolve_device
from posekit.engine import distributed as D
from posekit.engine.checkpoint import (
    NonFiniteTensor, encode_checkpoint, find_non_finite, load_checkpoint, remove_stale_temp_files, write_checkpoint,
)
from posekit.engine.config import (
    CHOICES, ExperimentConfig, OptimConfig, config_from_dict, config_to_dict, resolve_data_paths, save_config,
    validate_config,
)
from posekit.engine.data import (
    build_codec, build_eval_set, build_train_set, create_model, global_batch, is_bottomup, load_batch,
)
from posekit.engine.evaluate import evaluate_model
from posekit.engine.schedule import lr_at
from posekit.errors import PosekitError
from posekit.io import output_dir, write_text_atomic
from posekit.losses import KeypointMSELoss, OHKMMSELoss, RegressionLoss, multi_stage_loss
from posekit.skeleton import get_spec

__all__ = ["train", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "build_optimizer", "seed_everything"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.safetensors"
#: The files of a run; a folder holding any of them is not trained into again by accident.
RUN_FILES = (CHECKPOINT_NAME, "log.csv", "eval.csv", "config.json")


class TrainingDiverged(PosekitError):
    """The loss became NaN or infinite (or the weights did); the message names the step, the
    dataset indices of the batch and the last good checkpoint."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C, or SIGTERM from a job scheduler); ``step`` is the step
    of ``checkpoint``, the one written for the interrupt (or the last one, or None) — resume
    from it. ``signum`` is the signal that stopped it (None for a ``KeyboardInterrupt`` raised
    otherwise)."""

    def __init__(self, message: str, step: int | None, checkpoint: Path | None, signum: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.checkpoint = checkpoint
        self.signum = signum


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


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` over all trainable parameters (see
    :class:`~posekit.engine.config.OptimConfig` for what each field means to each optimizer)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        if cfg.nesterov and cfg.momentum == 0:
            raise PosekitError("optim.nesterov needs optim.momentum > 0")
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
    raise PosekitError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(CHOICES['optim.optimizer'])}")


def train(cfg: ExperimentConfig, out_dir: str | Path, resume: str | Path | None = None,
          stop_at: int | None = None, overwrite: bool = False) -> TrainResult:
    """Train ``cfg`` into ``out_dir``; see the module docstring.

    Args:
        resume: a checkpoint to continue from (same arch, model kwargs and spec; the step,
            optimizer and RNG states are restored, so the loss curve continues exactly). When
            it lies in ``out_dir``, the logs there are cut back to its step.
        stop_at: stop after this step (as if interrupted), keeping the schedule of
            ``cfg.train.steps``. Used to test resuming.
        overwrite: train into a folder that already holds a run, deleting its files.

    Raises:
        TrainingDiverged: NaN/inf loss or weights (the last good checkpoint is kept).
        TrainingInterrupted: Ctrl-C; a checkpoint of the last finished step was written.
    """
    t_start = time.time()
    out = Path(out_dir)
    validate_config(cfg)
    cfg = resolve_data_paths(cfg)      # relative data paths joined to data.root, once
    tc = cfg.train

    # 1. process group, device, seeds, run folder -----------------------------------------
    device = resolve_device(tc.device)
    dist_info = D.init_distributed(device)
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    seed_everything(tc.seed)
    resume_here = resume is not None and Path(resume).resolve().parent == out.resolve()
    problem = _run_folder_problem(out, overwrite or resume_here) if dist_info.is_main else None
    if _any_rank(problem is not None, dist_info, device):
        raise PosekitError(problem or "rank 0 refused the run folder")

    # 2. spec, codec, data -----------------------------------------------------------------
    spec = get_spec(cfg.data.spec)
    codec = build_codec(cfg)
    train_set = build_train_set(cfg, codec, spec)
    eval_set = build_eval_set(cfg, spec) if (tc.eval_every >= 0 and dist_info.is_main) else None
    regression = cfg.model.codec == "regression"
    bottom_up = is_bottomup(cfg)
    sstn = cfg.model.arch.startswith("sstn")     # RMPE's SSTN: trained with its parallel SPPE branch

    # 3. model, optimizer, resume, run files -----------------------------------------------
    model = create_model(cfg.model.arch, spec.num_keypoints, cfg.model.kwargs, codec).to(device)
    optimizer = build_optimizer(model, cfg.optim)
    start_step = 0
    ckpt_path = out / CHECKPOINT_NAME
    last_good: Path | None = None      # the last checkpoint known good, and its step
    saved_step = -1
    end_step = tc.steps if stop_at is None else min(tc.steps, stop_at)
    if resume is not None:
        ckpt = load_checkpoint(resume)
        config_from_dict(ckpt.config, source=ckpt.path)          # a damaged config is refused
        ckpt.load_model(model, cfg.model.arch, spec, kwargs=cfg.model.kwargs)
        ckpt.load_optimizer(optimizer)
        ckpt.restore_rng()
        start_step = saved_step = ckpt.step
        last_good = Path(resume)
        if start_step >= end_step:
            raise PosekitError(f"{resume}: the checkpoint is at step {start_step}, so train.steps={end_step} "
                               f"leaves nothing to train; set train.steps above {start_step} to continue")
        log.info("resumed from %s at step %d", resume, start_step)
    if dist_info.is_main:
        remove_stale_temp_files(out)
        if resume_here:
            for name in ("log.csv", "eval.csv"):
                _cut_csv(out / name, start_step)
        elif overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        save_config(cfg, out / "config.json")
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

    result = TrainResult(out_dir=out)
    log_file = eval_file = None
    if dist_info.is_main:
        log_file = _csv_appender(out / "log.csv", ["step", "lr", "loss", "seconds", "images_per_s"])
        eval_file = _csv_appender(out / "eval.csv", None)
    progress = None
    if tc.progress and dist_info.is_main:
        from tqdm import tqdm
        progress = tqdm(total=end_step, initial=start_step, desc=cfg.name, unit="step", dynamic_ncols=True)

    def load(step: int) -> tuple[list[tuple[int, int]], dict]:
        """Step ``step``'s global batch keys ``(epoch, dataset index)``, which depend only on
        (seed, step), and this rank's contiguous share of it, loaded: image (b, 3, H, W), targets."""
        keys = global_batch(len(train_set), tc.batch_size, tc.seed, step)
        return keys, load_batch(train_set, D.shard_batch(keys, dist_info), device)

    def forward(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """``(this rank's loss, the global mean loss)`` of a batch."""
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=tc.amp):
            heads = ddp_model(batch["image"], parallel=True) if sstn else ddp_model(batch["image"])
        heads = _float_heads(heads)
        if bottom_up:                 # whole-image models: the loss of their codec
            loss = bottomup_loss(cfg.model.codec, heads, batch, codec)
        elif regression:
            final = heads[-1] if isinstance(heads, (list, tuple)) else heads
            loss = loss_fn(final, batch["coords"], batch["weights"])
        elif sstn:
            from posekit.losses import sstn_loss
            loss = sstn_loss(heads, batch, loss_fn)
        else:
            loss = multi_stage_loss(heads, batch["heatmaps"], batch["weights"], loss_fn)
        return loss, D.all_reduce_mean(loss.detach(), dist_info)

    def diverged(what: str) -> TrainingDiverged:
        where = f"{last_good} (step {saved_step})" if last_good is not None else "none written yet"
        return TrainingDiverged(f"{what}; training stopped, last good checkpoint: {where}")

    def bad_loss(step: int, loss: torch.Tensor, keys: list[tuple[int, int]], note: str = "") -> TrainingDiverged:
        return diverged(f"loss is {loss.item()} at step {step}{note} (batch of dataset indices "
                        f"{[index for _, index in keys]})")

    def capture(step: int) -> bytes | None:
        """The checkpoint of the state after ``step`` updates (bytes on rank 0, None on the
        others), refused when a tensor is not finite (checked on every rank alike)."""
        try:
            if not dist_info.is_main:
                bad = find_non_finite(model, optimizer)
                if bad is not None:
                    raise NonFiniteTensor(bad)
                return None
            return encode_checkpoint(model, arch=cfg.model.arch, spec=spec, config=config_to_dict(cfg),
                                     optimizer=optimizer, step=step, extra=result.evals[-1] if result.evals else None)
        except NonFiniteTensor as e:
            raise diverged(f"tensor {e.name!r} holds NaN or infinity after {step} steps") from None

    def write(data: bytes | None, step: int) -> None:
        nonlocal last_good, saved_step
        if data is not None:
            last_good = result.checkpoint = write_checkpoint(ckpt_path, data)
        saved_step = step

    def save_verified(step: int) -> None:
        """Capture the state after ``step`` updates, check it on step ``step``'s batch (one
        forward pass, no update) and write it when the loss is finite."""
        data = capture(step)
        keys, batch = load(step)
        with torch.no_grad():
            _, global_loss = forward(batch)
        if not torch.isfinite(global_loss):
            raise bad_loss(step, global_loss, keys, note=f", checking the weights after {step} steps before saving")
        write(data, step)

    # 4. the loop ------------------------------------------------------------------------
    boundary: int | None = start_step   # steps done while the state is whole; None inside a step
    stop = _StopOnInterrupt(at_once_on_second=not dist_info.enabled)
    interrupted = False
    ddp_model.train()
    t_last = time.time()
    try:
        with stop:
            try:
                for step in range(start_step, end_step):
                    boundary = step
                    lr = lr_at(step, cfg.optim.lr, tc.steps, cfg.schedule)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    due = tc.checkpoint_every > 0 and step % tc.checkpoint_every == 0 and step > start_step
                    pending = capture(step) if due else None
                    keys, batch = load(step)

                    boundary = None          # the forward updates BatchNorm statistics
                    loss, global_loss = forward(batch)
                    if not torch.isfinite(global_loss):
                        raise bad_loss(step, global_loss, keys)
                    if due:                  # the weights after `step` updates gave a finite loss
                        write(pending, step)
                    pending = None

                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if cfg.optim.grad_clip > 0:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    boundary = done = step + 1

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

                    if eval_set is not None and ((tc.eval_every > 0 and done % tc.eval_every == 0)
                                                 or (done == end_step and done == tc.steps)):
                        metrics = evaluate_model(model, codec, eval_set, spec, device=device,   # by cfg.eval
                                                 batch_size=max(tc.batch_size, 16))
                        row = {"step": done, "seconds": round(time.time() - t_start, 2), **metrics}
                        result.evals.append(row)
                        eval_file(row)
                        log.info("step %d: %s", done, json.dumps(metrics))
                        ddp_model.train()
                    if _any_rank(stop.requested, dist_info, device):
                        interrupted = True
                        break
            except KeyboardInterrupt:
                if boundary is None or dist_info.enabled:
                    # inside a step (weights possibly half updated), or ranks at unknown steps
                    what = "inside a step" if boundary is None else "under DDP without the ranks agreeing"
                    where = f"{last_good} (step {saved_step})" if last_good is not None else "none"
                    raise TrainingInterrupted(f"interrupted {what}, nothing saved; last checkpoint: {where}",
                                              saved_step if last_good is not None else None, last_good) from None
                interrupted = True
            if boundary is not None and boundary > max(saved_step, start_step):
                save_verified(boundary)
            D.barrier(dist_info)
    finally:
        if progress is not None:
            progress.close()
        D.cleanup()
    if interrupted:
        what = ("interrupted" if stop.signum in (None, signal.SIGINT)
                else f"stopped by {signal.Signals(stop.signum).name}")
        if boundary > start_step:
            msg = (f"{what} after {boundary} steps; checkpoint saved: {last_good} (step {boundary})"
                   if dist_info.is_main else
                   f"{what} after {boundary} steps (rank {dist_info.rank}; rank 0 saves the checkpoint)")
        else:
            msg = f"{what} before the first step finished; nothing to save" + (
                f" (resume from {last_good} again)" if last_good is not None else "")
        raise TrainingInterrupted(msg, saved_step if last_good is not None else None, last_good, stop.signum)
    result.seconds = time.time() - t_start
    return result


def _float_heads(heads):
    """A model's heads in float32 (after autocast): a tensor, a list of stage tensors, or a
    bottom-up model's dict (its ``"stages"`` list of dicts too)."""
    if isinstance(heads, dict):
        return {k: _float_heads(v) for k, v in heads.items()}
    if isinstance(heads, (list, tuple)):
        return [_float_heads(h) for h in heads]
    return heads.float()


def bottomup_loss(codec_name: str, heads: dict, batch: dict, codec) -> torch.Tensor:
    """The loss of a bottom-up model by its codec: ``"paf"`` :func:`~posekit.losses.paf_loss`,
    ``"ae"``/``"ae_hr"`` :func:`~posekit.losses.ae_loss_total`, ``"deepercut"``
    ``posekit.losses.deepercut_loss``."""
    from posekit import losses
    if codec_name == "paf":
        return losses.paf_loss(heads, batch)
    if codec_name in ("ae", "ae_hr"):
        return losses.ae_loss_total(heads, batch, codec)
    if codec_name == "deepercut" and hasattr(losses, "deepercut_loss"):
        return losses.deepercut_loss(heads, batch)
    raise PosekitError(f"no loss for the bottom-up codec {codec_name!r}")


class _StopOnInterrupt:
    """While active (in the main thread), the first SIGINT or SIGTERM only sets ``requested``
    (and ``signum``), so the loop stops at the end of the current step and saves. A further
    SIGINT raises ``KeyboardInterrupt`` at once when ``at_once_on_second`` (not under torchrun,
    whose launcher forwards the terminal's Ctrl-C to the workers that already received it). A
    further SIGTERM changes nothing: SLURM and Kubernetes send SIGTERM, then SIGKILL after a
    grace period, so the best answer to every SIGTERM is to finish the step and save."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, at_once_on_second: bool) -> None:
        self.requested = False
        self.signum: int | None = None          # the first signal received
        self.at_once_on_second = at_once_on_second
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if signum == signal.SIGINT and self.at_once_on_second:
                raise KeyboardInterrupt
            log.warning("%s: already stopping after this step", signal.Signals(signum).name)
            return
        self.requested = True
        self.signum = signum
        again = " (Ctrl-C again to stop at once, without saving)" if self.at_once_on_second else ""
        log.warning("%s: finishing this step, then saving a checkpoint%s", signal.Signals(signum).name, again)

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


def _any_rank(flag: bool, info: D.DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` is set on any rank (the flag itself when not distributed)."""
    if not info.enabled:
        return flag
    return bool(D.all_reduce_mean(torch.tensor(float(flag), device=device), info).item() > 0)


def _run_folder_problem(out: Path, allowed: bool) -> str | None:
    """Why training into ``out`` would destroy a run there, or None (also when ``allowed``:
    resuming that run, or overwriting it). Creates the folder."""
    output_dir(out)
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if not existing or allowed:
        return None
    how = (f"continue it with --resume {out / CHECKPOINT_NAME} or replace it with --overwrite"
           if (out / CHECKPOINT_NAME).exists() else "replace it with --overwrite (it has no checkpoint)")
    return f"{out}: already holds a run ({', '.join(existing)}); {how}"


def _cut_csv(path: Path, step: int) -> None:
    """Keep the header and the rows of steps up to ``step`` of a log (the resumed run logs the
    later steps again); rows that do not parse (cut by a kill) are dropped. Atomic."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "step" not in rows[0]:
        return
    header, col = rows[0], rows[0].index("step")
    keep = [header] + [r for r in rows[1:] if len(r) == len(header) and r[col].isdigit() and int(r[col]) <= step]
    if len(keep) < len(rows):
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(keep)
        write_text_atomic(path, text.getvalue())
        log.info("%s: dropped %d rows after step %d (resuming from there)", path, len(rows) - len(keep), step)


def _csv_appender(path: Path, columns: list[str] | None):
    """A function appending one dict per row (header from the first row when ``columns`` is
    None, written when the file is empty); a resumed run appends to the cut log, so one log
    holds the whole curve."""
    state = {"columns": columns, "header": path.exists() and path.stat().st_size > 0}

    def write(row: dict) -> None:
        cols = state["columns"] or list(row)
        state["columns"] = cols
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
            if not state["header"]:
                w.writeheader()
                state["header"] = True
            w.writerow(row)
    return write

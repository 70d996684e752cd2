"""Ctrl-C under DDP: the ranks agree to stop after the same step, rank 0 saves, and a resume
continues the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from posekit.engine.checkpoint import load_checkpoint
from posekit.engine.config import apply_overrides
from posekit.engine.presets import get_preset
from posekit.engine.train import train

WORKER = Path(__file__).with_name("ddp_interrupt_worker.py")
OVERRIDES = ["train.steps=4", "train.batch_size=8", "train.eval_every=-1", "train.checkpoint_every=0",
             "data.num_train=32", "data.num_val=4", "data.aug=true", "train.threads=1", "model.arch=hourglass_1"]


@pytest.mark.slow
def test_sigint_on_one_rank_stops_both_after_the_same_step_and_rank_0_saves(tmp_path):
    """SIGINT reaches only rank 1, while it loads step 1's batch: both ranks finish step 1 and
    stop (they agree at every step boundary), and rank 0 writes the checkpoint of step 2.

    It holds the weights of 2 steps: against a 1-process run stopped after 2 steps, measured
    max |difference| 1e-3 (1 vs 2 processes drift, see test_distributed.py; this hourglass
    drifts more than SimpleBaseline), against 1 or 3 steps 4.6 and 3.8. Resumed in one process,
    its losses are the 1-process run's within 3e-3 relative (measured)."""
    from test_distributed import _free_port
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                    "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                    str(WORKER), str(tmp_path), "1", "1", *OVERRIDES], check=True, env=env, timeout=600)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    ckpt = tmp_path / "run" / "checkpoint.safetensors"
    assert rank0 == {"step": 2, "checkpoint": str(ckpt),
                     "message": f"interrupted after 2 steps; checkpoint saved: {ckpt} (step 2)"}
    assert rank1 == {"step": None, "checkpoint": None,
                     "message": "interrupted after 2 steps (rank 1; rank 0 saves the checkpoint)"}
    ddp = load_checkpoint(ckpt)
    assert ddp.step == 2

    cfg = apply_overrides(get_preset("synthetic_tiny"), OVERRIDES)
    one = train(cfg, tmp_path / "one", stop_at=2)
    ref = load_checkpoint(one.checkpoint).model_state()
    diff = max((ref[k].float() - v.float()).abs().max().item() for k, v in ddp.model_state().items()
               if v.is_floating_point())
    print(f"\nmax |weights of 2 processes - weights of 1 process| after 2 steps: {diff:.2g}")
    assert diff < 1e-2
    full = train(cfg, tmp_path / "one", resume=one.checkpoint)
    rest = train(cfg, tmp_path / "run", resume=ckpt)
    assert [s for s, _ in rest.losses] == [2, 3]
    print("1 process, uninterrupted:", full.losses, "\nresumed after 2 processes:", rest.losses)
    for (s, a), (_, b) in zip(full.losses, rest.losses):
        assert b == pytest.approx(a, rel=1e-2), f"step {s}"

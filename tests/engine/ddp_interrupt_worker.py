"""Run by tests/engine/test_interrupt_ddp.py under torchrun:

    python ddp_interrupt_worker.py OUT_DIR SIGNAL_RANK SIGNAL_STEP KEY=VALUE ...

Trains the ``synthetic_tiny`` preset with the overrides into OUT_DIR/run; the process of rank
SIGNAL_RANK sends itself SIGINT (as a Ctrl-C would) while loading step SIGNAL_STEP's batch.
Each rank writes what it saw to OUT_DIR/rank<r>.json: the interrupt's step, checkpoint and
message."""

import json
import os
import signal
import sys
from pathlib import Path

from posekit.engine import train as T
from posekit.engine.config import apply_overrides
from posekit.engine.presets import get_preset

out = Path(sys.argv[1])
signal_rank, signal_step = int(sys.argv[2]), int(sys.argv[3])
rank = int(os.environ.get("RANK", "0"))
cfg = apply_overrides(get_preset("synthetic_tiny"), sys.argv[4:])

real_load = T.load_batch
calls = {"n": 0}


def load_batch(*args, **kwargs):
    if rank == signal_rank and calls["n"] == signal_step:     # call k of the loop is step k
        os.kill(os.getpid(), signal.SIGINT)
    calls["n"] += 1
    return real_load(*args, **kwargs)


T.load_batch = load_batch
try:
    T.train(cfg, out / "run")
    seen = {"step": None, "checkpoint": None, "message": "not interrupted"}
except T.TrainingInterrupted as e:
    seen = {"step": e.step, "checkpoint": str(e.checkpoint) if e.checkpoint else None, "message": str(e)}
(out / f"rank{rank}.json").write_text(json.dumps(seen))

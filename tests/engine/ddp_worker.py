"""Run by tests/engine/test_distributed.py, with or without torchrun:

    python ddp_worker.py OUT_JSON KEY=VALUE ...

Trains the ``synthetic_tiny`` preset with the overrides and, on rank 0, writes the global loss
curve to OUT_JSON."""

import json
import os
import sys
from pathlib import Path

from posekit.engine.config import apply_overrides
from posekit.engine.presets import get_preset
from posekit.engine.train import train

out_json = Path(sys.argv[1])
cfg = apply_overrides(get_preset("synthetic_tiny"), sys.argv[2:])
result = train(cfg, out_json.parent / "run")
if int(os.environ.get("RANK", "0")) == 0:
    out_json.write_text(json.dumps({"losses": result.losses, "world": int(os.environ.get("WORLD_SIZE", "1"))}))

"""Learning, proved: train a preset and print held-out accuracy against wall-clock time.

    .venv/bin/python benchmarks/learning_curve.py                       # synthetic_sb_r18, 5 min
    .venv/bin/python benchmarks/learning_curve.py coco_sample_finetune --bar 0.9 --key AP
    .venv/bin/python benchmarks/learning_curve.py synthetic_sb_r18 --set train.steps=400

Prints one line per evaluation (step, seconds since start, metrics), then the first
evaluation at which ``--key`` reached ``--bar`` and whether that happened within
``--budget`` seconds, and the chance level: the metrics of predicting the training set's mean
crop-frame pose for every held-out person (box-normalised PCK@0.2 is lenient on centred crops:
the mean pose alone scores about 0.78 there; torso-normalised PCK@0.2 and PCK@0.05 are the
informative ones). The machine load (``os.getloadavg``) is printed before and after, since
a shared machine changes the wall-clock figure a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

from posekit.engine.config import apply_overrides, config_json
from posekit.engine.presets import get_preset
from posekit.engine.train import train


def baseline(cfg) -> dict[str, float]:
    """Metrics of predicting the training set's mean crop-frame pose for every person."""
    from posekit.data.datasets import TopDownDataset
    from posekit.engine.data import build_eval_set, build_records
    from posekit.engine.evaluate import mean_pose_baseline
    from posekit.skeleton import get_spec
    spec = get_spec(cfg.data.spec)
    records, images = build_records(cfg, "train", spec)
    crops = TopDownDataset(records, images, spec, input_size=tuple(cfg.data.input_size), train=False)
    return mean_pose_baseline(crops, build_eval_set(cfg, spec), spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", nargs="?", default="synthetic_sb_r18")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--key", default="pck@0.2_torso", help="metric to compare with --bar")
    ap.add_argument("--bar", type=float, default=0.90)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds")
    ap.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the mean-pose baseline")
    args = ap.parse_args(argv)

    cfg = apply_overrides(get_preset(args.preset), args.overrides + ["train.progress=false"])
    print(config_json(cfg))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, "
          f"load average before: {os.getloadavg()}", flush=True)
    out = args.out or tempfile.mkdtemp(prefix=f"posekit_{args.preset}_")
    t0 = time.time()
    result = train(cfg, out)
    wall = time.time() - t0
    print(f"load average after: {os.getloadavg()}")
    print(f"{'step':>6} {'seconds':>8}  metrics")
    hit = None
    for row in result.evals:
        metrics = {k: round(v, 4) for k, v in row.items() if k not in ("step", "seconds")}
        print(f"{row['step']:>6} {row['seconds']:>8.1f}  {json.dumps(metrics)}")
        if hit is None and row.get(args.key, -1) >= args.bar:
            hit = row
    print(f"total {wall:.1f} s for {cfg.train.steps} steps of batch {cfg.train.batch_size}; run folder {out}")
    if not args.no_baseline:
        print("mean-pose baseline (chance level): " + json.dumps(
            {k: round(v, 4) for k, v in baseline(cfg).items()}))
    if hit is None:
        print(f"{args.key} never reached {args.bar}")
        return 1
    ok = hit["seconds"] <= args.budget
    print(f"{args.key} >= {args.bar} first at step {hit['step']}, {hit['seconds']:.1f} s "
          f"({'within' if ok else 'over'} the {args.budget:.0f} s budget)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

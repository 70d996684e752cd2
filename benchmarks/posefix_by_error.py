"""PoseFix on synthetic corrupted poses: COCO AP of the input poses and of the refined ones, by
error type, for the refiner trained on corrupted poses and (``--ablation``) on clean ones.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/posefix_by_error.py [--steps 360] [--ablation]
        [--save DIR]

Trains :class:`posekit.models.posefix.PoseFixNet` with the ``posefix_synthetic`` preset
(96x128 synthetic crops) through :func:`posekit.engine.posefix.train_posefix`, then corrupts
the held-out crops' ground truth (PoseFix's proportions: ``mixed``; or half of the joints of
one type) and prints the AP before and after refinement as a markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from posekit.engine.posefix import evaluate_by_error_type, load_posefix_data, train_posefix
from posekit.engine.presets import get_posefix_preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--ablation", action="store_true", help="train on the clean ground truth instead")
    ap.add_argument("--save", default=None, help="write the refiner to DIR/posefix.safetensors")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = get_posefix_preset("posefix_synthetic")
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    if args.ablation:
        cfg = replace(cfg, corrupt=False)
    t0 = time.time()
    data, val = load_posefix_data(cfg, "train"), load_posefix_data(cfg, "val")
    model, losses = train_posefix(cfg, args.save, data=data)
    t1 = time.time()
    rows = evaluate_by_error_type(model, cfg, val)
    print(f"refiner trained on {'clean' if args.ablation else 'corrupted'} poses, {cfg.steps} steps "
          f"({t1 - t0:.0f} s, 2-core machine under load); {len(val)} held-out crops")
    print("| error type | joints of that type | AP input | AP refined | change |")
    print("|---|---|---|---|---|")
    for t, (a_in, a_out, n) in rows.items():
        print(f"| {t} | {n} | {a_in:.3f} | {a_out:.3f} | {a_out - a_in:+.3f} |")


if __name__ == "__main__":
    main()

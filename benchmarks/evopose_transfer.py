"""EvoPose2D weight transfer: mutated children trained with and without their parent's weights.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/evopose_transfer.py [--children 3] [--steps 60]

Trains the seed network of the ``evopose2d_search_synthetic`` preset (EfficientNet-B0 stages,
64x64 synthetic crops), makes ``--children`` mutated children (one random stage change each,
the search's own :func:`posekit.search.evo.mutate`), and trains each twice for ``--steps``
steps: from the parent's weights (:func:`posekit.models.evopose2d.transfer_weights`) and from
scratch (same initialisation seed, same batches). Prints the validation loss curves and the
step at which each run first reaches the loss the from-scratch run ends with, and plots them
to docs/images/evopose_transfer.png.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from posekit.device import resolve_device
from posekit.engine.presets import get_search_preset
from posekit.search.evo import _make_member, genotype_str, load_search_data, mutate


def first_reach(curve: list[tuple[int, float]], level: float) -> int | None:
    for step, loss in curve:
        if loss <= level:
            return step
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--children", type=int, default=3)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--val-every", type=int, default=10)
    ap.add_argument("--out", default="docs/images/evopose_transfer.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = replace(get_search_preset("evopose2d_search_synthetic"), val_every=args.val_every)
    device = resolve_device(cfg.device)
    t0 = time.time()
    data = load_search_data(cfg)
    seed = _make_member(0, 0, cfg.seed_network(), None, cfg.seed_steps, data, cfg, device)
    print(f"seed: {seed.params} parameters, val loss {seed.val_loss:.6f} after {cfg.seed_steps} steps")
    rows = []
    for k in range(args.children):
        g = mutate(seed.genotype, np.random.default_rng([cfg.seed, 1, k, 0]))
        runs = {}
        for transfer in (True, False):
            c = replace(cfg, transfer=transfer, steps=args.steps)
            runs[transfer] = _make_member(k + 1, 1, g, seed, args.steps, data, c, device).curve
        level = runs[False][-1][1]
        rows.append((g, runs, level))
        print(f"child {k + 1}: {genotype_str(g)}")
        for transfer in (True, False):
            name = "transfer" if transfer else "scratch "
            print(f"  {name}: " + " ".join(f"{s}:{v:.5f}" for s, v in runs[transfer])
                  + f"  reaches {level:.5f} at step {first_reach(runs[transfer], level)}")
    print(f"{time.time() - t0:.0f} s (2-core machine, under load)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (g, runs, _) in enumerate(rows):
        for transfer, style in ((True, "-"), (False, "--")):
            s, v = zip(*runs[transfer])
            ax.plot(s, v, style, color=colours[k % len(colours)], marker="o", ms=3,
                    label=f"child {k + 1} {'with transfer' if transfer else 'from scratch'}")
    ax.axhline(seed.val_loss, color="grey", lw=0.8, ls=":", label="parent (seed) after its training")
    ax.set_xlabel("training steps of the child")
    ax.set_ylabel("validation loss (heatmap MSE)")
    ax.set_title("EvoPose2D weight transfer: mutated children, 64x64 synthetic crops")
    ax.legend(fontsize=7)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

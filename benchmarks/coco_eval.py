#!/usr/bin/env python3
"""Time COCO keypoint evaluation: posekit vs pycocotools vs faster-coco-eval, in one run.

usage: python benchmarks/coco_eval.py [--images 5000] [--seed 0] [--repeats 3] [--bench DIR]

Builds (or reuses, with --bench) a synthetic set from ``../shared/tools/make_coco_bench.py``,
loads the JSON once, then times for each evaluator, ``--repeats`` times:

* pycocotools: ``COCOeval.evaluate() + accumulate()`` (COCO index and ``loadRes`` not timed);
* faster-coco-eval: ``COCOeval_faster.evaluate() + accumulate()`` (same exclusions);
* posekit: ``coco_eval(gt_dict, results_list)`` -- everything from the parsed JSON to the 10
  numbers, including turning the dicts into arrays (so it is timed on more work).

Prints the best and median times, the ratios, and the largest difference of the 10 numbers
from pycocotools'.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAKE_BENCH = REPO / ".." / "shared" / "tools" / "make_coco_bench.py"


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def time_pycocotools(gt: dict, dt: list) -> tuple[float, np.ndarray]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with _quiet():
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dt))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        t = time.perf_counter()
        ev.evaluate()
        ev.accumulate()
        elapsed = time.perf_counter() - t
        ev.summarize()
    return elapsed, np.asarray(ev.stats)


def time_faster(gt: dict, dt: list) -> tuple[float, np.ndarray]:
    from faster_coco_eval import COCO, COCOeval_faster
    with _quiet():
        coco_gt = COCO(copy.deepcopy(gt))
        coco_dt = coco_gt.loadRes(copy.deepcopy(dt))
        ev = COCOeval_faster(coco_gt, coco_dt, "keypoints")
        t = time.perf_counter()
        ev.evaluate()
        ev.accumulate()
        elapsed = time.perf_counter() - t
        ev.summarize()
    return elapsed, np.asarray(ev.stats[:10])


def time_posekit(gt: dict, dt: list) -> tuple[float, np.ndarray]:
    from posekit.metrics import COCO_KEYS, coco_eval
    t = time.perf_counter()
    stats = coco_eval(gt, dt)
    elapsed = time.perf_counter() - t
    return elapsed, np.array([stats[k] for k in COCO_KEYS])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bench", type=Path, default=None, help="existing dir with gt.json/dt.json")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bench = a.bench
        if bench is None:
            bench = Path(tmp)
            subprocess.run([sys.executable, str(MAKE_BENCH), str(bench), "--images", str(a.images),
                            "--seed", str(a.seed)], check=True)
        gt = json.loads((bench / "gt.json").read_text())
        dt = json.loads((bench / "dt.json").read_text())
    print(f"{len(gt['images'])} images, {len(gt['annotations'])} people, {len(dt)} detections")

    runs = {"pycocotools": time_pycocotools, "faster-coco-eval": time_faster, "posekit": time_posekit}
    times: dict[str, list[float]] = {k: [] for k in runs}
    stats: dict[str, np.ndarray] = {}
    time_posekit(gt, dt)  # warm-up (imports)
    for _ in range(a.repeats):
        for name, fn in runs.items():  # interleaved, so machine load hits all three alike
            t, s = fn(gt, dt)
            times[name].append(t)
            stats[name] = s

    print(f"{'evaluator':<18} {'best s':>8} {'median s':>9}   (evaluate + accumulate, {a.repeats} runs)")
    for name, ts in times.items():
        print(f"{name:<18} {min(ts):8.3f} {statistics.median(ts):9.3f}")
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"posekit / pycocotools      = {best['posekit'] / best['pycocotools']:.4f} (best), "
          f"{med['posekit'] / med['pycocotools']:.4f} (median)")
    print(f"posekit / faster-coco-eval = {best['posekit'] / best['faster-coco-eval']:.4f} (best), "
          f"{med['posekit'] / med['faster-coco-eval']:.4f} (median)")
    print(f"speed-up vs pycocotools: {best['pycocotools'] / best['posekit']:.1f}x, "
          f"vs faster-coco-eval: {best['faster-coco-eval'] / best['posekit']:.1f}x (best times)")
    ref = stats["pycocotools"]
    print(f"max |posekit - pycocotools| over the 10 numbers = {np.abs(stats['posekit'] - ref).max():.3g}")
    print(f"max |faster-coco-eval - pycocotools|            = {np.abs(stats['faster-coco-eval'] - ref).max():.3g}")
    print("AP/AR:", " ".join(f"{v:.4f}" for v in stats["posekit"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

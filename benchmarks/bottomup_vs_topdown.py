"""Runtime against the number of people: one bottom-up and one top-down pipeline.

The survey's OpenPose argument: a top-down pipeline runs the pose model once per detected
person, so its time grows with the crowd, while a bottom-up model runs once per image and
only its (cheap) grouping sees the people. Measured here end to end (detector, crops, model,
decode, grouping, NMS; reading the image excluded), batch 1, ``torch.set_num_threads(2)``:

* bottom-up: ``multipose-256`` (MoveNet MultiPose, long side 256; its graph keeps 6 people at
  most, see ``posekit.codecs.MultiPoseCodec``; ``--bottom-up`` for another);
* top-down: ``movenet-thunder`` (NanoDet person boxes -> MoveNet Thunder per crop -> OKS-NMS),
  posekit's default pipeline, with its default crop batch.

Images (``--source pasted``, the default when ``../shared/data`` exists): real people, the
person boxes of the COCO sample (``../shared/data/coco``, people with >= 8 labelled
keypoints) cut out and pasted into a 5 x 4 grid of 192 x 256 cells on a 960 x 1024 canvas
(smooth noise background), so that every person is the same size whatever their number and
the detector can find them. ``--source synthetic``: ``render_scene`` figures in the same grid.
For each count, the people detected by NanoDet (score >= the pipeline's threshold) and the
poses each pipeline returned above its drawing threshold are reported next to the times.

Times: the median over ``--repeats`` runs per count, after a warm-up run; the 1-minute load
average is printed: the machine is shared, so wall times swing (``--clock cpu`` measures the
process's CPU time instead, both threads summed, which other processes disturb far less).

Run: ``.venv/bin/python benchmarks/bottomup_vs_topdown.py [--repeats 5] [--out docs/images/bottomup_vs_topdown.png]``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.data.synthetic import random_background, render_person_crop
from posekit.pipelines import build_predictor

COUNTS = (1, 2, 5, 10, 15, 20)
CELL = (192, 256)              # (W, H)
GRID = (5, 4)                  # columns, rows
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def real_people() -> list[np.ndarray]:
    """RGB cut-outs of the COCO sample's people (>= 8 labelled keypoints), box padded 10 %."""
    from posekit.data.formats import read_annotations
    from posekit.io import read_image

    coco = SHARED / "coco"
    out = []
    for r in read_annotations(coco / "test_coco.json"):
        img = read_image(coco / r.file_name)
        for kp, box, crowd in zip(r.keypoints, r.boxes, r.crowd):
            if crowd or (kp[:, 2] > 0).sum() < 8:
                continue
            x0, y0, x1, y1 = box
            cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, 1.1 * (x1 - x0), 1.1 * (y1 - y0)
            xa, ya = int(max(cx - w / 2, 0)), int(max(cy - h / 2, 0))
            xb, yb = int(min(cx + w / 2, img.shape[1])), int(min(cy + h / 2, img.shape[0]))
            out.append(img[ya:yb, xa:xb])
    return out


def synthetic_people(n: int) -> list[np.ndarray]:
    return [render_person_crop(i, size=CELL)[0] for i in range(n)]


def canvas(people: list[np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    """``n`` people (cycled) in the first ``n`` cells of the grid, each fitted to its cell."""
    rng = np.random.default_rng(seed)
    W, H = CELL[0] * GRID[0], CELL[1] * GRID[1]
    img = random_background(rng, (W, H), clutter=0)
    cells = rng.permutation(GRID[0] * GRID[1])[:n]
    for i, c in enumerate(cells):
        p = people[i % len(people)]
        s = min(CELL[0] / p.shape[1], CELL[1] / p.shape[0]) * 0.95
        q = cv2.resize(p, (max(1, int(p.shape[1] * s)), max(1, int(p.shape[0] * s))), interpolation=cv2.INTER_AREA)
        r, col = divmod(int(c), GRID[0])
        y = r * CELL[1] + (CELL[1] - q.shape[0]) // 2
        x = col * CELL[0] + (CELL[0] - q.shape[1]) // 2
        img[y:y + q.shape[0], x:x + q.shape[1]] = q
    return img


def time_pipeline(predictor, image: np.ndarray, repeats: int, clock=time.perf_counter) -> tuple[float, int]:
    poses = predictor.predict(image)                       # warm-up
    times = []
    for _ in range(repeats):
        t0 = clock()
        poses = predictor.predict(image)
        times.append(clock() - t0)
    shown = int((poses.scores >= predictor.draw_min_pose_score).sum())
    return 1000.0 * float(np.median(times)), shown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--source", choices=("pasted", "synthetic"), default=None)
    ap.add_argument("--out", default="docs/images/bottomup_vs_topdown.png")
    ap.add_argument("--bottom-up", default="multipose-256", help="the bottom-up pipeline (default multipose-256)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: CPU time of this process (both threads summed), "
                         "far less disturbed when other processes load the machine")
    args = ap.parse_args()
    torch.set_num_threads(2)
    source = args.source or ("pasted" if (SHARED / "coco" / "test_coco.json").is_file() else "synthetic")
    people = real_people() if source == "pasted" else synthetic_people(20)
    names = (args.bottom_up, "movenet-thunder")
    predictors = {n: build_predictor(n, "cpu") for n in names}
    detector = predictors["movenet-thunder"].detector
    print(f"source: {source} ({len(people)} distinct people), canvas {CELL[0] * GRID[0]}x{CELL[1] * GRID[1]}, "
          f"2 threads, {args.clock} clock, median of {args.repeats}, load {os.getloadavg()[0]:.2f}")
    print(f"{'people':>6} {'detected':>8} | " + " | ".join(f"{n + ' ms':>20} {'poses':>5}" for n in names))
    rows = []
    for n in COUNTS:
        img = canvas(people, n)
        found = len(detector.detect(img)[0]) if hasattr(detector, "detect") else -1
        clock = time.perf_counter if args.clock == "wall" else time.process_time
        cells = [time_pipeline(predictors[name], img, args.repeats, clock) for name in names]
        rows.append((n, found, cells))
        print(f"{n:>6} {found:>8} | " + " | ".join(f"{ms:>20.1f} {shown:>5}" for ms, shown in cells), flush=True)
    print(f"load at the end {os.getloadavg()[0]:.2f}")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    xs = [r[0] for r in rows]
    styles = {args.bottom_up: ("tab:blue", "o", f"bottom-up: {args.bottom_up}"),
              "movenet-thunder": ("tab:red", "^", "top-down: NanoDet + MoveNet Thunder")}
    for j, name in enumerate(names):
        color, marker, label = styles[name]
        ax.plot(xs, [r[2][j][0] for r in rows], marker=marker, color=color, label=label)
    ax.set_xlabel("people in the image")
    ax.set_ylabel("end-to-end " + ("time" if args.clock == "wall" else "CPU time") + " per image (ms)")
    ax.set_title(f"Runtime vs number of people (CPU, 2 threads, {source} people)")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

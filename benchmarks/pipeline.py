"""Top-down training data pipeline throughput (samples per second).

Measures, on synthetic COCO-like scenes (640x480 by default, several people each):
  1. JPEG decode only (cv2.imdecode + BGR->RGB), one process;
  2. baseline: a naive cv2.resize of the whole decoded image to the input size, one process;
  3. transform + crop (half-body, scale/rotate, flip, affine crop to 256x192, colour jitter,
     normalisation) with in-memory decoded images, one process;
  4. the same through a DataLoader with N workers (default 2), in-memory decoded images;
  5. the full path (JPEG decode + transform + crop) through the DataLoader.
The first batch of each DataLoader run (worker start-up) is not timed.

Run:  .venv/bin/python benchmarks/pipeline.py [--images 64] [--samples 2000] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time

import cv2
import numpy as np
from torch.utils.data import DataLoader, RandomSampler

from posekit import COCO17
from posekit.data.datasets import EncodedImages, MemoryImages, TopDownDataset
from posekit.data.synthetic import make_dataset
from posekit.data.transforms import AugConfig


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:8.1f} /s  ({n} in {seconds:.2f} s)"


def loop_dataset(ds, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        ds[i % len(ds)]
    return time.perf_counter() - t


def loop_loader(ds, n: int, workers: int, batch: int) -> tuple[int, float, float]:
    """Returns (samples, wall seconds, CPU seconds of main process + workers). CPU time
    includes worker start-up and the untimed first batch, so samples / CPU s is a lower bound
    of the per-core rate."""
    cpu0 = time.process_time()
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # one pass of a sampler with replacement: the workers start once
    sampler = RandomSampler(ds, replacement=True, num_samples=n + batch)
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)
    done, t0 = 0, None
    it = iter(loader)
    for b in it:
        if t0 is None:              # skip the first batch: worker start-up
            t0 = time.perf_counter()
            continue
        done += b["image"].shape[0]
    del it                          # shuts the workers down, so their CPU time is counted
    wall = time.perf_counter() - t0
    ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - cpu0 + ch1.ru_utime - ch0.ru_utime + ch1.ru_stime - ch0.ru_stime)
    return done, wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    ap.add_argument("--cv2-threads", type=int, default=1,
                    help="cv2.setNumThreads in the main process before the workers fork")
    args = ap.parse_args()
    cv2.setNumThreads(args.cv2_threads)
    input_size = (192, 256)

    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"cpus: {os.cpu_count()}, opencv {cv2.__version__} threads={cv2.getNumThreads()}")
    t = time.perf_counter()
    pairs = make_dataset(args.images, seed=0, size=tuple(args.image_size), num_people=(2, 4),
                         height_range=(0.3, 0.8))
    print(f"rendered {args.images} synthetic scenes {args.image_size[0]}x{args.image_size[1]} "
          f"in {time.perf_counter() - t:.1f} s")
    mem, records = MemoryImages.from_pairs(pairs)
    enc = EncodedImages.encode(mem.images, ".jpg", quality=90)
    names = list(enc.data)
    people = sum(r.num_people for r in records)
    print(f"{people} people; mean JPEG size {np.mean([len(b) for b in enc.data.values()]) / 1024:.0f} KiB")
    aug = AugConfig()   # flip 0.5, scale 0.75-1.25, rot +-40 (p 0.6), half-body 0.3, colour jitter

    n_dec = max(100, args.samples // 4)
    t = time.perf_counter()
    for i in range(n_dec):
        enc.get(names[i % len(names)])
    print(f"1. JPEG decode only (1 process)               {rate(n_dec, time.perf_counter() - t)}")

    t = time.perf_counter()
    for i in range(args.samples):
        cv2.resize(mem.images[names[i % len(names)]], input_size, interpolation=cv2.INTER_LINEAR)
    print(f"2. baseline cv2.resize only (1 process)       {rate(args.samples, time.perf_counter() - t)}")

    ds_mem = TopDownDataset(records, mem, COCO17, input_size, train=True, aug=aug)
    ds_jpg = TopDownDataset(records, enc, COCO17, input_size, train=True, aug=aug)
    n1 = max(200, args.samples // 4)
    loop_dataset(ds_mem, 20)
    c = time.process_time()
    wall = loop_dataset(ds_mem, n1)
    c = time.process_time() - c
    print(f"3. transform+crop, in-memory (1 process)      {rate(n1, wall)}   "
          f"{n1 / c:7.1f} per CPU-s")
    done, sec, cpu = loop_loader(ds_mem, args.samples, args.workers, args.batch)
    print(f"4. transform+crop, in-memory ({args.workers} workers)     {rate(done, sec)}   "
          f">={done / cpu:6.1f} per CPU-s")
    done, sec, cpu = loop_loader(ds_jpg, args.samples // 2, args.workers, args.batch)
    print(f"5. decode+transform+crop, JPEG ({args.workers} workers)   {rate(done, sec)}   "
          f">={done / cpu:6.1f} per CPU-s")
    print(f"load after:  {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()

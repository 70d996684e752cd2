"""Training throughput: images per second of one full training step (forward, MSE loss,
backward, Adam step) at 256x192, batch 32, on this machine's CPU.

    .venv/bin/python benchmarks/train_step.py                                # SB-R50 and HRNet-W32
    .venv/bin/python benchmarks/train_step.py --archs hrnet_w32 --steps 5 --amp

Data loading is excluded (random inputs and targets of the right shapes): this measures the
model. One warm-up step is run first and not timed. The load average is printed because a
shared machine changes the figure a lot.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from posekit.losses import KeypointMSELoss, multi_stage_loss
from posekit.models import zoo


def bench(arch: str, batch: int, size_hw: tuple[int, int], steps: int, amp: bool) -> tuple[float, float]:
    torch.manual_seed(0)
    model = zoo.create(arch, num_keypoints=17).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = KeypointMSELoss()
    H, W = size_hw
    x = torch.randn(batch, 3, H, W)
    with torch.no_grad():
        out = model(x[:1])
    shapes = [o.shape for o in out] if isinstance(out, (list, tuple)) else [out.shape]
    targets = [torch.rand(batch, *s[1:]) for s in shapes]
    weights = torch.ones(batch, 17)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            heads = model(x)
        heads = [h.float() for h in heads] if isinstance(heads, (list, tuple)) else [heads.float()]
        loss = multi_stage_loss(heads, targets, weights, loss_fn)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()                                   # warm-up (allocator, oneDNN kernels)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = sorted(times)[len(times) // 2]
    return batch / med, med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", nargs="+", default=["simple_baseline_r50", "hrnet_w32"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()}", flush=True)
    for arch in args.archs:
        ips, sec = bench(arch, args.batch, (args.height, args.width), args.steps, args.amp)
        print(f"{arch:24s} {args.width}x{args.height} batch {args.batch}{' bf16' if args.amp else ''}: "
              f"{ips:7.2f} images/s ({sec:.2f} s/step, median of {args.steps})", flush=True)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()

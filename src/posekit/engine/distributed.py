"""Distributed data parallel through ``torchrun`` (gloo on CPU, NCCL on CUDA).

``torchrun --nproc_per_node 2 -m posekit.cli train PRESET ...`` starts one process per rank
with ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; :func:`init_distributed` reads them. Without
them everything here is a no-op, so the same loop runs single-process.

The global batch is fixed by the config; each rank takes a contiguous ``1/world`` slice of the
same global batch (:func:`shard_batch`), the same thing ``DistributedSampler`` does with a
per-epoch permutation, but indexed by step so that resuming is exact and a 2-process run sees
exactly the samples of a 1-process run at every step. BatchNorm layers compute their
statistics over the global batch too: ``nn.SyncBatchNorm`` on CUDA, and on CPU (where torch's
SyncBatchNorm refuses to run) :class:`GlobalBatchNorm2d`, which all-reduces the per-channel
sums with the differentiable ``torch.distributed.nn.functional.all_reduce``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from posekit.errors import PosekitError

__all__ = ["DistInfo", "init_distributed", "cleanup", "all_reduce_mean", "wrap_model", "unwrap",
           "shard_batch", "barrier", "GlobalBatchNorm2d", "convert_global_batchnorm"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group described by torchrun's environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(local)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (returns the tensor itself when not distributed)."""
    if not info.enabled:
        return value
    v = value.detach().clone().float()
    dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return v / info.world_size


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are over all ranks' samples (works on CPU/gloo).

    Per channel, ``S = Σ x``, ``Q = Σ x²`` and the count ``N`` are summed over ranks; then
    ``mean = S / N``, ``var = Q / N - mean²`` (biased, for normalising) and the running variance
    is updated with the unbiased ``var * N / (N - 1)``, as ``nn.BatchNorm2d`` does. The sums go
    through a differentiable all-reduce, so gradients flow through the global statistics.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce as diff_all_reduce
        c = x.shape[1]
        xf = x.float()
        xd = xf.double()   # E[x²] - mean² cancels badly in float32; the sums are cheap in float64
        count = torch.full((1,), float(x.numel() // c), dtype=torch.float64, device=x.device)
        stats = torch.cat([xd.sum((0, 2, 3)), (xd * xd).sum((0, 2, 3)), count])
        with warnings.catch_warnings():   # deprecated in favour of a private API; still correct
            warnings.simplefilter("ignore", FutureWarning)
            stats = diff_all_reduce(stats)
        n = stats[-1]
        mean = stats[:c] / n
        var = (stats[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * float(n / (n - 1).clamp_min(1.0)))
        mean, var = mean.float(), var.float()
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` by a :class:`GlobalBatchNorm2d` sharing its parameters
    and buffers (state-dict keys unchanged)."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        new = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_global_batchnorm(child))
    return module


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool = True) -> nn.Module:
    """Global-batch BatchNorm and DDP wrapping (the model unchanged when not distributed)."""
    if not info.enabled:
        return model
    if sync_bn:
        model = (nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda"
                 else convert_global_batchnorm(model))
    ids = [info.local_rank] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard_batch(indices: list, info: DistInfo) -> list:
    """This rank's contiguous slice of a global batch; the global batch must divide evenly."""
    n = len(indices)
    if n % info.world_size:
        raise PosekitError(f"global batch size {n} is not divisible by the {info.world_size} processes")
    per = n // info.world_size
    return indices[info.rank * per:(info.rank + 1) * per]

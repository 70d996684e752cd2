"""The one place that decides which device tensors go to."""

from __future__ import annotations

import os

import torch

from posekit.errors import PosekitError


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA when available, else CPU. ``"cuda"``, ``"cuda:1"``,
    ``"cpu"``, ``"mps"``: that device, with a clear error when it is not available."""
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise PosekitError(f"unknown device {name!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PosekitError(f"device {name!r} requested but CUDA is not available (torch {torch.__version__})")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise PosekitError(f"device {name!r} requested but MPS is not available")
    return dev


def default_crop_batch(device: torch.device) -> int:
    """Crops per forward pass of a top-down pose model on ``device``: one on the CPU, 16 on an
    accelerator. On the 2-core development CPU one MoveNet Thunder pass over 4 crops took 5-6x
    one crop, and one image's crops one at a time (each through the batch-of-one trace of
    ``posekit.pretrained.traced``) were 30% faster end to end and 1.6x the folder throughput of
    batches of 16 (docs/predict.md); GPUs gain from batches."""
    return 1 if device.type == "cpu" else 16


#: Upper bound of :func:`set_threads`'s default, so that a long prediction run leaves cores to
#: the rest of a shared machine.
MAX_DEFAULT_THREADS = 4


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads and return the number set.

    ``None`` picks the number of CPUs this process may run on (``os.sched_getaffinity``, which
    honours ``taskset`` and container CPU sets), capped at :data:`MAX_DEFAULT_THREADS`. On a
    busy machine fewer threads can be faster (issue 9: on a loaded 2-core machine one thread
    ran 3x faster than two), hence ``posekit predict --threads``."""
    if threads is None:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, min(usable, MAX_DEFAULT_THREADS))
    if threads < 1:
        raise PosekitError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(int(threads))
    return int(threads)

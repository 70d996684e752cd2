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


def default_threads() -> int:
    """The CPUs this process may run on (``os.sched_getaffinity``, which honours ``taskset`` and
    container CPU sets) that other work is not already using, by the 1-minute load average,
    at least 1 and at most :data:`MAX_DEFAULT_THREADS`.

    Why the load average: torch's intra-op threads wait for each other at every operator, so a
    thread that shares its core with another busy process holds all of them up. Measured on the
    2-core development machine with one other busy process (load average 1.4-2.5), predicting
    the 4 COCO sample images took 3.3 s with one thread and 14.9-15.5 s with two
    (``posekit predict ../shared/data/coco --threads 1|2``, alternated); on the idle machine two
    threads are faster."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        busy = int(os.getloadavg()[0])
    except (AttributeError, OSError):           # no load average on this platform
        busy = 0
    return max(1, min(usable - busy, MAX_DEFAULT_THREADS))


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads and return the number set; ``None`` =
    :func:`default_threads`."""
    if threads is None:
        threads = default_threads()
    if threads < 1:
        raise PosekitError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(int(threads))
    return int(threads)

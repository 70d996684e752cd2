"""The one place that decides which device tensors go to."""

from __future__ import annotations

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

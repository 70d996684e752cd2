"""What the codecs of multi-head models share: the multi-person result type, reading heads.

Multi-person codecs (:class:`~posekit.codecs.movenet.MultiPoseCodec`,
:class:`~posekit.codecs.posenet.PoseNetCodec`) return :class:`Instances`: a fixed number of
rows per image (the codec's ``max_people``), best first, where rows beyond the people found are
padding (all zero, score 0).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import torch

from posekit.errors import PosekitError

__all__ = ["Instances", "require_heads"]


class Instances(NamedTuple):
    """People decoded from a batch of whole-image heads, in the model's input pixels.

    Attributes:
        keypoints: ``(B, N, K, 3)`` float32 ``[x, y, score]`` (pixel-centre convention).
        scores: ``(B, N)`` float32 instance scores, sorted best first per image.
        boxes: ``(B, N, 4)`` float32 xyxy person boxes.

    ``N`` is the codec's ``max_people``. Padding rows (fewer people than ``N``) are all zero,
    score 0; a decoded person may also score 0, so callers keep rows by a score threshold.
    """

    keypoints: torch.Tensor
    scores: torch.Tensor
    boxes: torch.Tensor


def require_heads(heads: Mapping[str, torch.Tensor], names: tuple[str, ...], codec: str) -> list[torch.Tensor]:
    """``[heads[n] for n in names]`` as float32 ``(B, C, h, w)`` tensors, or a
    :class:`PosekitError` naming the codec and what is missing or malformed."""
    if not isinstance(heads, Mapping):
        raise PosekitError(f"{codec}.decode expects a dict of heads {names}, got {type(heads).__name__}")
    missing = [n for n in names if n not in heads]
    if missing:
        raise PosekitError(f"{codec}.decode: heads {missing} missing (got {sorted(heads)})")
    out = [heads[n].float() for n in names]
    grids = {(t.shape[0], t.shape[2], t.shape[3]) if t.ndim == 4 else None for t in out}  # (B, h, w)
    if None in grids or len(grids) != 1:
        raise PosekitError(f"{codec}.decode: heads {names} must be (B, C, h, w) on one grid, got "
                           + ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, out)))
    return out

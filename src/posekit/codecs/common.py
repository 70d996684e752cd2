"""What the codecs share: the multi-person result type, reading heads.

Multi-person codecs (:class:`~posekit.codecs.movenet.MultiPoseCodec`,
:class:`~posekit.codecs.posenet.PoseNetCodec`) return :class:`Instances`: a fixed number of
rows per image (the codec's ``max_people``), best first, where rows beyond the people found are
padding (all zero, score 0).
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Union

import numpy as np
import torch

from posekit.errors import PosekitError

__all__ = ["Instances", "Heads", "require_heads", "final_head", "map_final", "person_row", "letterbox_input_size"]

#: What a model's forward returns and a codec's ``decode`` takes: a tensor, a list of stage
#: tensors (intermediate supervision, the final prediction last), or a dict of named tensors.
Heads = Union[torch.Tensor, list, tuple, Mapping[str, torch.Tensor]]


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


def letterbox_input_size(width: int, height: int, long_side: int, multiple: int, who: str) -> tuple[int, int]:
    """The whole-image input ``(W, H)`` for a ``width x height`` image letterboxed at
    ``long_side``: the long side ``long_side``, the short side scaled alike, both rounded up to a
    multiple of ``multiple``, which ``long_side`` must be (else a :class:`PosekitError` naming
    ``who``, the codec)."""
    if long_side % multiple:
        raise PosekitError(f"{who}: the long side must be a multiple of {multiple}, got {long_side}")
    s = long_side / max(width, height)
    return int(math.ceil(width * s / multiple) * multiple), int(math.ceil(height * s / multiple) * multiple)


def person_row(xy: np.ndarray, found: np.ndarray, kp_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One grouped person as an :class:`Instances` row: ``xy`` ``(F, 2)`` input pixels of the
    ``F`` parts found (``found``: ``(K,)`` bool), ``kp_scores`` ``(K,)`` -> ``((K, 3)
    [x, y, score], (4,) xyxy box of the found parts)``; parts not found sit at the box centre
    (their scores are the grouping's, usually 0)."""
    xy = np.asarray(xy, np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    row = np.empty((len(found), 3), np.float32)
    row[:, :2] = (lo + hi) / 2
    row[found, :2] = xy
    row[:, 2] = kp_scores
    return row, np.array([lo[0], lo[1], hi[0], hi[1]], np.float32)


def require_heads(heads: Mapping[str, torch.Tensor], names: tuple[str, ...], codec: str,
                  on_grid: bool = True) -> list[torch.Tensor]:
    """``[heads[n] for n in names]`` as float32 tensors, or a :class:`PosekitError` naming the
    codec and what is missing or malformed. ``on_grid``: all ``(B, C, h, w)`` on one grid
    (else only the batch sizes must agree)."""
    if not isinstance(heads, Mapping):
        raise PosekitError(f"{codec}.decode expects a dict of heads {names}, got {type(heads).__name__}")
    missing = [n for n in names if n not in heads]
    if missing:
        raise PosekitError(f"{codec}.decode: heads {missing} missing (got {sorted(heads)})")
    out = [heads[n].float() for n in names]
    if not on_grid:
        if len({t.shape[0] if t.ndim else None for t in out}) != 1 or out[0].ndim == 0:
            raise PosekitError(f"{codec}.decode: heads {names} must share the batch size, got "
                               + ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, out)))
        return out
    grids = {(t.shape[0], t.shape[2], t.shape[3]) if t.ndim == 4 else None for t in out}  # (B, h, w)
    if None in grids or len(grids) != 1:
        raise PosekitError(f"{codec}.decode: heads {names} must be (B, C, h, w) on one grid, got "
                           + ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(names, out)))
    return out


def final_head(heads: Heads, key: str, codec: str) -> torch.Tensor:
    """The one tensor a single-head codec decodes: ``heads`` itself, the last of a list of
    stages, or ``heads[key]`` of a dict (an imported graph's forward); a
    :class:`PosekitError` naming the codec otherwise."""
    if isinstance(heads, (list, tuple)):
        if not heads:
            raise PosekitError(f"{codec}.decode: empty list of heads")
        heads = heads[-1]
    elif isinstance(heads, Mapping):
        if key not in heads:
            raise PosekitError(f"{codec}.decode: head {key!r} missing (got {sorted(heads)})")
        heads = heads[key]
    if not torch.is_tensor(heads):
        raise PosekitError(f"{codec}.decode expects a tensor, a list of stages or a dict with {key!r}, "
                           f"got {type(heads).__name__}")
    return heads


def map_final(heads: Heads, key: str, fn) -> Heads:
    """``heads`` with ``fn`` applied to what :func:`final_head` reads, in the same form: a
    tensor gives a tensor, a list of stages a list with every stage mapped, a dict ``{key:
    fn(heads[key])}`` (only the head the codec decodes). How ``flip_back`` keeps the form of
    its input, so that the flip test can average stage by stage (``posekit.models.estimator``)."""
    if isinstance(heads, (list, tuple)):
        return [fn(h) for h in heads]
    if isinstance(heads, Mapping):
        return {key: fn(final_head(heads, key, "flip_back"))}
    return fn(heads)

"""Bottom-up prediction: one pass over the whole image, people assembled from the heads.

``image -> letterbox (affine A) -> estimator (heads, codec.decode_instances) -> people(input)
-> A^-1 -> people(image) -> pose NMS -> Poses``. The estimator
(:class:`posekit.models.estimator.Estimator`, kind ``"bottom-up"``) is a whole-image model:
MoveNet MultiPose (:class:`posekit.codecs.MultiPoseCodec`, inputs with sides multiples of 32),
PoseNet (:class:`posekit.codecs.PoseNetCodec`, sides ``16 k + 1``) or a model trained here
(part affinity fields, associative embedding, ...); its codec picks the input size for each
image at the predictor's long side (``codec.input_size_for``).

Test-time augmentation, for codecs whose heads are maps that can be averaged
(``codec.supports_multiscale``: confidence maps, part affinity fields, tags):

* flip test (``flip_test``): the heads of the mirrored input, mapped back by
  ``codec.flip_back``, averaged with the heads (:meth:`Estimator.heads`);
* multi-scale (``scales``, e.g. ``(0.5, 1, 1.5)`` as in Associative Embedding and HigherHRNet):
  the image is letterboxed at ``long_side * s`` for each scale, and every map of each scale's
  heads is resampled onto the grid of the base scale (the first one) through the composed
  affines ``grid_base -> input_base -> image -> input_s -> grid_s`` (:func:`resample_heads`,
  exact for any input rounding), then averaged; the average is decoded at the base scale.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from posekit.errors import PosekitError
from posekit.geometry import invert_affine, transform_points
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import boxes_to_image, letterbox_affine, warp_batch
from posekit.pipelines.timing import StageTimer
from posekit.pipelines.topdown import POSE_NMS_METHODS, apply_pose_nms

__all__ = ["BottomUpPredictor", "BOTTOMUP_STAGES", "resample_heads", "grid_affine"]

#: Keys of ``BottomUpPredictor.timings``.
BOTTOMUP_STAGES = ("model", "decode")


class BottomUpPredictor:
    """Whole-image estimator + decoder + pose NMS.

    Args:
        estimator: a bottom-up :class:`~posekit.models.estimator.Estimator`.
        long_side: the input's long side in pixels (default: the estimator's nominal input);
            the codec rounds the sides to what the model accepts (MultiPose: multiples of 32;
            PoseNet: ``16 k + 1``, :class:`PosekitError` otherwise).
        min_score: people whose instance score is at most this are dropped.
        pose_nms: one of :data:`POSE_NMS_METHODS` (the decoders already suppress duplicates by
            centre or by radius, so ``"none"`` is the default); nms_threshold: its threshold.
        flip_test: average with the mirrored input's heads (codecs with ``supports_flip``).
        scales: input scales relative to ``long_side``, the first one the base whose grid the
            heads are averaged on (codecs with ``supports_multiscale``); ``(1.0,)`` = one pass.

    Attributes:
        timings: milliseconds per stage of the last ``predict`` / ``predict_batch`` call, keys
            :data:`BOTTOMUP_STAGES`: ``"model"`` (letterboxing, normalisation and the forward
            pass) and ``"decode"`` (decoding, back to the image, pose NMS). Empty before the
            first call.
    """

    def __init__(self, estimator, long_side: int | None = None, min_score: float = 0.05,
                 pose_nms: str = "none", nms_threshold: float | None = None, flip_test: bool = False,
                 scales: Sequence[float] = (1.0,)) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"unknown pose NMS {pose_nms!r}; choose from {', '.join(POSE_NMS_METHODS)}")
        if estimator.kind != "bottom-up":
            raise PosekitError(f"{estimator.name} is a {estimator.kind} model: it needs a TopDownPredictor")
        self.estimator = estimator
        self.long_side = int(long_side or max(estimator.input_size))
        estimator.codec.input_size_for(self.long_side, self.long_side, self.long_side)   # checks long_side
        self.scales = tuple(float(x) for x in scales)
        if not self.scales or any(not np.isfinite(x) or x <= 0 for x in self.scales):
            raise PosekitError(f"scales must be positive numbers, got {list(scales)}")
        if len(self.scales) > 1 or self.scales[0] != 1.0:
            if not getattr(estimator.codec, "supports_multiscale", False):
                raise PosekitError(f"{estimator.name}: no multi-scale test for this model (its codec "
                                   f"{type(estimator.codec).__name__} has heads that cannot be averaged across scales)")
            for x in self.scales:
                estimator.codec.input_size_for(self.long_side, self.long_side, self._long_side(x))
        if flip_test:
            estimator.require_flip()
        self.flip_test = bool(flip_test)
        self.min_score = min_score
        self.pose_nms = pose_nms
        self.nms_threshold = nms_threshold
        self.spec = estimator.spec
        self.timings: dict[str, float] = {}

    def predict(self, image_rgb: np.ndarray) -> Poses:
        """Poses in one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image_rgb])[0]

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[Poses]:
        """Poses for each image; images of equal size share one forward pass."""
        timer = StageTimer(BOTTOMUP_STAGES)
        est = self.estimator
        out: list = [None] * len(images_rgb)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images_rgb):
            groups.setdefault((im.shape[1], im.shape[0]), []).append(i)
        for (w, h), idx in groups.items():
            with timer("model"):
                size = A = heads = None
                for scale in self.scales:
                    size_s = est.codec.input_size_for(w, h, self._long_side(scale))
                    A_s = letterbox_affine(w, h, size_s)
                    batch = np.concatenate([warp_batch(images_rgb[i], [A_s], size_s) for i in idx])
                    heads_s = est.heads(est.inputs(batch), self.flip_test)
                    if heads is None:
                        size, A, heads = size_s, A_s, heads_s
                    else:
                        heads = _accumulate(heads, resample_heads(heads_s, heads, A, size, A_s, size_s))
                if len(self.scales) > 1:
                    heads = {k: v / len(self.scales) for k, v in heads.items()}
            with timer("decode"):
                kp, sc, bx = (t.cpu().numpy() for t in est.decode_instances(heads, size))
                Ainv = invert_affine(A)
                for b, i in enumerate(idx):
                    keep = sc[b] > self.min_score
                    k = transform_points(Ainv, kp[b][keep]) if keep.any() else kp[b][keep]
                    s, boxes = sc[b][keep].astype(np.float32), boxes_to_image(bx[b][keep], A)
                    order = np.argsort(-s, kind="stable")
                    poses = Poses(k.astype(np.float32)[order], s[order], boxes[order], self.spec)
                    out[i] = apply_pose_nms(poses, self.pose_nms, self.nms_threshold)
        self.timings = timer.ms
        return out

    def _long_side(self, scale: float) -> int:
        """The input's long side at ``scale``: ``long_side * scale`` rounded to a multiple of 32
        (the codec rounds the short side)."""
        return self.long_side if scale == 1.0 else max(32, int(round(self.long_side * scale / 32)) * 32)


def _maps(heads) -> dict:
    """The top-level 4-d maps of a bottom-up model's heads (``"stages"`` and the rest left out)."""
    if not isinstance(heads, dict):
        raise PosekitError("multi-scale testing needs heads as a dict of maps")
    return {k: v for k, v in heads.items() if torch.is_tensor(v) and v.dim() == 4}


def _accumulate(total, heads: dict) -> dict:
    return {k: v + heads[k] for k, v in _maps(total).items()}


def grid_affine(input_size: tuple[int, int], grid_wh: tuple[int, int]) -> np.ndarray:
    """2x3 matrix: a ``grid_wh = (w, h)`` map's pixels -> the ``input_size = (W, H)`` input's
    pixels, for a map covering the input edge to edge (pixel centres:
    ``x_in = s * x_grid + (s - 1) / 2`` with ``s = W / w``)."""
    sx, sy = input_size[0] / grid_wh[0], input_size[1] / grid_wh[1]
    return np.array([[sx, 0.0, (sx - 1) / 2], [0.0, sy, (sy - 1) / 2]])


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2x3 ``a @ b`` (apply ``b`` first)."""
    return (np.vstack([a, [0, 0, 1]]) @ np.vstack([b, [0, 0, 1]]))[:2]


def resample_heads(heads: dict, base: dict, A_base: np.ndarray, size_base: tuple[int, int],
                   A: np.ndarray, size: tuple[int, int]) -> dict:
    """Every map of ``heads`` (computed from an input of ``size = (W, H)`` made from the image
    by the affine ``A``) resampled bilinearly onto the grid of the same map in ``base`` (input
    ``size_base`` made by ``A_base``); zero where the map does not reach. ``(B, C, h, w)`` ->
    ``(B, C, h_base, w_base)`` per key."""
    out = {}
    for key, ref in _maps(base).items():
        m = heads[key]
        hb, wb = ref.shape[-2:]
        h, w = m.shape[-2:]
        # base grid px -> base input -> image -> this input -> this grid
        M = _compose(invert_affine(grid_affine(size, (w, h))),
                     _compose(A, _compose(invert_affine(A_base), grid_affine(size_base, (wb, hb)))))
        ys, xs = np.mgrid[0:hb, 0:wb].astype(np.float64)
        gx = M[0, 0] * xs + M[0, 1] * ys + M[0, 2]
        gy = M[1, 0] * xs + M[1, 1] * ys + M[1, 2]
        # align_corners=True: -1 and 1 are the centres of the first and last pixels
        grid = np.stack([2 * gx / max(w - 1, 1) - 1, 2 * gy / max(h - 1, 1) - 1], axis=-1)
        grid_t = torch.as_tensor(grid, dtype=m.dtype, device=m.device).expand(m.shape[0], hb, wb, 2)
        out[key] = F.grid_sample(m, grid_t, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out

"""Bottom-up prediction: one pass over the whole image, people assembled from the heads.

``image -> letterbox (affine A) -> estimator (heads, codec.decode_instances) -> people(input)
-> A^-1 -> people(image) -> pose NMS -> Poses``. The estimator
(:class:`posekit.models.estimator.Estimator`, kind ``"bottom-up"``) is a whole-image model:
MoveNet MultiPose (:class:`posekit.codecs.MultiPoseCodec`, inputs with sides multiples of 32)
or PoseNet (:class:`posekit.codecs.PoseNetCodec`, sides ``16 k + 1``); its codec picks the
input size for each image at the predictor's long side (``codec.input_size_for``).
"""

from __future__ import annotations

import numpy as np

from posekit.errors import PosekitError
from posekit.geometry import invert_affine, transform_points
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import boxes_to_image, letterbox_affine, warp_batch
from posekit.pipelines.timing import StageTimer
from posekit.pipelines.topdown import POSE_NMS_METHODS, apply_pose_nms

__all__ = ["BottomUpPredictor", "BOTTOMUP_STAGES"]

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

    Attributes:
        timings: milliseconds per stage of the last ``predict`` / ``predict_batch`` call, keys
            :data:`BOTTOMUP_STAGES`: ``"model"`` (letterboxing, normalisation and the forward
            pass) and ``"decode"`` (decoding, back to the image, pose NMS). Empty before the
            first call.
    """

    def __init__(self, estimator, long_side: int | None = None, min_score: float = 0.05,
                 pose_nms: str = "none", nms_threshold: float | None = None) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"unknown pose NMS {pose_nms!r}; choose from {', '.join(POSE_NMS_METHODS)}")
        if estimator.kind != "bottom-up":
            raise PosekitError(f"{estimator.name} is a {estimator.kind} model: it needs a TopDownPredictor")
        self.estimator = estimator
        self.long_side = int(long_side or max(estimator.input_size))
        estimator.codec.input_size_for(self.long_side, self.long_side, self.long_side)   # checks long_side
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
                size = est.codec.input_size_for(w, h, self.long_side)
                A = letterbox_affine(w, h, size)
                batch = np.concatenate([warp_batch(images_rgb[i], [A], size) for i in idx])
                heads = est.heads(est.inputs(batch))
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

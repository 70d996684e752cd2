"""Bottom-up prediction: one pass over the whole image, people assembled from the heads.

Two model families from the pretrained package:

* :class:`MultiPoseModel` -- MoveNet MultiPose, decoded by
  :class:`posekit.codecs.MultiPoseCodec` at a chosen long side (256/384/512; the short side is
  padded to a multiple of 32);
* :class:`PoseNetModel` -- PoseNet (MobileNetV1), decoded greedily with its displacement fields
  by :class:`posekit.codecs.PoseNetCodec` (input sides ``16k + 1``).

Each model letterboxes the image into its input with a matrix ``A`` and returns people in
input pixels; :class:`BottomUpPredictor` maps them back with ``A^-1`` and applies pose NMS.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posekit.geometry import invert_affine, transform_points
from posekit.codecs import MultiPoseCodec, PoseNetCodec
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import boxes_to_image, letterbox_affine, padded_size, to_tensor, warp_batch
from posekit.pipelines.timing import StageTimer
from posekit.pipelines.topdown import POSE_NMS_METHODS, apply_pose_nms
from posekit.skeleton import COCO17

__all__ = ["BottomUpPredictor", "MultiPoseModel", "PoseNetModel", "BOTTOMUP_STAGES"]

#: Keys of ``BottomUpPredictor.timings``.
BOTTOMUP_STAGES = ("model", "decode")


class _WholeImageModel:
    spec = COCO17

    def __init__(self, model: nn.Module, card) -> None:
        from posekit.pretrained import normalise
        self.model = model
        self.card = card
        self._normalise = normalise

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), next(self.model.buffers())).device

    def input_size_for(self, width: int, height: int) -> tuple[int, int]:
        raise NotImplementedError

    def decode(self, heads: dict[str, torch.Tensor], input_size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """People per image, ``(keypoints (n, K, 3), scores (n,), boxes (n, 4))`` in input
        pixels: the codec's rows scoring above ``min_score``."""
        kp, sc, bx = (t.cpu().numpy() for t in self.codec.decode_instances(heads, input_size))
        keep = sc > self.min_score
        return [(kp[b][keep[b]], sc[b][keep[b]], bx[b][keep[b]]) for b in range(len(kp))]

    @torch.no_grad()
    def run(self, images: list[np.ndarray], timer: StageTimer | None = None,
            ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """People per image: ``(keypoints (N, K, 3), scores (N,), boxes (N, 4))`` in the image
        frame. Images of equal size share one forward pass. ``timer`` gets the stages
        ``"model"`` (letterboxing and the forward pass) and ``"decode"`` (heads to people in
        the image frame)."""
        timer = timer or StageTimer(BOTTOMUP_STAGES)
        out: list = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault((im.shape[1], im.shape[0]), []).append(i)
        for (w, h), idx in groups.items():
            with timer("model"):
                size = self.input_size_for(w, h)
                A = letterbox_affine(w, h, size)
                batch = np.concatenate([warp_batch(images[i], [A], size) for i in idx])
                heads = self.model(self._normalise(to_tensor(batch, self.device), self.card))
            with timer("decode"):
                Ainv = invert_affine(A)
                for i, (kp, sc, bx) in zip(idx, self.decode(heads, size)):
                    kp = transform_points(Ainv, kp) if len(kp) else kp
                    out[i] = (kp.astype(np.float32), sc.astype(np.float32), boxes_to_image(bx, A))
        return out


class MultiPoseModel(_WholeImageModel):
    """MoveNet MultiPose at long side ``long_side`` (multiple of 32; 256 nominal).

    ``max_people`` centres are decoded (the graph's own decode keeps 6); people whose instance
    score is below ``min_score`` are dropped."""

    def __init__(self, model: nn.Module, card, long_side: int = 256, max_people: int = 6,
                 min_score: float = 0.05) -> None:
        super().__init__(model, card)
        if long_side % 32:
            raise ValueError(f"MultiPose long side must be a multiple of 32, got {long_side}")
        self.long_side = long_side
        self.max_people = max_people
        self.min_score = min_score
        self.codec = MultiPoseCodec(max_people=max_people)

    def input_size_for(self, width: int, height: int) -> tuple[int, int]:
        return padded_size(width, height, self.long_side, 32)


class PoseNetModel(_WholeImageModel):
    """PoseNet (MobileNetV1, output stride 16) at input side ``16 k + 1`` on the long side."""

    def __init__(self, model: nn.Module, card, long_side: int = 385, max_people: int = 20,
                 root_threshold: float = 0.15, nms_radius: float = 20.0, min_score: float = 0.05) -> None:
        super().__init__(model, card)
        if (long_side - 1) % 16:
            raise ValueError(f"PoseNet input side must be 16k + 1, got {long_side}")
        self.long_side = long_side
        self.max_people = max_people
        self.root_threshold = root_threshold
        self.nms_radius = nms_radius
        self.min_score = min_score
        self.codec = PoseNetCodec(max_people=max_people, root_threshold=root_threshold, nms_radius=nms_radius)

    def input_size_for(self, width: int, height: int) -> tuple[int, int]:
        s = (self.long_side - 1) / max(width, height)
        side = lambda n: int(np.ceil(n * s / 16)) * 16 + 1  # noqa: E731
        return side(width), side(height)


class BottomUpPredictor:
    """Whole-image model + decoder + pose NMS.

    Args:
        model: a :class:`MultiPoseModel` or :class:`PoseNetModel`.
        pose_nms: one of :data:`POSE_NMS_METHODS` (the decoders already suppress duplicates by
            centre or by radius, so ``"none"`` is the default); nms_threshold: its threshold.

    Attributes:
        timings: milliseconds per stage of the last ``predict`` / ``predict_batch`` call, keys
            :data:`BOTTOMUP_STAGES`: ``"model"`` (letterboxing and the forward pass) and
            ``"decode"`` (decoding, back to the image, pose NMS). Empty before the first call.
    """

    def __init__(self, model: _WholeImageModel, pose_nms: str = "none", nms_threshold: float | None = None) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"unknown pose NMS {pose_nms!r}; choose from {', '.join(POSE_NMS_METHODS)}")
        self.model = model
        self.pose_nms = pose_nms
        self.nms_threshold = nms_threshold
        self.spec = model.spec
        self.timings: dict[str, float] = {}

    def predict(self, image_rgb: np.ndarray) -> Poses:
        """Poses in one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image_rgb])[0]

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[Poses]:
        """Poses for each image; images of equal size share one forward pass."""
        timer = StageTimer(BOTTOMUP_STAGES)
        out = []
        for kp, sc, bx in self.model.run(images_rgb, timer):
            with timer("decode"):
                order = np.argsort(-sc, kind="stable")
                poses = Poses(kp[order], sc[order], bx[order], self.spec)
                out.append(apply_pose_nms(poses, self.pose_nms, self.nms_threshold))
        self.timings = timer.ms
        return out

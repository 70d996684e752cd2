"""Cascade prediction: a cheap whole-image model finds the people, a top-down model refines the
uncertain ones.

``image -> bottom-up predictor (MoveNet MultiPose: people, boxes, keypoints, instance scores)
-> people scoring below refine_below (and at least min_refine_score) -> their boxes cropped
-> top-down estimator (MoveNet Thunder) -> keypoints replaced, instance score recomputed
(:func:`posekit.pipelines.topdown.instance_scores` with the first stage's score as the box
score) -> Poses``, best first.

Why: the top-down default spent its time on the person detector (NanoDet, ~30 ms) and on one
Thunder pass per box (~27 ms; the detector's score floor gave 22 crops for the 14 people of the
COCO sample). MultiPose costs about the detector's time and gives boxes that are better crops
than NanoDet's (Thunder on MultiPose-320's boxes: AP 0.784 on the COCO sample with 12 crops,
against 0.770 with NanoDet's 22), and its confident people are already well placed, so only
the others need the expensive model. The refinement threshold was set by measured AP on the
COCO sample (``docs/benchmarks.md``; at 320, Thunder refining below 0.30 -> AP 0.642 with 2
crops, 0.40 -> 0.707 with 5, 0.45 -> 0.734 with 7, 0.50 -> 0.784 with 9, all -> 0.784 with 12;
Lightning refining below 0.40 -> 0.666 with 5; at 256 every threshold is lower). It is chosen
on the same four images it is measured on: expect a smaller gain elsewhere. A cascade of detectors in the spirit of Viola & Jones
(CVPR 2001); the coarse-to-fine pose refinement as in Carreira et al.'s and PoseFix's
(Moon et al., CVPR 2019) use of a second model on a first model's poses.
"""

from __future__ import annotations

import numpy as np

from posekit.errors import PosekitError
from posekit.pipelines.poses import Poses
from posekit.pipelines.timing import StageTimer
from posekit.pipelines.topdown import instance_scores

__all__ = ["CascadePredictor", "CASCADE_STAGES", "build_cascade"]

#: Keys of ``CascadePredictor.timings``: the first stage (``people``), then the refinement's
#: ``crops``, ``pose`` and ``decode`` (the top-down predictor's stages).
CASCADE_STAGES = ("people", "crops", "pose", "decode", "nms")


class CascadePredictor:
    """A bottom-up predictor whose uncertain people are refined by a top-down estimator.

    Args:
        first: predictor with ``predict_batch(images) -> [Poses]`` giving boxes (e.g.
            :class:`~posekit.pipelines.bottomup.BottomUpPredictor` on MultiPose).
        refiner: a :class:`~posekit.pipelines.topdown.TopDownPredictor` (its detector unused;
            its ``keypoints_in_boxes`` crops the boxes with its padding and warp).
        refine_below: people whose first-stage score is below this are refined (1.0: all of
            them; 0: none, the first stage alone).
        min_refine_score: people scoring below this are kept as they are, not refined (the
            first stage's low-scored leftovers rarely are people).

    Attributes:
        timings: milliseconds per stage of the last call, keys :data:`CASCADE_STAGES`.
        refined: how many people the last call refined (all images).
    """

    def __init__(self, first, refiner, refine_below: float = 0.40, min_refine_score: float = 0.1) -> None:
        if first.spec.names != refiner.spec.names:
            raise PosekitError(f"cascade: the first stage's keypoints ({first.spec.name}) and the refiner's "
                               f"({refiner.spec.name}) differ")
        self.first = first
        self.refiner = refiner
        self.refine_below = float(refine_below)
        self.min_refine_score = float(min_refine_score)
        self.spec = first.spec
        self.timings: dict[str, float] = {}
        self.refined = 0

    def predict(self, image_rgb: np.ndarray) -> Poses:
        """Poses in one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image_rgb])[0]

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Given person boxes: the refiner on every box (the first stage does not run)."""
        poses = self.refiner.predict_boxes(image_rgb, boxes, box_scores)
        self.timings = dict(self.refiner.timings)
        return poses

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[Poses]:
        """Poses for each ``(H, W, 3)`` uint8 RGB image, best first."""
        timer = StageTimer(CASCADE_STAGES)
        with timer("people"):
            found = self.first.predict_batch(images_rgb)
        picks = [np.flatnonzero((p.scores < self.refine_below) & (p.scores >= self.min_refine_score))
                 for p in found]
        self.refined = int(sum(len(k) for k in picks))
        refined: list[np.ndarray] = [np.zeros((0, self.spec.num_keypoints, 3), np.float32)] * len(found)
        if self.refined:
            refined = self.refiner.keypoints_in_boxes(images_rgb, [p.boxes[k] for p, k in zip(found, picks)])
            for key in ("crops", "pose", "decode"):
                timer.ms[key] += self.refiner.timings.get(key, 0.0)
        out = []
        with timer("nms"):
            for p, k, kp_new in zip(found, picks, refined):
                if not len(k):
                    out.append(p)
                    continue
                kp, sc = p.keypoints.copy(), p.scores.copy()
                kp[k] = kp_new
                sc[k] = instance_scores(p.scores[k], kp_new[..., 2], self.refiner.keypoint_threshold)
                order = np.argsort(-sc, kind="stable")
                out.append(Poses(kp[order], sc[order], p.boxes[order], self.spec))
        self.timings = timer.ms
        return out


def build_cascade(first_model: str, refiner_model: str, device, long_side: int = 320, refine_below: float = 0.40,
                  min_refine_score: float = 0.1, first_backend: str = "torch", refine_backend: str = "torch",
                  threads: int | None = None, **overrides) -> CascadePredictor:
    """A :class:`CascadePredictor`: the bottom-up pretrained model ``first_model`` at
    ``long_side``, refined by the top-down pretrained model ``refiner_model`` (no detector).
    ``first_backend`` / ``refine_backend``: each stage's backend (:data:`posekit.runtime.BACKENDS`,
    ``threads`` for them). ``overrides``: ``padding``, ``keypoint_threshold`` and ``max_batch`` go
    to the refiner, ``max_people`` to the first stage's codec."""
    from posekit.models.estimator import Estimator
    from posekit.pipelines.bottomup import BottomUpPredictor
    from posekit.pipelines.topdown import TopDownPredictor

    td_opts = {k: overrides.pop(k) for k in ("padding", "keypoint_threshold", "max_batch") if k in overrides}
    codec_opts = {k: overrides.pop(k) for k in ("max_people",) if k in overrides}
    if overrides:
        raise PosekitError(f"cascade: options not accepted: {', '.join(sorted(overrides))}")
    from posekit.device import default_crop_batch, resolve_device

    def on(est, backend):
        if backend == "torch":
            return est
        from posekit.runtime import with_backend
        return with_backend(est, backend, threads)

    first = BottomUpPredictor(on(Estimator.from_pretrained(first_model, device, **codec_opts), first_backend),
                              long_side=long_side)
    td_opts.setdefault("max_batch", default_crop_batch(resolve_device(device)))
    refiner = TopDownPredictor(None, on(Estimator.from_pretrained(refiner_model, device), refine_backend), **td_opts)
    return CascadePredictor(first, refiner, refine_below, min_refine_score)

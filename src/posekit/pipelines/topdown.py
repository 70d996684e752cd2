"""Top-down prediction: person boxes, then one pose per crop, then pose NMS.

``image -> detector -> boxes -> crop (affine A) -> estimator (heads, codec.decode) ->
keypoints(crop) -> A^-1 -> keypoints(image) -> instance scores -> pose NMS -> Poses`` (the
design's first data path). The estimator (:class:`posekit.models.estimator.Estimator`) may be
trained here or imported; the predictor does not know which. All crops of a call, over all
images of a batch, go through the estimator together, ``max_batch`` at a time.

Instance scores and pose NMS were set by measurement on the real samples (COCO, AIC, J-HMDB,
MPII; ``benchmarks/drawn_people.py``, ``docs/predict.md``):

* :func:`instance_scores`: ``sqrt(box score) * (sum of the keypoint scores above 0.2) / K``.
  The second factor is the mean score of the confident keypoints (Xiao et al. 2018's
  rescoring) times the fraction of keypoints that are confident, so a pose with 3 confident
  joints out of 17 cannot outrank a full one. The box score enters through its square root:
  NanoDet's scores are IoU-quality scores (GFL), low (0.2-0.4) for correct but loosely fitting
  boxes, and a plain product of two such factors pushed correctly localised people below any
  usable drawing threshold. The drawing threshold that goes with these scores is
  ``posekit.pipelines.DRAW_MIN_POSE_SCORE``.
* OKS-NMS measures each pose at the scale of its crop (the detector box widened to the model's
  aspect ratio and padded, the region the pose model saw, as HRNet's release does), not at the
  scale of the tight detector box: on a tiny box, a few pixels of jitter between two crops of
  the same person made their OKS drop below the threshold and both survived.
  :data:`OKS_NMS_THRESHOLD` = 0.5: duplicates in the samples had crop-scale OKS 0.58-0.94,
  distinct (even overlapping) people at most 0.41.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posekit.errors import PosekitError
from posekit.geometry import invert_affine, transform_points
from posekit.nms import oks_nms, parametric_pose_nms, soft_oks_nms
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import box_crop_affine, box_crop_region, warp_batch
from posekit.pipelines.timing import StageTimer
from posekit.skeleton import KeypointSpec, remap_keypoints

__all__ = ["TopDownPredictor", "apply_pose_nms", "instance_scores", "recipe_instance_scores", "POSE_NMS_METHODS",
           "KEYPOINT_THRESHOLD", "OKS_NMS_THRESHOLD", "TOPDOWN_STAGES"]

POSE_NMS_METHODS = ("oks", "soft-oks", "rmpe", "none")
#: Keypoints scoring above this count as found, in :func:`instance_scores` and in OKS-NMS.
KEYPOINT_THRESHOLD = 0.2
#: Default OKS-NMS threshold: the lower-scored of two poses whose OKS exceeds it is removed.
OKS_NMS_THRESHOLD = 0.5
#: Keys of ``TopDownPredictor.timings``.
TOPDOWN_STAGES = ("detector", "crops", "pose", "decode", "nms")


def instance_scores(box_scores: np.ndarray, keypoint_scores: np.ndarray,
                    keypoint_threshold: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """Instance scores of top-down poses.

    ``score = sqrt(box_score) * sum_k s_k [s_k > t] / K``: the box score (tempered) times the
    mean of the confident keypoint scores times the fraction of confident keypoints (see the
    module docstring for why).

    Args:
        box_scores: ``(N,)`` detector scores in [0, 1].
        keypoint_scores: ``(N, K)`` keypoint scores in [0, 1].
        keypoint_threshold: t, the score a keypoint must exceed to count.

    Returns:
        ``(N,)`` float32 scores in [0, 1].
    """
    s = np.asarray(keypoint_scores, np.float64)
    s = s.reshape(len(s), -1) if s.size else s.reshape(0, max(s.shape[-1:] or (1,)))
    b = np.clip(np.asarray(box_scores, np.float64).reshape(len(s)), 0.0, 1.0)
    evidence = np.where(s > keypoint_threshold, s, 0.0).sum(axis=1) / max(s.shape[1], 1)
    return (np.sqrt(b) * evidence).astype(np.float32)


def recipe_instance_scores(box_scores: np.ndarray, keypoint_scores: np.ndarray,
                           keypoint_threshold: float = KEYPOINT_THRESHOLD) -> np.ndarray:
    """Instance scores of the papers' evaluation protocol (Simple Baselines, HRNet:
    ``IN_VIS_THRE``; ``EvalConfig.keypoint_score_threshold``).

    ``score = box_score * mean_k {s_k : s_k > t}`` (0 when no keypoint exceeds t); with
    ``t = 0``, the mean of all keypoint scores. Unlike :func:`instance_scores`, neither the box
    score is tempered nor a pose with few confident keypoints penalised.

    Args:
        box_scores: ``(N,)`` detector scores in [0, 1] (1 for ground-truth boxes).
        keypoint_scores: ``(N, K)`` keypoint scores in [0, 1].
        keypoint_threshold: t.

    Returns:
        ``(N,)`` float32 scores.
    """
    s = np.asarray(keypoint_scores, np.float64)
    s = s.reshape(len(s), -1) if s.size else s.reshape(0, max(s.shape[-1:] or (1,)))
    b = np.asarray(box_scores, np.float64).reshape(len(s))
    confident = s > keypoint_threshold if keypoint_threshold > 0 else np.ones(s.shape, bool)
    count = confident.sum(axis=1)
    mean = np.where(confident, s, 0.0).sum(axis=1) / np.maximum(count, 1)
    return (b * np.where(count > 0, mean, 0.0)).astype(np.float32)


def apply_pose_nms(poses: Poses, method: str = "oks", threshold: float | None = None,
                   areas: np.ndarray | None = None,
                   keypoint_threshold: float = KEYPOINT_THRESHOLD) -> Poses:
    """Pose NMS on one image's poses: ``"oks"`` (greedy, threshold default
    :data:`OKS_NMS_THRESHOLD`), ``"soft-oks"`` (Gaussian rescoring, sigma default 0.5),
    ``"rmpe"`` (parametric, eta default 22.48 for 17 keypoints, scaled with K) or ``"none"``.
    ``areas (N,)``: each pose's OKS scale in square pixels (top-down: its crop's area);
    default the area of its box. Keypoints scoring at most ``keypoint_threshold`` in either
    pose are left out of their OKS."""
    if method == "none" or len(poses) < 2:
        return poses
    sigmas = poses.spec.sigmas_array() if poses.spec.sigmas is not None else np.full(poses.spec.num_keypoints, 0.05)
    if method == "oks":
        keep = oks_nms(poses.keypoints, poses.scores, sigmas,
                       OKS_NMS_THRESHOLD if threshold is None else threshold,
                       boxes=poses.boxes, areas=areas, keypoint_threshold=keypoint_threshold)
        return poses.select(keep)
    if method == "soft-oks":
        keep, new = soft_oks_nms(poses.keypoints, poses.scores, sigmas, sigma=0.5 if threshold is None else threshold,
                                 boxes=poses.boxes, areas=areas, keypoint_threshold=keypoint_threshold)
        sel = poses.select(keep)
        return Poses(sel.keypoints, new.astype(np.float32), sel.boxes, sel.spec)
    if method == "rmpe":
        eta = 22.48 * poses.spec.num_keypoints / 17 if threshold is None else threshold
        return poses.select(parametric_pose_nms(poses.keypoints, poses.scores, poses.boxes, eta=eta))
    raise ValueError(f"unknown pose NMS {method!r}; choose from {', '.join(POSE_NMS_METHODS)}")


class TopDownPredictor:
    """Detector + single-person pose estimator.

    Args:
        detector: has ``detect_batch(images) -> [(boxes (M, 4) xyxy, scores (M,))]``
            (e.g. :class:`posekit.pipelines.detector.PersonDetector`); None when every call
            gives the boxes (:meth:`predict_boxes`, :meth:`predict_boxes_batch`).
        estimator: a top-down :class:`posekit.models.estimator.Estimator` (trained here or
            imported: the predictor only uses its ``input_size``, ``spec``, warp, ``inputs``,
            ``heads`` and ``decode``).
        padding: each box is widened to the crop's aspect ratio, then scaled by this.
        pose_nms: one of :data:`POSE_NMS_METHODS`; nms_threshold: its threshold (None = default).
        keypoint_threshold: keypoints scoring above it count as found in the instance scores
            and in OKS-NMS.
        instance_score: ``(box_scores (N,), keypoint_scores (N, K), keypoint_threshold) ->
            (N,)`` scores of the poses: :func:`instance_scores` (default, set on the real
            samples for drawing) or :func:`recipe_instance_scores` (the papers' evaluation
            protocol, what ``posekit eval-model`` and the training's evaluation pass).
        max_batch: crops per forward pass (``build_predictor`` picks
            :func:`posekit.device.default_crop_batch`: 1 on the CPU, 16 on a GPU).
        output_spec: remap keypoints to this spec (e.g. BlazePose-33 -> COCO-17).
        flip_test: average with the mirrored crops' heads (the estimator's codec must support it).

    Crops are axis-aligned (upright): the box, widened and padded, cut with the estimator's
    warp (``estimator.udp_warp``, :func:`~posekit.pipelines.preprocess.box_crop_affine`).

    Attributes:
        timings: milliseconds per stage of the last ``predict`` / ``predict_batch`` /
            ``predict_boxes`` call, keys :data:`TOPDOWN_STAGES`: ``"detector"`` (person boxes),
            ``"crops"`` (crop matrices and warping), ``"pose"`` (normalisation and the
            estimator's forward passes), ``"decode"`` (heads to keypoints, back to the image,
            instance scores), ``"nms"`` (pose NMS). Empty before the first call.
    """

    def __init__(self, detector, estimator, padding: float = 1.25, pose_nms: str = "oks",
                 nms_threshold: float | None = None, keypoint_threshold: float = KEYPOINT_THRESHOLD,
                 max_batch: int = 16, output_spec: KeypointSpec | None = None, flip_test: bool = False,
                 instance_score: Callable[[np.ndarray, np.ndarray, float], np.ndarray] = instance_scores) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"unknown pose NMS {pose_nms!r}; choose from {', '.join(POSE_NMS_METHODS)}")
        if estimator.kind != "top-down":
            raise PosekitError(f"{estimator.name} is a {estimator.kind} model: it needs a BottomUpPredictor")
        if flip_test:
            estimator.require_flip()
        self.detector = detector
        self.estimator = estimator
        self.padding = padding
        self.pose_nms = pose_nms
        self.nms_threshold = nms_threshold
        self.keypoint_threshold = keypoint_threshold
        self.instance_score = instance_score
        self.max_batch = max_batch
        self.flip_test = flip_test
        self.spec = output_spec or estimator.spec
        self.timings: dict[str, float] = {}

    def predict(self, image_rgb: np.ndarray) -> Poses:
        """Poses in one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image_rgb])[0]

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Poses for given person boxes ``(M, 4)`` xyxy (e.g. from another detector, or the
        ground truth) with their scores ``(M,)``."""
        return self.predict_boxes_batch([image_rgb], [boxes], [box_scores])[0]

    def predict_boxes_batch(self, images_rgb: list[np.ndarray], boxes: list[np.ndarray],
                            box_scores: list[np.ndarray]) -> list[Poses]:
        """Poses for given person boxes, per image; the crops of all images are batched."""
        timer = StageTimer(TOPDOWN_STAGES)
        dets = [(np.asarray(b, np.float32).reshape(-1, 4), np.asarray(s, np.float32).reshape(-1))
                for b, s in zip(boxes, box_scores)]
        return self._poses(images_rgb, dets, timer)

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[Poses]:
        """Poses for each image; detection runs image by image, crops of all images batched."""
        if self.detector is None:
            raise PosekitError("this predictor has no detector: give the person boxes (predict_boxes)")
        timer = StageTimer(TOPDOWN_STAGES)
        with timer("detector"):
            dets = [self.detector.detect_batch([im])[0] for im in images_rgb]
        return self._poses(images_rgb, dets, timer)

    def keypoints_in_boxes(self, images_rgb: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        """One pose per box, in the order of the boxes: per image ``(M, K, 3)`` float32
        ``[x, y, score]`` in image pixels (``output_spec``'s keypoints); no instance scores, no
        pose NMS."""
        timer = StageTimer(TOPDOWN_STAGES)
        boxes = [np.asarray(b, np.float32).reshape(-1, 4) for b in boxes]
        kp_crop, kp_img, _ = self._keypoints(images_rgb, boxes, timer)
        kp_img = self._output(kp_img)
        self.timings = timer.ms
        return np.split(kp_img, np.cumsum([len(b) for b in boxes])[:-1]) if boxes else []

    def _keypoints(self, images: list[np.ndarray], boxes: list[np.ndarray], timer: StageTimer,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the boxes of all images in order: keypoints ``(M, K, 3)`` in crop pixels and in
        image pixels (the estimator's spec), and each crop's area ``(M,)`` (its OKS scale)."""
        est = self.estimator
        size = est.input_size
        with timer("crops"):
            crops, affines, areas = [], [], []
            for im, bx in zip(images, boxes):
                A = [box_crop_affine(b, size, self.padding, udp=est.udp_warp) for b in bx]
                crops.append(warp_batch(im, A, size))
                affines.extend(A)
                for b in bx:
                    _, wh = box_crop_region(b, size, self.padding)
                    areas.append(float(wh[0] * wh[1]))
            all_crops = np.concatenate(crops) if crops else np.zeros((0, size[1], size[0], 3), np.uint8)
        kps = []
        for i in range(0, len(all_crops), self.max_batch):
            with timer("pose"):
                heads = est.heads(est.inputs(all_crops[i:i + self.max_batch]), self.flip_test)
            with timer("decode"):
                kps.append(est.decode(heads)[:, 0].cpu().numpy())
        with timer("decode"):
            kp_crop = np.concatenate(kps) if kps else np.zeros((0, est.spec.num_keypoints, 3), np.float32)
            kp_img = np.stack([transform_points(invert_affine(A), k) for A, k in zip(affines, kp_crop)]) \
                if len(kp_crop) else kp_crop
        return kp_crop, kp_img, np.asarray(areas, np.float64)

    def _output(self, kp_img: np.ndarray) -> np.ndarray:
        """Keypoints of the estimator's spec -> ``output_spec``'s."""
        return kp_img if self.estimator.spec is self.spec else remap_keypoints(kp_img, self.estimator.spec, self.spec)

    def _poses(self, images: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]],
               timer: StageTimer) -> list[Poses]:
        kp_crop, kp_img, areas_arr = self._keypoints(images, [b for b, _ in dets], timer)
        with timer("decode"):
            box_scores = np.concatenate([s for _, s in dets]) if dets else np.zeros(0, np.float32)
            # scored on the model's own keypoints, before any remapping to another spec
            scores = self.instance_score(box_scores, kp_crop[..., 2], self.keypoint_threshold)
            kp_img = self._output(kp_img)
        out, start = [], 0
        for boxes, _ in dets:
            stop = start + len(boxes)
            if stop == start:
                out.append(Poses.empty(self.spec))
                continue
            with timer("nms"):
                order = start + np.argsort(-scores[start:stop], kind="stable")
                poses = Poses(kp_img[order], scores[order], boxes[order - start], self.spec)
                out.append(apply_pose_nms(poses, self.pose_nms, self.nms_threshold, areas=areas_arr[order],
                                          keypoint_threshold=self.keypoint_threshold))
            start = stop
        self.timings = timer.ms
        return out

"""Top-down prediction: person boxes, then one pose per crop, then pose NMS.

``image -> detector -> boxes -> crop (affine A) -> pose model -> keypoints(crop) -> A^-1 ->
keypoints(image) -> pose NMS -> Poses`` (the design's first data path). All crops of a call,
over all images of a batch, go through the pose model together, ``max_batch`` at a time.
"""

from __future__ import annotations

import numpy as np

from posekit.geometry import invert_affine, transform_points
from posekit.nms import oks_nms, parametric_pose_nms, soft_oks_nms
from posekit.pipelines.poses import Poses
from posekit.pipelines.preprocess import box_crop_affine, warp_batch
from posekit.skeleton import KeypointSpec, remap_keypoints

__all__ = ["TopDownPredictor", "apply_pose_nms", "POSE_NMS_METHODS"]

POSE_NMS_METHODS = ("oks", "soft-oks", "rmpe", "none")


def apply_pose_nms(poses: Poses, method: str = "oks", threshold: float | None = None) -> Poses:
    """Pose NMS on one image's poses: ``"oks"`` (greedy, threshold default 0.9), ``"soft-oks"``
    (Gaussian rescoring, sigma default 0.5), ``"rmpe"`` (parametric, eta default 22.48 for 17
    keypoints, scaled with K) or ``"none"``."""
    if method == "none" or len(poses) < 2:
        return poses
    sigmas = poses.spec.sigmas_array() if poses.spec.sigmas is not None else np.full(poses.spec.num_keypoints, 0.05)
    if method == "oks":
        keep = oks_nms(poses.keypoints, poses.scores, sigmas, 0.9 if threshold is None else threshold,
                       boxes=poses.boxes)
        return poses.select(keep)
    if method == "soft-oks":
        keep, new = soft_oks_nms(poses.keypoints, poses.scores, sigmas, sigma=0.5 if threshold is None else threshold,
                                 boxes=poses.boxes)
        sel = poses.select(keep)
        return Poses(sel.keypoints, new.astype(np.float32), sel.boxes, sel.spec)
    if method == "rmpe":
        eta = 22.48 * poses.spec.num_keypoints / 17 if threshold is None else threshold
        return poses.select(parametric_pose_nms(poses.keypoints, poses.scores, poses.boxes, eta=eta))
    raise ValueError(f"unknown pose NMS {method!r}; choose from {', '.join(POSE_NMS_METHODS)}")


class TopDownPredictor:
    """Detector + single-person pose model.

    Args:
        detector: has ``detect_batch(images) -> [(boxes (M, 4) xyxy, scores (M,))]``
            (e.g. :class:`posekit.pipelines.detector.PersonDetector`).
        pose_model: callable on crops ``(B, H, W, 3)`` uint8 returning ``(B, K, 3)`` in crop
            pixels, with ``input_size = (W, H)`` and ``spec`` (see ``posekit.pipelines.single``).
        padding: each box is widened to the crop's aspect ratio, then scaled by this.
        pose_nms: one of :data:`POSE_NMS_METHODS`; nms_threshold: its threshold (None = default).
        keypoint_threshold: keypoints scoring above it count in the instance score,
            ``box score * mean(those keypoint scores)`` (Xiao et al. 2018's rescoring).
        max_batch: crops per forward pass (``build_predictor`` picks
            :func:`posekit.device.default_crop_batch`: 1 on the CPU, 16 on a GPU).
        output_spec: remap keypoints to this spec (e.g. BlazePose-33 -> COCO-17).
    """

    def __init__(self, detector, pose_model, padding: float = 1.25, pose_nms: str = "oks",
                 nms_threshold: float | None = None, keypoint_threshold: float = 0.2,
                 max_batch: int = 16, output_spec: KeypointSpec | None = None) -> None:
        if pose_nms not in POSE_NMS_METHODS:
            raise ValueError(f"unknown pose NMS {pose_nms!r}; choose from {', '.join(POSE_NMS_METHODS)}")
        self.detector = detector
        self.pose_model = pose_model
        self.padding = padding
        self.pose_nms = pose_nms
        self.nms_threshold = nms_threshold
        self.keypoint_threshold = keypoint_threshold
        self.max_batch = max_batch
        self.spec = output_spec or pose_model.spec

    def predict(self, image_rgb: np.ndarray) -> Poses:
        """Poses in one ``(H, W, 3)`` uint8 RGB image."""
        return self.predict_batch([image_rgb])[0]

    def predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> Poses:
        """Poses for given person boxes (e.g. from another detector)."""
        return self._poses([image_rgb], [(np.asarray(boxes, np.float32).reshape(-1, 4),
                                          np.asarray(box_scores, np.float32).reshape(-1))])[0]

    def predict_batch(self, images_rgb: list[np.ndarray]) -> list[Poses]:
        """Poses for each image; detection runs image by image, crops of all images batched."""
        dets = [self.detector.detect_batch([im])[0] for im in images_rgb]
        return self._poses(images_rgb, dets)

    def _poses(self, images: list[np.ndarray], dets: list[tuple[np.ndarray, np.ndarray]]) -> list[Poses]:
        size = self.pose_model.input_size
        crops, owners, affines = [], [], []
        for n, (im, (boxes, _)) in enumerate(zip(images, dets)):
            A = [box_crop_affine(b, size, self.padding) for b in boxes]
            crops.append(warp_batch(im, A, size))
            affines.extend(A)
            owners.extend([n] * len(A))
        all_crops = np.concatenate(crops) if crops else np.zeros((0, size[1], size[0], 3), np.uint8)
        kps = [self.pose_model(all_crops[i:i + self.max_batch]) for i in range(0, len(all_crops), self.max_batch)]
        src = self.pose_model.spec
        kp_crop = np.concatenate(kps) if kps else np.zeros((0, src.num_keypoints, 3), np.float32)
        kp_img = np.stack([transform_points(invert_affine(A), k) for A, k in zip(affines, kp_crop)]) \
            if len(kp_crop) else kp_crop
        if src is not self.spec:
            kp_img = remap_keypoints(kp_img, src, self.spec)
        owners_arr = np.asarray(owners, np.int64)
        out = []
        for n, (boxes, box_scores) in enumerate(dets):
            k = kp_img[owners_arr == n]
            if len(k) == 0:
                out.append(Poses.empty(self.spec))
                continue
            good = k[..., 2] > self.keypoint_threshold
            mean_kp = (k[..., 2] * good).sum(1) / np.maximum(good.sum(1), 1)
            scores = box_scores * mean_kp
            order = np.argsort(-scores, kind="stable")
            poses = Poses(k[order], scores[order], boxes[order], self.spec)
            out.append(apply_pose_nms(poses, self.pose_nms, self.nms_threshold))
        return out

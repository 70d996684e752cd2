"""The one record type every reader produces: an image and the people in it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posekit.errors import DataError
from posekit.skeleton import KeypointSpec

__all__ = ["ImageRecord"]


def _as(arr, shape_tail: tuple[int, ...], dtype, what: str, n: int, path, index) -> np.ndarray:
    a = np.asarray(arr, dtype=dtype)
    if a.size == 0 and n == 0:
        return a.reshape((0, *shape_tail))
    if a.shape != (n, *shape_tail):
        raise DataError(path, f"{what} has shape {a.shape}, expected {(n, *shape_tail)}", index)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise DataError(path, f"{what} contains NaN or infinite values", index)
    return a


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image and its N annotated people, all in image pixel coordinates.

    Attributes:
        file_name: image path relative to the image folder.
        width, height: image size in pixels.
        keypoints: ``(N, K, 3)`` float32 ``[x, y, v]``, v in {0, 1, 2} (COCO visibility).
        boxes: ``(N, 4)`` float32 xyxy person boxes.
        areas: ``(N,)`` float32 segment areas (COCO) or box areas where none is given.
        crowd: ``(N,)`` bool crowd flags.
        spec: the KeypointSpec the K keypoints follow.
        image_id: the data set's image id, if any.
        head_boxes: ``(N, 4)`` xyxy head boxes (MPII, for PCKh), or None.
        scales: ``(N,)`` person height in pixels (MPII's ``scale * 200``), or None.
        centers: ``(N, 2)`` person centres in pixels (MPII's rough position), or None.
        ann_ids: ``(N,)`` annotation ids, or None.
    """

    file_name: str
    width: int
    height: int
    keypoints: np.ndarray
    boxes: np.ndarray
    areas: np.ndarray
    crowd: np.ndarray
    spec: KeypointSpec
    image_id: int | None = None
    head_boxes: np.ndarray | None = None
    scales: np.ndarray | None = None
    centers: np.ndarray | None = None
    ann_ids: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def num_people(self) -> int:
        return int(self.keypoints.shape[0])

    @classmethod
    def create(cls, file_name: str, width: int, height: int, keypoints, spec: KeypointSpec,
               boxes=None, areas=None, crowd=None, image_id: int | None = None,
               head_boxes=None, scales=None, centers=None, ann_ids=None, extra: dict | None = None,
               source: str | None = None, index: int | str | None = None) -> "ImageRecord":
        """Validated constructor. ``source``/``index`` name the file and record in errors.
        Missing boxes default to the tight box of labelled keypoints; missing areas to the box
        area; missing crowd flags to False."""
        where = source or file_name
        kp = np.asarray(keypoints, dtype=np.float32)
        if kp.size == 0:
            kp = kp.reshape(0, spec.num_keypoints, 3)
        if kp.ndim != 3 or kp.shape[2] != 3:
            raise DataError(where, f"keypoints must be (N, K, 3), got shape {kp.shape}", index)
        if kp.shape[1] != spec.num_keypoints:
            raise DataError(where, f"{kp.shape[1]} keypoints per person, but spec {spec.name} "
                                   f"has {spec.num_keypoints}", index)
        if not np.isfinite(kp).all():
            raise DataError(where, "keypoints contain NaN or infinite values", index)
        n = kp.shape[0]
        if boxes is None:
            from posekit.geometry import keypoints_to_box
            boxes = keypoints_to_box(kp)
            boxes = np.where(np.isnan(boxes), 0.0, boxes).astype(np.float32)
        boxes = _as(boxes, (4,), np.float32, "boxes", n, where, index)
        if areas is None:
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        areas = _as(areas, (), np.float32, "areas", n, where, index)
        crowd = _as(np.zeros(n, bool) if crowd is None else crowd, (), bool, "crowd", n, where, index)
        if head_boxes is not None:
            head_boxes = _as(head_boxes, (4,), np.float32, "head_boxes", n, where, index)
        if scales is not None:
            scales = _as(scales, (), np.float32, "scales", n, where, index)
        if centers is not None:
            centers = _as(centers, (2,), np.float32, "centers", n, where, index)
        if ann_ids is not None:
            ann_ids = _as(ann_ids, (), np.int64, "ann_ids", n, where, index)
        if int(width) <= 0 or int(height) <= 0:
            raise DataError(where, f"bad image size {width}x{height}", index)
        return cls(str(file_name), int(width), int(height), kp, boxes, areas, crowd, spec,
                   None if image_id is None else int(image_id), head_boxes, scales, centers,
                   ann_ids, dict(extra or {}))

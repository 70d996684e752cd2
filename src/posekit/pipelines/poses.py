"""The result type of every predictor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.geometry import xyxy_to_xywh
from posekit.skeleton import KeypointSpec

__all__ = ["Poses"]


@dataclass(frozen=True)
class Poses:
    """Poses found in one image, in the image frame (pixel centres at integer coordinates).

    Attributes:
        keypoints: ``(N, K, 3)`` float32 ``[x, y, score]``, score in [0, 1].
        scores: ``(N,)`` float32 instance scores, sorted best first.
        boxes: ``(N, 4)`` float32 xyxy person boxes (the detector's box for top-down
            pipelines, the keypoint extent or the model's box for bottom-up ones).
        spec: what the K keypoints mean.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    spec: KeypointSpec

    def __post_init__(self) -> None:
        k = np.asarray(self.keypoints, np.float32).reshape(-1, self.spec.num_keypoints, 3)
        n = k.shape[0]
        s = np.asarray(self.scores, np.float32).reshape(n)
        b = np.asarray(self.boxes, np.float32).reshape(n, 4)
        object.__setattr__(self, "keypoints", k)
        object.__setattr__(self, "scores", s)
        object.__setattr__(self, "boxes", b)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @classmethod
    def empty(cls, spec: KeypointSpec) -> "Poses":
        return cls(np.zeros((0, spec.num_keypoints, 3), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 4), np.float32), spec)

    def select(self, index: np.ndarray) -> "Poses":
        """The poses at ``index`` (an index array or a boolean mask)."""
        return Poses(self.keypoints[index], self.scores[index], self.boxes[index], self.spec)

    def to_coco(self, image_id: int | None = None, file_name: str | None = None,
                bbox: bool = True, **extra: object) -> list[dict]:
        """COCO results entries, one per pose: ``category_id`` 1, flat ``[x, y, score] * K``
        ``keypoints``, ``score``, and ``bbox``, the person box as COCO ``[x, y, w, h]`` (image
        pixels; ``bbox=False`` leaves it out), then ``image_id``, ``file_name`` and the
        ``extra`` fields (e.g. ``frame_index``) when given. Values are rounded to 3 decimals
        (5 for scores).

        Note: COCO's ``loadRes`` (and :func:`posekit.metrics.coco_eval`) takes a result's area
        from its ``bbox`` when there is one, else from the keypoints' extent; the area only
        decides which unmatched results the medium and large ranges ignore (AP over all areas
        is the same)."""
        xywh = xyxy_to_xywh(self.boxes) if bbox else None
        out = []
        for i, (kp, s) in enumerate(zip(self.keypoints, self.scores)):
            d: dict = {"category_id": 1, "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
                       "score": round(float(s), 5)}
            if xywh is not None:
                d["bbox"] = [round(float(v), 3) for v in xywh[i]]
            if image_id is not None:
                d["image_id"] = int(image_id)
            if file_name is not None:
                d["file_name"] = file_name
            d.update(extra)
            out.append(d)
        return out

"""Person boxes for the top-down pipelines: NanoDet from the pretrained package, or boxes
given in a file (:class:`PersonBoxes`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.nms import box_nms
from posekit.pipelines.nanodet import decode_nanodet
from posekit.pipelines.preprocess import boxes_to_image, stretch_affine, to_tensor, warp_batch

__all__ = ["PersonDetector", "PersonBoxes"]

log = logging.getLogger(__name__)


class PersonDetector:
    """Person boxes from NanoDet (COCO class 0).

    The image is stretched to the model's input (NanoDet-m was trained without keeping the
    aspect ratio), the heads are decoded with :func:`decode_nanodet`, boxes are mapped back
    through the inverse of the stretch, then box NMS.

    Args:
        model: the module from ``load_pretrained("nanodet")`` (takes normalised
            ``(B, 3, H, W)``, returns ``cls_s8 .. reg_s32``); card: its card.
        score_threshold: minimum person score kept.
        iou_threshold: box NMS threshold.
        max_detections: boxes kept per image, best first.
    """

    def __init__(self, model: nn.Module, card, score_threshold: float = 0.2,
                 iou_threshold: float = 0.6, max_detections: int = 20,
                 input_size: tuple[int, int] | None = None) -> None:
        from posekit.pretrained import normalise
        self.model = model
        self.card = card
        self._normalise = normalise
        self.input_size = tuple(input_size or card.input_size)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.strides = tuple(h.stride for h in card.heads if h.key.startswith("cls"))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters(), next(self.model.buffers())).device

    @torch.no_grad()
    def detect_batch(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image ``(boxes (M, 4) xyxy float32 image frame, scores (M,) float32)``, best first."""
        if not images:
            return []
        affines = [stretch_affine(im.shape[1], im.shape[0], self.input_size) for im in images]
        batch = np.concatenate([warp_batch(im, [A], self.input_size) for im, A in zip(images, affines)])
        x = self._normalise(to_tensor(batch, self.device), self.card)
        heads = self.model(x)
        cls = [heads[f"cls_s{s}"] for s in self.strides]
        reg = [heads[f"reg_s{s}"] for s in self.strides]
        decoded = decode_nanodet(cls, reg, self.strides, self.input_size,
                                 score_threshold=self.score_threshold)
        out = []
        for (boxes, scores), A in zip(decoded, affines):
            b, s = boxes.cpu().numpy(), scores.cpu().numpy()
            keep = box_nms(b, s, self.iou_threshold, self.max_detections)
            out.append((boxes_to_image(b[keep], A), s[keep].astype(np.float32)))
        return out

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detect_batch([image])[0]


@dataclass(frozen=True)
class PersonBoxes:
    """Person boxes from a COCO results file of detections (``[{"image_id", "bbox": [x, y, w,
    h], "score", "category_id"}, ...]``, e.g. ``COCO_val2017_detections_AP_H_56_person.json``,
    or ``posekit predict``'s results.json), read by :mod:`posekit.data.formats`.

    Attributes:
        image_ids: ``(D,)`` int64.
        boxes: ``(D, 4)`` float32 xyxy in image pixels (``x + w`` summed in float64 before the
            cast, as the ground-truth reader does, so ground-truth boxes written as results come
            back as the same float32 boxes).
        scores: ``(D,)`` float32.
        file_names: the entries' ``file_name`` (None where absent).
        source: the file.
    """

    image_ids: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    file_names: tuple
    source: str

    @classmethod
    def read(cls, path: str | Path, min_score: float = 0.0) -> "PersonBoxes":
        """The person entries (``category_id`` 1) of ``path`` scoring at least ``min_score``.
        A file whose entries have no ``bbox`` is a DataError naming it."""
        from posekit.data.formats import parse_coco_results
        from posekit.data.formats._common import load_json
        from posekit.errors import DataError

        obj = load_json(path)
        res = parse_coco_results(obj, path)
        if len(res) and res.boxes_xywh is None:
            raise DataError(path, "its entries have no 'bbox': not a file of person boxes")
        keep = (res.category_ids == 1) & (res.scores >= min_score)
        b = res.boxes_xywh[keep] if res.boxes_xywh is not None else np.zeros((0, 4))
        return cls(res.image_ids[keep], np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1).astype(np.float32),
                   res.scores[keep].astype(np.float32), tuple(r.get("file_name") for r, k in zip(obj, keep) if k),
                   str(path))

    def select(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (M, 4), scores (M,))`` of the entries where ``mask``."""
        return self.boxes[mask], self.scores[mask]

    def of_image(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (M, 4), scores (M,))`` of the image ``image_id`` (M may be 0)."""
        return self.select(self.image_ids == image_id)

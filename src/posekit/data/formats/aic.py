"""AI Challenger human keypoints JSON (raw release and COCO-style conversion).

Wu et al., "AI Challenger: A Large-scale Dataset for Going Deeper in Image Understanding",
2017. 14 keypoints in AIC14 order (right shoulder ... left ankle, head top, neck).

Raw release (``keypoint_train_annotations_20170909.json``)::

    [{"image_id": "<sha1 name without .jpg>", "url": ...,
      "keypoint_annotations": {"human1": [x, y, v] * 14, ...},
      "human_annotations": {"human1": [x0, y0, x1, y1], ...}}]

with AIC visibility v = 1 visible, 2 occluded, 3 not labelled. It is converted to COCO
visibility: 1 -> 2, 2 -> 1, 3 -> 0 (x = y = 0). People are ordered human1, human2, ...
numerically; boxes are already xyxy. Image sizes are not stored: they are read from the image
headers (default folder: the JSON file's folder) or estimated. ``file_name`` is
``image_id + ".jpg"``; ``image_id`` becomes the 1-based entry index.

COCO-style form (MMPose conversion, e.g. ``../shared/data/aic/test_aic.json``): a COCO
keypoints file whose category lists the 14 AIC joints; read by
:func:`posekit.data.formats.coco.read_coco` with spec AIC14.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from posekit.data.formats._common import ImageSizer, finite_array, json_kind, load_json
from posekit.data.formats.coco import read_coco
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import AIC14

__all__ = ["read_aic", "read_aic_raw", "AIC_TO_COCO_VISIBILITY"]

AIC_TO_COCO_VISIBILITY = {1: 2, 2: 1, 3: 0}


def _human_key(name: str) -> tuple[int, str]:
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else 1 << 30, name)


def read_aic_raw(path: str | Path, image_dir: str | Path | None = None, *,
                 read_images: bool = True) -> list[ImageRecord]:
    """Read the raw AI Challenger list form (see module docstring) into AIC14 records;
    ``read_images=False`` estimates image sizes from the keypoints without the images."""
    path = Path(path)
    d = load_json(path)
    if not isinstance(d, list):
        raise DataError(path, "not a raw AI Challenger file (expected a JSON list)")
    sizer = ImageSizer(path, image_dir, path.parent, read_images)
    records = []
    next_ann = 1
    for i, e in enumerate(d):
        if not isinstance(e, dict) or "image_id" not in e or "keypoint_annotations" not in e:
            raise DataError(path, "entry needs 'image_id' and 'keypoint_annotations'", i)
        kps_in = e["keypoint_annotations"] or {}
        boxes_in = e.get("human_annotations") or {}
        if not isinstance(kps_in, dict) or not isinstance(boxes_in, dict):
            raise DataError(path, "keypoint_annotations / human_annotations must be objects", i)
        humans = sorted(kps_in, key=_human_key)
        kp = np.zeros((len(humans), 14, 3), np.float32)
        boxes = np.zeros((len(humans), 4), np.float32)
        for p, h in enumerate(humans):
            raw = kps_in[h]
            if not isinstance(raw, list) or len(raw) != 42:
                got = len(raw) if isinstance(raw, list) else type(raw).__name__
                raise DataError(path, f"{h}: keypoints has {got} values, expected 42 (14 keypoints x 3 "
                                      "for spec aic14)", i)
            a = finite_array(raw, path, i, f"{h} keypoints").reshape(14, 3)
            bad = set(a[:, 2].tolist()) - set(AIC_TO_COCO_VISIBILITY)
            if bad:
                raise DataError(path, f"{h}: AIC visibility must be 1, 2 or 3, got {sorted(bad)}", i)
            v = np.array([AIC_TO_COCO_VISIBILITY[int(x)] for x in a[:, 2]], np.float32)
            kp[p, :, :2] = np.where(v[:, None] > 0, a[:, :2], 0)
            kp[p, :, 2] = v
            if h in boxes_in:
                b = finite_array(boxes_in[h], path, i, f"{h} box").ravel()
                if b.shape != (4,):
                    raise DataError(path, f"{h}: box must be [x0, y0, x1, y1]", i)
                boxes[p] = [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]
            else:
                lab = kp[p, :, 2] > 0
                if lab.any():
                    xy = kp[p, lab, :2]
                    boxes[p] = [*xy.min(0), *xy.max(0)]
        name = f"{e['image_id']}.jpg"
        pts = np.concatenate([kp[kp[:, :, 2] > 0][:, :2], boxes.reshape(-1, 2)])
        w, h_img, est = sizer.size(name, pts, i)
        extra = {"size_estimated": True} if est else {}
        next_ann += len(humans)
        records.append(ImageRecord.create(name, w, h_img, kp, AIC14, boxes=boxes, image_id=i + 1,
                                          ann_ids=np.arange(len(humans)) + next_ann,
                                          extra=extra, source=str(path), index=i))
    return records


def read_aic(path: str | Path, image_dir: str | Path | None = None, *,
             read_images: bool = True) -> list[ImageRecord]:
    """Read AI Challenger annotations in either form (raw list or COCO-style dict)."""
    path = Path(path)
    if json_kind(path)[0] == "dict":
        return read_coco(path, spec=AIC14)
    return read_aic_raw(path, image_dir, read_images=read_images)

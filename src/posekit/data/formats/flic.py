"""FLIC (Frames Labeled In Cinema) ``examples.mat``.

Sapp & Taskar, "MODEC: Multimodal Decomposable Models for Human Pose Estimation", CVPR 2013.

Layout (``scipy.io.loadmat(struct_as_record=False, squeeze_me=True)``): a struct array
``examples``, one element per labelled frame, with

- ``coords``: ``2 x 29`` joint positions (x row, y row); only 11 of the 29 slots are labelled,
  the rest are NaN. The labelled 0-based slots are lsho 0, lelb 1, lwri 2, rsho 3, relb 4,
  rwri 5, lhip 6, rhip 9, leye 12, reye 13, nose 16 (1-based 1-7, 10, 13, 14, 17, as public
  FLIC loaders list them);
- ``filepath``: image file name; ``imgdims``: ``[height, width, 3]``;
- ``torsobox``: ``[x1, y1, x2, y2]``; ``istrain`` / ``istest``: split flags.

Conventions: NaN in a slot means "not labelled" (the format's own convention) and becomes
x = y = v = 0; finite points are v = 2 (FLIC has no occlusion flag); infinities are errors.
Coordinates are MATLAB 1-based; records are 0-based pixel centres, so 1 is subtracted from
every labelled x, y and from the torso box corners, once, here. Each example becomes one
record with one person (FLIC labels one person per frame); ``extra`` keeps ``torso_box``
(xyxy, 0-based), ``is_train`` and ``is_test``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.formats._common import load_mat, mat_variable
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import FLIC11

__all__ = ["read_flic", "FLIC_SLOTS"]

FLIC_SLOTS = (0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16)
"""0-based slots of the 29 ``coords`` columns holding FLIC11's joints, in FLIC11 order."""


def _field(e: Any, name: str, path: Path, i: int) -> Any:
    v = getattr(e, name, None)
    if v is None:
        raise DataError(path, f"example has no field {name!r}: not the FLIC examples.mat layout", i)
    return v


def read_flic(path: str | Path) -> list[ImageRecord]:
    """Read FLIC's ``examples.mat`` into one FLIC11 record per example (file order), in
    0-based pixel centres (the file's 1-based values minus 1)."""
    path = Path(path)
    m = load_mat(path, squeeze=True)
    examples = np.atleast_1d(mat_variable(m, "examples", path, "struct array: not a FLIC examples.mat"))
    records = []
    for i, e in enumerate(examples.ravel()):
        coords = np.asarray(_field(e, "coords", path, i))
        if coords.shape != (2, 29):
            raise DataError(path, f"coords has shape {coords.shape}, expected (2, 29)", i)
        coords = coords.astype(np.float64)
        if np.isinf(coords).any():
            raise DataError(path, "coords contain infinite values", i)
        xy = coords[:, FLIC_SLOTS].T  # (11, 2)
        lab = np.isfinite(xy).all(1)
        kp = np.zeros((11, 3), np.float32)
        kp[lab, :2] = xy[lab] - 1
        kp[lab, 2] = 2
        dims = np.asarray(_field(e, "imgdims", path, i)).ravel()
        if dims.size < 2 or not np.isfinite(dims[:2]).all():
            raise DataError(path, f"imgdims must be [height, width, channels], got {dims.tolist()}", i)
        name = _field(e, "filepath", path, i)
        if not isinstance(name, str):
            raise DataError(path, "filepath is not a string", i)
        extra: dict[str, Any] = {}
        torso = getattr(e, "torsobox", None)
        if torso is not None and np.asarray(torso).size == 4:
            t = np.asarray(torso, np.float64).ravel()
            if not np.isfinite(t).all():
                raise DataError(path, "torsobox contains NaN or infinite values", i)
            extra["torso_box"] = [float(v) - 1 for v in t]
        for key, out in (("istrain", "is_train"), ("istest", "is_test")):
            if getattr(e, key, None) is not None and np.asarray(getattr(e, key)).size == 1:
                extra[out] = bool(np.asarray(getattr(e, key)).ravel()[0])
        records.append(ImageRecord.create(name, int(dims[1]), int(dims[0]), kp[None], FLIC11,
                                          image_id=i + 1, ann_ids=[i + 1], extra=extra,
                                          source=str(path), index=i))
    return records

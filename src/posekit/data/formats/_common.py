"""Helpers shared by the readers: loading JSON and .mat files, image sizes, number output.

All readers raise :class:`posekit.errors.DataError` naming the file, the record index and the
problem; nothing here prints.
"""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from posekit.errors import DataError

log = logging.getLogger(__name__)


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing file or malformed JSON raises DataError with line/column."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file not found")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(p, f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError as e:
        raise DataError(p, f"not a UTF-8 text file ({e.reason})") from None


def load_mat(path: str | Path, squeeze: bool) -> dict:
    """Load a MATLAB .mat file with ``struct_as_record=False`` (structs become objects with
    attributes). Raises DataError when the file is missing or not a .mat file."""
    import scipy.io

    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file not found")
    try:
        return scipy.io.loadmat(str(p), struct_as_record=False, squeeze_me=squeeze)
    except NotImplementedError:
        raise DataError(p, "MATLAB v7.3 (HDF5) .mat files are not supported; re-save with "
                           "-v7 or convert to JSON") from None
    except Exception as e:  # scipy raises ValueError/TypeError/OSError for non-.mat input
        raise DataError(p, f"cannot read .mat file: {e}") from None


def mat_variable(m: dict, name: str, path: str | Path, what: str) -> Any:
    """``m[name]`` from a loaded .mat file; when absent, DataError "no 'name' <what> (variables:
    ...)" listing the variables the file has."""
    if name not in m:
        found = sorted(k for k in m if not k.startswith("__"))
        raise DataError(path, f"no {name!r} {what} (variables: {found})")
    return m[name]


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (temp file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, allow_nan=False, separators=(",", ":"))
    tmp.replace(p)


def num(x: float) -> int | float:
    """A float32 value as the shortest JSON number that reads back to the same float32."""
    f = np.float32(x)
    if f.is_integer() and abs(f) < 2**31:
        return int(f)
    return float(str(f))


def nums(a: np.ndarray) -> list:
    return [num(v) for v in np.asarray(a, np.float32).ravel()]


def finite_array(values: Any, path: Path, index: int | str, what: str) -> np.ndarray:
    """float64 array of ``values``; non-numeric, NaN or infinite entries raise DataError."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(path, f"{what} holds non-numeric values", index) from None
    if not np.isfinite(a).all():
        raise DataError(path, f"{what} contains NaN or infinite values", index)
    return a


def image_size(path: Path) -> tuple[int, int] | None:
    """``(width, height)`` of an image file read from its header
    (:func:`posekit.io.image_size_from_header`: PNG, JPEG, GIF, BMP), falling back to decoding
    with OpenCV; None when the file does not exist or cannot be read."""
    from posekit.io import image_size_from_header

    if not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 18)          # JPEG frame headers follow APP segments of <= 64 KB each
    except OSError:
        return None
    size = image_size_from_header(head)
    if size is not None:
        return int(size[0]), int(size[1])
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return None if img is None else (int(img.shape[1]), int(img.shape[0]))


class ImageSizer:
    """Finds image sizes for formats whose annotations do not store them (MPII, LSP, AIC raw).

    With an image folder, a size is read from the image header; an explicitly given folder
    missing an image is an error (naming the record). Without a folder (or when the default
    folder does not exist), the size is estimated as the extent of the labelled keypoints and
    the record's ``extra["size_estimated"]`` is set, with one warning per file.
    ``read_images=False`` (for callers that do not need sizes, such as evaluation) skips the
    images and estimates every size without a warning.
    """

    def __init__(self, ann_path: Path, image_dir: str | Path | None, default_dir: Path | None,
                 read_images: bool = True) -> None:
        self.ann_path = ann_path
        self.explicit = image_dir is not None and read_images
        self.dir = Path(image_dir) if image_dir is not None else default_dir
        if self.explicit and not self.dir.is_dir():
            raise DataError(self.dir, "image folder not found")
        self.use_dir = read_images and self.dir is not None and self.dir.is_dir()
        self.warned = not read_images

    def size(self, file_name: str, points_xy: np.ndarray, index: int) -> tuple[int, int, bool]:
        """``(width, height, estimated)`` for one record; ``points_xy`` ``(M, 2)`` labelled
        points used for the estimate."""
        if self.use_dir:
            wh = image_size(self.dir / file_name)
            if wh is not None:
                return wh[0], wh[1], False
            if self.explicit:
                raise DataError(self.ann_path, f"image {self.dir / file_name} not found or unreadable", index)
        if not self.warned:
            log.warning("%s: image sizes unknown (no image folder); estimating them from the "
                        "keypoints", self.ann_path)
            self.warned = True
        pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return 1, 1, True
        w = max(1, int(math.ceil(pts[:, 0].max() + 1)))
        h = max(1, int(math.ceil(pts[:, 1].max() + 1)))
        return w, h, True


_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')


def json_kind(path: str | Path, peek: int = 1 << 16) -> tuple[str, set[str]]:
    """Cheap look at a JSON file without parsing it all: ``("dict" | "list" | "", keys)`` where
    ``keys`` are the object keys seen in the first ``peek`` characters."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file not found")
    with open(p, encoding="utf-8", errors="replace") as f:
        head = f.read(peek)
    start = head.lstrip()[:1]
    kind = {"{": "dict", "[": "list"}.get(start, "")
    return kind, set(_KEY.findall(head))


def box_to_json_xywh(box_xyxy: np.ndarray) -> list:
    """``[x, y, w, h]`` JSON numbers for a float32 xyxy box such that reading them back as the
    COCO reader does (``x + w`` summed in float64, then float32) gives exactly the same float32
    box (short decimals when they suffice, the exact float64 difference otherwise)."""
    b = np.asarray(box_xyxy, np.float32).reshape(4)
    out = [num(b[0]), num(b[1])]
    for lo, hi in ((b[0], b[2]), (b[1], b[3])):
        short = num(np.float32(hi) - np.float32(lo))
        if np.float32(float(num(lo)) + short) == hi:
            out.append(short)
        else:
            out.append(float(np.float64(hi) - np.float64(num(lo))))
    return out


def num_for(value: float, forward, inverse) -> int | float:
    """JSON number for ``forward(value)`` (e.g. ``x + 1``, ``s / 200``) chosen so that reading
    it and applying ``inverse`` in float64 gives back the same float32 ``value``: the short
    float32 decimal when that suffices, otherwise the exact float64."""
    target = np.float32(value)
    raw = forward(float(target))
    short = num(raw)
    if np.float32(inverse(float(short))) == target:
        return short
    return float(raw)

"""COCO keypoints JSON: the one parser of COCO ground truth and of COCO results lists.

Layout (Lin et al., "Microsoft COCO", ECCV 2014; cocodataset.org/#format-data):
``{"images": [{id, file_name, width, height}], "annotations": [{id, image_id, category_id,
keypoints: [x, y, v] * K, num_keypoints, bbox: [x, y, w, h], area, iscrowd, segmentation}],
"categories": [{id, name, keypoints: [K names], skeleton: [[a, b] 1-based]}]}``.

Every COCO ground-truth file or dict is parsed here, once, by :func:`parse_coco` into a
:class:`CocoGroundTruth`: column arrays at the file's precision (float64), with the fields
COCO's evaluation reads (``area``, ``num_keypoints``, ``iscrowd``, the annotation ``id``, the
``bbox`` as xywh). :func:`read_coco` turns that into ImageRecords (float32, boxes xyxy) and
:mod:`posekit.metrics.coco` evaluates it as it is, so its numbers equal pycocotools' on the same
file. :meth:`CocoGroundTruth.from_records` builds the same arrays from ImageRecords of any
reader (evaluation of a trained model, non-COCO ground truth), with no JSON in between.
Results lists are parsed by :func:`parse_coco_results` into a :class:`CocoResults`.

Conventions kept by this reader:
- v is COCO visibility: 0 unlabelled (x = y = 0 in the file, kept as is), 1 labelled but
  occluded, 2 visible. Any other v is an error.
- ``bbox`` is xywh in the file (and in :class:`CocoGroundTruth`) and xyxy in the record; a
  missing bbox becomes the tight box of the labelled keypoints; a missing ``area`` becomes the
  box area; a missing ``num_keypoints`` the number of labelled keypoints.
- Crowd regions (``iscrowd = 1``) are kept as people with ``crowd = True``, usually with no
  labelled keypoints. Images without any annotation are kept as records with N = 0.
- Segmentations are kept in ``record.extra["segmentation"]`` (one entry per person, None when
  absent) so that writing back loses nothing a bottom-up ignore mask needs.
- posekit's own extra fields, written by :func:`write_coco` and read back here:
  per annotation ``head_bbox`` (xywh, MPII), ``scale`` (person height in px), ``center``
  (x, y); per image ``posekit`` (the record's ``extra`` dict). COCO tools ignore them.

Only annotations of the keypoint category are read (the category with a ``keypoints`` list;
with several, the one named "person").

Coordinates: COCO files are 0-based, except the COCO-style J-HMDB files that MMPose's converter
writes (e.g. ``../shared/data/jhmdb/test_jhmdb_sub1.json``): they copy J-HMDB's MATLAB
``pos_img`` values, which are 1-based, and MMPose's J-HMDB loaders subtract 1 when reading them
(0.x: keypoints and box; 1.x: the box). So a file whose keypoints are J-HMDB's 15 joints is read
as 1-based (1 is subtracted from labelled x, y and from the box corners), unless it was written
by :func:`write_coco`, which marks its output ``info.posekit_coordinates = "0-based pixel
centres"``. ``one_based=True/False`` overrides the guess (:func:`coco_is_one_based`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.formats._common import (
    box_to_json_xywh, finite_array, load_json, num, nums, write_json,
)
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.geometry import keypoints_to_box, xywh_to_xyxy
from posekit.skeleton import ALIASES, JHMDB15, SPECS, KeypointSpec

__all__ = ["read_coco", "coco_records", "coco_is_one_based", "write_coco", "records_to_coco",
           "spec_from_names", "CocoGroundTruth", "parse_coco", "read_coco_ground_truth",
           "CocoResults", "parse_coco_results", "read_coco_result_arrays", "CocoResult",
           "read_coco_results",
           "POSEKIT_COORDINATES"]

POSEKIT_COORDINATES = "0-based pixel centres"
"""The value of ``info.posekit_coordinates`` in files written by :func:`write_coco`."""


def _canon(name: str) -> str:
    n = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(n, n)


def spec_from_names(names: Sequence[str]) -> KeypointSpec | None:
    """The registered spec whose joint names equal ``names`` (case, spaces and aliases such as
    "Head top" / "head" / "upper_neck" are normalised), or None."""
    want = [_canon(n) for n in names]
    for spec in SPECS.values():
        if [_canon(n) for n in spec.names] == want:
            return spec
    return None


def _keypoint_category(d: dict, source: str) -> dict:
    cats = d.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DataError(source, "no 'categories' list: not a COCO keypoints file")
    with_kp = [c for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)]
    if not with_kp:
        raise DataError(source, "no category has a 'keypoints' list: not a COCO keypoints file")
    person = [c for c in with_kp if c.get("name") == "person"]
    return (person or with_kp)[0]


def _resolve_spec(cat: dict, spec: KeypointSpec | None, source: str) -> KeypointSpec:
    names = cat["keypoints"]
    if spec is not None:
        if len(names) not in (0, spec.num_keypoints):
            raise DataError(source, f"category lists {len(names)} keypoints, but spec {spec.name} "
                                    f"has {spec.num_keypoints}")
        return spec
    found = spec_from_names(names)
    if found is not None:
        return found
    by_count = [s for s in SPECS.values() if s.num_keypoints == len(names)]
    if len(by_count) == 1:
        return by_count[0]
    raise DataError(source, f"cannot tell the keypoint spec from the category's {len(names)} "
                            f"keypoint names {names[:4]}...; pass spec= explicitly")


def _field(obj: dict, key: str, source: str, index: str) -> Any:
    if key not in obj:
        raise DataError(source, f"missing field {key!r}", index)
    return obj[key]


# ------------------------------------------------------------------ columns, checked
# Each helper turns one field of N JSON objects into an array in one numpy call, and only when
# that fails (or finds a bad value) walks the values to name the first bad one.

def _row(value: Any, width: int, source: str, index: str, what: str, expected: str) -> None:
    """Raise the DataError that one bad row of :func:`_rows` deserves (no-op for a good row)."""
    if not isinstance(value, (list, tuple)):
        raise DataError(source, f"{what} must be a list of {width} numbers, got "
                                f"{type(value).__name__}", index)
    if len(value) != width:
        raise DataError(source, f"{what} has {len(value)} values, expected {width}{expected}", index)
    if finite_array(value, Path(source), index, what).ndim != 1:
        raise DataError(source, f"{what} must be a flat list of {width} numbers", index)


def _rows(values: list, width: int, source: str, where: Callable[[int], str], what: str,
          expected: str = "") -> np.ndarray:
    """``(N, width)`` float64 from N lists of ``width`` finite numbers; a DataError naming
    ``where(i)`` of the first bad row (wrong length, non-numbers, NaN or infinite values)."""
    n = len(values)
    try:
        if (np.fromiter(map(len, values), np.int64, count=n) == width).all():
            arr = np.fromiter(chain.from_iterable(values), np.float64, count=n * width)
            if np.isfinite(arr).all():
                return arr.reshape(n, width)
    except (TypeError, ValueError):
        pass
    for i, v in enumerate(values):
        _row(v, width, source, where(i), what, expected)
    raise DataError(source, f"{what} must be lists of {width} numbers")   # not reached


def _numbers(values: list, source: str, where: Callable[[int], str], what: str) -> np.ndarray:
    """``(N,)`` float64 of N finite numbers, or a DataError naming the first other value."""
    try:
        arr = np.array(values, dtype=np.float64)
        if arr.shape == (len(values),) and np.isfinite(arr).all():
            return arr
    except (TypeError, ValueError):
        pass
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DataError(source, f"{what} must be a finite number, got {v!r}", where(i))
    raise DataError(source, f"{what} must be numbers")                   # not reached


def _integers(values: list, source: str, where: Callable[[int], str], what: str) -> np.ndarray:
    """``(N,)`` int64 of N integers (or integral floats), or a DataError naming the first
    other value."""
    try:
        arr = np.array(values)
        if arr.shape == (len(values),):
            if arr.dtype.kind in "iu" or len(values) == 0:
                return arr.astype(np.int64)
            if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
                return arr.astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        pass
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
            raise DataError(source, f"{what} must be an integer, got {v!r}", where(i))
    raise DataError(source, f"{what} must be integers that fit in 64 bits")


def _required(items: list[dict], key: str, source: str, where: Callable[[int], str],
              problem: str) -> list:
    """``[item[key] for item in items]``, or a DataError naming the first item without it."""
    try:
        return list(map(itemgetter(key), items))
    except KeyError:
        i = next(i for i, it in enumerate(items) if key not in it)
        raise DataError(source, problem, where(i)) from None


def _column(items: list[dict], key: str, default: Any = None) -> list:
    """``[item.get(key, default) for item in items]``, at C speed when every item has ``key``."""
    try:
        return list(map(itemgetter(key), items))
    except KeyError:
        return [it.get(key, default) for it in items]


def _objects(items: list, source: str, where: Callable[[int], str], problem: str) -> None:
    """DataError naming the first item that is not a JSON object."""
    if set(map(type, items)) - {dict}:
        i = next(i for i, it in enumerate(items) if not isinstance(it, dict))
        raise DataError(source, problem, where(i))


def _optional_rows(items: list[dict], keys: set[str], key: str, width: int, source: str,
                   where: Callable[[int], str], what: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mask (N,), values (N, width))`` of the items that have ``key`` (zeros elsewhere), or
    None when none has it (``keys``: the keys any item has)."""
    if key not in keys:
        return None
    vals = _column(items, key, _ABSENT)
    out = np.zeros((len(items), width))
    if _ABSENT in vals:
        has = np.array([v is not _ABSENT for v in vals], bool)
        idx = np.flatnonzero(has)
        vals = [vals[i] for i in idx]
        at = lambda q: where(idx[q])  # noqa: E731
    else:
        has, idx, at = np.ones(len(items), bool), slice(None), where
    if width == 1:
        out[idx, 0] = _numbers(vals, source, at, what)
    else:
        out[idx] = _rows(vals, width, source, at, what)
    return has, out


_ABSENT = object()


def _xywh_to_xyxy64(b: np.ndarray) -> np.ndarray:
    """``(N, 4)`` float64 xywh -> xyxy, the sums in float64 (records then take float32 of
    them, which :func:`box_to_json_xywh` writes to read back exactly)."""
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


# ------------------------------------------------------------------------ ground truth
@dataclass(frozen=True, eq=False)
class CocoGroundTruth:
    """COCO keypoints ground truth as arrays: the one parse of a COCO file (:func:`parse_coco`),
    or ImageRecords of any reader (:meth:`from_records`). Values are the file's, in float64,
    1 already subtracted for 1-based files (0-based pixel centres).

    Attributes:
        source: the file (or a name such as ``<ground truth>``) that errors name.
        spec: the keypoint spec of the K keypoints.
        category_id: the id of the keypoint category (the only one read).
        image_ids: ``(I,)`` int64 image ids, unique, in file order.
        images: the I image entries as in the file (``file_name``, ``width``, ``height``, and
            posekit's per-image ``posekit`` extras); checked only by :meth:`to_records`.
        image_index: ``(N,)`` int64, the position in ``images`` of each person's image. People
            are the keypoint category's annotations, in file order.
        keypoints: ``(N, K, 3)`` float64 ``[x, y, v]`` in image pixels, v COCO visibility.
        boxes_xywh: ``(N, 4)`` float64 ``[x, y, w, h]`` as in the file (COCO's box rule is
            defined on it); the tight box of the labelled keypoints where the file has none.
        areas: ``(N,)`` float64 ``area``, the box area where the file has none.
        num_keypoints: ``(N,)`` int64 ``num_keypoints`` (COCO ignores people with 0), the
            number of labelled keypoints where the file has none.
        crowd: ``(N,)`` bool ``iscrowd``.
        ann_ids: ``(N,)`` int64 annotation ids (0 where absent).
        head_boxes: ``(N, 4)`` float64 xyxy head boxes (posekit's ``head_bbox``), or None.
        scales: ``(N,)`` float64 person heights in pixels (posekit's ``scale``), or None.
        centers: ``(N, 2)`` float64 person centres (posekit's ``center``), or None.
        segmentations: N segmentations (None where absent), or None when there are none.
    """

    source: str
    spec: KeypointSpec
    category_id: int
    image_ids: np.ndarray
    images: tuple[dict, ...]
    image_index: np.ndarray
    keypoints: np.ndarray
    boxes_xywh: np.ndarray
    areas: np.ndarray
    num_keypoints: np.ndarray
    crowd: np.ndarray
    ann_ids: np.ndarray
    head_boxes: np.ndarray | None = None
    scales: np.ndarray | None = None
    centers: np.ndarray | None = None
    segmentations: tuple | None = None

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def num_people(self) -> int:
        return len(self.image_index)

    def boxes_xyxy(self) -> np.ndarray:
        """``(N, 4)`` float64 xyxy person boxes (``x + w`` summed in float64)."""
        return _xywh_to_xyxy64(self.boxes_xywh)

    def file_names(self) -> list[str | None]:
        """The I images' ``file_name`` (None where an entry has none)."""
        return [im.get("file_name") for im in self.images]

    def people_of_images(self) -> list[np.ndarray]:
        """For each of the I images, the indices of its people (file order)."""
        if self.num_images == 0:
            return []
        order = np.argsort(self.image_index, kind="stable")
        counts = np.bincount(self.image_index, minlength=self.num_images)
        return np.split(order, np.cumsum(counts)[:-1])

    def to_records(self) -> list[ImageRecord]:
        """One :class:`ImageRecord` per image (file order): keypoints float32, boxes xyxy.

        Raises:
            DataError: naming ``images[i]`` for an entry without an integer ``width`` or
                ``height`` or without a ``file_name``.
        """
        kp = self.keypoints.astype(np.float32)
        boxes = self.boxes_xyxy().astype(np.float32)
        areas = self.areas.astype(np.float32)
        records = []
        for i, (im, p) in enumerate(zip(self.images, self.people_of_images())):
            where = f"images[{i}]"
            for key in ("width", "height"):
                v = _field(im, key, self.source, where)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
                    raise DataError(self.source, f"image {key} must be an integer, got {v!r}", where)
            file_name = _field(im, "file_name", self.source, where)
            extra = dict(im.get("posekit") or {})
            if self.segmentations is not None:
                segs = [self.segmentations[q] for q in p]
                if any(s is not None for s in segs):
                    extra["segmentation"] = segs
            records.append(ImageRecord.create(
                file_name, im["width"], im["height"], kp[p], self.spec, boxes=boxes[p],
                areas=areas[p], crowd=self.crowd[p], image_id=int(self.image_ids[i]),
                head_boxes=None if self.head_boxes is None else self.head_boxes[p],
                scales=None if self.scales is None else self.scales[p],
                centers=None if self.centers is None else self.centers[p],
                ann_ids=self.ann_ids[p], extra=extra, source=self.source, index=where))
        return records

    @classmethod
    def from_records(cls, records: Sequence[ImageRecord], spec: KeypointSpec | None = None,
                     source: str | PathLike = "<records>") -> "CocoGroundTruth":
        """The ground truth of ImageRecords (all of one spec), as :func:`records_to_coco` would
        write it, without writing it: ids as there (records without one get the next free one),
        ``num_keypoints`` = labelled keypoints, head boxes / scales / centres when every record
        has them. Values are the records' (float32) in float64."""
        if spec is None:
            spec = records[0].spec if records else None
        if spec is None:
            raise DataError(source, "no records and no keypoint spec")
        image_ids, ann_ids = _record_ids(records, spec)
        k = spec.num_keypoints
        cat = lambda arrays, tail, dt: (np.concatenate(arrays).astype(dt) if arrays   # noqa: E731
                                        else np.zeros((0, *tail), dt))
        kp = cat([r.keypoints for r in records], (k, 3), np.float64)
        xyxy = cat([r.boxes for r in records], (4,), np.float64)
        images = [_image_entry(r, image_id) for r, image_id in zip(records, image_ids)]
        segs = [r.extra.get("segmentation") or [None] * r.num_people for r in records]

        def every(field: str, tail: tuple[int, ...]) -> np.ndarray | None:
            arrays = [getattr(r, field) for r in records]
            if not arrays or any(a is None for a in arrays):
                return None
            return cat(arrays, tail, np.float64)

        return cls(
            source=str(source), spec=spec, category_id=1,
            image_ids=np.array(image_ids, np.int64).reshape(-1), images=tuple(images),
            image_index=np.repeat(np.arange(len(records)), [r.num_people for r in records]),
            keypoints=kp, boxes_xywh=np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1),
            areas=cat([r.areas for r in records], (), np.float64),
            num_keypoints=(kp[:, :, 2] > 0).sum(axis=1).astype(np.int64),
            crowd=cat([r.crowd for r in records], (), bool),
            ann_ids=cat(ann_ids, (), np.int64),
            head_boxes=every("head_boxes", (4,)), scales=every("scales", ()),
            centers=every("centers", (2,)),
            segmentations=tuple(chain.from_iterable(segs)) if any(r.extra.get("segmentation")
                                                                   for r in records) else None)


def _record_ids(records: Sequence[ImageRecord], spec: KeypointSpec) -> tuple[list[int], list[np.ndarray]]:
    """Image ids and annotation ids of ``records`` as written to COCO: their own, or the next
    free one (images, then people, in order). Raises DataError for another spec or a
    duplicate image id."""
    used_img = {r.image_id for r in records if r.image_id is not None}
    used_ann = {int(a) for r in records if r.ann_ids is not None for a in r.ann_ids}
    next_img = max(used_img, default=0) + 1
    next_ann = max(used_ann, default=0) + 1
    seen: set[int] = set()
    image_ids, ann_ids = [], []
    for i, r in enumerate(records):
        if r.spec != spec:
            raise DataError(None, f"record uses spec {r.spec.name}, expected {spec.name}", i)
        image_id = r.image_id
        if image_id is None:
            image_id, next_img = next_img, next_img + 1
        if image_id in seen:
            raise DataError(r.file_name, f"duplicate image id {image_id}", i)
        seen.add(image_id)
        image_ids.append(image_id)
        if r.ann_ids is not None:
            ann_ids.append(r.ann_ids.astype(np.int64))
        else:
            ann_ids.append(np.arange(next_ann, next_ann + r.num_people, dtype=np.int64))
            next_ann += r.num_people
    return image_ids, ann_ids


def _image_entry(r: ImageRecord, image_id: int) -> dict:
    """The COCO image entry of record ``r``: id, file name, size, and its ``extra`` (but the
    per-person segmentations) as posekit's ``posekit`` field."""
    im: dict[str, Any] = {"id": image_id, "file_name": r.file_name, "width": r.width,
                          "height": r.height}
    extra = {key: v for key, v in r.extra.items() if key != "segmentation"}
    if extra:
        im["posekit"] = extra
    return im


def coco_is_one_based(d: dict, spec: KeypointSpec) -> bool:
    """True for a COCO-style J-HMDB file (spec JHMDB15) not written by posekit: its values are
    J-HMDB's MATLAB 1-based ``pos_img`` (see the module docstring)."""
    info = d.get("info") if isinstance(d.get("info"), dict) else {}
    return spec == JHMDB15 and info.get("posekit_coordinates") != POSEKIT_COORDINATES


def parse_coco(d: Any, source: str | PathLike = "<ground truth>", spec: KeypointSpec | None = None,
               *, one_based: bool | None = None) -> CocoGroundTruth:
    """Parse a COCO keypoints dict (the loaded JSON) into a :class:`CocoGroundTruth`.

    Args:
        d: the parsed file.
        source: the file name errors give.
        spec: the keypoint spec; by default found from the category's keypoint names.
        one_based: whether the file's coordinates are MATLAB 1-based (then 1 is subtracted);
            None guesses with :func:`coco_is_one_based` (only COCO-style J-HMDB files are).

    Raises:
        DataError: naming the file and ``images[i]`` / ``annotations[j]``: not a COCO keypoints
            dict, unknown spec, image ids that are not unique integers, annotations of unknown
            images, keypoints of the wrong count, non-numbers, NaN or infinite values,
            visibility other than 0, 1, 2, boxes with negative sizes, non-numeric areas or
            ``num_keypoints``.
    """
    src = str(source)
    if not isinstance(d, dict) or not isinstance(d.get("images"), list) \
            or not isinstance(d.get("annotations"), list):
        raise DataError(src, "not a COCO keypoints file (needs 'images' and 'annotations' lists)")
    cat = _keypoint_category(d, src)
    spec = _resolve_spec(cat, spec, src)
    k = spec.num_keypoints
    shift = 1.0 if (coco_is_one_based(d, spec) if one_based is None else one_based) else 0.0

    images = d["images"]
    _objects(images, src, lambda i: f"images[{i}]", "image entry is not an object")
    image_ids = _integers(_required(images, "id", src, lambda i: f"images[{i}]", "missing field 'id'"),
                          src, lambda i: f"images[{i}]", "image id")
    index_of = dict(zip(image_ids.tolist(), range(len(images))))
    if len(index_of) < len(images):                 # name the second of two equal ids
        seen: set[int] = set()
        for i, v in enumerate(image_ids.tolist()):
            if v in seen:
                raise DataError(src, f"duplicate image id {v}", f"images[{i}]")
            seen.add(v)

    all_anns = d["annotations"]
    _objects(all_anns, src, lambda j: f"annotations[{j}]", "annotation is not an object")
    cat_id = cat.get("id")
    rows: Sequence[int] = range(len(all_anns))
    if cat_id is not None:                      # other categories' annotations are skipped
        keep = [c == cat_id for c in _column(all_anns, "category_id", cat_id)]
        if not all(keep):
            rows = [j for j, kept in enumerate(keep) if kept]
    anns = all_anns if isinstance(rows, range) else [all_anns[j] for j in rows]
    n = len(anns)
    where = lambda p: f"annotations[{rows[p]}]"  # noqa: E731
    image_of = _column(anns, "image_id", _ABSENT)
    try:
        img_idx = list(map(index_of.get, image_of))
    except TypeError:                           # an unhashable id
        img_idx = [index_of.get(v) if isinstance(v, (int, float)) else None for v in image_of]
    if None in img_idx:
        p = img_idx.index(None)
        _field(anns[p], "image_id", src, where(p))
        raise DataError(src, f"annotation refers to unknown image id {image_of[p]}", where(p))
    keys = set().union(*anns)

    unlabelled = [0] * (3 * k)
    kp = _rows(_column(anns, "keypoints", unlabelled), 3 * k, src, where, "keypoints",
               f" ({k} keypoints x 3 for spec {spec.name})").reshape(n, k, 3)
    bad = ~np.isin(kp[:, :, 2], (0, 1, 2)).all(axis=1)
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        raise DataError(src, f"keypoint visibility must be 0, 1 or 2, got "
                             f"{sorted(set(kp[p, :, 2].tolist()))}", where(p))
    labelled = kp[:, :, 2] > 0
    if shift:
        kp[labelled, :2] -= shift

    given = _optional_rows(anns, keys, "bbox", 4, src, where, "bbox")
    boxes = np.zeros((n, 4))
    if given is not None:
        has, boxes = given
        neg = has & (boxes[:, 2:] < 0).any(axis=1)
        if neg.any():
            p = int(np.flatnonzero(neg)[0])
            raise DataError(src, f"bbox must be [x, y, w, h] with w, h >= 0, got {anns[p]['bbox']}", where(p))
        if shift:
            boxes[has, :2] -= shift
    if given is None or not given[0].all():
        miss = np.flatnonzero(~given[0]) if given is not None else np.arange(n)
        tight = keypoints_to_box(kp[miss]).astype(np.float64)            # xyxy, NaN: none labelled
        tight = np.where(np.isnan(tight), 0.0, tight)
        boxes[miss] = np.concatenate([tight[:, :2], tight[:, 2:] - tight[:, :2]], axis=1)

    areas = boxes[:, 2] * boxes[:, 3]
    given_area = _optional_rows(anns, keys, "area", 1, src, where, "area")
    if given_area is not None:
        areas = np.where(given_area[0], given_area[1][:, 0], areas)
    num_kp = labelled.sum(axis=1).astype(np.int64)
    given_nk = _optional_rows(anns, keys, "num_keypoints", 1, src, where, "num_keypoints")
    if given_nk is not None:
        has, nk = given_nk[0], given_nk[1][:, 0]
        if (nk[has] != np.round(nk[has])).any():
            p = int(np.flatnonzero(has & (nk != np.round(nk)))[0])
            raise DataError(src, f"num_keypoints must be an integer, got {anns[p]['num_keypoints']!r}", where(p))
        num_kp = np.where(has, nk, num_kp).astype(np.int64)

    head = _optional_rows(anns, keys, "head_bbox", 4, src, where, "head_bbox")
    scale = _optional_rows(anns, keys, "scale", 1, src, where, "scale")
    center = _optional_rows(anns, keys, "center", 2, src, where, "center")
    if head is not None:
        head[1][:, :2] -= shift
    if center is not None:
        center[1][:] -= shift
    segs = _column(anns, "segmentation") if "segmentation" in keys else None
    return CocoGroundTruth(
        source=src, spec=spec, category_id=int(cat_id) if isinstance(cat_id, (int, float)) else 1,
        image_ids=image_ids, images=tuple(images), image_index=np.array(img_idx, np.int64),
        keypoints=kp, boxes_xywh=boxes, areas=areas, num_keypoints=num_kp,
        crowd=np.array([bool(c) for c in _column(anns, "iscrowd", 0)], bool).reshape(n),
        ann_ids=_integers(_column(anns, "id", 0), src, where, "annotation id"),
        head_boxes=None if head is None else _xywh_to_xyxy64(head[1]),
        scales=None if scale is None else scale[1][:, 0],
        centers=None if center is None else center[1],
        segmentations=tuple(segs) if segs is not None and any(s is not None for s in segs) else None)


def read_coco_ground_truth(path: str | PathLike, spec: KeypointSpec | None = None, *,
                           one_based: bool | None = None) -> CocoGroundTruth:
    """:func:`parse_coco` of a COCO keypoints JSON file (missing file or malformed JSON raise
    DataError naming it)."""
    return parse_coco(load_json(path), path, spec, one_based=one_based)


def read_coco(path: str | PathLike, spec: KeypointSpec | None = None, *,
              one_based: bool | None = None) -> list[ImageRecord]:
    """Read a COCO keypoints JSON file into one :class:`ImageRecord` per image (file order).

    Args:
        path: the JSON file.
        spec: the keypoint spec; by default found from the category's keypoint names.
        one_based: whether the file's coordinates are MATLAB 1-based (then 1 is subtracted);
            None guesses with :func:`coco_is_one_based` (only COCO-style J-HMDB files are).

    Returns:
        records with keypoints ``(N, K, 3)`` in image pixels (0-based pixel centres), boxes
        xyxy, areas, crowd flags, ``image_id`` and ``ann_ids`` from the file.
    """
    return read_coco_ground_truth(path, spec, one_based=one_based).to_records()


def coco_records(d: Any, path: str | PathLike, spec: KeypointSpec | None = None, *,
                 one_based: bool | None = None) -> list[ImageRecord]:
    """:func:`read_coco` on an already parsed file ``d`` (``path`` names it in errors)."""
    return parse_coco(d, path, spec, one_based=one_based).to_records()


def records_to_coco(records: Sequence[ImageRecord], spec: KeypointSpec | None = None) -> dict:
    """COCO keypoints dict for ``records`` (all with the same spec). Images without an id get
    the next free one; people without annotation ids get the next free one."""
    if spec is None:
        spec = records[0].spec if records else None
    if spec is None:
        raise ValueError("records_to_coco: no records and no spec given")
    image_ids, ann_ids = _record_ids(records, spec)
    images, annotations = [], []
    for r, image_id, ids in zip(records, image_ids, ann_ids):
        images.append(_image_entry(r, image_id))
        segs = r.extra.get("segmentation")
        for p in range(r.num_people):
            kp = r.keypoints[p]
            ann: dict[str, Any] = {
                "id": int(ids[p]), "image_id": image_id, "category_id": 1,
                "keypoints": [num(v) if c < 2 else int(v) for row in kp for c, v in enumerate(row)],
                "num_keypoints": int((kp[:, 2] > 0).sum()),
                "bbox": box_to_json_xywh(r.boxes[p]), "area": num(r.areas[p]), "iscrowd": int(r.crowd[p]),
            }
            if segs is not None and segs[p] is not None:
                ann["segmentation"] = segs[p]
            if r.head_boxes is not None:
                ann["head_bbox"] = box_to_json_xywh(r.head_boxes[p])
            if r.scales is not None:
                ann["scale"] = num(r.scales[p])
            if r.centers is not None:
                ann["center"] = nums(r.centers[p])
            annotations.append(ann)
    category = {"id": 1, "name": "person", "supercategory": "person",
                "keypoints": list(spec.names),
                "skeleton": [[a + 1, b + 1] for a, b in spec.limbs]}
    return {"info": {"description": f"written by posekit; keypoint spec {spec.name}",
                     "posekit_coordinates": POSEKIT_COORDINATES},
            "images": images, "annotations": annotations, "categories": [category]}


def write_coco(records: Sequence[ImageRecord], path: str | Path, spec: KeypointSpec | None = None) -> None:
    """Write ``records`` as a COCO keypoints JSON file (boxes back to xywh). Reading the file
    with :func:`read_coco` gives back equal records."""
    write_json(records_to_coco(records, spec), path)


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CocoResult:
    """One entry of a COCO results list (detections or keypoint predictions).

    Attributes:
        image_id, category_id, score: as in the file.
        box: ``(4,)`` float32 xyxy, or None when the entry has no ``bbox``.
        keypoints: ``(K, 3)`` float32 ``[x, y, score]``, or None when the entry has none.
    """

    image_id: int
    category_id: int
    score: float
    box: np.ndarray | None
    keypoints: np.ndarray | None


@dataclass(frozen=True, eq=False)
class CocoResults:
    """A COCO results list as arrays (:func:`parse_coco_results`), or predictions made in
    memory (:meth:`create`): what :func:`posekit.metrics.coco_eval` scores.

    Attributes:
        image_ids: ``(D,)`` int64.
        scores: ``(D,)`` float64 person scores.
        keypoints: ``(D, K, 3)`` float64 ``[x, y, score]`` in image pixels, or None (a list of
            box detections).
        boxes_xywh: ``(D, 4)`` float64 ``bbox`` as in the file, or None. As in COCO's
            ``loadRes``, the first entry decides: when it has a ``bbox`` every entry needs one,
            otherwise boxes are not read (likewise ``keypoints``).
        category_ids: ``(D,)`` int64 (1 where an entry has none).
        source: the file (or a name such as ``<results>``) that errors name; an error about
            entry ``i`` reads ``source[i]: ...``.
    """

    image_ids: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None
    boxes_xywh: np.ndarray | None
    category_ids: np.ndarray
    source: str = "<results>"

    def __len__(self) -> int:
        return len(self.image_ids)

    @classmethod
    def create(cls, image_ids, keypoints, scores, *, category_ids=None, boxes_xywh=None,
               source: str = "<results>") -> "CocoResults":
        """Results from arrays: ``image_ids (D,)``, ``keypoints (D, K, 3)`` ``[x, y, score]``
        in image pixels, ``scores (D,)``; optional ``category_ids (D,)`` (default 1) and
        ``boxes_xywh (D, 4)``. Raises DataError for other shapes or non-finite values."""
        d = len(np.asarray(image_ids).reshape(-1))
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.size == 0:
            kp = kp.reshape(0, kp.shape[1] if kp.ndim == 3 else 0, 3)
        columns = {"image_ids": np.asarray(image_ids).reshape(-1),
                   "scores": np.asarray(scores, dtype=np.float64).reshape(-1),
                   "category_ids": np.ones(d, np.int64) if category_ids is None
                   else np.asarray(category_ids).reshape(-1)}
        for name, arr in columns.items():
            if arr.shape != (d,):
                raise DataError(source, f"{name} has shape {arr.shape}, expected ({d},)")
            if name != "scores" and arr.dtype.kind not in "iu" and d and \
                    not (arr.dtype.kind == "f" and (arr == np.round(arr)).all()):
                raise DataError(source, f"{name} must be integers")
        if kp.ndim != 3 or kp.shape[0] != d or kp.shape[2] != 3:
            raise DataError(source, f"keypoints has shape {kp.shape}, expected ({d}, K, 3)")
        boxes = None if boxes_xywh is None else np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
        if boxes is not None and len(boxes) != d:
            raise DataError(source, f"boxes_xywh has {len(boxes)} rows, expected {d}")
        for name, arr in (("keypoints", kp), ("scores", columns["scores"]), ("boxes_xywh", boxes)):
            if arr is not None and not np.isfinite(arr).all():
                raise DataError(source, f"{name} contain NaN or infinite values")
        return cls(columns["image_ids"].astype(np.int64), columns["scores"], kp, boxes,
                   columns["category_ids"].astype(np.int64), str(source))

    def to_list(self) -> list[CocoResult]:
        """The D entries as :class:`CocoResult` (float32 keypoints, xyxy boxes)."""
        boxes = None if self.boxes_xywh is None else xywh_to_xyxy(self.boxes_xywh)
        kps = None if self.keypoints is None else self.keypoints.astype(np.float32)
        return [CocoResult(int(self.image_ids[i]), int(self.category_ids[i]), float(self.scores[i]),
                           None if boxes is None else boxes[i], None if kps is None else kps[i])
                for i in range(len(self))]


def parse_coco_results(obj: Any, source: str | PathLike = "<results>",
                       num_keypoints: int | None = None) -> CocoResults:
    """Parse a COCO results list ``[{image_id, category_id, score, keypoints?, bbox?}]``.

    Args:
        obj: the parsed JSON.
        source: the file name errors give.
        num_keypoints: K, checked against every entry's keypoints; by default the first
            entry's count (which must be a multiple of 3).

    Raises:
        DataError: naming the file and the entry index: not a list, an entry that is not an
            object or lacks ``image_id`` / ``score`` (or ``keypoints`` / ``bbox`` when the first
            entry has them), a wrong keypoint count, non-numbers, NaN or infinite values.
    """
    src = str(source)
    if not isinstance(obj, list):
        raise DataError(src, "not a COCO results list (expected a JSON list of {image_id, "
                             "category_id, keypoints, score})")
    at = lambda i: i  # noqa: E731
    _objects(obj, src, at, "result entry is not an object")
    image_ids = _integers(_required(obj, "image_id", src, at, "result has no 'image_id'"), src, at,
                          "image_id")
    scores = _numbers(_required(obj, "score", src, at, "result has no 'score'"), src, at, "score")
    category_ids = _integers(_column(obj, "category_id", 1), src, at, "category_id")
    keypoints = boxes = None
    first = obj[0] if obj else {}
    if "keypoints" in first:
        rows = _required(obj, "keypoints", src, at, "result has no 'keypoints' (the first one has)")
        k = num_keypoints
        if k is None:
            n0 = len(first["keypoints"]) if isinstance(first["keypoints"], list) else 0
            if n0 == 0 or n0 % 3:
                raise DataError(src, f"keypoints has {n0} values, expected a multiple of 3", 0)
            k = n0 // 3
        keypoints = _rows(rows, 3 * k, src, at, "keypoints", f" ({k} keypoints x 3)").reshape(-1, k, 3)
    if "bbox" in first and first["bbox"] != []:
        boxes = _rows(_required(obj, "bbox", src, at, "result has no 'bbox' (the first one has)"),
                      4, src, at, "bbox")
    return CocoResults(image_ids, scores, keypoints, boxes, category_ids, src)


def read_coco_result_arrays(path: str | PathLike, num_keypoints: int | None = None) -> CocoResults:
    """:func:`parse_coco_results` of a COCO results list file (missing file or malformed JSON
    raise DataError naming it)."""
    return parse_coco_results(load_json(path), path, num_keypoints)


def read_coco_results(path: str | PathLike, num_keypoints: int | None = None) -> list[CocoResult]:
    """Read a COCO results list file into :class:`CocoResult` entries (see
    :func:`parse_coco_results`; ``num_keypoints``, when given, is checked against every entry's
    keypoints)."""
    return read_coco_result_arrays(path, num_keypoints).to_list()

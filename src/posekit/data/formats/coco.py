"""COCO keypoints JSON: read to ImageRecords, write ImageRecords back; COCO results lists.

Layout (Lin et al., "Microsoft COCO", ECCV 2014; cocodataset.org/#format-data):
``{"images": [{id, file_name, width, height}], "annotations": [{id, image_id, category_id,
keypoints: [x, y, v] * K, num_keypoints, bbox: [x, y, w, h], area, iscrowd, segmentation}],
"categories": [{id, name, keypoints: [K names], skeleton: [[a, b] 1-based]}]}``.

Conventions kept by this reader:
- v is COCO visibility: 0 unlabelled (x = y = 0 in the file, kept as is), 1 labelled but
  occluded, 2 visible. Any other v is an error.
- ``bbox`` is xywh in the file and xyxy in the record; a missing bbox becomes the tight box of
  the labelled keypoints; a missing ``area`` becomes the box area.
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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.formats._common import (
    box_from_json_xywh, box_to_json_xywh, finite_array, load_json, num, nums, write_json,
)
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.geometry import keypoints_to_box, xywh_to_xyxy
from posekit.skeleton import ALIASES, JHMDB15, SPECS, KeypointSpec

__all__ = ["read_coco", "coco_records", "coco_is_one_based", "write_coco", "records_to_coco",
           "spec_from_names", "CocoResult", "read_coco_results", "POSEKIT_COORDINATES"]

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


def _keypoint_category(d: dict, path: Path) -> dict:
    cats = d.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DataError(path, "no 'categories' list: not a COCO keypoints file")
    with_kp = [c for c in cats if isinstance(c, dict) and isinstance(c.get("keypoints"), list)]
    if not with_kp:
        raise DataError(path, "no category has a 'keypoints' list: not a COCO keypoints file")
    person = [c for c in with_kp if c.get("name") == "person"]
    return (person or with_kp)[0]


def _resolve_spec(cat: dict, spec: KeypointSpec | None, path: Path) -> KeypointSpec:
    names = cat["keypoints"]
    if spec is not None:
        if len(names) not in (0, spec.num_keypoints):
            raise DataError(path, f"category lists {len(names)} keypoints, but spec {spec.name} "
                                  f"has {spec.num_keypoints}")
        return spec
    found = spec_from_names(names)
    if found is not None:
        return found
    by_count = [s for s in SPECS.values() if s.num_keypoints == len(names)]
    if len(by_count) == 1:
        return by_count[0]
    raise DataError(path, f"cannot tell the keypoint spec from the category's {len(names)} "
                          f"keypoint names {names[:4]}...; pass spec= explicitly")


def _field(obj: dict, key: str, path: Path, index: str) -> Any:
    if key not in obj:
        raise DataError(path, f"missing field {key!r}", index)
    return obj[key]


def read_coco(path: str | Path, spec: KeypointSpec | None = None, *,
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
    path = Path(path)
    return coco_records(load_json(path), path, spec, one_based=one_based)


def coco_is_one_based(d: dict, spec: KeypointSpec) -> bool:
    """True for a COCO-style J-HMDB file (spec JHMDB15) not written by posekit: its values are
    J-HMDB's MATLAB 1-based ``pos_img`` (see the module docstring)."""
    info = d.get("info") if isinstance(d.get("info"), dict) else {}
    return spec == JHMDB15 and info.get("posekit_coordinates") != POSEKIT_COORDINATES


def coco_records(d: Any, path: str | Path, spec: KeypointSpec | None = None, *,
                 one_based: bool | None = None) -> list[ImageRecord]:
    """:func:`read_coco` on an already parsed file ``d`` (``path`` names it in errors)."""
    path = Path(path)
    if not isinstance(d, dict) or not isinstance(d.get("images"), list) \
            or not isinstance(d.get("annotations"), list):
        raise DataError(path, "not a COCO keypoints file (needs 'images' and 'annotations' lists)")
    cat = _keypoint_category(d, path)
    spec = _resolve_spec(cat, spec, path)
    k = spec.num_keypoints
    shift = 1.0 if (coco_is_one_based(d, spec) if one_based is None else one_based) else 0.0

    images: list[dict] = []
    index_of: dict[Any, int] = {}
    for i, im in enumerate(d["images"]):
        where = f"images[{i}]"
        if not isinstance(im, dict):
            raise DataError(path, "image entry is not an object", where)
        image_id = _field(im, "id", path, where)
        for key in ("id", "width", "height"):
            v = _field(im, key, path, where)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer():
                raise DataError(path, f"image {key} must be an integer, got {im[key]!r}", where)
        if image_id in index_of:
            raise DataError(path, f"duplicate image id {image_id}", where)
        index_of[image_id] = i
        images.append(im)

    people: list[list[tuple[int, dict]]] = [[] for _ in images]
    for j, ann in enumerate(d["annotations"]):
        where = f"annotations[{j}]"
        if not isinstance(ann, dict):
            raise DataError(path, "annotation is not an object", where)
        if "category_id" in ann and ann["category_id"] != cat.get("id", ann["category_id"]):
            continue
        image_id = _field(ann, "image_id", path, where)
        if image_id not in index_of:
            raise DataError(path, f"annotation refers to unknown image id {image_id}", where)
        people[index_of[image_id]].append((j, ann))

    # posekit's per-person extras: present for every record when any annotation has them
    has = {key: any(key in a for a in d["annotations"] if isinstance(a, dict))
           for key in ("head_bbox", "scale", "center")}
    return [_image_record(im, people[i], spec, k, path, i, has, shift) for i, im in enumerate(images)]


def _image_record(im: dict, anns: list[tuple[int, dict]], spec: KeypointSpec, k: int,
                  path: Path, i: int, has: dict[str, bool], shift: float) -> ImageRecord:
    """One record; ``shift`` (1 for 1-based files, else 0) is subtracted from every labelled
    x, y, box corner, head box corner and centre."""
    n = len(anns)
    kps = np.zeros((n, k, 3), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    areas = np.zeros(n, np.float32)
    crowd = np.zeros(n, bool)
    ann_ids = np.zeros(n, np.int64)
    segs: list[Any] = []
    head = np.zeros((n, 4), np.float32) if has["head_bbox"] else None
    scales = np.zeros(n, np.float32) if has["scale"] else None
    centers = np.zeros((n, 2), np.float32) if has["center"] else None
    for p, (j, ann) in enumerate(anns):
        where = f"annotations[{j}]"
        raw = ann.get("keypoints")
        if raw is None:
            raw = [0] * (3 * k)
        if not isinstance(raw, list) or len(raw) != 3 * k:
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise DataError(path, f"keypoints has {got} values, expected {3 * k} "
                                  f"({k} keypoints x 3 for spec {spec.name})", where)
        kp = finite_array(raw, path, where, "keypoints").reshape(k, 3)
        if not np.isin(kp[:, 2], (0, 1, 2)).all():
            raise DataError(path, f"keypoint visibility must be 0, 1 or 2, got "
                                  f"{sorted(set(kp[:, 2].tolist()))}", where)
        kp[kp[:, 2] > 0, :2] -= shift
        kps[p] = kp
        if "bbox" in ann:
            b = finite_array(ann["bbox"], path, where, "bbox")
            if b.shape != (4,) or b[2] < 0 or b[3] < 0:
                raise DataError(path, f"bbox must be [x, y, w, h] with w, h >= 0, got {ann['bbox']}", where)
            boxes[p] = box_from_json_xywh(b - [shift, shift, 0, 0])
        else:
            b = keypoints_to_box(kp[None])[0]
            boxes[p] = np.where(np.isnan(b), 0.0, b)
        if "area" in ann:
            areas[p] = float(finite_array(ann["area"], path, where, "area"))
        else:
            areas[p] = (boxes[p, 2] - boxes[p, 0]) * (boxes[p, 3] - boxes[p, 1])
        crowd[p] = bool(ann.get("iscrowd", 0))
        ann_ids[p] = int(ann.get("id", 0))
        segs.append(ann.get("segmentation"))
        if head is not None and "head_bbox" in ann:
            hb = finite_array(ann["head_bbox"], path, where, "head_bbox").reshape(4)
            head[p] = box_from_json_xywh(hb - [shift, shift, 0, 0])
        if scales is not None and "scale" in ann:
            scales[p] = float(finite_array(ann["scale"], path, where, "scale"))
        if centers is not None and "center" in ann:
            centers[p] = finite_array(ann["center"], path, where, "center").reshape(2) - shift
    where = f"images[{i}]"
    extra = dict(im.get("posekit") or {})
    if any(s is not None for s in segs):
        extra["segmentation"] = segs
    file_name = _field(im, "file_name", path, where)
    width, height = _field(im, "width", path, where), _field(im, "height", path, where)
    return ImageRecord.create(
        file_name, width, height, kps, spec, boxes=boxes, areas=areas, crowd=crowd,
        image_id=im["id"], head_boxes=head, scales=scales, centers=centers, ann_ids=ann_ids,
        extra=extra, source=str(path), index=where)


def records_to_coco(records: Sequence[ImageRecord], spec: KeypointSpec | None = None) -> dict:
    """COCO keypoints dict for ``records`` (all with the same spec). Images without an id get
    the next free one; people without annotation ids get the next free one."""
    if spec is None:
        spec = records[0].spec if records else None
    if spec is None:
        raise ValueError("records_to_coco: no records and no spec given")
    used_img = {r.image_id for r in records if r.image_id is not None}
    used_ann = {int(a) for r in records if r.ann_ids is not None for a in r.ann_ids}
    next_img = max(used_img, default=0) + 1
    next_ann = max(used_ann, default=0) + 1
    seen: set[int] = set()
    images, annotations = [], []
    for i, r in enumerate(records):
        if r.spec != spec:
            raise DataError(None, f"record uses spec {r.spec.name}, expected {spec.name}", i)
        image_id = r.image_id
        if image_id is None:
            image_id, next_img = next_img, next_img + 1
        if image_id in seen:
            raise DataError(r.file_name, f"duplicate image id {image_id}", i)
        seen.add(image_id)
        im: dict[str, Any] = {"id": image_id, "file_name": r.file_name, "width": r.width,
                              "height": r.height}
        extra = {key: v for key, v in r.extra.items() if key != "segmentation"}
        if extra:
            im["posekit"] = extra
        images.append(im)
        segs = r.extra.get("segmentation")
        for p in range(r.num_people):
            if r.ann_ids is not None:
                ann_id = int(r.ann_ids[p])
            else:
                ann_id, next_ann = next_ann, next_ann + 1
            kp = r.keypoints[p]
            ann: dict[str, Any] = {
                "id": ann_id, "image_id": image_id, "category_id": 1,
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


def read_coco_results(path: str | Path, num_keypoints: int | None = None) -> list[CocoResult]:
    """Read a COCO results list ``[{image_id, category_id, score, bbox?, keypoints?}]``.

    ``num_keypoints``, when given, is checked against every entry's keypoints.
    """
    path = Path(path)
    d = load_json(path)
    if not isinstance(d, list):
        raise DataError(path, "not a COCO results file (expected a JSON list)")
    out = []
    for i, e in enumerate(d):
        if not isinstance(e, dict):
            raise DataError(path, "result entry is not an object", i)
        image_id = _field(e, "image_id", path, str(i))
        score = float(finite_array(_field(e, "score", path, str(i)), path, i, "score"))
        box = None
        if "bbox" in e:
            b = finite_array(e["bbox"], path, i, "bbox")
            if b.shape != (4,):
                raise DataError(path, f"bbox must have 4 values, got {b.size}", i)
            box = xywh_to_xyxy(b)
        kp = None
        if "keypoints" in e:
            a = finite_array(e["keypoints"], path, i, "keypoints")
            if a.ndim != 1 or a.size % 3 or (num_keypoints is not None and a.size != 3 * num_keypoints):
                want = f"{3 * num_keypoints}" if num_keypoints else "a multiple of 3"
                raise DataError(path, f"keypoints has {a.size} values, expected {want}", i)
            kp = a.reshape(-1, 3).astype(np.float32)
        out.append(CocoResult(int(image_id), int(e.get("category_id", 1)), score, box, kp))
    return out

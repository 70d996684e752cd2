"""MPII Human Pose: the official ``.mat`` release and the common JSON form.

MPII Human Pose (Andriluka, Pishchulin, Gehler, Schiele, CVPR 2014).

Official release (``mpii_human_pose_v1_u12_1.mat``), read with
``scipy.io.loadmat(struct_as_record=False, squeeze_me=True)``::

    RELEASE.annolist(i).image.name                      image file name
    RELEASE.annolist(i).annorect(j).x1, y1, x2, y2      head box of person j
    RELEASE.annolist(i).annorect(j).annopoints.point    struct array: id (0-15), x, y, is_visible
    RELEASE.annolist(i).annorect(j).scale               person height / 200 px
    RELEASE.annolist(i).annorect(j).objpos.x, .y        rough person centre
    RELEASE.img_train(i)                                1 = training image
    RELEASE.single_person{i}                            1-based annorect indices
    RELEASE.act(i).act_name, cat_name, act_id           activity

Common JSON form (HRNet / MMPose conversion, one entry per person)::

    [{"image": name, "joints": 16 x [x, y], "joints_vis": 16 x 0/1,
      "center": [x, y], "scale": person height / 200 px}]

posekit also reads (and writes) an optional ``"head_box": [x1, y1, x2, y2]`` per entry, the
official head rectangle in the same 1-based frame, and accepts entries without ``center`` /
``scale`` (unknown, as HRNet's -1).

Conventions (converted once, here):
- Coordinates are MATLAB 1-based in both forms (the reference MPII loaders of HRNet and MMPose
  subtract 1); records are 0-based pixel centres, so 1 is subtracted from every x, y, head
  box corner and centre.
- ``scale`` is multiplied by 200: ``record.scales`` is the person height in pixels, so no
  ``pixel_std = 200`` survives past this module.
- .mat: a point with ``is_visible == 0`` gets v = 1 (occluded); 1 or missing gets v = 2. A
  joint absent from ``annopoints`` is unlabelled (x = y = v = 0).
- JSON: ``joints_vis`` only says whether a joint is labelled (occlusion is lost), so labelled
  joints get v = 2 and unlabelled ones x = y = v = 0.
- Head boxes: the .mat has them. The JSON form has none (unless posekit's ``head_box``
  field is there), so they are **estimated**: a square
  centred on the midpoint of upper_neck and head_top, with side ``L / (0.6 * sqrt(2))`` where
  L is the neck-top distance. That makes the official PCKh normaliser (0.6 x head-box
  diagonal) equal to the head segment length, which is the definition PCKh approximates;
  it is not the official box, so PCKh on JSON input is close to, not equal to, the official
  number. Records with any estimated box carry ``extra["head_boxes_estimated"] = True``.
- Every annorect is kept as a person (index j stays j), also those without keypoints (test
  images); fields a person lacks (head box, scale, centre) are 0.
- Image sizes are not in either form; they are read from the image headers when the image
  folder is found, otherwise estimated (see :class:`ImageSizer`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.formats._common import (
    ImageSizer, finite_array, load_json, load_mat, num_for, write_json,
)
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.skeleton import MPII16

__all__ = ["read_mpii_mat", "read_mpii_json", "write_mpii_json", "estimate_head_boxes",
           "PIXEL_STD"]

PIXEL_STD = 200.0  # MPII's scale unit: scale = person height / 200 px
_NECK, _TOP = MPII16.index("upper_neck"), MPII16.index("head_top")


def estimate_head_boxes(keypoints: np.ndarray) -> np.ndarray:
    """Head boxes ``(N, 4)`` xyxy estimated from MPII16 keypoints ``(N, 16, 3)``: a square on the
    upper_neck/head_top midpoint with side ``L / (0.6 sqrt 2)`` (L = their distance), so that
    0.6 x diagonal = L. People lacking either joint get zeros."""
    kp = np.asarray(keypoints, np.float64)
    out = np.zeros((kp.shape[0], 4), np.float32)
    for i, person in enumerate(kp):
        if person[_NECK, 2] > 0 and person[_TOP, 2] > 0:
            mid = (person[_NECK, :2] + person[_TOP, :2]) / 2
            half = np.linalg.norm(person[_NECK, :2] - person[_TOP, :2]) / (0.6 * math.sqrt(2)) / 2
            out[i] = [mid[0] - half, mid[1] - half, mid[0] + half, mid[1] + half]
    return out


def _items(x: Any) -> list:
    """A MATLAB struct array / cell loaded with squeeze_me as a Python list (empty -> [])."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _get(s: Any, name: str) -> Any:
    v = getattr(s, name, None)
    if isinstance(v, np.ndarray) and v.size == 0:
        return None
    return v


def _num(s: Any, name: str, path: Path, index: int) -> float | None:
    v = _get(s, name)
    if v is None:
        return None
    a = finite_array(v, path, index, f"field {name}")
    if a.size != 1:
        raise DataError(path, f"field {name} should be a number, has {a.size} values", index)
    return float(a.ravel()[0])


def read_mpii_mat(path: str | Path, image_dir: str | Path | None = None, *,
                  read_images: bool = True) -> list[ImageRecord]:
    """Read the official MPII release ``.mat`` into one record per ``annolist`` entry.

    Args:
        path: ``mpii_human_pose_v1_u12_1.mat`` (or a file in the same layout).
        image_dir: folder of the images, for their sizes (default ``images/`` beside the file).
        read_images: False estimates image sizes from the keypoints without the images.

    Returns:
        records in MPII16 order with head_boxes, scales (px) and centers; ``extra`` holds
        ``is_train``, ``single_person`` (0-based person indices) and ``activity`` when present.
    """
    path = Path(path)
    m = load_mat(path, squeeze=True)
    rel = m.get("RELEASE")
    if rel is None or not hasattr(rel, "annolist"):
        raise DataError(path, "no RELEASE.annolist struct: not the MPII release layout "
                              f"(variables: {sorted(k for k in m if not k.startswith('__'))})")
    annolist = _items(rel.annolist)
    img_train = np.atleast_1d(np.asarray(_get(rel, "img_train"))) if _get(rel, "img_train") is not None else None
    single = _items(_get(rel, "single_person"))
    acts = _items(_get(rel, "act"))
    sizer = ImageSizer(path, image_dir, path.parent / "images", read_images)
    records = []
    for i, a in enumerate(annolist):
        image = _get(a, "image")
        name = _get(image, "name") if image is not None else None
        if not isinstance(name, str):
            raise DataError(path, "annolist entry has no image.name", i)
        rects = _items(_get(a, "annorect"))
        n = len(rects)
        kp = np.zeros((n, 16, 3), np.float32)
        head = np.zeros((n, 4), np.float32)
        scales = np.zeros(n, np.float32)
        centers = np.zeros((n, 2), np.float32)
        for j, r in enumerate(rects):
            corners = [_num(r, c, path, i) for c in ("x1", "y1", "x2", "y2")]
            if all(c is not None for c in corners):
                x1, y1, x2, y2 = (c - 1 for c in corners)
                head[j] = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
            s = _num(r, "scale", path, i)
            if s is not None:
                scales[j] = s * PIXEL_STD
            obj = _get(r, "objpos")
            if obj is not None and _get(obj, "x") is not None:
                centers[j] = [_num(obj, "x", path, i) - 1, _num(obj, "y", path, i) - 1]
            ap = _get(r, "annopoints")
            for pt in _items(_get(ap, "point") if ap is not None else None):
                jid = _num(pt, "id", path, i)
                if jid is None or not (0 <= jid < 16) or jid != int(jid):
                    raise DataError(path, f"person {j}: joint id {jid} is not in 0..15", i)
                x, y = _num(pt, "x", path, i), _num(pt, "y", path, i)
                if x is None or y is None:
                    raise DataError(path, f"person {j}: joint {int(jid)} has no x/y", i)
                vis = _get(pt, "is_visible")
                occluded = vis is not None and str(np.asarray(vis).ravel()[0]).strip() in ("0", "0.0", "False")
                kp[j, int(jid)] = [x - 1, y - 1, 1 if occluded else 2]
        extra: dict[str, Any] = {}
        if img_train is not None and i < len(img_train):
            extra["is_train"] = bool(img_train[i])
        if i < len(single):
            extra["single_person"] = [int(v) - 1 for v in np.atleast_1d(np.asarray(single[i])).ravel()]
        if i < len(acts):
            extra["activity"] = {
                "act_name": _str(_get(acts[i], "act_name")), "cat_name": _str(_get(acts[i], "cat_name")),
                "act_id": int(_num(acts[i], "act_id", path, i) or -1)}
        pts = np.concatenate([kp[kp[:, :, 2] > 0][:, :2], head[head.any(1)].reshape(-1, 2)])
        w, h, est = sizer.size(name, pts, i)
        if est:
            extra["size_estimated"] = True
        records.append(ImageRecord.create(
            name, w, h, kp, MPII16, head_boxes=head, scales=scales, centers=centers,
            image_id=i + 1, ann_ids=np.arange(n) + 1000 * (i + 1), extra=extra,
            source=str(path), index=i))
    return records


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def read_mpii_json(path: str | Path, image_dir: str | Path | None = None, *,
                   read_images: bool = True) -> list[ImageRecord]:
    """Read the common MPII JSON form (one entry per person) into one record per image, in
    order of first appearance. Head boxes come from ``head_box`` when an entry has one, else
    they are estimated (see module docstring).

    Args:
        path: e.g. ``mpii_train.json`` / ``test_mpii.json``.
        image_dir: folder of the images, for their sizes (default ``images/`` beside the file,
            else the file's own folder).
        read_images: False estimates image sizes from the keypoints without the images.
    """
    path = Path(path)
    d = load_json(path)
    if not isinstance(d, list):
        raise DataError(path, "not an MPII JSON file (expected a list of person entries)")
    default = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    sizer = ImageSizer(path, image_dir, default, read_images)
    groups: dict[str, list[tuple[int, np.ndarray, float, np.ndarray, np.ndarray | None]]] = {}
    for i, e in enumerate(d):
        if not isinstance(e, dict) or not isinstance(e.get("image"), str):
            raise DataError(path, "entry is not an object with an 'image' name", i)
        for key in ("joints", "joints_vis"):
            if key not in e:
                raise DataError(path, f"missing field {key!r}", i)
        joints = finite_array(e["joints"], path, i, "joints")
        vis = finite_array(e["joints_vis"], path, i, "joints_vis").ravel()
        if joints.shape != (16, 2):
            raise DataError(path, f"joints has shape {joints.shape}, expected (16, 2) for spec mpii16", i)
        if vis.shape != (16,):
            raise DataError(path, f"joints_vis has {vis.size} values, expected 16", i)
        kp = np.zeros((16, 3), np.float32)
        lab = vis > 0
        kp[lab, :2] = joints[lab] - 1
        kp[lab, 2] = 2
        center = finite_array(e.get("center", [-1, -1]), path, i, "center").ravel()
        scale = float(finite_array(e.get("scale", -1), path, i, "scale"))
        if center.shape != (2,):
            raise DataError(path, f"center has {center.size} values, expected 2", i)
        if scale > 0:
            height, c = scale * PIXEL_STD, (center - 1).astype(np.float32)
        else:  # HRNet writes scale = -1 / center = [-1, -1] when unknown
            height, c = 0.0, np.zeros(2, np.float32)
        head = None
        if "head_box" in e:
            hb = finite_array(e["head_box"], path, i, "head_box").ravel()
            if hb.shape != (4,):
                raise DataError(path, f"head_box has {hb.size} values, expected [x1, y1, x2, y2]", i)
            x1, y1, x2, y2 = hb - 1
            head = np.array([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], np.float32)
        groups.setdefault(e["image"], []).append((i, kp, height, c, head))
    records = []
    for n_img, (name, people) in enumerate(groups.items()):
        kp = np.stack([p[1] for p in people])
        first = people[0][0]
        pts = kp[kp[:, :, 2] > 0][:, :2]
        w, h, est = sizer.size(name, pts, first)
        given = [p[4] is not None for p in people]
        head = estimate_head_boxes(kp)
        for j, p in enumerate(people):
            if p[4] is not None:
                head[j] = p[4]
        extra: dict[str, Any] = {} if all(given) else {"head_boxes_estimated": True}
        if est:
            extra["size_estimated"] = True
        records.append(ImageRecord.create(
            name, w, h, kp, MPII16, head_boxes=head,
            scales=[p[2] for p in people], centers=np.stack([p[3] for p in people]),
            image_id=n_img + 1, ann_ids=[p[0] + 1 for p in people], extra=extra,
            source=str(path), index=first))
    return records


def _plus1(v: float) -> float:
    return v + 1


def _minus1(v: float) -> float:
    return v - 1


def write_mpii_json(records: Sequence[ImageRecord], path: str | Path) -> None:
    """Write MPII16 records in the common JSON form (1-based coordinates, scale in units of
    200 px, unlabelled joints as (-1, -1) with joints_vis 0). Head boxes are written as
    posekit's ``head_box`` field (1-based) for records whose boxes are real (not estimated)
    and not all zero; the common form itself has no field for them."""
    out = []
    for i, r in enumerate(records):
        if r.spec != MPII16:
            raise DataError(r.file_name, f"record uses spec {r.spec.name}, expected mpii16", i)
        for p in range(r.num_people):
            kp = r.keypoints[p]
            lab = kp[:, 2] > 0
            joints = [[num_for(x, _plus1, _minus1), num_for(y, _plus1, _minus1)] if ok else [-1, -1]
                      for (x, y, _), ok in zip(kp, lab)]
            has_scale = r.scales is not None and r.scales[p] > 0
            entry = {
                "image": r.file_name, "joints": joints, "joints_vis": [int(v) for v in lab],
                "center": [num_for(c, _plus1, _minus1) for c in r.centers[p]]
                if has_scale and r.centers is not None else [-1, -1],
                "scale": num_for(r.scales[p], lambda s: s / PIXEL_STD, lambda s: s * PIXEL_STD)
                if has_scale else -1,
            }
            real_heads = r.head_boxes is not None and not r.extra.get("head_boxes_estimated")
            if real_heads and r.head_boxes[p].any():
                entry["head_box"] = [num_for(v, _plus1, _minus1) for v in r.head_boxes[p]]
            out.append(entry)
    write_json(out, path)

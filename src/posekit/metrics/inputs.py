"""Reading ground truth and predictions for the evaluation command, and pairing them.

Ground truth is any annotation file :mod:`posekit.data.formats` reads (COCO keypoints JSON, the
MPII JSON list or ``.mat`` release, LSP, FLIC, AI Challenger, J-HMDB), read by that reader: so
it is in posekit's frame, 0-based pixel centres, whatever the source (MPII, LSP, FLIC and J-HMDB
are 1-based on disk). Predictions are expected in the same frame, which is what posekit's
predictors write. Either way the ground truth becomes one
:class:`~posekit.data.formats.CocoGroundTruth` (a COCO file's own parse, or the records of the
other readers), which the OKS metric scores as it is and the single-person metrics split by
image; the predictions become a :class:`~posekit.data.formats.CocoResults`. Nothing is turned
back into JSON.

Predictions: a JSON list of ``{image_id | file_name | image, keypoints, score?, category_id?,
bbox?}``; keypoints are a flat ``[x1, y1, s1, ...]`` list of 3K numbers (COCO results) or a
``K x 3`` / ``K x 2`` nested list (a ``K x 2`` list gets joint scores 1). Images are named by
``image_id`` or by file name (whole, then base name).

Keypoint specs: predictions of another spec than the ground truth's are carried over through
their common joints (:func:`posekit.skeleton.remap_index`, e.g. COCO-17 predictions on
CrowdPose-14 or MPII-16 ground truth), and then only the common joints are scored: the ground
truth is cut down to them (:func:`restrict`). The predictions' spec is found from their
keypoint count when exactly one known spec has it, or named explicitly.

For the single-person metrics (PCK, PCKh, PCP, PDJ) each ground-truth person gets at most one
prediction: pairs within an image are taken greedily by increasing mean distance over the
person's labelled joints; a person left without a prediction counts as missed (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.formats.coco import CocoGroundTruth, CocoResults, read_coco_ground_truth
from posekit.errors import DataError
from posekit.skeleton import SPECS, KeypointSpec, get_spec, remap_index

__all__ = ["GtImage", "GroundTruth", "Predictions", "load_ground_truth", "load_predictions",
           "restrict", "align_people"]


@dataclass(frozen=True)
class GtImage:
    """One ground-truth image: ``keypoints (G, K, 3)``, ``boxes (G, 4)`` xyxy, ``head_boxes
    (G, 4)`` xyxy or None, ``crowd (G,)``; float64, image pixels (0-based pixel centres)."""

    image_id: int | None
    file_name: str | None
    keypoints: np.ndarray
    boxes: np.ndarray
    head_boxes: np.ndarray | None
    crowd: np.ndarray


@dataclass(frozen=True)
class GroundTruth:
    """Parsed ground truth: its images, spec, source name and format, and the same ground
    truth as arrays (``coco``) for the OKS metric: a COCO file's own parse (so the numbers
    equal pycocotools' on it), or the records of the other readers."""

    images: list[GtImage]
    spec: KeypointSpec
    path: str
    coco: CocoGroundTruth
    format: str = "coco"

    def index(self) -> tuple[dict[int, int], dict[str, int]]:
        """Maps image_id -> position and file name (full and base name) -> position."""
        by_id = {im.image_id: i for i, im in enumerate(self.images) if im.image_id is not None}
        by_name: dict[str, int] = {}
        for i, im in enumerate(self.images):
            if im.file_name is None:
                continue
            by_name[im.file_name] = i
            by_name.setdefault(im.file_name.replace("\\", "/").rsplit("/", 1)[-1], i)
        return by_id, by_name


def _split_images(truth: CocoGroundTruth) -> list[GtImage]:
    """The ground truth's people grouped by image, boxes as xyxy."""
    boxes = truth.boxes_xyxy()
    out = []
    for i, (name, p) in enumerate(zip(truth.file_names(), truth.people_of_images())):
        out.append(GtImage(int(truth.image_ids[i]), None if name is None else str(name),
                           truth.keypoints[p], boxes[p],
                           None if truth.head_boxes is None else truth.head_boxes[p], truth.crowd[p]))
    return out


def load_ground_truth(path: str | PathLike, spec: KeypointSpec | None = None) -> GroundTruth:
    """Read ground truth with the reader of its format (found from the content).

    Args:
        path: an annotation file (see the module docstring).
        spec: the keypoint spec; by default the reader's (found from COCO category names).

    Raises:
        DataError: naming the file, for unreadable or unknown files, a COCO *results* list,
            or a spec that is not the file's.
    """
    from posekit.data.formats import detect_format, read_annotations

    p = Path(path)
    fmt = detect_format(p)
    if fmt == "coco_results":
        raise DataError(p, "this is a results list (predictions), not ground truth")
    if fmt == "coco":
        truth = read_coco_ground_truth(p, spec)
    else:
        records = read_annotations(p, fmt, read_images=False)
        if not records:
            raise DataError(p, "ground truth has no images")
        truth = CocoGroundTruth.from_records(records, source=p)
    if truth.num_images == 0:
        raise DataError(p, "ground truth has no images")
    if spec is not None and spec != truth.spec:
        raise DataError(p, f"ground truth uses spec {truth.spec.name}, not {spec.name}")
    return GroundTruth(_split_images(truth), truth.spec, str(p), truth, fmt)


# ------------------------------------------------------------------------- predictions
@dataclass(frozen=True)
class Predictions:
    """Predictions found in their images, in the ground truth's keypoint order.

    Attributes:
        per_image: ``per_image[i]`` lists the indices of the predictions of ``gt.images[i]``.
        keypoints: ``(P, K, 3)`` ``[x, y, score]`` for the K scored joints (see ``joints``).
        scores: ``(P,)`` the ``score`` field, or the mean joint score when absent.
        coco: the P predictions as COCO results for the OKS metric: the ground truth's image
            ids and keypoint category, the scored joints, the ``score`` field, and ``bbox``
            when the first prediction has one (COCO then takes its area).
        joints: indices into the ground truth's spec of the scored joints (all of them unless
            the predictions were remapped from a spec lacking some).
        source_spec: the predictions' own spec.
        skipped: how many predictions named images absent from the ground truth (skipped).
    """

    per_image: list[list[int]]
    keypoints: np.ndarray
    scores: np.ndarray
    coco: CocoResults
    joints: tuple[int, ...]
    source_spec: KeypointSpec
    skipped: int


def _load_list(src: Any) -> tuple[list, str]:
    from posekit.data.formats._common import load_json

    if isinstance(src, (str, PathLike)):
        obj, name = load_json(src), str(src)
    else:
        obj, name = src, "<predictions>"
    if not isinstance(obj, list):
        raise DataError(name, "predictions must be a JSON list of {image_id|file_name, keypoints, score}")
    return obj, name


def _source_spec(obj: list, gt: GroundTruth, remap: str | KeypointSpec | None, name: str) -> KeypointSpec:
    """The predictions' spec: ``remap`` when given, the ground truth's when the first
    prediction's keypoint count fits it, else the only known spec with that count."""
    if remap is not None:
        try:
            return remap if isinstance(remap, KeypointSpec) else get_spec(remap)
        except KeyError as e:
            raise DataError(name, str(e.args[0])) from None
    first = next((i for i, r in enumerate(obj) if isinstance(r, dict) and "keypoints" in r), None)
    if first is None:
        return gt.spec
    try:
        n = np.asarray(obj[first]["keypoints"], dtype=np.float64).size
    except (ValueError, TypeError):
        return gt.spec                  # reported with its index when the prediction is read
    if n in (3 * gt.spec.num_keypoints, 2 * gt.spec.num_keypoints):
        return gt.spec
    for per in (3, 2):
        fits = [s for s in SPECS.values() if per * s.num_keypoints == n]
        if len(fits) == 1:
            return fits[0]
        if fits:
            raise DataError(name, f"{n} keypoint numbers fit specs {', '.join(s.name for s in fits)}, "
                                  f"not the ground truth's {gt.spec.name}; name the predictions' "
                                  "spec with --remap SPEC", first)
    raise DataError(name, f"{n} keypoint numbers fit no known keypoint spec; the ground truth "
                          f"({gt.spec.name}) needs {3 * gt.spec.num_keypoints}", first)


def _image_of(r: dict, by_id: dict, by_name: dict) -> int | None:
    """Index into ``gt.images`` of prediction ``r``; None if unknown.

    A ``file_name`` (or ``image``) that names a ground-truth image wins, compared whole and then
    by base name: ``posekit predict`` without ``--gt`` numbers its images 1, 2, 3... in input
    order, and those ids mean nothing to another file's ground truth. Otherwise ``image_id``
    decides (COCO results carry only that)."""
    fname = r.get("file_name", r.get("image"))
    if fname is not None:
        key = str(fname)
        if key not in by_name:
            key = key.replace("\\", "/").rsplit("/", 1)[-1]
        if key in by_name:
            return by_name[key]
    if "image_id" in r and r["image_id"] in by_id:
        return by_id[r["image_id"]]
    return None


def load_predictions(src: Any, gt: GroundTruth, *, skip_unknown: bool = False,
                     remap: str | KeypointSpec | None = None,
                     require_score: bool = False) -> Predictions:
    """Read predictions (a path or a parsed list) and find their images.

    Args:
        src: the predictions file, or the parsed list.
        gt: the ground truth.
        skip_unknown: skip predictions naming images that are not in the ground truth (they are
            counted in ``skipped``) instead of raising.
        remap: the predictions' keypoint spec (name or spec) when it is not the ground truth's;
            by default found from the keypoint count (see :func:`_source_spec`).
        require_score: every prediction must have a ``score`` (COCO results).

    Raises:
        DataError: naming the file and the prediction index: unknown images (one error for all
            of them, saying how many), wrong keypoint count, NaN, non-person category, missing
            score, or specs without common joints.
    """
    obj, name = _load_list(src)
    source = _source_spec(obj, gt, remap, name)
    pairs = remap_index(source, gt.spec)
    if not pairs:
        raise DataError(name, f"specs {source.name} and {gt.spec.name} have no joint in common")
    src_idx = np.array([i for i, _ in sorted(pairs, key=lambda ij: ij[1])])
    joints = tuple(j for _, j in sorted(pairs, key=lambda ij: ij[1]))
    k_src = source.num_keypoints
    by_id, by_name = gt.index()
    category = gt.coco.category_id
    where = []
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise DataError(name, "prediction must be an object", i)
        if not {"image_id", "file_name", "image"} & r.keys():
            raise DataError(name, "prediction names no image (image_id or file_name)", i)
        where.append(_image_of(r, by_id, by_name))
    unknown = [i for i, w in enumerate(where) if w is None]
    if unknown and not skip_unknown:
        r = obj[unknown[0]]
        what = r.get("image_id", r.get("file_name", r.get("image")))
        problem = (f"names an unknown image {what!r}" if len(obj) == 1 else
                   f"{len(unknown)} of {len(obj)} predictions name images that are not in "
                   f"{gt.path} (the first: {what!r})")
        raise DataError(name, f"{problem}; --skip-unknown skips them and scores the rest",
                        unknown[0])
    per_image: list[list[int]] = [[] for _ in gt.images]
    kps, scores, image_ids, boxes = [], [], [], []
    kept = [i for i, w in enumerate(where) if w is not None]
    with_box = bool(kept) and obj[kept[0]].get("bbox") not in (None, [])     # as COCO's loadRes
    for i, (r, img) in enumerate(zip(obj, where)):
        if img is None:
            continue
        if gt.format == "coco" and r.get("category_id", category) != category:
            raise DataError(name, f"category_id {r['category_id']} is not a person category", i)
        if with_box:
            try:
                box = np.asarray(r["bbox"], dtype=np.float64).reshape(4)
            except KeyError:
                raise DataError(name, "prediction has no 'bbox' (the first one has, so all need "
                                      "one)", i) from None
            except (ValueError, TypeError):
                raise DataError(name, "bbox must be 4 numbers [x, y, w, h]", i) from None
            boxes.append(box)
        try:
            a = np.asarray(r["keypoints"], dtype=np.float64)
        except KeyError:
            raise DataError(name, "prediction has no 'keypoints'", i) from None
        except (ValueError, TypeError):
            raise DataError(name, "keypoints must be numbers", i) from None
        if a.size == 3 * k_src:
            a = a.reshape(k_src, 3)
        elif a.size == 2 * k_src:
            a = np.concatenate([a.reshape(k_src, 2), np.ones((k_src, 1))], axis=1)
        else:
            raise DataError(name, f"{a.size} keypoint numbers; {source.name} needs {3 * k_src} "
                                  f"(x, y, score for {k_src} keypoints)", i)
        if not np.isfinite(a).all():
            raise DataError(name, "keypoints contain NaN or infinite values", i)
        if "score" in r:
            try:
                score = float(r["score"])
            except (TypeError, ValueError):
                raise DataError(name, "score must be a number", i) from None
            if not np.isfinite(score):
                raise DataError(name, "score is NaN or infinite", i)
        elif require_score:
            raise DataError(name, "result has no 'score'", i)
        else:
            score = float(a[:, 2].mean())
        per_image[img].append(len(kps))
        kps.append(a[src_idx])
        scores.append(score)
        image_ids.append(gt.coco.image_ids[img])
    kp = np.array(kps).reshape(-1, len(joints), 3)
    score_arr = np.array(scores, np.float64)
    coco = CocoResults.create(np.array(image_ids, np.int64), kp, score_arr,
                              category_ids=np.full(len(kps), category),
                              boxes_xywh=np.array(boxes).reshape(-1, 4) if with_box else None,
                              source=name)
    return Predictions(per_image, kp, score_arr, coco, joints, source, len(unknown))


# ---------------------------------------------------------------------- scored joints
def _sub_spec(spec: KeypointSpec, joints: tuple[int, ...], other: KeypointSpec) -> KeypointSpec:
    names = tuple(spec.names[j] for j in joints)
    pos = {j: n for n, j in enumerate(joints)}
    limbs = tuple((pos[a], pos[b]) for a, b in spec.limbs if a in pos and b in pos)
    sigmas = None if spec.sigmas is None else tuple(spec.sigmas[j] for j in joints)
    try:
        return KeypointSpec(f"{spec.name}&{other.name}", names, limbs, sigmas,
                            f"the {len(names)} joints {spec.name} has in common with {other.name}")
    except ValueError as e:            # e.g. a left joint whose right one is not in common
        raise DataError(None, f"cannot score the joints common to {spec.name} and {other.name}: {e}") from None


def restrict(gt: GroundTruth, joints: tuple[int, ...], other: KeypointSpec) -> GroundTruth:
    """The ground truth cut down to ``joints`` (indices into ``gt.spec``), the joints it shares
    with the predictions' spec ``other``: images, spec (with those joints, their limbs and
    sigmas) and COCO arrays (keypoints, and ``num_keypoints`` counted over those joints)."""
    if tuple(joints) == tuple(range(gt.spec.num_keypoints)):
        return gt
    spec = _sub_spec(gt.spec, tuple(joints), other)
    cols = np.asarray(joints)
    images = [replace(im, keypoints=im.keypoints[:, cols]) for im in gt.images]
    kp = gt.coco.keypoints[:, cols]
    coco = replace(gt.coco, spec=spec, keypoints=kp,
                   num_keypoints=(kp[:, :, 2] > 0).sum(axis=1).astype(np.int64))
    return replace(gt, images=images, spec=spec, coco=coco)


# --------------------------------------------------------------- single-person pairing
def align_people(gt: GroundTruth, per_image: list[list[int]], kps: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Pair each non-crowd ground-truth person that has a labelled joint with at most one
    prediction (greedy by mean distance over the person's labelled joints, within each image).

    Returns:
        ``(pred (N, K, 3), gt (N, K, 3), boxes (N, 4), head_boxes (N, 4) or None)``; unmatched
        people get NaN predictions.
    """
    preds, gts, boxes, heads = [], [], [], []
    all_heads = all(im.head_boxes is not None for im in gt.images)
    for im, idx in zip(gt.images, per_image):
        keep = ~im.crowd & (im.keypoints[..., 2] > 0).any(axis=1)
        g = im.keypoints[keep]
        p = kps[idx] if idx else np.zeros((0, g.shape[1], 3))
        out = np.full(g.shape, np.nan)
        if len(g) and len(p):
            lab = g[..., 2] > 0                                               # (G, K)
            d = np.hypot(p[None, :, :, 0] - g[:, None, :, 0], p[None, :, :, 1] - g[:, None, :, 1])
            cost = (d * lab[:, None]).sum(axis=2) / lab.sum(axis=1)[:, None]  # (G, P)
            used_g, used_p = set(), set()
            for f in np.argsort(cost, axis=None, kind="stable"):
                gi, pi = divmod(int(f), cost.shape[1])
                if gi in used_g or pi in used_p:
                    continue
                out[gi] = p[pi]
                used_g.add(gi)
                used_p.add(pi)
        preds.append(out)
        gts.append(g)
        boxes.append(im.boxes[keep])
        if all_heads:
            heads.append(im.head_boxes[keep])
    k = gt.spec.num_keypoints
    cat = lambda xs, tail: np.concatenate(xs) if xs else np.zeros((0, *tail))  # noqa: E731
    return (cat(preds, (k, 3)), cat(gts, (k, 3)), cat(boxes, (4,)),
            cat(heads, (4,)) if all_heads else None)

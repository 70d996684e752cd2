"""Reading ground truth and predictions for the evaluation command, and pairing them.

Ground truth: a COCO keypoints JSON (``images``/``annotations``/``categories``), or an
MPII-style list (``[{image, joints (K x 2), joints_vis (K), optional head_box [x1, y1, x2, y2]},
...]``, one entry per person, as in MMPose's MPII annotation files).

Predictions: a JSON list of ``{image_id | file_name | image, keypoints, score?}``; keypoints
are a flat ``[x1, y1, s1, ...]`` list of 3K numbers (COCO results) or a ``K x 3`` / ``K x 2``
nested list. Images may be named by ``image_id`` or by file name.

For the single-person metrics (PCK, PCKh, PCP, PDJ) each ground-truth person gets at most one
prediction: pairs within an image are taken greedily by increasing mean distance over the
person's labelled joints; a person left without a prediction counts as missed (NaN).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from posekit.errors import DataError
from posekit.metrics.coco import load_coco_json
from posekit.skeleton import ALIASES, COCO17, MPII16, SPECS, KeypointSpec

__all__ = ["GtImage", "GroundTruth", "load_ground_truth", "load_predictions", "align_people",
           "coco_results"]


@dataclass(frozen=True)
class GtImage:
    """One ground-truth image: ``keypoints (G, K, 3)``, ``boxes (G, 4)`` xyxy, ``head_boxes
    (G, 4)`` xyxy or None, ``crowd (G,)``; float64 image pixels."""

    image_id: int | None
    file_name: str
    keypoints: np.ndarray
    boxes: np.ndarray
    head_boxes: np.ndarray | None
    crowd: np.ndarray


@dataclass(frozen=True)
class GroundTruth:
    """Parsed ground truth: its images, spec, source name, and the raw COCO dict (or None)."""

    images: list[GtImage]
    spec: KeypointSpec
    path: str
    coco: dict | None

    def index(self) -> tuple[dict[int, int], dict[str, int]]:
        """Maps image_id -> position and file name (full and base name) -> position."""
        by_id = {im.image_id: i for i, im in enumerate(self.images) if im.image_id is not None}
        by_name: dict[str, int] = {}
        for i, im in enumerate(self.images):
            by_name[im.file_name] = i
            by_name.setdefault(im.file_name.replace("\\", "/").rsplit("/", 1)[-1], i)
        return by_id, by_name


def _canonical(name: str) -> str:
    n = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(n, n)


def _spec_for_names(names: list[str] | None, k: int) -> KeypointSpec | None:
    """The spec whose joints are ``names`` in order (case, spaces and aliases aside)."""
    if names:
        want = [_canonical(n) for n in names]
        for s in SPECS.values():
            if [_canonical(n) for n in s.names] == want:
                return s
    if k == COCO17.num_keypoints:
        return COCO17
    return None


def load_ground_truth(src: Any, spec: KeypointSpec | None = None) -> GroundTruth:
    """Read COCO or MPII-style ground truth (path or parsed JSON). ``spec`` is inferred when
    None: COCO17 for 17 keypoints or a spec whose joint names equal the category's; MPII16 for
    MPII lists."""
    obj, name = load_coco_json(src, "ground truth")
    if isinstance(obj, dict) and "annotations" in obj:
        return _load_coco_gt(obj, name, spec)
    if isinstance(obj, list):
        return _load_mpii_gt(obj, name, spec)
    raise DataError(name, "ground truth must be COCO keypoints JSON or an MPII-style list")


def _load_coco_gt(obj: dict, name: str, spec: KeypointSpec | None) -> GroundTruth:
    cats = obj.get("categories") or []
    names = next((c["keypoints"] for c in cats if c.get("keypoints")), None)
    anns = obj["annotations"]
    k = len(names) if names else (len(anns[0]["keypoints"]) // 3 if anns else 17)
    if spec is None:
        spec = _spec_for_names(names, k)
        if spec is None:
            raise DataError(name, f"cannot tell the keypoint spec of {k} keypoints; pass --spec")
    if spec.num_keypoints != k:
        raise DataError(name, f"{k} keypoints per person, but spec {spec.name} has {spec.num_keypoints}")
    people: dict[int, list[tuple[np.ndarray, np.ndarray, bool]]] = {}
    for i, a in enumerate(anns):
        try:
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(k, 3)
            x, y, w, h = (float(v) for v in a["bbox"])
        except (KeyError, ValueError, TypeError):
            raise DataError(name, f"annotation needs keypoints (3 x {k} numbers) and bbox",
                            f"annotations:{i}") from None
        if not np.isfinite(kp).all():
            raise DataError(name, "keypoints contain NaN or infinite values", f"annotations:{i}")
        people.setdefault(a.get("image_id"), []).append(
            (kp, np.array([x, y, x + w, y + h]), bool(a.get("iscrowd", 0))))
    images = []
    for im in obj.get("images", []):
        ps = people.get(im["id"], [])
        images.append(GtImage(
            int(im["id"]), str(im.get("file_name", im["id"])),
            np.array([p[0] for p in ps]).reshape(-1, k, 3), np.array([p[1] for p in ps]).reshape(-1, 4),
            None, np.array([p[2] for p in ps], dtype=bool)))
    return GroundTruth(images, spec, name, obj)


def _load_mpii_gt(obj: list, name: str, spec: KeypointSpec | None) -> GroundTruth:
    spec = spec or MPII16
    k = spec.num_keypoints
    groups: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {}
    for i, e in enumerate(obj):
        try:
            xy = np.asarray(e["joints"], dtype=np.float64).reshape(k, 2)
            vis = np.asarray(e.get("joints_vis", np.ones(k)), dtype=np.float64).reshape(k)
            img = str(e["image"])
        except (KeyError, ValueError, TypeError):
            raise DataError(name, f"entry needs image, joints ({k} x 2) and joints_vis ({k})", i) from None
        if not np.isfinite(xy).all():
            raise DataError(name, "joints contain NaN or infinite values", i)
        head = e.get("head_box", e.get("headbox"))
        hb = None if head is None else np.asarray(head, dtype=np.float64).reshape(4)
        kp = np.concatenate([xy, np.where(vis > 0, 2.0, 0.0)[:, None]], axis=1)
        groups.setdefault(img, []).append((kp, hb))
    images = []
    for img, ps in groups.items():
        kp = np.array([p[0] for p in ps]).reshape(-1, k, 3)
        has_head = all(p[1] is not None for p in ps)
        images.append(GtImage(None, img, kp, _tight_boxes(kp),
                              np.array([p[1] for p in ps]) if has_head else None,
                              np.zeros(len(ps), bool)))
    return GroundTruth(images, spec, name, None)


def _tight_boxes(kp: np.ndarray) -> np.ndarray:
    lab = kp[..., 2] > 0
    x = np.where(lab, kp[..., 0], np.nan)
    y = np.where(lab, kp[..., 1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: people without joints
        return np.stack([np.nanmin(x, 1), np.nanmin(y, 1), np.nanmax(x, 1), np.nanmax(y, 1)], axis=1)


def load_predictions(src: Any, gt: GroundTruth) -> tuple[list[list[int]], np.ndarray, np.ndarray, list]:
    """Read predictions and find their images.

    Returns:
        ``(per_image, keypoints (P, K, 3), scores (P,), raw)``: ``per_image[i]`` lists the
        indices of the predictions of ``gt.images[i]``; scores are the ``score`` field, or the
        mean joint score when absent (NaN if there are no joint scores); ``raw`` the list read.

    Raises:
        DataError: naming the file and the prediction index (unknown image, wrong keypoint
            count, NaN, non-person category).
    """
    obj, name = load_coco_json(src, "predictions")
    if not isinstance(obj, list):
        raise DataError(name, "predictions must be a JSON list of {image_id|file_name, keypoints, score}")
    k = gt.spec.num_keypoints
    by_id, by_name = gt.index()
    per_image: list[list[int]] = [[] for _ in gt.images]
    kps = np.zeros((len(obj), k, 3))
    scores = np.full(len(obj), np.nan)
    person_cats = None
    if gt.coco is not None:
        cats = gt.coco.get("categories") or []
        person_cats = {c["id"] for c in cats if "keypoints" in c} or {c["id"] for c in cats}
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise DataError(name, "prediction must be an object", i)
        img = _image_of(r, by_id, by_name, gt, name, i)
        if person_cats is not None and "category_id" in r and r["category_id"] not in person_cats:
            raise DataError(name, f"category_id {r['category_id']} is not a person category", i)
        try:
            a = np.asarray(r["keypoints"], dtype=np.float64)
        except KeyError:
            raise DataError(name, "prediction has no 'keypoints'", i) from None
        except (ValueError, TypeError):
            raise DataError(name, "keypoints must be numbers", i) from None
        if a.size == 3 * k:
            a = a.reshape(k, 3)
        elif a.size == 2 * k:
            a = np.concatenate([a.reshape(k, 2), np.ones((k, 1))], axis=1)
        else:
            raise DataError(name, f"{a.size} keypoint numbers; {gt.spec.name} needs {3 * k} "
                                  f"(x, y, score for {k} keypoints)", i)
        if not np.isfinite(a).all():
            raise DataError(name, "keypoints contain NaN or infinite values", i)
        kps[i] = a
        if "score" in r:
            try:
                scores[i] = float(r["score"])
            except (TypeError, ValueError):
                raise DataError(name, "score must be a number", i) from None
            if not np.isfinite(scores[i]):
                raise DataError(name, "score is NaN or infinite", i)
        else:
            scores[i] = float(a[:, 2].mean())
        per_image[img].append(i)
    return per_image, kps, scores, obj


def _image_of(r: dict, by_id: dict, by_name: dict, gt: "GroundTruth", name: str, i: int) -> int:
    """Index into ``gt.images`` of prediction ``r``: by ``image_id`` when it is known, else by
    ``file_name`` (or ``image``), compared whole and then by base name."""
    if "image_id" in r and r["image_id"] in by_id:
        return by_id[r["image_id"]]
    fname = r.get("file_name", r.get("image"))
    key = None if fname is None else str(fname)
    if key is not None and key not in by_name:
        key = key.replace("\\", "/").rsplit("/", 1)[-1]
    if key is None or key not in by_name:
        what = r.get("image_id", fname)
        raise DataError(name, f"unknown image {what!r} (no such image_id or file_name in {gt.path})", i)
    return by_name[key]


def coco_results(gt: GroundTruth, raw: list, name: str = "<predictions>") -> list[dict]:
    """The predictions as a COCO results list: ``image_id`` filled in from the file name,
    ``category_id`` defaulting to 1 and nested keypoints flattened.

    Raises:
        DataError: for a prediction whose image is neither a known image_id nor a file name.
    """
    by_id, by_name = gt.index()
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            raise DataError(name, "prediction must be an object", i)
        if "image_id" not in r or r["image_id"] not in by_id:
            r = {**r, "image_id": gt.images[_image_of(r, by_id, by_name, gt, name, i)].image_id}
        if "category_id" not in r:
            r = {**r, "category_id": 1}
        kp = r.get("keypoints")
        if isinstance(kp, list) and kp and isinstance(kp[0], list):
            r = {**r, "keypoints": [v for row in kp for v in row]}
        out.append(r)
    return out


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

"""COCO keypoint AP/AR (OKS-based), vectorised, equal to pycocotools' COCOeval.

The rules are those of ``COCOeval(iouType='keypoints')`` (Lin et al., "Microsoft COCO", ECCV
2014; the cocodataset.org keypoint evaluation), reproduced exactly:

* ground truth is *ignored* when it is a crowd region or has ``num_keypoints == 0``; for each
  area range (all, medium [32^2, 96^2], large [96^2, inf), bounds inclusive) ground truth whose
  ``area`` falls outside is ignored too;
* detections are ranked per image by score with a stable sort (ties keep the results order)
  and only the top ``maxDets = 20`` per image and category are kept;
* at each OKS threshold 0.50:0.05:0.95 detections are matched greedily in rank order: each takes
  the unmatched (or crowd) ground truth of highest OKS >= threshold, preferring non-ignored
  ground truth, the last of equal OKS winning (COCOeval's scan order); a detection matched to
  ignored ground truth, or unmatched with an area outside the range, is ignored;
* detections of all images are ranked by score with a stable sort (ties in image-id order, then
  in per-image rank), precision is made monotone and read at 101 recall points
  (``searchsorted(..., 'left')``, 0 past the last recall reached);
* categories or area ranges without non-ignored ground truth give -1, and a summary that has only
  -1 entries is -1 (so "no ground truth" gives -1, as in COCOeval);
* detection areas come from the results' ``bbox`` (``w * h``) when the first result has one,
  otherwise from the extent of all K predicted keypoints, as ``COCO.loadRes`` computes them.

Unlike COCOeval an empty result list is accepted (it scores 0 where there is ground truth).
Only the keypoint category (the one :mod:`posekit.data.formats` reads) is scored.

Inputs are arrays: the ground truth a :class:`~posekit.data.formats.CocoGroundTruth` (the one
parse of a COCO file, at the file's precision, or ImageRecords through
:meth:`~posekit.data.formats.CocoGroundTruth.from_records`), the results a
:class:`~posekit.data.formats.CocoResults`. Paths and parsed JSON are accepted as a convenience
and go through the same parsers of :mod:`posekit.data.formats`; nothing here reads a file.

Speed comes from doing everything at once: the OKS of all (detection, ground truth) pairs of
all images in one batch, then the greedy matching run over all images, area ranges and
thresholds together, one detection rank at a time (at most 20 steps), and one global sort for
the accumulation. pycocotools is used only as an oracle in tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Union

import numpy as np

from posekit.data.formats.coco import (
    CocoGroundTruth, CocoResults, parse_coco, parse_coco_results, read_coco_ground_truth,
    read_coco_result_arrays,
)
from posekit.data.records import ImageRecord
from posekit.errors import DataError
from posekit.metrics.oks import expanded_box_bounds, oks_pairs
from posekit.skeleton import COCO17, KeypointSpec

__all__ = ["coco_eval", "evaluate_coco", "CocoEvalResult", "COCO_KEYS"]

COCO_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
# COCOeval's keypoint parameters; linspace (not arange) exactly as pycocotools builds them.
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
AREA_RANGES = ((0 ** 2, 1e5 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2))
AREA_LABELS = ("all", "medium", "large")
MAX_DETS = 20
# COCOeval builds its sigmas as [.26, ...] / 10, which differ from the decimal literals of
# COCO17.sigmas in the last bit; using its values keeps every OKS bit-identical to COCOeval.
COCOEVAL_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                            .87, .87, .89, .89]) / 10.0


@dataclass(frozen=True)
class CocoEvalResult:
    """Accumulated evaluation.

    Attributes:
        precision: ``(T, R, C, A)`` interpolated precision (T=10 OKS thresholds, R=101 recall
            points, C categories, A=3 area ranges), -1 where there is no ground truth.
        recall: ``(T, C, A)`` maximum recall, -1 where there is no ground truth.
        stats: the 10 summary numbers keyed by :data:`COCO_KEYS`.
        cat_ids: the C category ids, sorted.
    """

    precision: np.ndarray
    recall: np.ndarray
    stats: dict[str, float]
    cat_ids: tuple[int, ...]


# ------------------------------------------------------------------------------ inputs
@dataclass
class _Gt:
    img: np.ndarray      # (G,) image rank (index into sorted image ids)
    ids: np.ndarray      # (G,) annotation ids
    crowd: np.ndarray    # (G,) bool
    ignore: np.ndarray   # (G,) bool: crowd or num_keypoints == 0
    area: np.ndarray     # (G,) float64
    bounds: np.ndarray   # (G, 4) enlarged box (x0, x1, y0, y1)
    xy: np.ndarray       # (G, K, 2) float64
    lab: np.ndarray      # (G, K) bool


@dataclass
class _Dt:
    img: np.ndarray      # (D,) image rank
    score: np.ndarray    # (D,) float64
    area: np.ndarray     # (D,) float64
    xy: np.ndarray       # (D, K, 2) float64


GroundTruthInput = Union[CocoGroundTruth, Sequence[ImageRecord], str, PathLike, dict]
ResultsInput = Union[CocoResults, str, PathLike, list]


def _ground_truth(gt: GroundTruthInput, spec: KeypointSpec | None) -> CocoGroundTruth:
    """``gt`` as arrays. A path or a parsed COCO dict (a convenience) goes through the one COCO
    parser of :mod:`posekit.data.formats`; ImageRecords through
    :meth:`CocoGroundTruth.from_records`."""
    if isinstance(gt, (str, PathLike)):
        return read_coco_ground_truth(gt, spec)
    if isinstance(gt, dict):
        return parse_coco(gt, "<ground truth>", spec)
    if isinstance(gt, (list, tuple)) and all(isinstance(r, ImageRecord) for r in gt):
        truth = CocoGroundTruth.from_records(gt, spec if not gt else None, "<records>")
    elif isinstance(gt, CocoGroundTruth):
        truth = gt
    else:
        raise DataError(None, "ground truth must be a CocoGroundTruth, ImageRecords, a COCO file or "
                              f"its parsed dict, not {type(gt).__name__}")
    if spec is not None and spec.num_keypoints != truth.spec.num_keypoints:
        raise DataError(truth.source, f"{truth.spec.num_keypoints} keypoints per person, but spec "
                                      f"{spec.name} has {spec.num_keypoints}")
    return truth


def _results(results: ResultsInput, k: int) -> CocoResults:
    """``results`` as arrays; a path or a parsed list goes through the one results parser of
    :mod:`posekit.data.formats`."""
    if isinstance(results, CocoResults):
        return results
    if isinstance(results, (str, PathLike)):
        return read_coco_result_arrays(results, k)
    return parse_coco_results(results, "<results>", k)


def _gt_arrays(truth: CocoGroundTruth, img_ids: np.ndarray) -> _Gt:
    """The ground truth's people in the terms of COCOeval: ignored when crowd or
    ``num_keypoints == 0``, the box rule's enlarged box from the xywh box."""
    rank = np.searchsorted(img_ids, truth.image_ids)[truth.image_index]
    kp = truth.keypoints
    return _Gt(img=rank.astype(np.int64), ids=truth.ann_ids, crowd=truth.crowd,
               ignore=truth.crowd | (truth.num_keypoints == 0), area=truth.areas,
               bounds=expanded_box_bounds(truth.boxes_xywh), xy=np.ascontiguousarray(kp[:, :, :2]),
               lab=kp[:, :, 2] > 0)


def _dt_arrays(res: CocoResults, truth: CocoGroundTruth, img_ids: np.ndarray) -> _Dt:
    """The results in the terms of COCOeval; every one must name an image of the ground truth
    and its keypoint category. Areas as ``COCO.loadRes``: the box's when there are boxes,
    otherwise the extent of the K keypoints."""
    k = truth.spec.num_keypoints
    if len(res) == 0:
        z = np.zeros(0)
        return _Dt(np.zeros(0, np.int64), z, z, np.zeros((0, k, 2)))
    if res.keypoints is None:
        raise DataError(res.source, "result has no 'keypoints'", 0)
    if res.keypoints.shape[1] != k:
        raise DataError(res.source, f"results have {res.keypoints.shape[1]} keypoints, the ground "
                                    f"truth {k}")
    rank = np.searchsorted(img_ids, res.image_ids)
    ok = rank < len(img_ids)
    ok[ok] = img_ids[rank[ok]] == res.image_ids[ok]
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataError(res.source, f"unknown image_id {int(res.image_ids[i])} (not in the ground truth)", i)
    bad_cat = res.category_ids != truth.category_id
    if bad_cat.any():
        i = int(np.flatnonzero(bad_cat)[0])
        raise DataError(res.source, f"category_id {int(res.category_ids[i])} is not the keypoint "
                                    f"(person) category {truth.category_id} of the ground truth", i)
    xy = np.ascontiguousarray(res.keypoints[:, :, :2])
    if res.boxes_xywh is not None:
        area = res.boxes_xywh[:, 2] * res.boxes_xywh[:, 3]
    else:
        x, y = xy[:, :, 0], xy[:, :, 1]
        area = (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
    return _Dt(rank.astype(np.int64), res.scores, area, xy)


# ------------------------------------------------------------------------ evaluation
def _match(oks: np.ndarray, n_dt: np.ndarray, gt_ig: np.ndarray, gt_crowd: np.ndarray,
           gt_id0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching for I images at once, one detection rank at a time.

    Args:
        oks: ``(I, Dmax, Gmax)`` OKS, -1 for padding; detections in rank order, ground truth in
            *reverse* annotation order (so a plain argmax finds the last of equal maxima, as
            COCOeval's scan does).
        n_dt: ``(I,)`` detections per image, non-increasing (images sorted by it).
        gt_ig: ``(A, I, Gmax)`` ignore flags per area range.
        gt_crowd: ``(I, Gmax)``; gt_id0: ``(I, Gmax)`` ground truth whose id is 0.

    Returns:
        ``matched (A, T, I, Dmax)`` (a match COCOeval counts, i.e. to a ground truth of non-zero
        id) and ``ignored (A, T, I, Dmax)`` (matched to ignored ground truth).
    """
    n_img, d_max, g_max = oks.shape
    n_a, n_t = gt_ig.shape[0], len(IOU_THRS)
    thr = np.minimum(IOU_THRS, 1 - 1e-10)[:, None, None]                   # (T, 1, 1)
    # Non-ignored ground truth keeps its OKS (>= 0.5 when eligible), ignored ground truth is
    # scaled by 1/16 (exact, order-preserving) so any eligible non-ignored one wins the argmax.
    scale = np.where(gt_ig, 0.0625, 1.0)[:, None]                          # (A, 1, I, G)
    penalty = np.zeros((n_a, n_t, n_img, g_max))                           # -inf once taken
    matched = np.zeros((n_a, n_t, n_img, d_max), dtype=bool)
    ignored = np.zeros((n_a, n_t, n_img, d_max), dtype=bool)
    for d in range(d_max):
        na = int(np.count_nonzero(n_dt > d))
        o = oks[:na, d, :]                                                 # (na, G)
        ot = np.where(o >= thr, o, -np.inf)                                # (T, na, G)
        key = (ot + penalty[:, :, :na]) * scale[:, :, :na]                 # (A, T, na, G)
        m = np.argmax(key, axis=-1)                                        # (A, T, na)
        best = np.take_along_axis(key, m[..., None], axis=-1)[..., 0]
        has = best > -np.inf
        is_reg = best >= 0.25
        i_idx = np.arange(na)
        matched[:, :, :na, d] = has & ~gt_id0[i_idx, m]
        ignored[:, :, :na, d] = has & ~is_reg
        take = has & ~gt_crowd[i_idx, m]                                   # crowds stay free
        aa, tt, ii = np.nonzero(take)
        penalty[aa, tt, ii, m[aa, tt, ii]] = -np.inf
    return matched, ignored


def _may_reach(d_xy: np.ndarray, g: _Gt, variances: np.ndarray, pair_d: np.ndarray,
               pair_g: np.ndarray, thr: float) -> np.ndarray:
    """``(P,)`` bool: pairs whose OKS *may* reach ``thr``; the others are certainly below it.

    OKS >= thr needs some labelled keypoint with exp(-e_i) >= thr, i.e. a distance
    d_i <= sqrt(2 ln(1/thr) var_max (area + eps)); d_i is at least the gap between the box of
    the detection's keypoints and the box of the ground truth's labelled keypoints. Pairs whose
    OKS stays below every threshold never match, so they need not be computed exactly.
    """
    gx, gy = np.ascontiguousarray(g.xy[..., 0]), np.ascontiguousarray(g.xy[..., 1])   # (G, K)
    dx, dy = np.ascontiguousarray(d_xy[..., 0]), np.ascontiguousarray(d_xy[..., 1])   # (D, K)
    gx0, gy0 = np.where(g.lab, gx, np.inf).min(axis=1), np.where(g.lab, gy, np.inf).min(axis=1)
    gx1, gy1 = np.where(g.lab, gx, -np.inf).max(axis=1), np.where(g.lab, gy, -np.inf).max(axis=1)
    dx0, dy0, dx1, dy1 = dx.min(axis=1), dy.min(axis=1), dx.max(axis=1), dy.max(axis=1)
    gap_x = np.maximum(0.0, np.maximum(gx0[pair_g] - dx1[pair_d], dx0[pair_d] - gx1[pair_g]))
    gap_y = np.maximum(0.0, np.maximum(gy0[pair_g] - dy1[pair_d], dy0[pair_d] - gy1[pair_g]))
    gap2 = gap_x ** 2 + gap_y ** 2
    area = g.area + np.spacing(1)
    reach2 = 2.0 * np.log(1.0 / thr) * variances.max() * area * 1.001 + 1e-9
    keep = ~g.lab.any(axis=1) | (area <= 0) | ~np.isfinite(reach2)     # box rule, odd areas
    return keep[pair_g] | (gap2 <= reach2[pair_g])


def _evaluate_category(g: _Gt, dt: _Dt, n_img: int, variances: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Precision ``(T, R, A)`` and recall ``(T, A)`` of one category."""
    n_a, n_t, n_r = len(AREA_RANGES), len(IOU_THRS), len(REC_THRS)
    lo = np.array([a[0] for a in AREA_RANGES], dtype=np.float64)[:, None]
    hi = np.array([a[1] for a in AREA_RANGES], dtype=np.float64)[:, None]
    gt_ig = g.ignore[None] | (g.area[None] < lo) | (g.area[None] > hi)          # (A, G)
    npig = np.count_nonzero(~gt_ig, axis=1)                                      # (A,)
    precision = -np.ones((n_t, n_r, n_a))
    recall = -np.ones((n_t, n_a))

    # detections: per image stable sort by score, keep the top MAX_DETS
    order = np.lexsort((-dt.score, dt.img))
    d_img = dt.img[order]
    starts = np.searchsorted(d_img, np.arange(n_img))
    rank = np.arange(len(order)) - starts[d_img]
    order = order[rank < MAX_DETS]
    d_img, rank = d_img[rank < MAX_DETS], rank[rank < MAX_DETS]
    n_d = len(order)
    score, d_area, d_xy = dt.score[order], dt.area[order], dt.xy[order]

    # ground truth grouped by image (stable: annotation order within an image)
    g_order = np.argsort(g.img, kind="stable")
    g_img = g.img[g_order]
    g_cnt = np.bincount(g_img, minlength=n_img)
    g_start = np.concatenate([[0], np.cumsum(g_cnt)[:-1]])
    d_cnt = np.bincount(d_img, minlength=n_img)

    matched = np.zeros((n_a, n_t, n_d), dtype=bool)
    ign = np.zeros((n_a, n_t, n_d), dtype=bool)
    both = np.flatnonzero((g_cnt > 0) & (d_cnt > 0))
    if len(both):
        # all (detection, ground truth) pairs that share an image
        has_pair = g_cnt[d_img] > 0
        pd = np.flatnonzero(has_pair)
        reps = g_cnt[d_img[pd]]
        pair_d = np.repeat(pd, reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        pair_gs = g_start[d_img[pair_d]] + within              # position in g_order
        pair_g = g_order[pair_gs]
        oks = np.zeros(len(pair_d))
        cand = _may_reach(d_xy, g, variances, pair_d, pair_g, IOU_THRS.min())
        oks[cand] = oks_pairs(d_xy, g.xy, g.lab, g.area, variances, pair_d[cand], pair_g[cand],
                              g.bounds)
        # Images are matched in buckets of similar ground-truth count (1, 2, 3-4, 5-8, ...)
        # to keep the padding small; within a bucket, sorted by detection count, descending.
        bucket = np.ceil(np.log2(np.maximum(g_cnt, 1))).astype(np.int64)         # per image
        pair_b = bucket[d_img[pair_d]]
        g_w = np.arange(len(g_img)) - g_start[g_img]        # position within its image
        gt_ig_o, crowd_o, id0_o = gt_ig[:, g_order], g.crowd[g_order], g.ids[g_order] == 0
        for b in np.unique(bucket[both]):
            imgs = both[bucket[both] == b]
            imgs = imgs[np.argsort(-d_cnt[imgs], kind="stable")]
            loc = np.full(n_img, -1)
            loc[imgs] = np.arange(len(imgs))
            n_i, d_max, g_max = len(imgs), int(d_cnt[imgs].max()), int(g_cnt[imgs].max())
            ps = np.flatnonzero(pair_b == b)
            oks_pad = np.full((n_i, d_max, g_max), -1.0)
            # reversed ground-truth columns, see _match
            oks_pad[loc[d_img[pair_d[ps]]], rank[pair_d[ps]], g_max - 1 - within[ps]] = oks[ps]
            gs = np.flatnonzero(loc[g_img] >= 0)
            gi, gw = loc[g_img[gs]], g_max - 1 - g_w[gs]
            ig_pad = np.ones((n_a, n_i, g_max), dtype=bool)
            crowd_pad = np.zeros((n_i, g_max), dtype=bool)
            id0_pad = np.zeros((n_i, g_max), dtype=bool)
            ig_pad[:, gi, gw] = gt_ig_o[:, gs]
            crowd_pad[gi, gw] = crowd_o[gs]
            id0_pad[gi, gw] = id0_o[gs]
            m_pad, i_pad = _match(oks_pad, d_cnt[imgs], ig_pad, crowd_pad, id0_pad)
            ds = np.flatnonzero(loc[d_img] >= 0)
            matched[:, :, ds] = m_pad[:, :, loc[d_img[ds]], rank[ds]]
            ign[:, :, ds] = i_pad[:, :, loc[d_img[ds]], rank[ds]]
    out_rng = (d_area[None] < lo) | (d_area[None] > hi)                       # (A, D)
    ign |= ~matched & out_rng[:, None]

    # accumulate: one stable sort of all kept detections (already in image order)
    if n_d:
        s_order = np.argsort(-score, kind="mergesort")
        matched, ign = matched[:, :, s_order], ign[:, :, s_order]
    tp = np.cumsum(matched & ~ign, axis=2, dtype=np.float64)
    fp = np.cumsum(~matched & ~ign, axis=2, dtype=np.float64)
    for a in range(n_a):
        if npig[a] == 0:
            continue
        if n_d == 0:
            recall[:, a] = 0
            precision[:, :, a] = 0
            continue
        rc = tp[a] / npig[a]                                        # (T, D)
        pr = tp[a] / (fp[a] + tp[a] + np.spacing(1))
        pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
        recall[:, a] = rc[:, -1]
        for t in range(n_t):
            idx = np.searchsorted(rc[t], REC_THRS, side="left")
            inside = idx < n_d
            q = np.zeros(n_r)
            q[inside] = pr[t, idx[inside]]
            precision[t, :, a] = q
    return precision, recall


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    def mean(s: np.ndarray) -> float:
        s = s[s > -1]
        return float(np.mean(s)) if s.size else -1.0

    t50 = np.where(IOU_THRS == .5)[0]
    t75 = np.where(IOU_THRS == .75)[0]
    out = {}
    for ap, arr in (("AP", precision), ("AR", recall)):
        sl = (slice(None),) * (arr.ndim - 1)
        out[ap] = mean(arr[sl + (0,)])
        out[ap + "50"] = mean(arr[t50][sl + (0,)])
        out[ap + "75"] = mean(arr[t75][sl + (0,)])
        out[ap + "m"] = mean(arr[sl + (1,)])
        out[ap + "l"] = mean(arr[sl + (2,)])
    return {k: out[k] for k in COCO_KEYS}


def _sigmas_for(spec: KeypointSpec, sigmas, k: int, name: str) -> np.ndarray:
    if sigmas is not None:
        sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    elif spec.sigmas == COCO17.sigmas:
        sig = COCOEVAL_SIGMAS
    elif spec.sigmas is None:
        raise DataError(name, f"keypoint spec {spec.name!r} has no OKS sigmas; pass sigmas=")
    else:
        sig = spec.sigmas_array()
    if sig.shape != (k,):
        raise DataError(name, f"{len(sig)} OKS sigmas for {k} keypoints")
    return sig


def evaluate_coco(gt: GroundTruthInput, results: ResultsInput, spec: KeypointSpec | None = None,
                  sigmas=None) -> CocoEvalResult:
    """Full COCO keypoint evaluation (precision/recall arrays and the 10 summary numbers).

    Args:
        gt: the ground truth: a :class:`~posekit.data.formats.CocoGroundTruth` (what
            :func:`~posekit.data.formats.read_coco_ground_truth` returns) or ImageRecords of any
            reader (see :meth:`~posekit.data.formats.CocoGroundTruth.from_records`); as a
            convenience, a COCO keypoints file or its parsed dict, read by
            :mod:`posekit.data.formats`.
        results: a :class:`~posekit.data.formats.CocoResults` (``CocoResults.create(image_ids,
            keypoints (D, K, 3), scores)`` for predictions in memory); as a convenience, a COCO
            results file or its parsed list.
        spec: keypoint spec giving the OKS sigmas; by default the ground truth's.
        sigmas: ``(K,)`` sigmas overriding the spec's.

    Raises:
        DataError: naming the file (or ``<ground truth>``, ``<results>``, ``<records>``) and
            the entry (wrong keypoint count, NaN, unknown image id, missing score, another
            category than the ground truth's keypoint category, ...).
    """
    truth = _ground_truth(gt, spec)
    spec = spec or truth.spec
    k = truth.spec.num_keypoints
    variances = (_sigmas_for(spec, sigmas, k, truth.source) * 2) ** 2
    res = _results(results, k)
    img_ids = np.unique(truth.image_ids)            # COCOeval's sorted image ids
    g = _gt_arrays(truth, img_ids)
    dt = _dt_arrays(res, truth, img_ids)
    precision, recall = _evaluate_category(g, dt, len(img_ids), variances)
    return CocoEvalResult(precision[:, :, None], recall[:, None], _summarize(precision, recall),
                          (truth.category_id,))


def coco_eval(gt: GroundTruthInput, results: ResultsInput, spec: KeypointSpec | None = None,
              sigmas=None) -> dict[str, float]:
    """COCO keypoint AP/AR: ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm",
    "ARl"}``, equal to pycocotools' ``COCOeval(iouType='keypoints')`` summary.

    ``gt``: a CocoGroundTruth or ImageRecords, or (a convenience) a COCO JSON path or dict;
    ``results``: a CocoResults, or a results JSON path or list. See :func:`evaluate_coco` for the
    arguments and the module docstring for the rules::

        coco_eval("person_keypoints_val2017.json", "results.json")
        coco_eval(records, CocoResults.create(image_ids, keypoints, scores))
    """
    return evaluate_coco(gt, results, spec=spec, sigmas=sigmas).stats

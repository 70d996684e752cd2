"""Video metrics: per-frame AP, MOTA for pose tracks, keypoint jitter and lag, PCK per frame.

Frames are lists over time; frame t holds arrays of the people in it. Ground truth keypoints
are ``(G_t, K, 3)`` ``[x, y, v]``, predictions ``(D_t, K, 3)`` ``[x, y, score]``, image pixels.

* :func:`frame_ap` -- PoseTrack-style AP: every frame is one image of a COCO keypoint
  evaluation (:func:`posekit.metrics.coco_eval`, OKS matching), pooled over the video.
* :func:`clear_mot` -- CLEAR MOT (Bernardin & Stiefelhagen, "Evaluating Multiple Object
  Tracking Performance: The CLEAR MOT Metrics", 2008) for pose tracks, at the person level:
  a prediction and a ground-truth person correspond when their OKS
  (:func:`posekit.metrics.oks.oks_matrix`, the ground truth's area as scale) is at least
  ``threshold`` (default 0.5). Correspondences of the previous frame are kept while they still
  pass the threshold; the rest are matched by the Hungarian algorithm on OKS. Per frame:
  misses (ground truth without a prediction), false positives (predictions without a ground
  truth), and identity switches (a ground-truth person now matched to another track id than at
  its last match). ``MOTA = 1 - (misses + false positives + switches) / ground-truth count``.
  It says directly whether ids follow people and needs no head box.
* :func:`keypoint_mota` -- PoseTrack's MOTA: the same counts per keypoint type, joints matched
  when their distance is at most ``threshold`` times a reference length (PCKh@0.5 with the head
  size in PoseTrack), summed over joints.
* :func:`jitter` -- mean frame-to-frame acceleration: the mean of
  ``|x[t+1] - 2 x[t] + x[t-1]|`` (pixels per frame squared) over every track, keypoint and
  three consecutive frames where the keypoint is confident in all three.
* :func:`lag_frames` -- the delay of a smoothed track behind the truth: the shift (frames,
  fractional, by a parabola through the best integer shift and its neighbours) that minimises
  the mean distance between ``smoothed[t]`` and ``truth[t - shift]``.
* :func:`pck_per_frame` -- J-HMDB-style PCK: each frame's person paired with one prediction,
  PCK@alpha with the box size (``max(w, h)``) as reference, per frame and overall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posekit.metrics.oks import oks_matrix

__all__ = ["MotResult", "frame_ap", "clear_mot", "keypoint_mota", "jitter", "tracks_from_frames", "lag_frames",
           "pck_per_frame"]


def frame_ap(gt_keypoints: Sequence[np.ndarray], pred_keypoints: Sequence[np.ndarray],
             pred_scores: Sequence[np.ndarray], spec, gt_boxes: Sequence[np.ndarray] | None = None,
             gt_areas: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """COCO keypoint AP/AR with every frame an image (see the module docstring).

    Args:
        gt_keypoints: T arrays ``(G_t, K, 3)``; pred_keypoints: T arrays ``(D_t, K, 3)``;
        pred_scores: T arrays ``(D_t,)``; spec: the keypoint spec (OKS sigmas);
        gt_boxes: T arrays ``(G_t, 4)`` xyxy (default: the keypoints' box); gt_areas: T arrays
            ``(G_t,)`` OKS scales (default: the box areas).

    Returns:
        the ten COCO numbers ``{"AP", "AP50", ...}``.
    """
    from posekit.data.formats.coco import CocoResults
    from posekit.data.records import ImageRecord
    from posekit.metrics import coco_eval

    records, ids, kps, scores = [], [], [], []
    k = spec.num_keypoints
    for t, g in enumerate(gt_keypoints):
        g = np.asarray(g, np.float32).reshape(-1, k, 3)
        xy = g[..., :2]
        w = max(int(np.ceil(np.nanmax(xy[..., 0], initial=1))) + 1, 1)
        h = max(int(np.ceil(np.nanmax(xy[..., 1], initial=1))) + 1, 1)
        records.append(ImageRecord.create(f"frame_{t:06d}", w, h, g, spec,
                                          boxes=None if gt_boxes is None else gt_boxes[t],
                                          areas=None if gt_areas is None else gt_areas[t], image_id=t + 1))
        d = np.asarray(pred_keypoints[t], np.float64).reshape(-1, k, 3)
        ids += [t + 1] * len(d)
        kps.append(d)
        scores.append(np.asarray(pred_scores[t], np.float64).reshape(-1))
    res = CocoResults.create(np.asarray(ids, np.int64), np.concatenate(kps) if kps else np.zeros((0, k, 3)),
                             np.concatenate(scores) if scores else np.zeros(0))
    return coco_eval(records, res, spec=spec)


@dataclass(frozen=True)
class MotResult:
    """CLEAR MOT counts over a video (see :func:`clear_mot`)."""

    mota: float
    misses: int
    false_positives: int
    id_switches: int
    ground_truth: int
    matches: int
    mean_oks: float          # of the matched pairs (a MOTP in OKS)

    def as_dict(self) -> dict[str, float]:
        return {"MOTA": self.mota, "misses": self.misses, "false_positives": self.false_positives,
                "id_switches": self.id_switches, "ground_truth": self.ground_truth, "matches": self.matches,
                "mean_OKS": self.mean_oks}


def _box_area(kp: np.ndarray) -> np.ndarray:
    lab = kp[..., 2] > 0
    lo = np.where(lab[..., None], kp[..., :2], np.inf).min(axis=1)
    hi = np.where(lab[..., None], kp[..., :2], -np.inf).max(axis=1)
    wh = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    return wh[:, 0] * wh[:, 1]


def clear_mot(gt_keypoints: Sequence[np.ndarray], gt_ids: Sequence[np.ndarray],
              pred_keypoints: Sequence[np.ndarray], pred_ids: Sequence[np.ndarray], sigmas: np.ndarray,
              gt_areas: Sequence[np.ndarray] | None = None, threshold: float = 0.5) -> MotResult:
    """CLEAR MOT for pose tracks with OKS correspondence (see the module docstring).

    Args:
        gt_keypoints, pred_keypoints: T arrays ``(G_t, K, 3)`` / ``(D_t, K, 3)``.
        gt_ids, pred_ids: T arrays ``(G_t,)`` / ``(D_t,)`` identities and track ids.
        sigmas: ``(K,)`` OKS sigmas; gt_areas: T arrays ``(G_t,)`` OKS scales (default: the
            area of the labelled keypoints' box).
        threshold: least OKS of a correspondence.
    """
    from scipy.optimize import linear_sum_assignment

    last: dict[int, int] = {}          # gt id -> track id of its last match
    current: dict[int, int] = {}       # gt id -> track id matched in the previous frame
    misses = fps = switches = total = matches = 0
    oks_sum = 0.0
    for t in range(len(gt_keypoints)):
        k = len(sigmas)
        g = np.asarray(gt_keypoints[t], np.float64).reshape(-1, k, 3)
        d = np.asarray(pred_keypoints[t], np.float64).reshape(-1, k, 3)
        gid = np.asarray(gt_ids[t]).reshape(-1)
        pid = np.asarray(pred_ids[t]).reshape(-1)
        areas = _box_area(g) if gt_areas is None else np.asarray(gt_areas[t], np.float64).reshape(-1)
        oks = oks_matrix(d, g, areas, sigmas) if len(d) and len(g) else np.zeros((len(d), len(g)))
        pairs: dict[int, int] = {}     # gt index -> pred index
        for gi, gv in enumerate(gid):  # keep last frame's correspondences that still hold
            if int(gv) in current:
                hit = np.flatnonzero(pid == current[int(gv)])
                if len(hit) and oks[hit[0], gi] >= threshold and hit[0] not in pairs.values():
                    pairs[gi] = int(hit[0])
        free_g = [i for i in range(len(gid)) if i not in pairs]
        free_d = [j for j in range(len(pid)) if j not in pairs.values()]
        if free_g and free_d:
            sub = oks[np.ix_(free_d, free_g)]
            rows, cols = linear_sum_assignment(-sub)
            for r, c in zip(rows, cols):
                if sub[r, c] >= threshold:
                    pairs[free_g[c]] = free_d[r]
        current = {}
        for gi, dj in pairs.items():
            g_id, p_id = int(gid[gi]), int(pid[dj])
            if g_id in last and last[g_id] != p_id:
                switches += 1
            last[g_id] = current[g_id] = p_id
            oks_sum += float(oks[dj, gi])
        total += len(gid)
        matches += len(pairs)
        misses += len(gid) - len(pairs)
        fps += len(pid) - len(pairs)
    mota = 1.0 - (misses + fps + switches) / total if total else float("nan")
    return MotResult(mota, misses, fps, switches, total, matches, oks_sum / matches if matches else float("nan"))


def keypoint_mota(gt_keypoints: Sequence[np.ndarray], gt_ids: Sequence[np.ndarray],
                  pred_keypoints: Sequence[np.ndarray], pred_ids: Sequence[np.ndarray],
                  ref_sizes: Sequence[np.ndarray], threshold: float = 0.5, min_score: float = 0.0) -> dict:
    """PoseTrack-style MOTA, per keypoint type (Iqbal et al., "PoseTrack", CVPR 2017; Andriluka
    et al., CVPR 2018): for each joint k, the ground-truth joints (v > 0) and the predicted joints
    (score > ``min_score``) of a frame are matched by the Hungarian algorithm on their distance,
    a pair counting when ``distance <= threshold * ref`` (PoseTrack: PCKh@0.5, ``ref`` the head
    size); misses, false positives and id switches (a ground-truth person's joint k matched to
    another track than at its last match) are counted per joint over the video.

    Args:
        gt_keypoints, pred_keypoints: T arrays ``(G_t, K, 3)`` / ``(D_t, K, 3)``.
        gt_ids, pred_ids: T arrays of identities / track ids.
        ref_sizes: T arrays ``(G_t,)``, each person's reference length in pixels (the head size
            for PCKh; e.g. ``0.6 * head box diagonal``).

    Returns:
        ``{"MOTA": total over joints, "per_joint": (K,) MOTA, "misses", "false_positives",
        "id_switches", "ground_truth"}`` (counts summed over joints).
    """
    from scipy.optimize import linear_sum_assignment

    k = None
    for g in list(gt_keypoints) + list(pred_keypoints):
        if np.asarray(g).size:
            k = np.asarray(g).shape[-2]
            break
    if k is None:
        return {"MOTA": float("nan"), "per_joint": np.zeros(0), "misses": 0, "false_positives": 0,
                "id_switches": 0, "ground_truth": 0}
    fn, fp, sw, gt_n = np.zeros(k, int), np.zeros(k, int), np.zeros(k, int), np.zeros(k, int)
    last = [dict() for _ in range(k)]
    for t in range(len(gt_keypoints)):
        g = np.asarray(gt_keypoints[t], np.float64).reshape(-1, k, 3)
        d = np.asarray(pred_keypoints[t], np.float64).reshape(-1, k, 3)
        gid = np.asarray(gt_ids[t]).reshape(-1)
        pid = np.asarray(pred_ids[t]).reshape(-1)
        ref = np.asarray(ref_sizes[t], np.float64).reshape(-1)
        for j in range(k):
            gi = np.flatnonzero(g[:, j, 2] > 0)
            di = np.flatnonzero((d[:, j, 2] > min_score) & np.isfinite(d[:, j, :2]).all(axis=1))
            gt_n[j] += len(gi)
            pairs = []
            if len(gi) and len(di):
                dist = np.linalg.norm(g[gi, None, j, :2] - d[None, di, j, :2], axis=-1) / ref[gi, None]
                rows, cols = linear_sum_assignment(dist)
                pairs = [(gi[r], di[c]) for r, c in zip(rows, cols) if dist[r, c] <= threshold]
            for a, b in pairs:
                g_id, p_id = int(gid[a]), int(pid[b])
                if g_id in last[j] and last[j][g_id] != p_id:
                    sw[j] += 1
                last[j][g_id] = p_id
            fn[j] += len(gi) - len(pairs)
            fp[j] += len(di) - len(pairs)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = 1.0 - (fn + fp + sw) / gt_n
    total = gt_n.sum()
    return {"MOTA": float(1.0 - (fn.sum() + fp.sum() + sw.sum()) / total) if total else float("nan"),
            "per_joint": per, "misses": int(fn.sum()), "false_positives": int(fp.sum()),
            "id_switches": int(sw.sum()), "ground_truth": int(total)}


def tracks_from_frames(keypoints: Sequence[np.ndarray], track_ids: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """``{track id: (T, K, 3)}``: each track's keypoints in every frame, NaN where it is absent
    (ids < 0 are left out)."""
    t_count = len(keypoints)
    out: dict[int, np.ndarray] = {}
    for t, (kp, ids) in enumerate(zip(keypoints, track_ids)):
        kp = np.asarray(kp, np.float64)
        for row, tid in enumerate(np.asarray(ids).reshape(-1)):
            if tid < 0:
                continue
            if int(tid) not in out:
                out[int(tid)] = np.full((t_count, kp.shape[1], 3), np.nan)
            out[int(tid)][t] = kp[row]
    return out


def jitter(tracks: dict[int, np.ndarray] | Sequence[np.ndarray], min_score: float = 0.2) -> float:
    """Mean ``|x[t+1] - 2 x[t] + x[t-1]|`` in pixels per frame squared over tracks ``(T, K, 3)``
    (NaN where absent), keypoints and triples of consecutive frames confident in all three
    (score > ``min_score``); NaN when there is no such triple."""
    seqs = tracks.values() if isinstance(tracks, dict) else tracks
    total, n = 0.0, 0
    for seq in seqs:
        s = np.asarray(seq, np.float64)
        if len(s) < 3:
            continue
        ok = (s[..., 2] > min_score) & np.isfinite(s[..., :2]).all(axis=-1)
        both = ok[:-2] & ok[1:-1] & ok[2:]
        acc = np.linalg.norm(s[2:, :, :2] - 2 * s[1:-1, :, :2] + s[:-2, :, :2], axis=-1)
        total += float(acc[both].sum())
        n += int(both.sum())
    return total / n if n else float("nan")


def lag_frames(smoothed: np.ndarray, truth: np.ndarray, max_lag: int = 10) -> float:
    """Delay in frames of ``smoothed (T, ..., 2+)`` behind ``truth`` (same shape; NaN ignored):
    the shift minimising the mean distance of ``smoothed[t]`` to ``truth[t - shift]`` over
    ``0..max_lag``, refined by a parabola through the best shift and its neighbours."""
    s = np.asarray(smoothed, np.float64)[..., :2]
    g = np.asarray(truth, np.float64)[..., :2]
    errs = []
    for lag in range(max_lag + 1):
        d = np.linalg.norm(s[lag:] - g[:len(g) - lag], axis=-1)
        errs.append(float(np.nanmean(d)))
    e = np.asarray(errs)
    b = int(np.argmin(e))
    if 0 < b < len(e) - 1:
        den = e[b - 1] - 2 * e[b] + e[b + 1]
        if den > 0:
            return b + 0.5 * (e[b - 1] - e[b + 1]) / den
    return float(b)


def pck_per_frame(gt, predictions, alpha: float = 0.2, norm: str = "bbox", remap=None) -> dict:
    """J-HMDB-style PCK per frame.

    Args:
        gt: an annotation file (any format :func:`posekit.metrics.inputs.load_ground_truth`
            reads, e.g. a COCO-style J-HMDB JSON) or a loaded ``GroundTruth``.
        predictions: a results file or list (COCO results, e.g. ``posekit predict``'s
            ``results.json``) naming frames by ``image_id`` or ``file_name``; COCO-17 results on
            J-HMDB-15 ground truth are scored on the joints both have.
        alpha: threshold as a fraction of the reference; norm: ``"bbox"`` (``max(w, h)`` of the
            ground-truth box, J-HMDB's PCK) or ``"torso"``.

    Returns:
        ``{"pck": overall (joint-weighted), "per_frame": [{"file_name", "image_id", "pck",
        "joints"}], "joints": the scored joint names}``.
    """
    from posekit.metrics import inputs
    from posekit.metrics.pck import bbox_size, normalized_distances, torso_size

    gt_all = gt if isinstance(gt, inputs.GroundTruth) else inputs.load_ground_truth(gt)
    preds = inputs.load_predictions(predictions, gt_all, remap=remap, skip_unknown=True)
    g = inputs.restrict(gt_all, preds.joints, preds.source_spec)
    per_frame, correct, counted = [], 0, 0
    for im, idx in zip(g.images, preds.per_image):
        sub = inputs.GroundTruth([im], g.spec, g.path, g.coco, g.format)
        pred, truth, boxes, _ = inputs.align_people(sub, [idx], preds.keypoints)
        ref = bbox_size(boxes) if norm == "bbox" else torso_size(truth, g.spec)
        nd = normalized_distances(pred, truth, ref)
        valid = ~np.isnan(nd)
        ok = valid & (np.where(valid, nd, np.inf) <= alpha)
        n = int(valid.sum())
        correct += int(ok.sum())
        counted += n
        per_frame.append({"file_name": im.file_name, "image_id": im.image_id,
                          "pck": float(ok.sum() / n) if n else float("nan"), "joints": n})
    return {"pck": correct / counted if counted else float("nan"), "per_frame": per_frame,
            "joints": list(g.spec.names), "alpha": alpha, "norm": norm}

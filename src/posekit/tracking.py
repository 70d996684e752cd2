"""Multi-person pose tracking: track ids across video frames.

Each frame's poses are matched to the live tracks with the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) on a similarity that mixes pose and box overlap:

    similarity(track, pose) = w * OKS(predicted track pose, pose) + (1 - w) * IoU(track box, pose box)

* **OKS** is the symmetric one of pose NMS (:func:`posekit.nms.pose_oks`): the scale is the mean
  of the two box areas, and only keypoints confident in both poses count. The track's pose is
  first moved by its velocity (a constant-velocity prediction over the frames since it was last
  seen), which finds people again after an occlusion; the unmoved pose is scored too and the
  better of the two counts (``also_unmoved``), so jittery velocities do not lose slow people.
* **IoU** of the track's (predicted) box and the pose's box (:func:`posekit.nms.box_iou`).

A pair is accepted when its similarity is at least ``min_similarity``. Unmatched poses scoring
at least ``min_pose_score`` start new tracks; a track unmatched for more than ``max_age``
consecutive frames ends (so a person hidden for a few frames behind another keeps their id).

The greedy/Hungarian OKS tracking follows the "flow-based pose tracking" baseline of Xiao, Wu,
Wei, "Simple Baselines for Human Pose Estimation and Tracking" (ECCV 2018), without the optical
flow (a constant-velocity model stands in for it); the mixed OKS + IoU cost is that of
PoseTrack-era trackers (e.g. Girdhar et al., "Detect-and-Track", CVPR 2018, used IoU).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from posekit.nms import box_iou, pose_oks

__all__ = ["TrackerConfig", "Track", "PoseTracker", "pose_guided_boxes"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """How tracks are matched, started and ended.

    Attributes:
        oks_weight: w in ``w * OKS + (1 - w) * IoU``.
        min_similarity: pairs below it are never matched.
        max_age: frames a track survives without a match (occlusions up to this long keep the id).
        min_pose_score: poses below it are not matched and start no track (their id is -1).
        keypoint_threshold: keypoints scoring above it count in the OKS.
        velocity_momentum: the velocity is an exponential average of the per-frame displacement,
            ``v = m * v + (1 - m) * displacement`` (0: the last displacement only).
        also_unmoved: a track's similarity is the larger of that of its predicted pose and that
            of its pose where it was last seen. Velocities measured from jittery detections of
            small, slow people (a few pixels of box jitter at 5 fps) pushed the prediction off
            them; on demo.mp4 this broke 2 tracks of small people in 5 frames (0 with it), and
            on the synthetic crossings it changes nothing (0 switches either way).
    """

    oks_weight: float = 0.5
    min_similarity: float = 0.2
    max_age: int = 10
    min_pose_score: float = 0.0
    keypoint_threshold: float = 0.2
    velocity_momentum: float = 0.5
    also_unmoved: bool = True


@dataclass
class Track:
    """One person over time. ``keypoints (K, 3)`` and ``box (4,)`` xyxy are the last matched
    pose's (image pixels); ``velocity (2,)`` pixels per frame; ``misses`` frames since the last
    match; ``hits`` matches so far; ``box_score`` the last detector score of its box."""

    track_id: int
    keypoints: np.ndarray
    box: np.ndarray
    score: float
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    misses: int = 0
    hits: int = 1
    box_score: float = 1.0

    def predicted(self, frame_index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(keypoints (K, 3), box (4,))`` moved by the velocity to ``frame_index``."""
        shift = self.velocity * float(frame_index - self.last_frame)
        kp = self.keypoints.copy()
        kp[:, :2] += shift
        return kp, self.box + np.concatenate([shift, shift])


class PoseTracker:
    """Online tracker: call :meth:`update` once per frame, in order.

    Args:
        sigmas: ``(K,)`` OKS sigmas of the keypoints (``spec.sigmas_array()``; 0.05 each when
            the spec has none).
        config: a :class:`TrackerConfig`.
    """

    def __init__(self, sigmas: np.ndarray, config: TrackerConfig = TrackerConfig()) -> None:
        self.sigmas = np.asarray(sigmas, np.float64)
        self.config = config
        self.tracks: list[Track] = []
        self.next_id = 0
        self.ended = 0          # tracks ended so far (for the summary)

    def similarity(self, keypoints: np.ndarray, boxes: np.ndarray, frame_index: int) -> np.ndarray:
        """``(T, N)`` similarity of the live tracks (predicted to ``frame_index``) to the poses
        ``keypoints (N, K, 3)`` with boxes ``(N, 4)`` xyxy."""
        cfg = self.config
        n = len(keypoints)
        out = np.zeros((len(self.tracks), n))
        if not n or not self.tracks:
            return out
        b = np.asarray(boxes, np.float64).reshape(n, 4)
        areas = (b[:, 2] - b[:, 0]).clip(1) * (b[:, 3] - b[:, 1]).clip(1)
        for t, track in enumerate(self.tracks):
            candidates = [track.predicted(frame_index)]
            if cfg.also_unmoved:
                candidates.append((track.keypoints, track.box))
            for kp, box in candidates:
                area = float(max(box[2] - box[0], 1) * max(box[3] - box[1], 1))
                oks = pose_oks(kp, keypoints, self.sigmas, area, areas, cfg.keypoint_threshold)
                iou = box_iou(box[None], b)[0]
                out[t] = np.maximum(out[t], cfg.oks_weight * oks + (1.0 - cfg.oks_weight) * iou)
        return out

    def update(self, keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray, frame_index: int,
               box_scores: np.ndarray | None = None) -> np.ndarray:
        """Match one frame's poses to the tracks.

        Args:
            keypoints: ``(N, K, 3)`` ``[x, y, score]`` image pixels.
            boxes: ``(N, 4)`` xyxy person boxes; scores: ``(N,)`` instance scores.
            frame_index: this frame's index (increasing; gaps count as missed frames).
            box_scores: ``(N,)`` the detector's box scores (kept per track for pose-guided boxes).

        Returns:
            ``(N,)`` int64 track ids; -1 for poses below ``min_pose_score``.
        """
        from scipy.optimize import linear_sum_assignment

        cfg = self.config
        kp = np.asarray(keypoints, np.float64)
        kp = kp.reshape(len(scores), kp.shape[-2] if kp.ndim == 3 else len(self.sigmas), 3)
        bx = np.asarray(boxes, np.float64).reshape(-1, 4)
        sc = np.asarray(scores, np.float64).reshape(-1)
        bs = sc if box_scores is None else np.asarray(box_scores, np.float64).reshape(-1)
        ids = np.full(len(sc), -1, np.int64)
        usable = np.flatnonzero(sc >= cfg.min_pose_score)
        sim = self.similarity(kp[usable], bx[usable], frame_index)
        matched_tracks: set[int] = set()
        if sim.size:
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= cfg.min_similarity:
                    self._match(self.tracks[r], kp[usable[c]], bx[usable[c]], sc[usable[c]], bs[usable[c]],
                                frame_index)
                    ids[usable[c]] = self.tracks[r].track_id
                    matched_tracks.add(r)
        for c in usable:
            if ids[c] < 0:
                track = Track(self.next_id, kp[c].copy(), bx[c].copy(), float(sc[c]), frame_index,
                              box_score=float(bs[c]))
                self.next_id += 1
                self.tracks.append(track)
                matched_tracks.add(len(self.tracks) - 1)
                ids[c] = track.track_id
        alive = []
        for t, track in enumerate(self.tracks):
            if t not in matched_tracks:
                track.misses = frame_index - track.last_frame
            if track.misses <= cfg.max_age:
                alive.append(track)
            else:
                self.ended += 1
                log.debug("track %d ended at frame %d", track.track_id, frame_index)
        self.tracks = alive
        return ids

    def _match(self, track: Track, kp: np.ndarray, box: np.ndarray, score: float, box_score: float,
               frame_index: int) -> None:
        """Move ``track`` to a matched pose; its velocity follows the mean displacement of the
        keypoints confident in both poses (else of the box centres)."""
        gap = max(frame_index - track.last_frame, 1)
        both = (kp[:, 2] > self.config.keypoint_threshold) & (track.keypoints[:, 2] > self.config.keypoint_threshold)
        if both.any():
            step = (kp[both, :2] - track.keypoints[both, :2]).mean(axis=0) / gap
        else:
            step = ((box[:2] + box[2:]) - (track.box[:2] + track.box[2:])) / 2 / gap
        m = self.config.velocity_momentum if track.hits > 1 else 0.0
        track.velocity = m * track.velocity + (1 - m) * step
        track.keypoints, track.box, track.score = kp.copy(), box.copy(), float(score)
        track.box_score = float(box_score)
        track.last_frame, track.misses = frame_index, 0
        track.hits += 1


def pose_guided_boxes(keypoints: np.ndarray, keypoint_threshold: float = 0.2, margin: float = 0.15,
                      image_size: tuple[int, int] | None = None,
                      min_keypoints: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes from poses, for the frames where the detector does not run.

    The box of each pose's keypoints above ``keypoint_threshold``, enlarged by ``margin`` of its
    width and height on every side (keypoints sit inside the body: the head top, hands and feet
    lie beyond them), clipped to ``image_size = (W, H)`` when given.

    Args:
        keypoints: ``(N, K, 3)`` image pixels.

    Returns:
        ``(boxes (M, 4) xyxy float32, kept (M,) indices into the N poses)``: poses with fewer than
        ``min_keypoints`` confident keypoints give no box.
    """
    kp = np.asarray(keypoints, np.float64)
    kp = kp.reshape(-1, *kp.shape[-2:]) if kp.size else np.zeros((0, 1, 3))
    boxes, kept = [], []
    for i, p in enumerate(kp):
        ok = (p[:, 2] > keypoint_threshold) & np.isfinite(p[:, :2]).all(axis=1)
        if ok.sum() < min_keypoints:
            continue
        lo, hi = p[ok, :2].min(axis=0), p[ok, :2].max(axis=0)
        wh = np.maximum(hi - lo, 1.0)
        lo, hi = lo - margin * wh, hi + margin * wh
        if image_size is not None:
            lo = np.maximum(lo, -0.5)
            hi = np.minimum(hi, np.asarray(image_size, np.float64) - 0.5)
            if (hi <= lo).any():
                continue
        boxes.append(np.concatenate([lo, hi]))
        kept.append(i)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(kept, np.int64)

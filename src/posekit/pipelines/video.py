"""Video prediction: any predictor, frame by frame, with track ids, the detector every N frames
and temporal smoothing.

:class:`VideoPredictor` wraps a predictor (``predict(image) -> Poses``; top-down ones also have
``predict_boxes(image, boxes, scores)`` and a ``detector``):

* **Detector every N frames** (``detect_every``): on the other frames the person boxes come
  from the previous frame's tracked poses and go to ``predict_boxes``, so the pose model runs
  but the detector does not: each track's last box moved by the velocity of its keypoints
  (default), or the box of its confident keypoints enlarged
  (:func:`posekit.tracking.pose_guided_boxes`), or both joined (``box_source``). The detector
  also runs when no track is alive. People entering are found at the next detector frame.
  Bottom-up predictors find everyone in every frame; ``detect_every`` does not apply to them.
* **Tracking**: :class:`posekit.tracking.PoseTracker` gives every pose a track id.
* **Smoothing** (:func:`make_smoother`): ``"one-euro"`` (online, no delay) or ``"savgol"``
  (``window // 2`` frames late), applied to the tracked poses on their way out; the tracker and
  the pose-guided boxes always see the raw poses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np

from posekit.pipelines.poses import Poses
from posekit.smoothing import SMOOTHERS, OneEuroConfig, SavgolSmoother, TrackSmoother
from posekit.tracking import PoseTracker, TrackerConfig, pose_guided_boxes

__all__ = ["VideoFrame", "VideoPredictor", "make_smoother"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoFrame:
    """The poses of one frame.

    Attributes:
        frame_index: 0-based index in the video; timestamp_s: seconds from the start (None
            when unknown).
        poses: the frame's :class:`Poses` (keypoints possibly smoothed).
        track_ids: ``(N,)`` int64 track id of each pose (-1: too weak to track).
        detected: whether the person detector ran on this frame (else boxes came from the poses).
        image: the frame ``(H, W, 3)`` uint8 RGB (kept for drawing; None when not kept).
        ms: milliseconds of the prediction of this frame (detector, pose model, tracking).
    """

    frame_index: int
    timestamp_s: float | None
    poses: Poses
    track_ids: np.ndarray
    detected: bool
    image: np.ndarray | None = None
    ms: float = 0.0


def _scores_of_boxes(out_boxes: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The score of the given box each output box is (top-down predictors return the boxes
    they were given, reordered and thinned by pose NMS)."""
    if not len(out_boxes) or not len(boxes):
        return np.zeros(len(out_boxes), np.float32)
    d = np.abs(out_boxes[:, None, :] - boxes[None, :, :]).sum(-1)
    return scores[d.argmin(axis=1)].astype(np.float32)


class VideoPredictor:
    """Track people through a video with any predictor (see the module docstring).

    Attributes: ``timings``, milliseconds per stage of the last frame (the predictor's, with
    ``"detector"`` 0 on frames where it did not run); ``detections`` and ``frames``, counts.

    Args:
        predictor: the image predictor.
        detect_every: run the person detector on every N-th frame (top-down predictors).
        tracker: a :class:`~posekit.tracking.TrackerConfig` (default: the defaults, with
            ``min_pose_score`` = ``propagate_min_score``: poses too weak to draw get no track).
        propagate_min_score: tracks whose last pose scored below this give no box to the next
            frame (default: the predictor's ``draw_min_pose_score``, else 0.17).
        box_margin: pose-guided boxes are the keypoints' box enlarged by this fraction per side.
        box_source: boxes of the frames without the detector: ``"keypoints"`` (the pose-guided
            box), ``"previous"`` (the track's last box; default) or ``"union"`` of both; all
            moved by the track's velocity. On demo.mp4 with the detector on frame 0 only, the
            people drawn in frames 0-4 kept their tracks with ``"previous"`` (7, 6, 6, 5, 5
            drawn), and were lost with the keypoints' box (7, 5, 4, 3, 3) or the union (7, 5,
            5, 4, 3): a box cut to the found keypoints drifts onto the confident part or a
            neighbour.
    """

    def __init__(self, predictor, detect_every: int = 1, tracker: TrackerConfig | None = None,
                 propagate_min_score: float | None = None, box_margin: float = 0.15,
                 box_source: str = "previous") -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.predictor = predictor
        self.top_down = hasattr(predictor, "predict_boxes")
        detector = getattr(predictor, "detector", None) if self.top_down else None
        self.detector = detector if hasattr(detector, "detect") else None   # else predict() finds people
        if detect_every > 1 and not self.top_down:
            log.info("%s finds people itself in every frame: --detect-every does not apply",
                     getattr(predictor, "name", "this bottom-up model"))
        self.detect_every = detect_every if self.top_down else 1
        self.propagate_min_score = propagate_min_score if propagate_min_score is not None else \
            float(getattr(predictor, "draw_min_pose_score", None) or 0.17)
        self.tracker_config = tracker or TrackerConfig(min_pose_score=self.propagate_min_score)
        self.box_margin = box_margin
        if box_source not in ("union", "keypoints", "previous"):
            raise ValueError(f"box_source must be union, keypoints or previous, got {box_source!r}")
        self.box_source = box_source
        self.reset()

    def reset(self) -> None:
        """Forget the tracks (a new video)."""
        self.tracker: PoseTracker | None = None
        self._since_detection = 0
        self.detections = 0
        self.frames = 0
        self.timings: dict[str, float] = {}

    def _tracker(self, spec) -> PoseTracker:
        if self.tracker is None:
            sigmas = spec.sigmas_array() if spec.sigmas is not None else np.full(spec.num_keypoints, 0.05)
            self.tracker = PoseTracker(sigmas, self.tracker_config)
        return self.tracker

    def _propagated_boxes(self, frame_index: int, size_wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(M, 4)`` xyxy and scores ``(M,)`` for this frame from the tracks matched in the
        previous frame with a pose scoring at least ``propagate_min_score``: each track's
        predicted pose (moved by its velocity) gives the box of its confident keypoints,
        enlarged by ``box_margin`` (:func:`~posekit.tracking.pose_guided_boxes`), or the track's
        previous box moved by the velocity (``box_source="previous"``, default), or the union."""
        tracks = [t for t in self.tracker.tracks
                  if t.last_frame == frame_index - 1 and t.score >= self.propagate_min_score]
        if not tracks:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        predicted = [t.predicted(frame_index) for t in tracks]
        if self.box_source == "previous":
            kept = np.arange(len(tracks))
            b = np.stack([p[1] for p in predicted])
        else:
            b, kept = pose_guided_boxes(np.stack([k for k, _ in predicted]), margin=self.box_margin,
                                        image_size=size_wh)
            if self.box_source == "union" and len(kept):
                prev = np.stack([predicted[i][1] for i in kept])
                b = np.concatenate([np.minimum(b[:, :2], prev[:, :2]), np.maximum(b[:, 2:], prev[:, 2:])], axis=1)
        scores = np.array([tracks[i].box_score for i in kept], np.float32)
        return b.astype(np.float32).reshape(-1, 4), scores

    def predict(self, image_rgb: np.ndarray, frame_index: int, timestamp_s: float | None = None,
                keep_image: bool = False) -> VideoFrame:
        """The tracked poses of one frame ``(H, W, 3)`` uint8 RGB; frames in order."""
        t0 = time.perf_counter()
        boxes = scores = None
        if self.detect_every > 1 and self.tracker is not None and self._since_detection < self.detect_every:
            b, s = self._propagated_boxes(frame_index, (image_rgb.shape[1], image_rgb.shape[0]))
            if len(b):
                boxes, scores = b, s
        detected = boxes is None
        if detected:
            if self.detector is not None:
                t1 = time.perf_counter()
                boxes, scores = self.detector.detect(image_rgb)
                detector_ms = (time.perf_counter() - t1) * 1e3
                poses = self.predictor.predict_boxes(image_rgb, boxes, scores)
            else:
                poses = self.predictor.predict(image_rgb)
                detector_ms = None
            self._since_detection = 1
            self.detections += 1
        else:
            poses = self.predictor.predict_boxes(image_rgb, boxes, scores)
            detector_ms = 0.0
            self._since_detection += 1
        self.timings = {k: float(v) for k, v in getattr(self.predictor, "timings", {}).items()}
        if detector_ms is not None:
            self.timings["detector"] = detector_ms
        box_scores = _scores_of_boxes(poses.boxes, boxes, scores) if boxes is not None else poses.scores
        ids = self._tracker(poses.spec).update(poses.keypoints, poses.boxes, poses.scores, frame_index, box_scores)
        self.frames += 1
        return VideoFrame(frame_index, timestamp_s, poses, ids, detected, image_rgb if keep_image else None,
                          (time.perf_counter() - t0) * 1e3)


class _NoSmoothing:
    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        return [frame]

    def flush(self) -> list[VideoFrame]:
        return []


class _OneEuro:
    def __init__(self, config: OneEuroConfig, fps: float) -> None:
        self.smoother = TrackSmoother(config)
        self.fps = fps

    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        t = frame.timestamp_s if frame.timestamp_s is not None else frame.frame_index / self.fps
        kp = self.smoother(frame.poses.keypoints, frame.track_ids, t)
        return [replace(frame, poses=replace(frame.poses, keypoints=kp))]

    def flush(self) -> list[VideoFrame]:
        return []


class _Savgol:
    def __init__(self, window: int, order: int, min_score: float) -> None:
        self.smoother = SavgolSmoother(window, order, min_score)

    def _out(self, pairs) -> list[VideoFrame]:
        return [replace(f, poses=replace(f.poses, keypoints=kp)) for f, kp in pairs]

    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        return self._out(self.smoother.push(frame, frame.poses.keypoints, frame.track_ids))

    def flush(self) -> list[VideoFrame]:
        return self._out(self.smoother.flush())


def make_smoother(kind: str, fps: float | None = None, one_euro: OneEuroConfig = OneEuroConfig(),
                  window: int = 9, order: int = 2):
    """A frame smoother for ``kind`` (one of :data:`posekit.smoothing.SMOOTHERS`): ``push(frame)
    -> frames now final`` and ``flush() -> the frames still held``. ``fps`` gives the times of
    frames without a timestamp (default 30)."""
    if kind == "none":
        return _NoSmoothing()
    if kind == "one-euro":
        return _OneEuro(one_euro, fps or 30.0)
    if kind == "savgol":
        return _Savgol(window, order, one_euro.min_score)
    raise ValueError(f"unknown smoother {kind!r}; choose from {', '.join(SMOOTHERS)}")

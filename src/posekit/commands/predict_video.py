"""``posekit predict`` on videos, animated GIFs, frame folders (``--sequence``) and webcams
(``--webcam N``): tracked, optionally smoothed poses, streamed to disk frame by frame.

Per video, in ``--out`` (beside the overlay, mirroring the inputs' folders):

* ``<name>.jsonl`` (``clip.mp4`` -> ``clip.mp4.jsonl``): one JSON line per frame, written and
  flushed as the frame is done, so the file is valid however the run ends::

      {"frame_index": 0, "timestamp_s": 0.0, "file_name": "clip.mp4", "detected": true,
       "people": [{"track_id": 0, "score": 0.61, "bbox": [x, y, w, h],
                   "keypoints": [[x, y, score], ...]}]}

  ``bbox`` is COCO ``[x, y, w, h]`` like results.json; keypoints are K ``[x, y, score]``
  triples in image pixels; ``track_id`` is -1 for poses too weak to track; ``detected`` says
  whether the person detector ran on that frame (``--detect-every``). Sequence frames also carry
  ``frame_file``.
* the overlay video ``<stem>_pose.mp4`` (H.264 through PyAV's libx264 with
  ``posekit[video]``, else OpenCV's H.264 where its build has it, else MPEG-4 Part 2; the codec
  is printed), skeletons with ``#track`` labels; it is finalised on an
  interrupt too.
* results.json gets the poses of every frame, as before, with ``frame_index``,
  ``timestamp_s`` and ``track_id``.

A file that ends before the frame count its container states (MP4, MOV, AVI: truncated,
corrupt) stops at the last frame that decodes; everything up to there is written, then the input is listed as failed
with the frame it stopped at. A video that cannot be opened at all (an MP4 cut before its index)
is one line saying so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from posekit.errors import DataError, PosekitError

log = logging.getLogger(__name__)

WEBCAM_PREFIX = "webcam"


def add_video_options(p: argparse.ArgumentParser) -> None:
    """The video options of ``posekit predict``."""
    from posekit.commands.predict import _positive_int
    from posekit.smoothing import SMOOTHERS
    g = p.add_argument_group("video", "videos, GIFs, --sequence folders and --webcam: tracked poses, a JSON-lines "
                                      "file per video (one line per frame) and an overlay video")
    g.add_argument("--sequence", action="store_true",
                   help="each folder PATH is one video, its images in name order being the frames "
                        "(PoseTrack / J-HMDB style frame folders)")
    g.add_argument("--fps", type=_positive_float, default=25.0, metavar="F",
                   help="frame rate of --sequence frames (default 25), for timestamps and smoothing")
    g.add_argument("--webcam", type=int, default=None, metavar="N",
                   help="read camera N (OpenCV's index) until Ctrl-C; PATHs may then be left out")
    g.add_argument("--detect-every", type=_positive_int, default=1, metavar="N",
                   help="top-down models: run the person detector on every N-th frame only; in between, "
                        "each person tracked in the previous frame keeps its box, moved with its keypoints "
                        "(default 1: every frame)")
    g.add_argument("--smooth", choices=SMOOTHERS, default="none",
                   help="keypoint smoothing along each track: one-euro (online, no delay), savgol "
                        "(Savitzky-Golay, window 9, output 4 frames late) or none (default)")


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return x


def plan_streams(args: argparse.Namespace, out: Path | None) -> list:
    """Items for ``--sequence`` folders and ``--webcam``: each folder is one video named by its
    path relative to the folders' common parent; the overlay is ``<name>_pose.mp4``."""
    from posekit.commands.predict import Item, _free_path
    items = []
    if args.sequence:
        folders = [Path(p) for p in args.paths]
        for f in folders:
            if not f.is_dir():
                raise DataError(f, "--sequence takes folders of frames; this is not a folder")
        try:
            root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in folders])
        except ValueError:
            root = ""
        for f in folders:
            name = Path(os.path.relpath(os.path.abspath(f), root) if root else os.path.abspath(f)).as_posix()
            items.append(Item(f, name, True))
    if args.webcam is not None:
        name = f"{WEBCAM_PREFIX}{args.webcam}"
        items.append(Item(Path(name), name, True))
    if out is not None:
        taken: set[Path] = {(out / "results.json").resolve()}
        for item in items:
            item.overlay = _free_path(out / f"{item.name}_pose.mp4", taken)
    return items


class _Source:
    """Frames of a video file, a frame folder or a camera: iterating yields ``(index, frame
    (H, W, 3) uint8 RGB or None when it could not be read, frame file or None)``. ``fps``
    (None: unknown), ``frame_count`` (stated; None: unknown), ``timestamp_s(i)``, ``problems``
    (frames of a folder that could not be read)."""

    def __init__(self, item, args: argparse.Namespace) -> None:
        from posekit.io import IMAGE_SUFFIXES, VideoReader
        self.item = item
        self.reader = None
        self.files: list[Path] | None = None
        self.camera = None
        self.problems: list[str] = []
        self.t0 = time.perf_counter()
        if args.webcam is not None and item.name == f"{WEBCAM_PREFIX}{args.webcam}" and not item.path.exists():
            import cv2
            self.camera = cv2.VideoCapture(args.webcam)
            if not self.camera.isOpened():
                raise PosekitError(f"--webcam {args.webcam}: cannot open the camera")
            fps = float(self.camera.get(cv2.CAP_PROP_FPS) or 0.0)
            self.fps = fps if 0 < fps <= 1000 else None
            self.frame_count = None
        elif item.path.is_dir():
            self.files = sorted(q for q in item.path.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not self.files:
                raise DataError(item.path, "no image frames in this folder")
            self.fps, self.frame_count = args.fps, len(self.files)
        else:
            self.reader = VideoReader(item.path)
            self.fps, self.frame_count = self.reader.fps, self.reader.frame_count

    def timestamp_s(self, i: int) -> float | None:
        if self.camera is not None:
            return time.perf_counter() - self.t0
        return None if self.fps is None else i / self.fps

    def __iter__(self):
        from posekit.io import read_image
        if self.reader is not None:
            for i, frame in self.reader:
                yield i, frame, None
        elif self.files is not None:
            for i, f in enumerate(self.files):
                try:
                    yield i, read_image(f), f
                except DataError as e:
                    self.problems.append(str(e))
                    yield i, None, f
        else:
            import cv2
            i = 0
            while True:
                ok, frame = self.camera.read()
                if not ok:
                    break
                yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), None
                i += 1

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.camera is not None:
            self.camera.release()


def draw_tracks(image_rgb: np.ndarray, poses, track_ids: np.ndarray, min_score: float) -> np.ndarray:
    """Skeletons (``posekit.viz.draw_poses``), then each person's box and ``#id`` label in the
    colour of its track id (so a person keeps its colour from frame to frame); a new image."""
    from posekit.viz import draw_poses
    out = draw_poses(image_rgb, poses.keypoints, poses.spec, min_score=min_score)
    _track_label(out, poses.boxes, track_ids)
    return out


def _track_label(image: np.ndarray, boxes: np.ndarray, ids: np.ndarray) -> None:
    """Box and ``#id`` at its top-left corner, in the track's colour (in place)."""
    import cv2

    from posekit.viz import person_color
    scale = max(0.4, image.shape[0] / 900)
    t = max(1, int(round(scale * 2)))
    for b, tid in zip(boxes, ids):
        if not np.isfinite(b).all():
            continue
        color = person_color(int(tid)) if tid >= 0 else (160, 160, 160)
        cv2.rectangle(image, (int(round(b[0])), int(round(b[1]))), (int(round(b[2])), int(round(b[3]))), color,
                      max(1, t // 2 + 1), cv2.LINE_AA)
        if tid < 0:
            continue
        org = (int(max(b[0], 0)) + 2, int(max(b[1], 0)) + int(22 * scale))
        cv2.putText(image, f"#{int(tid)}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), t + 2, cv2.LINE_AA)
        cv2.putText(image, f"#{int(tid)}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, t, cv2.LINE_AA)


def jsonl_path(out: Path, name: str) -> Path:
    """``out/<name>.jsonl`` (``a/clip.mp4`` -> ``out/a/clip.mp4.jsonl``)."""
    return out / Path(name).parent / f"{Path(name).name}.jsonl"


def frame_line(frame, file_name: str, frame_file: str | None = None) -> dict:
    """The JSON-lines record of one :class:`~posekit.pipelines.video.VideoFrame`."""
    from posekit.geometry import xyxy_to_xywh
    p = frame.poses
    xywh = xyxy_to_xywh(p.boxes) if len(p) else np.zeros((0, 4))
    people = [{"track_id": int(tid), "score": round(float(s), 5), "bbox": [round(float(v), 3) for v in b],
               "keypoints": np.round(kp.astype(np.float64), 3).tolist()}
              for tid, s, b, kp in zip(frame.track_ids, p.scores, xywh, p.keypoints)]
    line = {"frame_index": frame.frame_index,
            "timestamp_s": None if frame.timestamp_s is None else round(frame.timestamp_s, 4),
            "file_name": file_name, "detected": bool(frame.detected), "people": people}
    if frame_file is not None:
        line["frame_file"] = frame_file
    return line


def run_video(runner, item) -> None:
    """Predict, track and smooth the frames of ``item`` (see the module docstring), writing its
    JSON lines, overlay video and results.json entries as each frame is done."""
    import cv2
    from tqdm import tqdm

    from posekit.commands.predict import match_image_id
    from posekit.io import open_video_writer
    from posekit.pipelines.poses import Poses
    from posekit.pipelines.video import VideoFrame, VideoPredictor, make_smoother
    from posekit.skeleton import COCO17

    args = runner.args
    if runner.boxes is not None:
        raise PosekitError(f"{item.path}: --boxes gives boxes for images, not for video frames")
    out = Path(args.out)
    source = _Source(item, args)
    video = VideoPredictor(runner.predictor, detect_every=args.detect_every)
    smoother = make_smoother(args.smooth, source.fps)
    spec = getattr(runner.predictor, "spec", None) or COCO17
    frame_files: dict[int, Path | None] = {}
    state = {"writer": None, "size": None, "n_out": 0, "bad": 0, "first_bad": "", "tracks": set()}
    jpath = jsonl_path(out, item.name)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=source.frame_count, unit="frame", desc=item.name, leave=False, file=sys.stderr,
               dynamic_ncols=True)
    stage_rows: list[dict[str, float]] = []

    def emit(f: VideoFrame, jf) -> None:
        ff = frame_files.pop(f.frame_index, None)
        fields: dict = {"file_name": item.name}
        if ff is not None:  # a frame of a --sequence folder: named and matched to --gt by its own file
            fields["file_name"] = f"{item.name}/{ff.name}"
            hit = match_image_id(ff, runner.ids) if runner.ids else None
            if hit is None and not runner.ids:
                runner.next_id += 1
                hit = runner.next_id - 1
            if hit is not None:
                fields["image_id"] = hit
            elif item.name not in runner.tally.no_gt:
                runner.tally.no_gt.append(item.name)
        else:
            fields.update(runner._image_id(item))
        ts = None if f.timestamp_s is None else round(f.timestamp_s, 4)
        entries = f.poses.to_coco(**fields, frame_index=f.frame_index, timestamp_s=ts)
        for e, tid in zip(entries, f.track_ids):
            e["track_id"] = int(tid)
        runner.results.extend(entries)
        jf.write(json.dumps(frame_line(f, item.name, fields["file_name"] if ff is not None else None)) + "\n")
        jf.flush()
        state["tracks"].update(int(t) for t in f.track_ids if t >= 0)
        shown_mask = f.poses.scores >= args.min_pose_score
        runner.tally.people += int(shown_mask.sum())
        runner.tally.low += int((~shown_mask).sum())
        runner.tally.frames += 1
        state["n_out"] += 1
        if item.overlay is None or f.image is None:
            return
        order = np.flatnonzero(shown_mask)
        order = order[np.argsort(f.track_ids[order], kind="stable")]
        shown = f.poses.select(order)
        t0 = time.perf_counter()
        overlay = draw_tracks(f.image, shown, f.track_ids[order], args.min_score)
        if state["writer"] is None:
            fps = source.fps or 25.0
            state["size"] = (overlay.shape[1], overlay.shape[0])
            state["writer"], codec = open_video_writer(item.overlay, fps, state["size"])
            runner.tally.videos.append(f"{item.overlay}: {codec}" + ("" if source.fps else ", 25 fps assumed"))
        if (overlay.shape[1], overlay.shape[0]) != state["size"]:
            overlay = cv2.resize(overlay, state["size"], interpolation=cv2.INTER_AREA)
        state["writer"].write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        if stage_rows and stage_rows[-1].get("_frame") == f.frame_index:
            stage_rows[-1]["draw+write"] = (time.perf_counter() - t0) * 1e3

    t_start = time.perf_counter()
    n_in = 0
    try:
        with open(jpath, "w") as jf:
            try:
                t_read = time.perf_counter()
                for i, frame, ff in source:
                    read_ms = (time.perf_counter() - t_read) * 1e3
                    n_in = i + 1
                    frame_files[i] = ff
                    ts = source.timestamp_s(i)
                    result = None
                    if frame is not None:
                        try:
                            result = video.predict(frame, i, ts, keep_image=item.overlay is not None)
                            spec = result.poses.spec
                            stage_rows.append({"_frame": i, "read": read_ms, **video.timings, "frame": result.ms})
                        except Exception as e:  # noqa: BLE001 - one bad frame must not stop the video
                            state["first_bad"] = state["first_bad"] or f"frame {i}: {_reason(e)}"
                    else:
                        state["first_bad"] = state["first_bad"] or f"frame {i}: {source.problems[-1]}"
                    if result is None:
                        state["bad"] += 1
                        result = VideoFrame(i, ts, Poses.empty(spec), np.zeros(0, np.int64), False,
                                            frame if item.overlay is not None else None)
                    for f in smoother.push(result):
                        emit(f, jf)
                    bar.update(1)
                    runner.bar.set_postfix_str(f"{item.name} frame {i}")
                    t_read = time.perf_counter()
            finally:
                for f in smoother.flush():     # also on an interrupt: the frames held are written
                    emit(f, jf)
    finally:
        bar.close()
        source.close()
        if state["writer"] is not None:
            state["writer"].release()
    seconds = time.perf_counter() - t_start
    rows = [{k: v for k, v in r.items() if k != "_frame"} for r in stage_rows]
    runner._timings(f"{item.name} ({len(rows)} frames, mean per frame)", rows)
    fps = n_in / seconds if seconds > 0 else float("nan")
    print(f"{item.name}: {n_in} frames at {fps:.1f} fps end to end, detector on {video.detections}, "
          f"{len(state['tracks'])} track(s), smoothing {args.smooth} -> {jpath}")
    problems = []
    if state["bad"]:
        problems.append(f"{state['bad']} of {n_in} frames failed (first, {state['first_bad']})")
    # MP4/MOV and AVI state their frame count exactly (sample table, header); Matroska/WebM
    # counts are estimates from the duration, and GIFs state none: those are not checked.
    exact = item.path.suffix.lower() in (".mp4", ".mov", ".avi")
    stated = source.frame_count if source.reader is not None and exact else None
    if stated is not None and n_in < stated:
        problems.append(f"stopped after frame {n_in - 1}: the file states {stated} frames (truncated or corrupt); "
                        f"the {n_in} frames before are written")
    if problems:
        raise PosekitError(f"{item.path}: " + "; ".join(problems))


def _reason(e: BaseException) -> str:
    from posekit.commands.predict import _reason as reason
    return reason(e)

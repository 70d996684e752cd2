"""Named prediction pipelines built from the pretrained package.

``build_predictor(name, device)`` returns a predictor with ``predict(image) -> Poses`` and
``predict_batch(images) -> list[Poses]``; ``predictor_for(estimator)`` does the same for any
estimator (a trained checkpoint too). A pipeline is one :class:`PipelineInfo` entry naming the
models it runs (pretrained card names: the detector, then the pose model, whose codec is named
in :data:`posekit.models.estimator.PRETRAINED`). Weights are fetched and converted on first
use (see ``posekit.pretrained``). :data:`DEFAULT_PIPELINE` was chosen by measurement: the most
accurate pipeline that stays interactive on a 2-thread CPU (see ``docs/predict.md`` and
``benchmarks/predict.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PipelineInfo", "PIPELINES", "DEFAULT_PIPELINE", "FAST_PIPELINE", "build_predictor",
           "list_pipelines", "DRAW_MIN_POSE_SCORE", "DRAW_MIN_POSE_SCORE_BOTTOM_UP", "DETECTORS",
           "DEFAULT_DETECTOR", "build_detector", "predictor_for"]

#: Drawing threshold on the instance scores of the top-down pipelines
#: (``posekit.pipelines.topdown.instance_scores``): on the real samples every correct pose
#: scored >= 0.20 and every pose that matched no person <= 0.145 (``benchmarks/drawn_people.py``).
DRAW_MIN_POSE_SCORE = 0.17
#: Drawing threshold on the scores of the bottom-up pipelines (the models' own instance scores).
DRAW_MIN_POSE_SCORE_BOTTOM_UP = 0.2


@dataclass(frozen=True)
class PipelineInfo:
    """A named pipeline: what it runs (pretrained model names), a one-line summary, and the
    instance score from which its poses are worth drawing (``draw_min_pose_score``; the
    score scales differ between top-down and bottom-up pipelines)."""

    name: str
    kind: str                     # "top-down", "bottom-up" or "cascade" (posekit.pipelines.cascade)
    models: tuple[str, ...]       # pretrained card names, in the order they run
    summary: str
    options: tuple[tuple[str, object], ...] = ()
    draw_min_pose_score: float = DRAW_MIN_POSE_SCORE


def _info(name, kind, models, summary, **options) -> PipelineInfo:
    draw = DRAW_MIN_POSE_SCORE if kind in ("top-down", "cascade") else DRAW_MIN_POSE_SCORE_BOTTOM_UP
    return PipelineInfo(name, kind, tuple(models), summary, tuple(sorted(options.items())), draw)


PIPELINES: dict[str, PipelineInfo] = {p.name: p for p in (
    _info("movenet-thunder", "top-down", ("nanodet", "movenet_thunder"),
          "NanoDet person boxes -> MoveNet Thunder (256) per crop -> OKS-NMS"),
    _info("movenet-lightning", "top-down", ("nanodet", "movenet_lightning"),
          "NanoDet person boxes -> MoveNet Lightning (192) per crop -> OKS-NMS"),
    _info("multipose-256", "bottom-up", ("movenet_multipose",), "MoveNet MultiPose, long side 256", long_side=256),
    _info("multipose-320", "bottom-up", ("movenet_multipose",), "MoveNet MultiPose, long side 320", long_side=320),
    _info("multipose-352", "bottom-up", ("movenet_multipose",), "MoveNet MultiPose, long side 352", long_side=352),
    _info("multipose-384", "bottom-up", ("movenet_multipose",), "MoveNet MultiPose, long side 384", long_side=384),
    _info("multipose-512", "bottom-up", ("movenet_multipose",), "MoveNet MultiPose, long side 512", long_side=512),
    _info("posenet", "bottom-up", ("posenet",), "PoseNet MobileNetV1, long side 385, greedy displacement decoding",
          long_side=385),
    _info("posenet-513", "bottom-up", ("posenet",), "PoseNet MobileNetV1, long side 513", long_side=513),
    _info("efficientpose", "top-down", ("nanodet", "efficientpose_ii_lite"),
          "NanoDet person boxes -> EfficientPose II-Lite (MPII-16 keypoints)"),
    _info("blazepose-lite", "top-down", ("nanodet", "blazepose_lite"),
          "NanoDet person boxes -> BlazePose lite landmarks (33 keypoints, upright crops)"),
    _info("blazepose-full", "top-down", ("nanodet", "blazepose_full"),
          "NanoDet person boxes -> BlazePose full landmarks (33 keypoints, upright crops)"),
    _info("blazepose-heavy", "top-down", ("nanodet", "blazepose_heavy"),
          "NanoDet person boxes -> BlazePose heavy landmarks (33 keypoints, upright crops)"),
    # cascades (posekit.pipelines.cascade; issue 12): MultiPose finds the people, Thunder refines
    _info("multipose-thunder", "cascade", ("movenet_multipose", "movenet_thunder"),
          "MultiPose (320) people and boxes -> MoveNet Thunder refines those scoring < 0.40",
          long_side=320, refine_below=0.40),
    _info("multipose-lightning", "cascade", ("movenet_multipose", "movenet_lightning"),
          "MultiPose (320) people and boxes -> MoveNet Lightning refines those scoring < 0.40",
          long_side=320, refine_below=0.40),
    _info("multipose-thunder-all", "cascade", ("movenet_multipose", "movenet_thunder"),
          "MultiPose (320) people and boxes -> MoveNet Thunder on every person scoring >= 0.1",
          long_side=320, refine_below=1.01),
)}

#: Most accurate pipeline that stays interactive on this CPU (measured, see docs/predict.md).
DEFAULT_PIPELINE = "movenet-thunder"
#: The fast mode (target <= 38 ms per image on 2 threads with AP >= 0.6 on the COCO sample).
FAST_PIPELINE = "multipose-320"


def list_pipelines() -> list[PipelineInfo]:
    return list(PIPELINES.values())


#: The person detectors a top-down pipeline can use (pretrained card names).
DETECTORS = ("nanodet",)
#: The detector of the top-down pipelines and of ``posekit predict --model CHECKPOINT``.
DEFAULT_DETECTOR = "nanodet"


def build_detector(name: str | None = None, device: str | None = None, backend: str | None = None,
                   threads: int | None = None, **options):
    """The person detector ``name`` (one of :data:`DETECTORS`, default :data:`DEFAULT_DETECTOR`)
    on ``device``; ``options`` go to its constructor (``score_threshold``, ``iou_threshold``,
    ``max_detections``). ``backend``: one of :data:`posekit.runtime.BACKENDS` (default torch),
    with ``threads`` (:func:`posekit.runtime.detector_with_backend`)."""
    from posekit.errors import PosekitError
    from posekit.pipelines.detector import PersonDetector
    from posekit.pretrained import load_pretrained

    name = name or DEFAULT_DETECTOR
    if name not in DETECTORS:
        raise PosekitError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")
    model, card = load_pretrained(name, device)
    detector = PersonDetector(model, card, **options)
    if backend and backend != "torch":
        from posekit.runtime import detector_with_backend
        detector = detector_with_backend(detector, backend, threads)
    return detector


def predictor_for(estimator, device=None, detector: str | None = None, backend: str | None = None,
                  detector_backend: str | None = None, **options):
    """A predictor running ``estimator``: a top-down one with the person detector ``detector``
    (default :data:`DEFAULT_DETECTOR`; ``score_threshold``, ``iou_threshold`` and
    ``max_detections`` among ``options`` go to it), or a bottom-up one. The other ``options`` go
    to :class:`~posekit.pipelines.topdown.TopDownPredictor` (``max_batch`` defaults to
    :func:`posekit.device.default_crop_batch`) or
    :class:`~posekit.pipelines.bottomup.BottomUpPredictor`. Sets ``draw_min_pose_score``.
    ``backend``: the pose model's and the detector's backend (:data:`posekit.runtime.BACKENDS`;
    ``detector_backend`` overrides it for the detector)."""
    from posekit.device import default_crop_batch, resolve_device

    if backend and backend != "torch":
        estimator = estimator.with_backend(backend)
    detector_backend = detector_backend or backend

    if estimator.kind == "bottom-up":
        from posekit.pipelines.bottomup import BottomUpPredictor
        predictor = BottomUpPredictor(estimator, **options)
        predictor.draw_min_pose_score = DRAW_MIN_POSE_SCORE_BOTTOM_UP
        return predictor
    from posekit.pipelines.topdown import TopDownPredictor
    det_options = {k: options.pop(k) for k in ("score_threshold", "iou_threshold", "max_detections") if k in options}
    options.setdefault("max_batch", default_crop_batch(resolve_device(device)))
    predictor = TopDownPredictor(build_detector(detector, device, detector_backend, **det_options), estimator,
                                 **options)
    predictor.draw_min_pose_score = DRAW_MIN_POSE_SCORE
    return predictor


def build_predictor(name: str | None = None, device: str | None = None, detector: str | None = None, **overrides):
    """Build the named pipeline (``None`` = :data:`DEFAULT_PIPELINE`) on ``device`` (resolved by
    :func:`posekit.device.resolve_device`); ``detector`` replaces a top-down pipeline's person
    detector (one of :data:`DETECTORS`). ``overrides`` go to the predictor, detector and codec
    (e.g. ``pose_nms="rmpe"``, ``padding=1.3``, ``score_threshold=0.2``, ``max_people=10``,
    ``flip_test=True`` where the model has one; ``backend="onnxruntime"`` and
    ``detector_backend``, see :func:`predictor_for`). The predictor gets ``name`` and
    ``draw_min_pose_score``."""
    from posekit.device import resolve_device
    from posekit.errors import PosekitError
    from posekit.models.estimator import Estimator

    name = name or DEFAULT_PIPELINE
    if name not in PIPELINES:
        raise PosekitError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}")
    info = PIPELINES[name]
    dev = resolve_device(device)
    opts = dict(info.options)
    opts.update(overrides)
    if info.kind == "cascade":
        if opts.get("backend"):
            b = opts.pop("backend")
            opts.setdefault("first_backend", b)
            opts.setdefault("refine_backend", b)
        opts.pop("detector_backend", None)
        from posekit.pipelines.cascade import build_cascade
        if detector:
            raise PosekitError(f"{name} is a cascade: its first stage finds the people, it has no person detector")
        if opts.pop("flip_test", False):
            raise PosekitError(f"{name}: no flip test for MoveNet")
        predictor = build_cascade(info.models[0], info.models[1], dev, **opts)
        predictor.name = name
        predictor.draw_min_pose_score = info.draw_min_pose_score
        return predictor
    codec_options = {k: opts.pop(k) for k in ("max_people", "root_threshold", "nms_radius") if k in opts}
    estimator = Estimator.from_pretrained(info.models[-1], dev, **codec_options)
    if info.kind == "top-down":
        opts["detector"] = detector or info.models[0]
    elif detector:
        raise PosekitError(f"{name} is a bottom-up pipeline: it has no person detector")
    predictor = predictor_for(estimator, dev, **opts)
    predictor.name = name
    predictor.draw_min_pose_score = info.draw_min_pose_score
    return predictor

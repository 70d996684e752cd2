"""Named prediction pipelines built from the pretrained package.

``build_predictor(name, device)`` returns a predictor with ``predict(image) -> Poses`` and
``predict_batch(images) -> list[Poses]``. Weights are fetched and converted on first use (see
``posekit.pretrained``). :data:`DEFAULT_PIPELINE` was chosen by measurement: the most accurate
pipeline that stays interactive on a 2-thread CPU (see ``docs/predict.md`` and
``benchmarks/predict.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["PipelineInfo", "PIPELINES", "DEFAULT_PIPELINE", "FAST_PIPELINE", "build_predictor",
           "list_pipelines", "DRAW_MIN_POSE_SCORE", "DRAW_MIN_POSE_SCORE_BOTTOM_UP"]

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
    kind: str                     # "top-down" or "bottom-up"
    models: tuple[str, ...]       # pretrained card names, in the order they run
    summary: str
    options: tuple[tuple[str, object], ...] = ()
    draw_min_pose_score: float = DRAW_MIN_POSE_SCORE


def _info(name, kind, models, summary, **options) -> PipelineInfo:
    draw = DRAW_MIN_POSE_SCORE if kind == "top-down" else DRAW_MIN_POSE_SCORE_BOTTOM_UP
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
)}

#: Most accurate pipeline that stays interactive on this CPU (measured, see docs/predict.md).
DEFAULT_PIPELINE = "movenet-thunder"
#: The fast mode (target <= 38 ms per image on 2 threads with AP >= 0.6 on the COCO sample).
FAST_PIPELINE = "multipose-320"


def list_pipelines() -> list[PipelineInfo]:
    return list(PIPELINES.values())


def build_predictor(name: str | None = None, device: str | None = None, **overrides):
    """Build the named pipeline (``None`` = :data:`DEFAULT_PIPELINE`) on ``device`` (resolved by
    :func:`posekit.device.resolve_device`). ``overrides`` go to the predictor / model
    constructors (e.g. ``pose_nms="rmpe"``, ``padding=1.3``, ``score_threshold=0.2``)."""
    from posekit.device import default_crop_batch, resolve_device
    from posekit.errors import PosekitError
    from posekit.pretrained import load_pretrained

    name = name or DEFAULT_PIPELINE
    if name not in PIPELINES:
        raise PosekitError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}")
    info = PIPELINES[name]
    dev = resolve_device(device)
    opts = dict(info.options)
    opts.update(overrides)

    def pop(keys: tuple[str, ...]) -> dict:
        return {k: opts.pop(k) for k in keys if k in opts}

    if info.kind == "top-down":
        from posekit.pipelines.detector import PersonDetector
        from posekit.pipelines.single import BlazePoseLandmarks, EfficientPoseSingle, MoveNetSingle
        from posekit.pipelines.topdown import TopDownPredictor
        det_model, det_card = load_pretrained(info.models[0], dev)
        detector = PersonDetector(det_model, det_card, **pop(("score_threshold", "iou_threshold", "max_detections")))
        pose_name = info.models[1]
        cls: Callable = (MoveNetSingle if pose_name.startswith("movenet") else
                         EfficientPoseSingle if pose_name.startswith("efficientpose") else BlazePoseLandmarks)
        pm, pc = load_pretrained(pose_name, dev)
        opts.setdefault("max_batch", default_crop_batch(dev))
        predictor = TopDownPredictor(detector, cls(pm, pc), **opts)
    else:
        from posekit.pipelines.bottomup import BottomUpPredictor, MultiPoseModel, PoseNetModel
        m, c = load_pretrained(info.models[0], dev)
        cls = MultiPoseModel if info.models[0] == "movenet_multipose" else PoseNetModel
        model_keys = ("long_side", "max_people", "min_score", "root_threshold", "nms_radius")
        predictor = BottomUpPredictor(cls(m, c, **pop(model_keys)), **opts)
    predictor.name = name
    return predictor

"""Predictors: image in, :class:`Poses` out.

``build_predictor(name)`` assembles a named pipeline from the pretrained package,
``predictor_for(estimator)`` a predictor for any :class:`posekit.models.estimator.Estimator`
(a trained checkpoint too); the pieces (``TopDownPredictor``, ``BottomUpPredictor``, the
detector) are usable on their own.
"""

from posekit.pipelines.poses import Poses
from posekit.pipelines.registry import (DEFAULT_DETECTOR, DEFAULT_PIPELINE, DETECTORS, DRAW_MIN_POSE_SCORE,
                                        DRAW_MIN_POSE_SCORE_BOTTOM_UP, FAST_PIPELINE, PIPELINES, PipelineInfo,
                                        build_detector, build_predictor, list_pipelines, predictor_for)

__all__ = ["Poses", "build_predictor", "predictor_for", "build_detector", "list_pipelines", "PIPELINES",
           "PipelineInfo", "DEFAULT_PIPELINE", "FAST_PIPELINE", "DETECTORS", "DEFAULT_DETECTOR",
           "DRAW_MIN_POSE_SCORE", "DRAW_MIN_POSE_SCORE_BOTTOM_UP", "TopDownPredictor", "BottomUpPredictor"]


def __getattr__(name: str):
    # the predictors import torch: load them on first use only
    if name == "TopDownPredictor":
        from posekit.pipelines.topdown import TopDownPredictor
        return TopDownPredictor
    if name == "BottomUpPredictor":
        from posekit.pipelines.bottomup import BottomUpPredictor
        return BottomUpPredictor
    raise AttributeError(f"module 'posekit.pipelines' has no attribute {name!r}")

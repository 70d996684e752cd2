"""Predictors: image in, :class:`Poses` out.

``build_predictor(name)`` assembles a named pipeline from the pretrained package; the pieces
(``TopDownPredictor``, ``BottomUpPredictor``, the decoders) are usable on their own.
"""

from posekit.pipelines.poses import Poses
from posekit.pipelines.registry import (DEFAULT_PIPELINE, DRAW_MIN_POSE_SCORE, DRAW_MIN_POSE_SCORE_BOTTOM_UP,
                                        FAST_PIPELINE, PIPELINES, PipelineInfo, build_predictor,
                                        list_pipelines)

__all__ = ["Poses", "build_predictor", "list_pipelines", "PIPELINES", "PipelineInfo",
           "DEFAULT_PIPELINE", "FAST_PIPELINE", "DRAW_MIN_POSE_SCORE", "DRAW_MIN_POSE_SCORE_BOTTOM_UP",
           "TopDownPredictor", "BottomUpPredictor"]


def __getattr__(name: str):
    # the predictors import torch: load them on first use only
    if name == "TopDownPredictor":
        from posekit.pipelines.topdown import TopDownPredictor
        return TopDownPredictor
    if name == "BottomUpPredictor":
        from posekit.pipelines.bottomup import BottomUpPredictor
        return BottomUpPredictor
    raise AttributeError(f"module 'posekit.pipelines' has no attribute {name!r}")

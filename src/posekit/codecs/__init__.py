"""Target encodings: keypoints <-> model heads (torch)."""

from posekit.codecs.heatmap import (
    HeatmapTarget, MSRAHeatmap, UDPHeatmap, flip_back_keypoints, flip_heatmaps, to_image,
)
from posekit.codecs.regression import RegressionCodec, RegressionTarget

__all__ = ["HeatmapTarget", "MSRAHeatmap", "UDPHeatmap", "flip_heatmaps", "flip_back_keypoints",
           "to_image", "RegressionCodec", "RegressionTarget"]

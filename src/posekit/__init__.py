"""posekit: 2D human pose estimation, top-down and bottom-up.

``import posekit`` stays light: it does not import torch. Models, engine and pipelines live in
sub-packages that import torch when they are imported themselves.
"""

from posekit.skeleton import (
    AIC14, BLAZEPOSE33, COCO17, CROWDPOSE14, FLIC11, JHMDB15, LSP14, MPII16, KeypointSpec,
    get_spec, remap_keypoints,
)

__version__ = "0.1.0"

__all__ = [
    "__version__", "KeypointSpec", "COCO17", "MPII16", "LSP14", "FLIC11", "AIC14",
    "CROWDPOSE14", "BLAZEPOSE33", "JHMDB15", "get_spec", "remap_keypoints",
]

"""Codecs: keypoints <-> model heads, in torch. Every keypoint decoder of posekit lives here.

The contract (issue 10). A codec is one small class; the dataset, the engine and the
predictor share one instance.

``decode(heads) -> torch.Tensor (B, N, K, 3)``
    float32 ``[x, y, score]`` in the model's *input* pixels, pixel-centre convention (integer
    coordinates are pixel centres; ``(0, 0)`` is the centre of the top-left pixel). ``heads``
    is exactly what the model's forward returns: a tensor, a list of stage tensors (the last
    one is decoded), or a dict of named tensors (imported graphs, keys as in the model card).
    Single-person (top-down) codecs return ``N = 1``; multi-person codecs return
    ``N = max_people``, best first, padding rows all zero with score 0.

``decode_instances(heads, input_size=None) -> Instances``
    Multi-person codecs only: :class:`Instances` ``(keypoints (B, N, K, 3), scores (B, N),
    boxes (B, N, 4) xyxy)``, all in input pixels; ``decode(heads, input_size=None)`` is its
    ``keypoints``. ``input_size = (W, H)`` is the input the heads were computed from (these
    models take inputs of varying size; see below).

``flip_back(heads) -> heads`` and ``supports_flip``
    Where a flip test applies (the heatmap and regression codecs, given the ``spec`` whose
    left/right pairs they swap), ``flip_back`` maps the heads predicted for the mirrored input
    back to the original input, in the form of its argument (a tensor, every stage of a list,
    or the decoded entry of a dict), so that ``decode(average(heads, flip_back(heads_of_mirror)))``
    is the flip test (:meth:`posekit.models.estimator.Estimator.heads` runs it). Codecs where it
    does not apply say ``supports_flip = False``.

Attributes
    ``input_size = (W, H)``: the input the heads refer to. A codec knows nothing about images,
    crops or affines; the predictor maps input pixels to the image. Where the input size varies
    per image it is the decode's ``input_size`` argument instead, defaulting to what the grid
    implies: :class:`MultiPoseCodec` (sides any multiples of 32, ``input = 4 * grid``) and
    :class:`PoseNetCodec` (sides ``16 k + 1``, ``input = 16 (grid - 1) + 1``; only checked);
    their ``input_size_for(width, height, long_side)`` picks it for an image.
    ``spec``: the :class:`posekit.skeleton.KeypointSpec` of the codec's keypoints (the imported
    models' codecs are tied to one; the trainable ones take it as an argument).
    ``udp_warp``: the crop warp the codec's frame assumes (True: UDP's,
    ``crop_affine(..., udp=True)``); whoever cuts crops (dataset, predictor) uses it.

Codecs here: :class:`MSRAHeatmap`, :class:`UDPHeatmap` (Gaussian heatmaps, DARK or argmax
decoding), :class:`RegressionCodec` (trainable: ``encode`` too); :class:`MoveNetSingleCodec`,
:class:`MultiPoseCodec`, :class:`PoseNetCodec`, :class:`BlazePoseLandmarkCodec` (decode only,
for imported graphs); bottom-up and trainable: :class:`PAFCodec` (OpenPose) and
:class:`AECodec` (Associative Embedding, HigherHRNet with ``hr=True``), both with a flip test
and ``input_size_for`` (sides multiples of their ``multiple``). :class:`DeeperCutCodec` (DeeperCut: score maps,
location refinement, pairwise offsets; DeepCut's ILP grouping).
"""

from posekit.codecs.ae import AECodec, AETarget
from posekit.codecs.blazepose import BlazePoseLandmarkCodec
from posekit.codecs.common import Instances
from posekit.codecs.deepercut import DeeperCutCodec, DeeperCutTarget
from posekit.codecs.heatmap import (
    HeatmapTarget, MSRAHeatmap, UDPHeatmap, flip_heatmaps, to_image,
)
from posekit.codecs.movenet import MoveNetSingleCodec, MultiPoseCodec
from posekit.codecs.paf import PAFCodec, PAFTarget
from posekit.codecs.posenet import POSENET_EDGES, PoseNetCodec
from posekit.codecs.regression import RegressionCodec, RegressionTarget

__all__ = ["HeatmapTarget", "MSRAHeatmap", "UDPHeatmap", "flip_heatmaps", "to_image", "RegressionCodec",
           "RegressionTarget", "Instances", "MoveNetSingleCodec", "MultiPoseCodec", "PoseNetCodec", "POSENET_EDGES",
           "BlazePoseLandmarkCodec", "DeeperCutCodec", "DeeperCutTarget", "PAFCodec", "PAFTarget", "AECodec", "AETarget"]

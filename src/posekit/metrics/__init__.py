"""Evaluation metrics, numpy only: OKS, COCO keypoint AP/AR (equal to pycocotools' COCOeval),
PCK / PCKh (with the MPII table), PCP (strict and loose), PDJ, and MPII multi-person mAP.

Array inputs are ``(N, K, 3)`` in image pixels: ground truth ``[x, y, v]`` (COCO visibility),
predictions ``[x, y, score]``; every metric that needs joint meanings takes a KeypointSpec. COCO
AP takes the ground truth and results as arrays (``posekit.data.formats.CocoGroundTruth`` or
ImageRecords, ``CocoResults``); files are read by :mod:`posekit.data.formats` only.
"""

from posekit.metrics.coco import COCO_KEYS, CocoEvalResult, coco_eval, evaluate_coco
from posekit.metrics.mpii import (
    MPIIImage, MPIIMapResult, mpii_map, mpii_map_summary, mpii_scored_joints, voc_ap,
)
from posekit.metrics.oks import oks_matrix
from posekit.metrics.pck import (
    PCKResult, bbox_size, head_segment_size, head_size, mpii_summary, normalized_distances, pck,
    pck_auc, pck_auc_mmpose, pck_curve, pckh, torso_size,
)
from posekit.metrics.pcp import PCPResult, limb_groups, pcp
from posekit.metrics.pdj import PDJResult, pdj, pdj_curve

__all__ = [
    "COCO_KEYS", "CocoEvalResult", "coco_eval", "evaluate_coco", "oks_matrix",
    "PCKResult", "pck", "pckh", "pck_curve", "pck_auc", "pck_auc_mmpose", "normalized_distances",
    "bbox_size", "torso_size", "head_size", "head_segment_size", "mpii_summary",
    "PCPResult", "pcp", "limb_groups",
    "PDJResult", "pdj", "pdj_curve",
    "MPIIImage", "MPIIMapResult", "mpii_map", "mpii_map_summary", "mpii_scored_joints", "voc_ap",
]

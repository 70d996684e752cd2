"""Keypoint specifications: names, left/right flip pairs, limbs and OKS sigmas.

A :class:`KeypointSpec` is passed explicitly to everything that needs to know what the K
keypoints mean (datasets, flips, codecs, metrics, drawing). There is no global "current
dataset". Joint names are canonical across specs (``left_shoulder`` means the same joint in
COCO, AIC and CrowdPose), which is what :func:`remap_index` relies on to carry keypoints
between specs through their common joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "KeypointSpec", "COCO17", "MPII16", "LSP14", "FLIC11", "AIC14", "CROWDPOSE14",
    "BLAZEPOSE33", "JHMDB15", "SPECS", "get_spec", "remap_index", "remap_keypoints",
]

# Joints that are the same anatomical point under different names in different specs.
# MPII's "upper_neck" and the "neck" of LSP/AIC/CrowdPose/J-HMDB are both the top of the
# neck; CrowdPose's "head" and J-HMDB's "head" are a head-top point.
ALIASES: dict[str, str] = {"upper_neck": "neck", "head": "head_top"}


def _flip_index(names: tuple[str, ...]) -> tuple[int, ...]:
    """Index of each joint's mirror image, derived from ``left_``/``right_`` in its name."""
    pos = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        if "left" in n:
            m = n.replace("left", "right")
        elif "right" in n:
            m = n.replace("right", "left")
        else:
            m = n
        if m not in pos:
            raise ValueError(f"keypoint {n!r} has no mirror {m!r} in the spec")
        out.append(pos[m])
    return tuple(out)


@dataclass(frozen=True)
class KeypointSpec:
    """What the K keypoints of a data set mean.

    Attributes:
        name: short identifier, e.g. ``"coco17"``.
        names: K joint names (canonical, ``left_``/``right_`` prefixed where sided).
        limbs: pairs of 0-based joint indices, used for drawing, PAFs and PCP.
        sigmas: per-joint OKS sigmas (COCO convention, k = 2 * sigma), or ``None`` when the
            data set defines none.
        source: where the definition comes from.
        flip_index: derived from the names; ``flip_index[k]`` is the mirror joint of k.
    """

    name: str
    names: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...] | None
    source: str
    flip_index: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        k = len(self.names)
        if len(set(self.names)) != k:
            raise ValueError(f"{self.name}: duplicate joint names")
        for a, b in self.limbs:
            if not (0 <= a < k and 0 <= b < k) or a == b:
                raise ValueError(f"{self.name}: bad limb ({a}, {b}) for {k} joints")
        if self.sigmas is not None and len(self.sigmas) != k:
            raise ValueError(f"{self.name}: {len(self.sigmas)} sigmas for {k} joints")
        flip = _flip_index(self.names)
        if any(flip[flip[i]] != i for i in range(k)):
            raise ValueError(f"{self.name}: flip index is not an involution")
        object.__setattr__(self, "flip_index", flip)

    @property
    def num_keypoints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """0-based index of the joint called ``name`` (aliases accepted)."""
        canon = {ALIASES.get(n, n): i for i, n in enumerate(self.names)}
        if name in self.names:
            return self.names.index(name)
        if ALIASES.get(name, name) in canon:
            return canon[ALIASES.get(name, name)]
        raise KeyError(f"{self.name} has no joint {name!r}")

    def sigmas_array(self) -> np.ndarray:
        """OKS sigmas as float64 ``(K,)``; raises if the spec defines none."""
        if self.sigmas is None:
            raise ValueError(f"keypoint spec {self.name!r} has no OKS sigmas; pass sigmas explicitly")
        return np.asarray(self.sigmas, dtype=np.float64)


def _limbs(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


_COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO17 = KeypointSpec(
    name="coco17",
    names=_COCO_NAMES,
    limbs=_limbs(_COCO_NAMES, [
        ("left_ankle", "left_knee"), ("left_knee", "left_hip"), ("right_ankle", "right_knee"),
        ("right_knee", "right_hip"), ("left_hip", "right_hip"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"),
        ("left_shoulder", "left_elbow"), ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"), ("left_eye", "right_eye"),
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
        ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
    ]),
    # written as pycocotools does (values / 10.0), so that OKS agrees with it bit for bit
    sigmas=tuple(v / 10.0 for v in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                                    1.07, 1.07, .87, .87, .89, .89)),
    source="COCO 2017 keypoints (Lin et al. 2014; cocodataset.org keypoint evaluation sigmas)",
)

_MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)
MPII16 = KeypointSpec(
    name="mpii16",
    names=_MPII_NAMES,
    limbs=_limbs(_MPII_NAMES, [
        ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
        ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("pelvis", "thorax"), ("thorax", "upper_neck"), ("upper_neck", "head_top"),
        ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
        ("right_shoulder", "thorax"), ("thorax", "left_shoulder"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ]),
    sigmas=None,
    source="MPII Human Pose (Andriluka et al. CVPR 2014), joint ids 0-15 of the official release",
)

_LSP_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)
_LIMBS_14 = [
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
    ("left_knee", "left_hip"), ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
    ("left_wrist", "left_elbow"), ("left_elbow", "left_shoulder"), ("right_shoulder", "neck"),
    ("left_shoulder", "neck"), ("right_hip", "left_hip"), ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_hip"), ("neck", "head_top"),
]
LSP14 = KeypointSpec(
    name="lsp14",
    names=_LSP_NAMES,
    limbs=_limbs(_LSP_NAMES, _LIMBS_14),
    sigmas=None,
    source="Leeds Sports Pose (Johnson & Everingham, BMVC 2010), joints.mat order",
)

_FLIC_NAMES = (
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "right_hip", "left_eye", "right_eye", "nose",
)
FLIC11 = KeypointSpec(
    name="flic11",
    names=_FLIC_NAMES,
    limbs=_limbs(_FLIC_NAMES, [
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_eye", "nose"),
        ("right_eye", "nose"),
    ]),
    sigmas=None,
    source="FLIC (Sapp & Taskar, CVPR 2013): the 11 labelled joints of examples.mat's 29 slots",
)

_AIC_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top",
    "neck",
)
AIC14 = KeypointSpec(
    name="aic14",
    names=_AIC_NAMES,
    limbs=_limbs(_AIC_NAMES, _LIMBS_14),
    sigmas=(0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144,
            0.03909642, 0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081,
            0.01291456, 0.01236173),
    source="AI Challenger keypoints (Wu et al. 2017); sigmas from its official evaluation",
)

_CROWDPOSE_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top",
    "neck",
)
CROWDPOSE14 = KeypointSpec(
    name="crowdpose14",
    names=_CROWDPOSE_NAMES,
    limbs=_limbs(_CROWDPOSE_NAMES, _LIMBS_14),
    sigmas=tuple(v / 10.0 for v in (.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                                    .89, .79, .79)),
    source="CrowdPose (Li et al. CVPR 2019); sigmas from its crowdposetools evaluation",
)

_BLAZE_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
BLAZEPOSE33 = KeypointSpec(
    name="blazepose33",
    names=_BLAZE_NAMES,
    limbs=_limbs(_BLAZE_NAMES, [
        ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"),
        ("right_eye_inner", "right_eye"), ("right_eye", "right_eye_outer"),
        ("right_eye_outer", "right_ear"), ("mouth_left", "mouth_right"),
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("left_wrist", "left_pinky"), ("left_wrist", "left_index"),
        ("left_wrist", "left_thumb"), ("left_pinky", "left_index"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("right_wrist", "right_pinky"), ("right_wrist", "right_index"),
        ("right_wrist", "right_thumb"), ("right_pinky", "right_index"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_heel"),
        ("left_heel", "left_foot_index"), ("left_ankle", "left_foot_index"),
        ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_heel"),
        ("right_heel", "right_foot_index"), ("right_ankle", "right_foot_index"),
    ]),
    sigmas=None,
    source="BlazePose (Bazarevsky et al. 2020), MediaPipe Pose landmark order",
)

_JHMDB_NAMES = (
    "neck", "belly", "head_top", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
    "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
    "right_ankle", "left_ankle",
)
JHMDB15 = KeypointSpec(
    name="jhmdb15",
    names=_JHMDB_NAMES,
    limbs=_limbs(_JHMDB_NAMES, [
        ("neck", "head_top"), ("neck", "right_shoulder"), ("neck", "left_shoulder"),
        ("neck", "belly"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("belly", "right_hip"),
        ("belly", "left_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ]),
    sigmas=None,
    source="J-HMDB (Jhuang et al. ICCV 2013), puppet joint order; 'head' is a head point",
)

SPECS: dict[str, KeypointSpec] = {
    s.name: s for s in (COCO17, MPII16, LSP14, FLIC11, AIC14, CROWDPOSE14, BLAZEPOSE33, JHMDB15)
}


def get_spec(name: str) -> KeypointSpec:
    """Look a spec up by its short name (``coco17``, ``mpii16``, ...)."""
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown keypoint spec {name!r}; known: {', '.join(SPECS)}") from None


def remap_index(src: KeypointSpec, dst: KeypointSpec) -> list[tuple[int, int]]:
    """Pairs ``(i_src, i_dst)`` of joints common to both specs (same canonical name)."""
    canon_dst = {ALIASES.get(n, n): j for j, n in enumerate(dst.names)}
    pairs = []
    for i, n in enumerate(src.names):
        j = canon_dst.get(ALIASES.get(n, n))
        if j is not None:
            pairs.append((i, j))
    return pairs


def remap_keypoints(keypoints: np.ndarray, src: KeypointSpec, dst: KeypointSpec) -> np.ndarray:
    """Carry ``(N, K_src, 3)`` keypoints to ``(N, K_dst, 3)``; joints dst has but src lacks
    are unlabelled (x = y = v = 0)."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (src.num_keypoints, 3):
        raise ValueError(f"expected (N, {src.num_keypoints}, 3) keypoints for {src.name}, got {kp.shape}")
    out = np.zeros((kp.shape[0], dst.num_keypoints, 3), np.float32)
    for i, j in remap_index(src, dst):
        out[:, j] = kp[:, i]
    return out

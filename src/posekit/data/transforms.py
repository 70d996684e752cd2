"""Training transforms for top-down and bottom-up pose estimation (numpy + OpenCV, no torch).

Everything here is a small pure function of its inputs and an explicit
``np.random.Generator``; there is no global random state. Configs are frozen dataclasses.

Top-down (one person per sample), composed in :func:`topdown_transform`::

    box ──► centre/size (aspect ratio of the input, padding)
        ──► [half-body: re-centre on the upper or lower body joints]
        ──► [random scale, rotation, shift, flip]  = CropParams
        ──► A = crop_affine(centre, size, input_size, rotation, flip, udp)   (image -> crop, 2x3)
        ──► warp image by A; keypoints_crop = A · keypoints_image, left/right swapped if flipped
        ──► [colour jitter on the crop]

Frames: ``keypoints_image`` are image pixels, ``keypoints_crop`` crop pixels; integer
coordinates are pixel centres (see :mod:`posekit.geometry`). A flipped crop's matrix already
contains the mirror ``x -> W - 1 - x``; its keypoint *labels* are additionally permuted by
``spec.flip_index`` (a mirrored left wrist looks like a right wrist). To go back to the image,
apply ``invert_affine(A)`` and, for a flipped crop, the same permutation again.

Labelled keypoints that land outside the output get ``v = 0`` (their coordinates are kept).

The warp must match the codec that encodes the crop: ``udp=True`` gives UDP's warp (the box
edges on the corner pixel centres, see :func:`posekit.geometry.crop_affine`), which
:class:`posekit.codecs.UDPHeatmap` needs; every codec says which in ``codec.udp_warp``, and
whoever cuts the crops for a codec passes ``udp=codec.udp_warp`` here.

The recipe follows the common top-down practice of Xiao et al. (Simple Baselines, ECCV 2018)
and Sun et al. (HRNet, CVPR 2019): scale, rotation, flip and half-body augmentation. The
bottom-up whole-image affine follows HigherHRNet (Cheng et al., CVPR 2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from posekit.geometry import (
    box_to_center_size, crop_affine, points_inside, transform_points, warp_image,
)
from posekit.skeleton import KeypointSpec

__all__ = [
    "AugConfig", "BottomUpAugConfig", "CropParams", "TopDownSample", "BottomUpSample",
    "swap_left_right", "flip_keypoints", "flip_image", "body_part_indices", "half_body_box",
    "random_crop_params", "topdown_crop_params", "apply_crop", "color_matrix", "apply_color",
    "color_jitter", "topdown_transform", "bottomup_affine", "bottomup_transform",
    "mark_outside", "ignore_regions",
]

# Canonical joint-name fragments of the lower body; every other joint counts as upper body.
_LOWER_BODY = ("hip", "knee", "ankle", "heel", "foot", "toe", "pelvis")


@dataclass(frozen=True)
class AugConfig:
    """Top-down training augmentation.

    Attributes:
        flip_prob: probability of a horizontal flip (with left/right swap).
        scale_range: the box size is multiplied by ``U(lo, hi)`` (> 1 zooms out).
        rotation_deg: rotation ``U(-r, r)`` degrees, applied with probability ``rotation_prob``.
        shift: the box centre moves by ``U(-shift, shift) * box size`` on each axis.
        half_body_prob: probability of a half-body crop, tried only for people with more than
            ``half_body_min_keypoints`` labelled joints.
        half_body_padding: padding of the half-body box (HRNet uses 1.5).
        brightness, contrast, saturation: factors ``U(1 - a, 1 + a)``; 0 disables.
        hue: hue rotation ``U(-hue, hue)`` as a fraction of the colour circle; 0 disables.
        padding: padding of the person box around the crop (applied before the random scale).
    """

    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.75, 1.25)
    rotation_deg: float = 40.0
    rotation_prob: float = 0.6
    shift: float = 0.0
    half_body_prob: float = 0.3
    half_body_min_keypoints: int = 8
    half_body_padding: float = 1.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    padding: float = 1.25

    @classmethod
    def off(cls, padding: float = 1.25) -> "AugConfig":
        """No augmentation at all (evaluation crops)."""
        return cls(flip_prob=0.0, scale_range=(1.0, 1.0), rotation_deg=0.0, rotation_prob=0.0,
                   shift=0.0, half_body_prob=0.0, brightness=0.0, contrast=0.0, saturation=0.0,
                   hue=0.0, padding=padding)


@dataclass(frozen=True)
class BottomUpAugConfig:
    """Whole-image random affine for bottom-up training (HigherHRNet style).

    The image's longer side is fitted into the square output, then zoomed by ``U(scale_range)``
    (> 1 zooms in), rotated by ``U(-rotation_deg, rotation_deg)``, its centre moved by
    ``U(-shift, shift) * longer side`` per axis, and mirrored with probability ``flip_prob``.
    """

    flip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.75, 1.5)
    rotation_deg: float = 30.0
    shift: float = 0.2
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    @classmethod
    def off(cls) -> "BottomUpAugConfig":
        return cls(flip_prob=0.0, scale_range=(1.0, 1.0), rotation_deg=0.0, shift=0.0)


@dataclass(frozen=True, eq=False)
class CropParams:
    """A crop before it becomes a matrix: box ``center (2,)``, ``size (2,) = (w, h)`` in image
    pixels, rotation in degrees (content turns counter-clockwise), whether it is mirrored, and
    whether it uses UDP's warp (box edges on the corner pixel centres, ``crop_affine(udp=True)``)."""

    center: np.ndarray
    size: np.ndarray
    rotation_deg: float = 0.0
    flip: bool = False
    udp: bool = False

    def affine(self, out_size: tuple[int, int]) -> np.ndarray:
        """Image -> crop 2x3 float64 matrix for an output of ``out_size = (W, H)``."""
        return crop_affine(self.center, self.size, out_size, self.rotation_deg, self.flip, self.udp)


@dataclass(frozen=True, eq=False)
class TopDownSample:
    """One transformed person: ``image (H, W, 3) uint8``, ``keypoints (K, 3) float32`` in crop
    pixels, ``affine (2, 3) float64`` image -> crop, and the ``params`` that made it."""

    image: np.ndarray
    keypoints: np.ndarray
    affine: np.ndarray
    params: CropParams


@dataclass(frozen=True, eq=False)
class BottomUpSample:
    """A transformed whole image: ``image (S, S, 3) uint8``, ``keypoints (N, K, 3) float32`` in
    output pixels, ``affine (2, 3) float64`` image -> output, ``flipped``."""

    image: np.ndarray
    keypoints: np.ndarray
    affine: np.ndarray
    flipped: bool


# ----------------------------------------------------------------------------------- flips
def swap_left_right(keypoints: np.ndarray, spec: KeypointSpec) -> np.ndarray:
    """Permute the K axis of ``(..., K, C)`` by ``spec.flip_index`` (left <-> right labels)."""
    return np.asarray(keypoints)[..., list(spec.flip_index), :]


def flip_keypoints(keypoints: np.ndarray, spec: KeypointSpec, width: int) -> np.ndarray:
    """Mirror ``(..., K, 3)`` keypoints of an image ``width`` pixels wide: ``x -> W - 1 - x``
    and swap left/right labels. Applying it twice gives the input back."""
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    kp[..., 0] = (width - 1) - kp[..., 0]
    return swap_left_right(kp, spec)


def flip_image(image: np.ndarray) -> np.ndarray:
    """Mirror an ``(H, W, ...)`` image horizontally (contiguous copy)."""
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


def mark_outside(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Copy of ``(..., K, 3)`` keypoints with v set to 0 where the point lies outside an image
    of ``size = (W, H)``; coordinates are kept."""
    kp = np.array(keypoints, dtype=np.float32, copy=True)
    kp[..., 2] = np.where(points_inside(kp, size), kp[..., 2], 0.0)
    return kp


# ------------------------------------------------------------------------------- half body
def body_part_indices(spec: KeypointSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(upper, lower)`` joint indices of a spec, by canonical names: hips, knees, ankles,
    pelvis and feet are the lower body; everything else (head, neck, arms) the upper body."""
    lower = [i for i, n in enumerate(spec.names) if any(p in n for p in _LOWER_BODY)]
    upper = [i for i in range(spec.num_keypoints) if i not in lower]
    return np.array(upper, dtype=np.int64), np.array(lower, dtype=np.int64)


def half_body_box(keypoints: np.ndarray, spec: KeypointSpec, rng: np.random.Generator,
                  aspect_ratio: float, padding: float = 1.5,
                  min_joints: int = 2) -> tuple[np.ndarray, np.ndarray] | None:
    """Centre and size of a box around the upper or the lower body of one person.

    Args:
        keypoints: ``(K, 3)`` image-frame keypoints; joints with v > 0 count.
        spec: gives the upper/lower split (:func:`body_part_indices`).
        rng: picks the upper body with probability 1/2 when it has at least ``min_joints``
            labelled joints (else the lower body, and vice versa).
        aspect_ratio: ``w / h`` of the crop.
        padding: the joints' tight box is scaled by this.

    Returns ``(center (2,), size (2,))`` in image pixels, or None when neither half has
    ``min_joints`` labelled joints.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    upper, lower = body_part_indices(spec)
    vis = kp[:, 2] > 0
    up, lo = upper[vis[upper]], lower[vis[lower]]
    first, second = (up, lo) if rng.random() < 0.5 else (lo, up)
    chosen = first if len(first) >= min_joints else second
    if len(chosen) < min_joints:
        return None
    xy = kp[chosen, :2]
    box = np.array([*xy.min(axis=0), *xy.max(axis=0)])
    return box_to_center_size(box, aspect_ratio=aspect_ratio, padding=padding)


# ----------------------------------------------------------------------------- crop params
def random_crop_params(center: np.ndarray, size: np.ndarray, rng: np.random.Generator,
                       aug: AugConfig, udp: bool = False) -> CropParams:
    """Randomly scale, rotate, shift and flip a crop box (image pixels) per ``aug``; ``udp``
    picks the warp (see :class:`CropParams`)."""
    center = np.asarray(center, np.float64)
    size = np.asarray(size, np.float64)
    lo, hi = aug.scale_range
    s = rng.uniform(lo, hi) if hi > lo else lo
    rot = 0.0
    if aug.rotation_deg > 0 and rng.random() < aug.rotation_prob:
        rot = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    if aug.shift > 0:
        center = center + rng.uniform(-aug.shift, aug.shift, size=2) * size
    flip = bool(aug.flip_prob > 0 and rng.random() < aug.flip_prob)
    return CropParams(center=center, size=size * s, rotation_deg=rot, flip=flip, udp=udp)


def topdown_crop_params(keypoints: np.ndarray, box_xyxy: np.ndarray, spec: KeypointSpec,
                        input_size: tuple[int, int], rng: np.random.Generator | None = None,
                        aug: AugConfig | None = None, udp: bool = False) -> CropParams:
    """Crop of one person: its box at the input's aspect ratio with ``aug.padding``, then
    (when ``rng`` and ``aug`` are given) half-body and random scale/rotation/shift/flip.

    ``keypoints (K, 3)`` and ``box_xyxy (4,)`` are in image pixels; ``input_size = (W, H)``;
    ``udp`` picks UDP's warp (``codec.udp_warp``).
    """
    aug = aug or AugConfig.off()
    aspect = input_size[0] / input_size[1]
    center, size = box_to_center_size(box_xyxy, aspect_ratio=aspect, padding=aug.padding)
    if rng is None:
        return CropParams(center=center, size=size, udp=udp)
    kp = np.asarray(keypoints)
    if (aug.half_body_prob > 0 and int((kp[:, 2] > 0).sum()) > aug.half_body_min_keypoints
            and rng.random() < aug.half_body_prob):
        hb = half_body_box(kp, spec, rng, aspect, padding=aug.half_body_padding)
        if hb is not None:
            center, size = hb
    return random_crop_params(center, size, rng, aug, udp)


def apply_crop(image: np.ndarray, keypoints_image: np.ndarray, params: CropParams,
               spec: KeypointSpec, out_size: tuple[int, int],
               border_value: float | tuple[float, ...] = 0) -> TopDownSample:
    """Warp the image and carry the ``(..., K, 3)`` keypoints into the crop of ``params``.

    Flipped crops get their keypoint labels swapped; points outside the crop get v = 0.
    """
    A = params.affine(out_size)
    crop = warp_image(image, A, out_size, border_value=border_value)
    kp = transform_points(A, np.asarray(keypoints_image, dtype=np.float32)).astype(np.float32)
    if params.flip:
        kp = swap_left_right(kp, spec)
    return TopDownSample(image=crop, keypoints=mark_outside(kp, out_size), affine=A, params=params)


# ---------------------------------------------------------------------------------- colour
_LUMA = np.array([0.299, 0.587, 0.114])
_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def color_matrix(rng: np.random.Generator, mean_rgb: np.ndarray, brightness: float = 0.0,
                 contrast: float = 0.0, saturation: float = 0.0, hue: float = 0.0) -> np.ndarray:
    """A random colour jitter as one ``(3, 4)`` affine map on RGB values (``[M | t]``).

    Brightness scales, contrast blends with the image's mean grey (``mean_rgb (3,)`` of the
    input; later steps see it through the earlier ones), saturation blends with the pixel's
    grey, hue rotates chroma about the grey axis in YIQ space. The four steps run in random
    order like torchvision's ColorJitter; unlike it, values are clipped only once, at the end.
    """
    M, t = np.eye(3), np.zeros(3)
    mean = np.asarray(mean_rgb, np.float64).reshape(3)
    for step in rng.permutation(4):
        if step == 0 and brightness > 0:
            b = rng.uniform(max(0.0, 1 - brightness), 1 + brightness)
            S, u = np.eye(3) * b, np.zeros(3)
        elif step == 1 and contrast > 0:
            c = rng.uniform(max(0.0, 1 - contrast), 1 + contrast)
            grey = float(_LUMA @ (M @ mean + t))
            S, u = np.eye(3) * c, np.full(3, (1 - c) * grey)
        elif step == 2 and saturation > 0:
            s = rng.uniform(max(0.0, 1 - saturation), 1 + saturation)
            S, u = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), _LUMA), np.zeros(3)
        elif step == 3 and hue > 0:
            a = 2 * math.pi * rng.uniform(-hue, hue)
            R = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
            S, u = _YIQ2RGB @ R @ _RGB2YIQ, np.zeros(3)
        else:
            continue
        M, t = S @ M, S @ t + u
    return np.concatenate([M, t[:, None]], axis=1)


def apply_color(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(3, 4)`` colour map to an ``(H, W, 3)`` uint8 image (saturating)."""
    return cv2.transform(np.ascontiguousarray(image), np.asarray(matrix, np.float32))


def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.2,
                 contrast: float = 0.2, saturation: float = 0.2, hue: float = 0.02) -> np.ndarray:
    """Random brightness/contrast/saturation/hue of an ``(H, W, 3)`` uint8 RGB image.
    Pixels do not move; see :func:`color_matrix`."""
    if brightness <= 0 and contrast <= 0 and saturation <= 0 and hue <= 0:
        return image
    mean = np.array(cv2.mean(image)[:3])
    return apply_color(image, color_matrix(rng, mean, brightness, contrast, saturation, hue))


# ------------------------------------------------------------------------------- pipelines
def topdown_transform(image: np.ndarray, keypoints_image: np.ndarray, box_xyxy: np.ndarray,
                      spec: KeypointSpec, input_size: tuple[int, int],
                      rng: np.random.Generator | None = None,
                      aug: AugConfig | None = None, udp: bool = False) -> TopDownSample:
    """The whole top-down recipe for one person (see the module docstring).

    Args:
        image: ``(H_img, W_img, 3)`` uint8 RGB.
        keypoints_image: ``(K, 3)`` in image pixels.
        box_xyxy: ``(4,)`` person box in image pixels.
        input_size: ``(W, H)`` of the crop.
        rng, aug: both given -> random training crop; otherwise the plain padded box crop.
        udp: UDP's warp instead of the edge-to-edge one; pass ``codec.udp_warp`` so that the
            crop matches the codec that encodes it.

    Returns a :class:`TopDownSample` (crop ``(H, W, 3)`` uint8, keypoints in crop pixels,
    image -> crop matrix).
    """
    aug = aug or AugConfig.off()
    params = topdown_crop_params(keypoints_image, box_xyxy, spec, input_size, rng, aug, udp)
    sample = apply_crop(image, keypoints_image, params, spec, input_size)
    if rng is not None and (aug.brightness or aug.contrast or aug.saturation or aug.hue):
        img = color_jitter(sample.image, rng, aug.brightness, aug.contrast, aug.saturation, aug.hue)
        sample = TopDownSample(image=img, keypoints=sample.keypoints, affine=sample.affine,
                               params=params)
    return sample


def bottomup_affine(image_size: tuple[int, int], out_size: int,
                    rng: np.random.Generator | None = None,
                    aug: BottomUpAugConfig | None = None) -> tuple[np.ndarray, bool]:
    """Image -> output 2x3 matrix for a square ``out_size x out_size`` output.

    Without ``rng`` the image's longer side fills the output, centred (letterbox). With it,
    the random zoom/rotation/shift/flip of ``aug`` is applied. Returns ``(A, flipped)``.
    """
    W, H = image_size
    center = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    side = float(max(W, H))
    rot, flip = 0.0, False
    if rng is not None and aug is not None:
        lo, hi = aug.scale_range
        side /= rng.uniform(lo, hi) if hi > lo else lo
        if aug.rotation_deg > 0:
            rot = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
        if aug.shift > 0:
            center = center + rng.uniform(-aug.shift, aug.shift, size=2) * max(W, H)
        flip = bool(aug.flip_prob > 0 and rng.random() < aug.flip_prob)
    A = crop_affine(center, np.array([side, side]), (out_size, out_size), rot, flip)
    return A, flip


def bottomup_transform(image: np.ndarray, keypoints_image: np.ndarray, spec: KeypointSpec,
                       out_size: int, rng: np.random.Generator | None = None,
                       aug: BottomUpAugConfig | None = None) -> BottomUpSample:
    """Warp a whole image and all its people ``(N, K, 3)`` into a square output (see
    :func:`bottomup_affine`); labels are swapped when mirrored, points outside get v = 0."""
    H, W = image.shape[:2]
    A, flipped = bottomup_affine((W, H), out_size, rng, aug)
    out = warp_image(image, A, (out_size, out_size))
    kp = transform_points(A, np.asarray(keypoints_image, dtype=np.float32)).astype(np.float32)
    if flipped:
        kp = swap_left_right(kp, spec)
    if rng is not None and aug is not None and (aug.brightness or aug.contrast
                                                 or aug.saturation or aug.hue):
        out = color_jitter(out, rng, aug.brightness, aug.contrast, aug.saturation, aug.hue)
    return BottomUpSample(image=out, keypoints=mark_outside(kp, (out_size, out_size)), affine=A,
                          flipped=flipped)


def ignore_regions(boxes_image: np.ndarray, affine: np.ndarray, grid_wh: tuple[int, int],
                   grid_to_input) -> np.ndarray:
    """The loss mask's zero region ``W(p) = 0`` of a bottom-up sample, on a codec's grid.

    OpenPose (Cao et al. 2017) sets ``W(p) = 0`` where people are not annotated, so that true
    detections there are not penalised; HigherHRNet and Associative Embedding do the same for
    COCO crowd regions. posekit's records carry person *boxes*, not segmentation polygons, so
    the regions are the boxes (a box over-covers its person: some background near unlabelled
    people is left out of the loss too).

    Args:
        boxes_image: ``(M, 4)`` xyxy boxes in image pixels (box edges; integer = pixel centre)
            of the crowd regions and unlabelled people.
        affine: ``(2, 3)`` image -> input matrix of the sample (rotation and flip included).
        grid_wh: ``(w, h)`` of the codec's grid.
        grid_to_input: ``(..., 2)`` grid pixels -> input pixels (``codec.heatmap_to_input``).

    Returns ``(h, w)`` bool, True at the grid cells whose centre, carried back to the image,
    lies inside a box (exact for any rotation: the test is done in the image frame).
    """
    from posekit.geometry import invert_affine
    w, h = int(grid_wh[0]), int(grid_wh[1])
    out = np.zeros((h, w), bool)
    boxes = np.asarray(boxes_image, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return out
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    xy_in = grid_to_input(np.stack([gx, gy], axis=-1))                       # (h, w, 2) input px
    xy_img = transform_points(invert_affine(np.asarray(affine, np.float64)), xy_in.reshape(-1, 2)).reshape(h, w, 2)
    for x0, y0, x1, y1 in boxes:
        out |= (xy_img[..., 0] >= x0) & (xy_img[..., 0] <= x1) & (xy_img[..., 1] >= y0) & (xy_img[..., 1] <= y1)
    return out

"""Deterministic synthetic people on the COCO-17 skeleton, for tests that prove models learn.

A figure is a 2D kinematic tree rooted at the pelvis: torso (lean), shoulders and hips at the
torso's ends, arms and legs as two-segment chains with random joint angles, and a head with a
face (eyes, nose, ears). Limbs are thick antialiased strokes with a dark outline, in random
colours and thicknesses; every body keypoint carries a light joint disc so it can be located
to a pixel. Backgrounds are random gradients, smooth colour noise, stripes or checkers with
clutter strokes; random occluding shapes cover parts of people. Several people per image, of
varied scale, are drawn back to front.

**Left and right.** Every figure faces the camera, so the subject's left side is on the image
right of the torso's up direction (the head says which way is up). This cue survives a
horizontal flip: the mirror image of a figure is again a front-facing figure once the
left/right labels are swapped, and the pose distribution is mirror-symmetric. A cue tied to the
labels themselves (say, left limbs always drawn lighter) would *not* survive: after a flip with
label swap, the lighter limb would be called "right", so flip augmentation would teach the
model contradictory colour rules. For that reason limb colours are random per limb chain
(upper and lower arm share a colour, which helps to follow a chain across the body) and carry
no side information. Hands have a thumb and feet point outwards, both mirror-consistent.

Visibility: a keypoint is v=2 when its pixel shows its own person, v=1 (labelled, occluded)
when another person or an occluder covers it, and v=0 when it lies outside the image (its
coordinates are still the true ones).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from posekit.data.records import ImageRecord
from posekit.skeleton import COCO17

__all__ = ["render_scene", "render_person_crop", "make_dataset", "random_background"]

_SHIFT = 4
_ONE = 1 << _SHIFT
_OCCLUDER = 255

# Body proportions as fractions of the person's height (head top to ankles, straight legs).
_TORSO, _NECK, _HEAD_R = 0.29, 0.045, 0.065
_SHOULDER, _HIP = 0.105, 0.075
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 0.16, 0.14, 0.23, 0.22


def _rng(rng_or_seed) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _p(xy) -> tuple[int, int]:
    return int(round(float(xy[0]) * _ONE)), int(round(float(xy[1]) * _ONE))


def _hsv_color(rng: np.random.Generator, s=(0.45, 1.0), v=(0.45, 1.0)) -> tuple[int, int, int]:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*s) * 255, rng.uniform(*v) * 255]]],
                   np.float32).astype(np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _lighter(c, f=0.55) -> tuple[int, int, int]:
    return tuple(int(round(v + (255 - v) * f)) for v in c)


def _darker(c, f=0.45) -> tuple[int, int, int]:
    return tuple(int(round(v * f)) for v in c)


# ------------------------------------------------------------------------------ background
def random_background(rng: np.random.Generator, size: tuple[int, int],
                      clutter: int = 4) -> np.ndarray:
    """A textured ``(H, W, 3)`` uint8 background of ``size = (W, H)``: gradient, smooth colour
    noise, stripes or checkers (or a blend of two), pixel noise, and ``clutter`` random strokes."""
    W, H = size

    def one() -> np.ndarray:
        kind = rng.integers(4)
        c0 = np.array(_hsv_color(rng, (0.0, 0.8), (0.2, 0.95)), np.float32)
        c1 = np.array(_hsv_color(rng, (0.0, 0.8), (0.2, 0.95)), np.float32)
        yy, xx = np.mgrid[:H, :W].astype(np.float32)
        ang = rng.uniform(0, math.pi)
        proj = xx * math.cos(ang) + yy * math.sin(ang)
        if kind == 0:                                      # linear gradient
            t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
        elif kind == 1:                                    # smooth colour noise
            g = int(rng.integers(3, 12))
            low = rng.uniform(0, 255, size=(g, g, 3)).astype(np.float32)
            return cv2.resize(low, (W, H), interpolation=cv2.INTER_CUBIC).clip(0, 255)
        elif kind == 2:                                    # stripes
            period = rng.uniform(6, 40)
            t = 0.5 + 0.5 * np.sin(2 * math.pi * proj / period + rng.uniform(0, 6.3))
        else:                                              # checkers
            cell = rng.uniform(8, 48)
            t = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
        return c0 + t[..., None] * (c1 - c0)

    bg = one()
    if rng.random() < 0.3:
        bg = 0.5 * bg + 0.5 * one()
    bg = bg + rng.normal(0, rng.uniform(2, 8), size=bg.shape).astype(np.float32)
    img = bg.clip(0, 255).astype(np.uint8)
    for _ in range(int(clutter)):
        col = _hsv_color(rng, (0.0, 0.6), (0.2, 0.9))
        a = rng.uniform([0, 0], [W, H])
        if rng.random() < 0.5:
            b = a + rng.normal(0, 0.25 * max(W, H), size=2)
            t = max(1, int(rng.uniform(0.005, 0.03) * max(W, H)))
            cv2.line(img, _p(a), _p(b), col, t, cv2.LINE_AA, _SHIFT)
        else:
            ax = rng.uniform(0.02, 0.12, size=2) * max(W, H)
            cv2.ellipse(img, _p(a), _p(ax), float(rng.uniform(0, 180)), 0, 360, col, -1,
                        cv2.LINE_AA, _SHIFT)
    return img


# ---------------------------------------------------------------------------------- figure
def _figure(rng: np.random.Generator, pelvis: np.ndarray, h: float, spread: float,
            max_lean: float) -> dict:
    """Joint positions of one front-facing figure of height ``h`` px (image frame)."""
    prop = rng.uniform(0.9, 1.1, size=8)
    lean = math.radians(rng.uniform(-max_lean, max_lean))
    up = np.array([math.sin(lean), -math.cos(lean)])
    rt = np.array([math.cos(lean), math.sin(lean)])       # the subject's left when upright

    def direction(angle_deg: float, s: int, frame_up=up, frame_rt=rt) -> np.ndarray:
        a = math.radians(angle_deg)
        return math.cos(a) * (-frame_up) + math.sin(a) * s * frame_rt

    neck = pelvis + up * _TORSO * h * prop[0]
    kp = np.zeros((17, 2))
    hands, feet, thumbs = {}, {}, {}
    for s, (sh, el, wr, hp, kn, an) in ((+1, (5, 7, 9, 11, 13, 15)), (-1, (6, 8, 10, 12, 14, 16))):
        kp[sh] = neck + s * rt * _SHOULDER * h * prop[1]
        kp[hp] = pelvis + s * rt * _HIP * h * prop[2]
        a1 = rng.uniform(-25, 165) * spread
        b1 = rng.uniform(-110, 110) * spread
        kp[el] = kp[sh] + direction(a1, s) * _UPPER_ARM * h * prop[3]
        fa = direction(a1 + b1, s)
        kp[wr] = kp[el] + fa * _FOREARM * h * prop[4]
        hands[s] = kp[wr] + fa * 0.035 * h
        thumbs[s] = hands[s] + direction(a1 + b1 + 70, s) * 0.035 * h
        a2 = rng.uniform(-12, 55) * spread
        b2 = rng.uniform(-55, 55) * spread
        kp[kn] = kp[hp] + direction(a2, s) * _THIGH * h * prop[5]
        kp[an] = kp[kn] + direction(a2 + b2, s) * _SHIN * h * prop[6]
        feet[s] = kp[an] + direction(a2 + b2 + 80, s) * 0.06 * h
    tilt = math.radians(rng.uniform(-20, 20) * spread)
    hu = np.array([math.sin(lean + tilt), -math.cos(lean + tilt)])
    hr = np.array([math.cos(lean + tilt), math.sin(lean + tilt)])
    r = _HEAD_R * h * prop[7]
    head = neck + up * _NECK * h + hu * r
    yaw = rng.uniform(-0.25, 0.25)
    kp[0] = head - hu * 0.2 * r + hr * yaw * r
    for s, (eye, ear) in ((+1, (1, 3)), (-1, (2, 4))):
        kp[eye] = head + hu * 0.2 * r + s * hr * 0.4 * r + hr * yaw * r
        kp[ear] = head + s * hr * 0.95 * r + hu * 0.05 * r
    return dict(kp=kp, neck=neck, head=head, head_r=r, hands=hands, thumbs=thumbs, feet=feet)


def _draw_figure(img: np.ndarray, mask: np.ndarray, fig: dict, rng: np.random.Generator,
                 h: float) -> None:
    """Draw one figure onto ``img`` and its silhouette (255) onto ``mask``."""
    kp = fig["kp"]
    thick = rng.uniform(0.75, 1.3)
    t_arm = max(2, int(round(0.042 * h * thick)))
    t_leg = max(2, int(round(0.055 * h * thick)))
    outline = max(1, int(round(0.12 * t_arm)))
    chains = {k: _hsv_color(rng) for k in ("la", "ra", "ll", "rl", "torso")}
    skin = _hsv_color(rng, (0.25, 0.6), (0.55, 1.0))
    dark = (25, 25, 25)

    def stroke(a, b, col, t):
        cv2.line(img, _p(a), _p(b), dark, t + 2 * outline, cv2.LINE_AA, _SHIFT)
        cv2.line(img, _p(a), _p(b), col, t, cv2.LINE_AA, _SHIFT)
        cv2.line(mask, _p(a), _p(b), 255, t + 2 * outline, cv2.LINE_8, _SHIFT)

    def disc(c, radius, col, target_outline=True):
        r = int(round(radius * _ONE))
        cv2.circle(img, _p(c), r, col, -1, cv2.LINE_AA, _SHIFT)
        if target_outline:
            cv2.circle(img, _p(c), r, dark, 1, cv2.LINE_AA, _SHIFT)
        cv2.circle(mask, _p(c), r, 255, -1, cv2.LINE_8, _SHIFT)

    # legs, torso, arms, head: back to front
    for s, (hp, kn, an), key in ((+1, (11, 13, 15), "ll"), (-1, (12, 14, 16), "rl")):
        stroke(kp[hp], kp[kn], chains[key], t_leg)
        stroke(kp[kn], kp[an], chains[key], t_leg)
        stroke(kp[an], fig["feet"][s], _darker(chains[key], 0.6), max(2, int(t_leg * 0.7)))
    torso = np.array([kp[5], kp[6], kp[12], kp[11]])
    c = torso.mean(axis=0)
    torso = c + (torso - c) * 1.12
    poly = np.round(torso * _ONE).astype(np.int32)
    cv2.fillConvexPoly(img, poly, chains["torso"], cv2.LINE_AA, _SHIFT)
    cv2.polylines(img, [poly], True, dark, 2 * outline, cv2.LINE_AA, _SHIFT)
    cv2.fillConvexPoly(mask, poly, 255, cv2.LINE_8, _SHIFT)
    stroke(fig["neck"], fig["head"], skin, t_arm)
    for s, (sh, el, wr), key in ((+1, (5, 7, 9), "la"), (-1, (6, 8, 10), "ra")):
        stroke(kp[sh], kp[el], chains[key], t_arm)
        stroke(kp[el], kp[wr], chains[key], t_arm)
        stroke(fig["hands"][s], fig["thumbs"][s], skin, max(2, int(t_arm * 0.45)))
        disc(fig["hands"][s], 0.6 * t_arm, skin)
    r = fig["head_r"]
    for s, ear in ((+1, 3), (-1, 4)):
        disc(kp[ear], 0.3 * r, _darker(skin, 0.75))
    disc(fig["head"], r, skin)
    for k in (1, 2):
        disc(kp[k], max(1.0, 0.14 * r), dark, False)
    disc(kp[0], max(1.0, 0.15 * r), (200, 40, 60), False)
    for s, ear in ((+1, 3), (-1, 4)):   # ear centres stay visible over the head outline
        disc(kp[ear], max(1.0, 0.12 * r), _darker(skin, 0.5), False)
    # joint discs: a light dot with a dark rim on each body joint
    for k, key in zip(range(5, 17), ("la", "ra", "la", "ra", "la", "ra", "ll", "rl", "ll", "rl",
                                     "ll", "rl")):
        t = t_arm if k < 11 else t_leg
        disc(kp[k], max(1.5, 0.42 * t), _lighter(chains[key], 0.7))


def _occluder(img: np.ndarray, owner: np.ndarray, rng: np.random.Generator, center: np.ndarray,
              scale: float) -> None:
    col = _hsv_color(rng, (0.0, 0.9), (0.15, 0.95))
    ax = rng.uniform(0.08, 0.22, size=2) * scale
    if rng.random() < 0.5:
        ang = rng.uniform(0, 180)
        for target, c, ltype in ((img, col, cv2.LINE_AA), (owner, _OCCLUDER, cv2.LINE_8)):
            cv2.ellipse(target, _p(center), _p(ax), ang, 0, 360, c, -1, ltype, _SHIFT)
    else:
        box = cv2.boxPoints(((float(center[0]), float(center[1])), (float(2 * ax[0]),
                             float(2 * ax[1])), float(rng.uniform(0, 180))))
        poly = np.round(box * _ONE).astype(np.int32)
        for target, c, ltype in ((img, col, cv2.LINE_AA), (owner, _OCCLUDER, cv2.LINE_8)):
            cv2.fillConvexPoly(target, poly, c, ltype, _SHIFT)
        if rng.random() < 0.5:   # give it a texture of stripes
            step = max(3, int(ax.min() / 2))
            c2 = _darker(col, 0.6)
            x0, y0 = np.floor(box.min(axis=0)).astype(int)
            x1, y1 = np.ceil(box.max(axis=0)).astype(int)
            stripes = np.zeros_like(owner)
            for x in range(x0, x1, step):
                cv2.line(stripes, (x, y0), (x + (y1 - y0) // 2, y1), 1, max(1, step // 2))
            sel = (stripes > 0) & (owner == _OCCLUDER)
            img[sel] = c2


# ----------------------------------------------------------------------------------- scene
def render_scene(rng_or_seed: np.random.Generator | int, size: tuple[int, int] = (256, 256),
                 num_people: tuple[int, int] = (1, 3),
                 height_range: tuple[float, float] = (0.35, 0.9), occlusion: float = 0.3,
                 pose_spread: float = 1.0, max_lean_deg: float = 25.0, clutter: int = 4,
                 centered: bool = False, file_name: str = "synthetic.png",
                 image_id: int | None = None) -> tuple[np.ndarray, ImageRecord]:
    """Render one scene of front-facing articulated figures on the COCO-17 skeleton.

    Args:
        rng_or_seed: a Generator (consumed) or a seed; the same seed gives the same scene.
        size: ``(W, H)`` of the image.
        num_people: inclusive range of the number of people.
        height_range: person height (head top to ankles) as a fraction of H.
        occlusion: per person, probability of an occluding shape over one of its joints.
        pose_spread: scales the joint-angle ranges (0 = rest pose, 1 = full range).
        max_lean_deg: the whole figure leans by up to this angle.
        clutter: number of distractor strokes/blobs in the background.
        centered: put each person's body centre near the image centre (single-person crops);
            otherwise people are spread over the width in jittered slots (they may overlap).
        file_name, image_id: stored in the record.

    Returns:
        ``image (H, W, 3) uint8 RGB`` and an :class:`ImageRecord` (spec COCO17) with keypoints
        ``(N, 17, 3)`` in image pixels, amodal person boxes (clipped to the image), areas =
        silhouette pixel counts, no crowd.
    """
    rng = _rng(rng_or_seed)
    W, H = int(size[0]), int(size[1])
    img = random_background(rng, (W, H), clutter)
    owner = np.zeros((H, W), np.uint8)
    n = int(rng.integers(num_people[0], num_people[1] + 1))
    heights = np.sort(rng.uniform(height_range[0], height_range[1], size=n)) * H
    kps, boxes, areas = [], [], []
    slots = rng.permutation(n)
    for i, h in enumerate(heights):           # small (far) first, large (near) last
        if centered:
            x = W / 2 + rng.normal(0, 0.03 * W)
            y = H / 2 + 0.03 * h + rng.normal(0, 0.03 * H)
        else:
            lo_x = max(0.15 * h, W * slots[i] / n)
            hi_x = min(W - 0.15 * h, W * (slots[i] + 1) / n)
            lo_y, hi_y = 0.47 * h, H - 0.45 * h
            x = rng.uniform(lo_x, hi_x) if hi_x > lo_x else (lo_x + hi_x) / 2
            y = rng.uniform(lo_y - 0.08 * h, hi_y + 0.08 * h) if hi_y > lo_y else H / 2
        fig = _figure(rng, np.array([x, y]), float(h), pose_spread, max_lean_deg)
        mask = np.zeros((H, W), np.uint8)
        _draw_figure(img, mask, fig, rng, float(h))
        owner[mask > 0] = i + 1
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes.append([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5])
        else:
            boxes.append([0, 0, 0, 0])
        areas.append(float(len(xs)))
        kps.append(fig["kp"])
    for i, h in enumerate(heights):
        if rng.random() < occlusion:
            j = int(rng.integers(17))
            _occluder(img, owner, rng, kps[i][j] + rng.normal(0, 0.03 * h, 2), float(h))
    keypoints = np.zeros((n, 17, 3), np.float32)
    for i, kp in enumerate(kps):
        keypoints[i, :, :2] = kp
        xi = np.round(kp).astype(int)
        inside = (xi[:, 0] >= 0) & (xi[:, 0] < W) & (xi[:, 1] >= 0) & (xi[:, 1] < H)
        own = np.zeros(17, bool)
        own[inside] = owner[xi[inside, 1], xi[inside, 0]] == i + 1
        keypoints[i, :, 2] = np.where(inside, np.where(own, 2.0, 1.0), 0.0)
    rec = ImageRecord.create(file_name, W, H, keypoints, COCO17,
                             boxes=np.array(boxes, np.float32).reshape(n, 4),
                             areas=np.array(areas, np.float32), image_id=image_id,
                             source="synthetic")
    return img, rec


def render_person_crop(rng_or_seed: np.random.Generator | int, size: tuple[int, int] = (96, 128),
                       **kwargs) -> tuple[np.ndarray, ImageRecord]:
    """One person filling most of a ``size = (W, H)`` image (default 96x128, the usual 3:4
    top-down input), for training a single-person model without a crop step. ``kwargs`` go
    to :func:`render_scene`."""
    kwargs.setdefault("height_range", (0.7, 0.85))
    kwargs.setdefault("clutter", 2)
    kwargs.setdefault("centered", True)
    return render_scene(rng_or_seed, size=size, num_people=(1, 1), **kwargs)


def make_dataset(n: int, seed: int, size: tuple[int, int] = (256, 256),
                 **kwargs) -> list[tuple[np.ndarray, ImageRecord]]:
    """``n`` scenes; scene ``i`` comes from ``default_rng([seed, i])``, so it does not depend on
    ``n``. File names are ``synthetic_{seed}_{i:06d}.png`` and image ids ``i``. ``kwargs`` go
    to :func:`render_scene`."""
    return [render_scene(np.random.default_rng([seed, i]), size=size,
                         file_name=f"synthetic_{seed}_{i:06d}.png", image_id=i, **kwargs)
            for i in range(int(n))]

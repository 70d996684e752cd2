"""Synthetic video with known identities: figures of :mod:`posekit.data.synthetic` walking
across a fixed background, crossing and hiding each other.

Each person is one figure of the renderer (its pose drawn once), moved along a straight line at
constant speed, with its arms and legs swinging (the arm and leg chains rotate about the
shoulder and hip, sinusoidally, as in walking) and a small vertical bob. People walk in
alternating directions across the frame, so every pair whose paths overlap crosses; the
taller (nearer) person is drawn last and hides the other where they overlap.

Truth per frame: COCO-17 keypoints with visibility (2 visible, 1 hidden by another person,
0 outside the image), the person's identity, and its amodal box clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from posekit.data.synthetic import _draw_figure, _figure, random_background
from posekit.skeleton import COCO17

__all__ = ["SyntheticVideo", "render_video", "perfect_detections", "count_crossings"]

# COCO-17 indices of the chains that swing: (root, moving keypoints, extra figure points).
_ARMS = ((5, (7, 9), +1), (6, (8, 10), -1))
_LEGS = ((11, (13, 15), +1), (12, (14, 16), -1))


@dataclass(frozen=True)
class SyntheticVideo:
    """Frames and their truth.

    Attributes:
        frames: T images ``(H, W, 3)`` uint8 RGB.
        keypoints: T arrays ``(N_t, 17, 3)`` float32 ``[x, y, v]`` image pixels (v: 2 visible,
            1 hidden, 0 outside).
        identities: T arrays ``(N_t,)`` int64, the person of each row (constant over time).
        boxes: T arrays ``(N_t, 4)`` float32 xyxy, the silhouette's box (amodal: hidden parts count).
        fps: frames per second (for timestamps).
        paths: ``(P, T, 2)`` the pelvis of every person in every frame (also when outside).
    """

    frames: list
    keypoints: list
    identities: list
    boxes: list
    fps: float
    paths: np.ndarray

    @property
    def spec(self):
        return COCO17

    def __len__(self) -> int:
        return len(self.frames)


def _rotate(points: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    d = points - centre
    return centre + np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], axis=-1)


def _pose_at(fig: dict, pelvis0: np.ndarray, offset: np.ndarray, swing: float) -> dict:
    """The figure ``fig`` (drawn at ``pelvis0``) moved by ``offset``, arms and legs rotated by
    ``+-swing`` radians about shoulders and hips."""
    kp = fig["kp"].copy()
    hands = dict(fig["hands"])
    thumbs = dict(fig["thumbs"])
    feet = dict(fig["feet"])
    for root, chain, s in _ARMS:
        a = swing * s
        kp[list(chain)] = _rotate(kp[list(chain)], kp[root], a)
        hands[s] = _rotate(hands[s], kp[root], a)
        thumbs[s] = _rotate(thumbs[s], kp[root], a)
    for root, chain, s in _LEGS:
        a = -swing * s * 0.6
        kp[list(chain)] = _rotate(kp[list(chain)], kp[root], a)
        feet[s] = _rotate(feet[s], kp[root], a)
    move = lambda p: p + offset  # noqa: E731
    return dict(kp=move(kp), neck=move(fig["neck"]), head=move(fig["head"]), head_r=fig["head_r"],
                hands={k: move(v) for k, v in hands.items()}, thumbs={k: move(v) for k, v in thumbs.items()},
                feet={k: move(v) for k, v in feet.items()})


def render_video(seed: int, num_frames: int = 60, size: tuple[int, int] = (320, 240), num_people: int = 2,
                 fps: float = 30.0, speed: tuple[float, float] = (1.5, 3.5), swing_deg: float = 20.0,
                 height_range: tuple[float, float] = (0.5, 0.8), clutter: int = 3) -> SyntheticVideo:
    """Render a video of ``num_people`` walking figures (see the module docstring).

    Args:
        seed: the same seed gives the same video.
        size: ``(W, H)``; speed: range of walking speeds in pixels per frame.
        swing_deg: amplitude of the arm swing (legs: 0.6 of it); the swing period is 0.8-1.4 s.
        height_range: person heights as fractions of H (nearer = taller, drawn later).

    Returns:
        a :class:`SyntheticVideo`. Person p walks right when p is even, left when odd, starting
        from the side it walks away from, so paths cross in the middle of the video.
    """
    rng = np.random.default_rng(seed)
    W, H = int(size[0]), int(size[1])
    background = random_background(rng, (W, H), clutter)
    heights = np.sort(rng.uniform(*height_range, size=num_people)) * H       # far first
    people = []
    for p, h in enumerate(heights):
        pelvis0 = np.array([W / 2, H - 0.45 * h - rng.uniform(0, 0.1) * H])
        fig = _figure(rng, pelvis0, float(h), 0.5, 8.0)
        direction = 1.0 if p % 2 == 0 else -1.0
        v = rng.uniform(*speed)
        travel = v * (num_frames - 1)
        x_start = W / 2 - direction * travel / 2 + rng.normal(0, 0.05 * W)
        people.append(dict(fig=fig, pelvis0=pelvis0, h=float(h), x0=x_start, v=direction * v,
                           period=rng.uniform(0.8, 1.4) * fps, phase=rng.uniform(0, 2 * math.pi),
                           bob=rng.uniform(0.005, 0.015) * h, seed=int(rng.integers(1 << 31))))
    frames, kps_all, ids_all, boxes_all = [], [], [], []
    paths = np.zeros((num_people, num_frames, 2))
    for t in range(num_frames):
        img = background.copy()
        owner = np.zeros((H, W), np.uint8)
        poses, boxes = [], []
        for p, person in enumerate(people):
            x = person["x0"] + person["v"] * t
            w = 2 * math.pi * t / person["period"] + person["phase"]
            offset = np.array([x - person["pelvis0"][0], person["bob"] * math.sin(2 * w)])
            pose = _pose_at(person["fig"], person["pelvis0"], offset, math.radians(swing_deg) * math.sin(w))
            paths[p, t] = person["pelvis0"] + offset
            mask = np.zeros((H, W), np.uint8)
            _draw_figure(img, mask, pose, np.random.default_rng(person["seed"]), person["h"])
            owner[mask > 0] = p + 1
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5] if len(xs) else None)
            poses.append(pose["kp"])
        kps, ids, bxs = [], [], []
        for p, (kp, box) in enumerate(zip(poses, boxes)):
            if box is None:
                continue
            xi = np.round(kp).astype(int)
            inside = (xi[:, 0] >= 0) & (xi[:, 0] < W) & (xi[:, 1] >= 0) & (xi[:, 1] < H)
            own = np.zeros(17, bool)
            own[inside] = owner[xi[inside, 1], xi[inside, 0]] == p + 1
            v = np.where(inside, np.where(own, 2.0, 1.0), 0.0)
            if not inside.any():
                continue
            kps.append(np.concatenate([kp, v[:, None]], axis=1))
            ids.append(p)
            bxs.append(box)
        frames.append(img)
        kps_all.append(np.asarray(kps, np.float32).reshape(-1, 17, 3))
        ids_all.append(np.asarray(ids, np.int64))
        boxes_all.append(np.asarray(bxs, np.float32).reshape(-1, 4))
    return SyntheticVideo(frames, kps_all, ids_all, boxes_all, float(fps), paths)


def perfect_detections(video: SyntheticVideo, min_visible: float = 0.3, seed: int = 0
                       ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """What a perfect detector and pose model would give, per frame: ``(keypoints (N, 17, 3),
    boxes (N, 4), scores (N,), identities (N,))`` in a shuffled order. A person is detected when
    at least ``min_visible`` of its keypoints are visible (v = 2); keypoint scores are 1 where
    visible, 0.5 where hidden by another person (a model guesses those), 0 outside the image."""
    rng = np.random.default_rng(seed)
    out = []
    for kp, ids, bx in zip(video.keypoints, video.identities, video.boxes):
        keep = (kp[..., 2] == 2).mean(axis=1) >= min_visible
        order = rng.permutation(int(keep.sum()))
        k = kp[keep][order].copy()
        k[..., 2] = np.select([k[..., 2] == 2, k[..., 2] == 1], [1.0, 0.5], 0.0)
        out.append((k, bx[keep][order], np.ones(len(order), np.float32), ids[keep][order]))
    return out


def count_crossings(video: SyntheticVideo) -> int:
    """Pairs of people whose left-to-right order (of their pelvises) changes during the video,
    counted once per change."""
    x = video.paths[..., 0]
    n = 0
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            s = np.sign(x[a] - x[b])
            s = s[s != 0]
            n += int((s[1:] != s[:-1]).sum())
    return n

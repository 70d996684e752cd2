"""RMPE's proposal boxes: a simulated person detector, the pose-guided proposals generator
(PGPG), and the centred targets of the parallel SPPE branch (numpy only).

Reference: Fang, Xie, Tai, Lu, "RMPE: Regional Multi-person Pose Estimation", ICCV 2017,
Sec. 3.4 (PGPG) and Sec. 3.2 (parallel SPPE).

**PGPG.** The boxes a detector gives are off from the true boxes in a way that depends on the
pose (a raised arm, a wide stance). RMPE clusters the training poses, normalised to their box,
into *atomic poses* with k-means; for each atomic pose it learns the distribution of the offsets
between detected and true boxes; in training it samples, for each person, box proposals from the
distribution of that person's atomic pose, so that the SPPE (and the STN) see the crops a
detector would give. Offsets are ``(dx / w, dy / h, log(w' / w), log(h' / h))``: the centre shift
relative to the true box's size and the log size ratios. Here each atomic pose's offsets are
modelled by one Gaussian (mean and covariance), so the whole model is a mixture over atomic
poses (the paper speaks of the offsets' distribution per atomic pose without more detail).

**Simulated detector.** On synthetic data there are no detector boxes; :class:`SimulatedDetector`
is a detector with a known error model: the true box's centre moves toward the pelvis by
``pull`` times their distance (a detector that centres on the body mass, so its error depends on
the pose: large for raised arms), then by ``U(-jitter, jitter)`` of the box size on each axis,
and each side is scaled by ``U(1 - jitter, 1 + jitter)``. It gives one fixed box per person
(seeded by the person's key), like a real detector.

Frames: boxes are xyxy image pixels; keypoints ``(K, 3)`` image pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from posekit.data.records import ImageRecord
from posekit.errors import PosekitError
from posekit.geometry import box_to_center_size
from posekit.skeleton import KeypointSpec

__all__ = ["centred_keypoints", "box_offsets", "apply_offsets", "normalised_pose", "kmeans",
           "SimulatedDetector", "PGPGModel", "fit_pgpg", "PGPGSampler", "detector_pairs"]

log = logging.getLogger(__name__)


def centred_keypoints(keypoints_image: np.ndarray, true_box: np.ndarray, params, spec: KeypointSpec,
                      input_size: tuple[int, int], padding: float = 1.25) -> np.ndarray:
    """The pose as the plain crop of the *true* box would show it (RMPE's centre-located ground
    truth): the true box at the input's aspect ratio with ``padding``, the rotation, flip and
    warp of ``params`` (the :class:`~posekit.data.transforms.CropParams` of the actual crop).
    ``keypoints_image (K, 3)`` -> ``(K, 3)`` float32 in crop pixels of ``input_size = (W, H)``;
    labels swapped when flipped, points outside the crop v = 0."""
    from posekit.data.transforms import CropParams, apply_crop
    W, H = input_size
    center, size = box_to_center_size(true_box, aspect_ratio=W / H, padding=padding)
    p = CropParams(center=center, size=size, rotation_deg=params.rotation_deg, flip=params.flip, udp=params.udp)
    empty = np.zeros((1, 1, 3), np.uint8)
    kp = apply_crop(empty, keypoints_image, p, spec, input_size).keypoints
    return kp.astype(np.float32)


def box_offsets(detected: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``(N, 4)`` offsets ``(dx / w, dy / h, log(w' / w), log(h' / h))`` of detected boxes
    from true boxes (both ``(N, 4)`` xyxy; ``w, h`` of the true box)."""
    d = np.asarray(detected, np.float64).reshape(-1, 4)
    t = np.asarray(true, np.float64).reshape(-1, 4)
    tw, th = np.maximum(t[:, 2] - t[:, 0], 1e-6), np.maximum(t[:, 3] - t[:, 1], 1e-6)
    dw, dh = np.maximum(d[:, 2] - d[:, 0], 1e-6), np.maximum(d[:, 3] - d[:, 1], 1e-6)
    dx = ((d[:, 0] + d[:, 2]) - (t[:, 0] + t[:, 2])) / 2 / tw
    dy = ((d[:, 1] + d[:, 3]) - (t[:, 1] + t[:, 3])) / 2 / th
    return np.stack([dx, dy, np.log(dw / tw), np.log(dh / th)], axis=1)


def apply_offsets(true: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`box_offsets`: boxes ``(N, 4)`` xyxy from true boxes and offsets."""
    t = np.asarray(true, np.float64).reshape(-1, 4)
    o = np.asarray(offsets, np.float64).reshape(-1, 4)
    tw, th = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    cx = (t[:, 0] + t[:, 2]) / 2 + o[:, 0] * tw
    cy = (t[:, 1] + t[:, 3]) / 2 + o[:, 1] * th
    w, h = tw * np.exp(o[:, 2]), th * np.exp(o[:, 3])
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def normalised_pose(keypoints: np.ndarray, box: np.ndarray) -> np.ndarray:
    """A pose ``(K, 3)`` as a ``(2K,)`` vector of keypoint positions relative to its box:
    ``((x - cx) / w, (y - cy) / h)``; unlabelled keypoints (v = 0) at the box centre (0, 0)."""
    kp = np.asarray(keypoints, np.float64)
    x0, y0, x1, y1 = np.asarray(box, np.float64).reshape(4)
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    rel = (kp[:, :2] - [(x0 + x1) / 2, (y0 + y1) / 2]) / [w, h]
    rel[kp[:, 2] <= 0] = 0.0
    return rel.reshape(-1)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding: ``x (N, D)`` -> ``(centroids (k, D), labels (N,))``.
    Deterministic for a seed. Empty clusters are re-seeded at the point farthest from its centre."""
    x = np.asarray(x, np.float64)
    n = len(x)
    if not 1 <= k <= n:
        raise PosekitError(f"kmeans: k={k} needs 1 <= k <= number of points ({n})")
    rng = np.random.default_rng(seed)
    c = [x[rng.integers(n)]]
    for _ in range(1, k):
        d2 = ((x[:, None, :] - np.asarray(c)[None]) ** 2).sum(-1).min(1)
        c.append(x[rng.choice(n, p=d2 / d2.sum())] if d2.sum() > 0 else x[rng.integers(n)])
    c = np.asarray(c)
    labels = np.zeros(n, np.int64)
    for it in range(iters):
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        new = d2.argmin(1)
        if it and (new == labels).all():
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(0)
            else:
                far = int(d2[np.arange(n), labels].argmax())
                c[j] = x[far]
    return c, labels


@dataclass(frozen=True)
class SimulatedDetector:
    """A person detector with a known, pose-dependent error (see the module docstring): the box
    centre pulled toward the pelvis by ``pull``, shifted by ``U(-jitter, jitter)`` of the box size
    per axis, each side scaled by ``U(1 - jitter, 1 + jitter)``; one fixed box per ``key``
    (seeded by ``seed`` and the key). ``hips``: indices of the hip keypoints (COCO: 11, 12).

    As a ``box_sampler`` of :class:`~posekit.data.datasets.TopDownDataset`:
    ``detector(box, keypoints_image, rng, key) -> box`` (``rng`` unused: the box is fixed)."""

    jitter: float = 0.3
    pull: float = 0.3
    seed: int = 0
    hips: tuple[int, int] = (11, 12)

    def __call__(self, box: np.ndarray, keypoints_image: np.ndarray, rng=None, key=(0, 0)) -> np.ndarray:
        r = np.random.default_rng([int(self.seed), 7777, *(int(k) for k in key)])
        box = np.asarray(box, np.float64).reshape(4)
        kp = np.asarray(keypoints_image, np.float64)
        w, h = box[2] - box[0], box[3] - box[1]
        c = (box[:2] + box[2:]) / 2
        hips = kp[list(self.hips)]
        if (hips[:, 2] > 0).all():
            c = c + self.pull * (hips[:, :2].mean(0) - c)
        c = c + r.uniform(-self.jitter, self.jitter, 2) * [w, h]
        s = r.uniform(1 - self.jitter, 1 + self.jitter, 2) * [w, h]
        return np.concatenate([c - s / 2, c + s / 2])


@dataclass(frozen=True)
class PGPGModel:
    """Atomic poses and their box-offset Gaussians: ``centroids (A, 2K)`` (normalised poses,
    :func:`normalised_pose`), ``means (A, 4)``, ``covs (A, 4, 4)`` of :func:`box_offsets`,
    ``counts (A,)`` training people per atomic pose."""

    centroids: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    counts: np.ndarray

    def atom(self, keypoints: np.ndarray, box: np.ndarray) -> int:
        """The atomic pose of a person (nearest centroid of its normalised pose)."""
        v = normalised_pose(keypoints, box)
        return int(((self.centroids - v[None]) ** 2).sum(1).argmin())

    def sample(self, keypoints: np.ndarray, true_box: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` proposal boxes ``(n, 4)`` xyxy for a person: offsets drawn from its atomic pose's
        Gaussian, applied to its true box."""
        a = self.atom(keypoints, true_box)
        o = rng.multivariate_normal(self.means[a], self.covs[a], size=n)
        return apply_offsets(np.repeat(np.asarray(true_box, np.float64).reshape(1, 4), n, 0), o)


def fit_pgpg(keypoints: Sequence[np.ndarray], true_boxes: np.ndarray, detected_boxes: np.ndarray,
             atoms: int = 8, seed: int = 0, min_count: int = 5) -> PGPGModel:
    """Learn PGPG from people with their true and detected boxes: ``keypoints`` N poses
    ``(K, 3)`` in image pixels, ``true_boxes``/``detected_boxes`` ``(N, 4)`` xyxy. k-means with
    ``atoms`` clusters on the normalised poses, then per cluster the mean and covariance of the
    offsets (a cluster of fewer than ``min_count`` people gets the pooled covariance; a small
    ridge keeps every covariance positive definite)."""
    kp = [np.asarray(k, np.float64) for k in keypoints]
    tb = np.asarray(true_boxes, np.float64).reshape(-1, 4)
    db = np.asarray(detected_boxes, np.float64).reshape(-1, 4)
    if not (len(kp) == len(tb) == len(db)) or not kp:
        raise PosekitError(f"fit_pgpg: {len(kp)} poses, {len(tb)} true and {len(db)} detected boxes (need equal, > 0)")
    poses = np.stack([normalised_pose(k, b) for k, b in zip(kp, tb)])
    centroids, labels = kmeans(poses, min(atoms, len(poses)), seed)
    off = box_offsets(db, tb)
    pooled = np.cov(off.T) if len(off) > 1 else np.eye(4) * 1e-3
    ridge = np.eye(4) * 1e-6
    means, covs, counts = [], [], []
    for j in range(len(centroids)):
        o = off[labels == j]
        counts.append(len(o))
        means.append(o.mean(0) if len(o) else off.mean(0))
        covs.append((np.cov(o.T) if len(o) >= min_count else pooled) + ridge)
    return PGPGModel(centroids, np.asarray(means), np.asarray(covs), np.asarray(counts))


class PGPGSampler:
    """A ``box_sampler`` of :class:`~posekit.data.datasets.TopDownDataset` that draws each
    training crop's box from PGPG (a fresh proposal per sample and epoch, from the sample's
    random stream)."""

    def __init__(self, model: PGPGModel) -> None:
        self.model = model

    def __call__(self, box: np.ndarray, keypoints_image: np.ndarray, rng: np.random.Generator, key=None) -> np.ndarray:
        return self.model.sample(keypoints_image, box, rng, 1)[0]


def detector_pairs(records: Sequence[ImageRecord], detector: SimulatedDetector, box_of=None
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``(keypoints, true boxes, detected boxes)`` of every labelled, non-crowd person of
    ``records`` with ``detector``'s box (keys ``(record index, person index)``). ``box_of(i, p)``
    gives the true box (default the record's)."""
    kps, tb, db = [], [], []
    for i, rec in enumerate(records):
        for p in range(rec.num_people):
            if rec.crowd[p] or not (rec.keypoints[p, :, 2] > 0).any():
                continue
            box = box_of(i, p) if box_of is not None else rec.boxes[p].astype(np.float64)
            kps.append(rec.keypoints[p])
            tb.append(box)
            db.append(detector(box, rec.keypoints[p], None, (i, p)))
    return kps, np.asarray(tb).reshape(-1, 4), np.asarray(db).reshape(-1, 4)

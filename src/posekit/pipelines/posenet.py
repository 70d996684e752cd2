"""Greedy multi-person decoder for PoseNet's heads (Papandreou et al. 2018, "PersonLab").

PoseNet (MobileNetV1, Google, Apache-2.0) predicts on a grid of stride ``s`` (16 here), where
grid cell ``(i, j)`` sits at input pixel ``(j s, i s)`` (the input is ``(h - 1) s + 1`` pixels
wide, so cell centres and input pixels line up exactly):

* ``heatmap (K, h, w)``: keypoint logits (COCO-17);
* ``offset (2K, h, w)``: from a cell to the precise keypoint, ``dy`` in channel ``k``, ``dx`` in
  channel ``K + k``, in input pixels;
* ``fwd (2E, h, w)``, ``bwd (2E, h, w)``: mid-range displacements along the E = 16 edges of the
  kinematic tree (:data:`POSENET_EDGES`), parent -> child and child -> parent, ``dy`` in
  channel ``e``, ``dx`` in channel ``E + e``.

Decoding (PersonLab Sec. 3.2, "greedy decoding"): every local maximum (3x3) of every keypoint
heatmap above ``root_threshold`` is a candidate root, visited by decreasing score. A root is
skipped when an already decoded person has the same keypoint within ``nms_radius`` pixels.
From the root, the person is grown along the tree: edges are followed backwards (towards the
nose) and then forwards; each hop adds the displacement at the source keypoint, then snaps to
the target keypoint's own heatmap/offset prediction ``refine_steps`` times. The instance score
is the mean over keypoints of the scores that are *not* within ``nms_radius`` of the same
keypoint of an earlier person (PersonLab's "expected OKS"-style rescoring, simplified).
"""

from __future__ import annotations

import numpy as np

__all__ = ["POSENET_EDGES", "decode_posenet"]

_N = {n: i for i, n in enumerate((
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle"))}

#: (parent, child) COCO-17 indices of PoseNet's 16 displacement edges, in channel order.
POSENET_EDGES: tuple[tuple[int, int], ...] = tuple((_N[a], _N[b]) for a, b in (
    ("nose", "left_eye"), ("left_eye", "left_ear"), ("nose", "right_eye"), ("right_eye", "right_ear"),
    ("nose", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("left_shoulder", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("nose", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("right_shoulder", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _local_maxima(scores: np.ndarray, threshold: float, radius: int = 1) -> list[tuple[float, int, int, int]]:
    """``(score, k, i, j)`` of cells above ``threshold`` that are maxima of their
    ``(2r + 1)^2`` window in their own channel, best first."""
    K, h, w = scores.shape
    pad = np.pad(scores, ((0, 0), (radius, radius), (radius, radius)), constant_values=-np.inf)
    win = np.max(np.stack([pad[:, dy:dy + h, dx:dx + w] for dy in range(2 * radius + 1)
                           for dx in range(2 * radius + 1)]), axis=0)
    k, i, j = np.nonzero((scores >= win) & (scores > threshold))
    s = scores[k, i, j]
    order = np.argsort(-s, kind="stable")
    return [(float(s[o]), int(k[o]), int(i[o]), int(j[o])) for o in order]


def decode_posenet(heatmap: np.ndarray, offset: np.ndarray, fwd: np.ndarray, bwd: np.ndarray,
                   stride: int = 16, max_people: int = 20, root_threshold: float = 0.5,
                   nms_radius: float = 20.0, refine_steps: int = 2, logits: bool = True,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Decode one image's PoseNet heads (channel-first arrays, see module doc).

    Returns ``keypoints (N, K, 3)`` ``[x, y, score]`` in pixel coordinates of the network
    input, and ``scores (N,)``, best first.
    """
    heat = _sigmoid(heatmap.astype(np.float64)) if logits else heatmap.astype(np.float64)
    K, h, w = heat.shape
    E = len(POSENET_EDGES)
    off = offset.reshape(2, K, h, w)          # [0] = dy, [1] = dx
    disp_f = fwd.reshape(2, E, h, w)
    disp_b = bwd.reshape(2, E, h, w)

    def cell(p: np.ndarray) -> tuple[int, int]:
        i = int(np.clip(np.round(p[1] / stride), 0, h - 1))
        j = int(np.clip(np.round(p[0] / stride), 0, w - 1))
        return i, j

    def snap(k: int, i: int, j: int) -> np.ndarray:
        return np.array([j * stride + off[1, k, i, j], i * stride + off[0, k, i, j]])

    def hop(src: np.ndarray, edge: int, target: int, disp: np.ndarray) -> tuple[np.ndarray, float]:
        i, j = cell(src)
        p = src + np.array([disp[1, edge, i, j], disp[0, edge, i, j]])
        for _ in range(refine_steps):
            i, j = cell(p)
            p = snap(target, i, j)
        i, j = cell(p)
        return p, float(heat[target, i, j])

    people: list[np.ndarray] = []
    scores: list[float] = []
    r2 = nms_radius ** 2
    for score, k, i, j in _local_maxima(heat, root_threshold):
        if len(people) >= max_people:
            break
        root = snap(k, i, j)
        if any(((p[k, :2] - root) ** 2).sum() <= r2 for p in people):
            continue
        pose = np.zeros((K, 3))
        known = np.zeros(K, bool)
        pose[k] = [root[0], root[1], score]
        known[k] = True
        for e in range(E - 1, -1, -1):                       # towards the root of the tree
            parent, child = POSENET_EDGES[e]
            if known[child] and not known[parent]:
                p, s = hop(pose[child, :2], e, parent, disp_b)
                pose[parent] = [p[0], p[1], s]
                known[parent] = True
        for e in range(E):                                   # and out to the leaves
            parent, child = POSENET_EDGES[e]
            if known[parent] and not known[child]:
                p, s = hop(pose[parent, :2], e, child, disp_f)
                pose[child] = [p[0], p[1], s]
                known[child] = True
        free = np.ones(K, bool)
        for p in people:
            free &= ((p[:, :2] - pose[:, :2]) ** 2).sum(1) > r2
        people.append(pose)
        scores.append(float((pose[:, 2] * free).sum() / K))
    if not people:
        return np.zeros((0, K, 3), np.float32), np.zeros(0, np.float32)
    kp = np.stack(people).astype(np.float32)
    sc = np.asarray(scores, np.float32)
    order = np.argsort(-sc, kind="stable")
    return kp[order], sc[order]

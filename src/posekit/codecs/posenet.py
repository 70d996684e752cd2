"""Greedy multi-person decoder of PoseNet's heads (Papandreou et al. 2018, "PersonLab").

PoseNet (MobileNetV1, Google, Apache-2.0) predicts on a grid of stride ``s = 16`` whose cell
``(i, j)`` sits at input pixel ``(j s, i s)`` (pixel-centre convention: the input is
``(w - 1) s + 1`` pixels wide, so cell centres and input pixels line up exactly). Heads,
channels first, COCO-17:

* ``heatmap (B, K, h, w)``: keypoint logits;
* ``offset (B, 2K, h, w)``: from a cell to the precise keypoint, ``dy`` in channel ``k``, ``dx``
  in channel ``K + k``, in input pixels;
* ``displacement_fwd``, ``displacement_bwd`` ``(B, 2E, h, w)``: mid-range displacements along the
  E = 16 edges of the kinematic tree (:data:`POSENET_EDGES`), parent -> child and child ->
  parent, ``dy`` in channel ``e``, ``dx`` in channel ``E + e``, in input pixels.

Decoding (PersonLab Sec. 3.2, "greedy decoding"): every local maximum (3x3) of every keypoint
heatmap above ``root_threshold`` is a candidate root, visited by decreasing score. A root is
skipped when an already decoded person has the same keypoint within ``nms_radius`` pixels.
From the root, the person is grown along the tree: edges are followed backwards (towards the
nose) and then forwards; each hop adds the displacement at the source keypoint, then snaps to
the target keypoint's own heatmap/offset prediction ``refine_steps`` times. The instance score
is the mean over keypoints of the scores that are *not* within ``nms_radius`` of the same
keypoint of an earlier person (PersonLab's "expected OKS"-style rescoring, simplified).

The greedy search is sequential: it runs per image in numpy (float64); the codec takes and
returns torch tensors, batched over B. Flip test does not apply (``supports_flip = False``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from posekit.codecs.common import Instances, require_heads
from posekit.errors import PosekitError
from posekit.skeleton import COCO17

__all__ = ["POSENET_EDGES", "PoseNetCodec"]

#: (parent, child) COCO-17 indices of PoseNet's 16 displacement edges, in channel order.
POSENET_EDGES: tuple[tuple[int, int], ...] = tuple((COCO17.index(a), COCO17.index(b)) for a, b in (
    ("nose", "left_eye"), ("left_eye", "left_ear"), ("nose", "right_eye"), ("right_eye", "right_ear"),
    ("nose", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("left_shoulder", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("nose", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("right_shoulder", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
))


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


class PoseNetCodec:
    """PoseNet's greedy displacement decoding (see the module doc), batched.

    ``decode_instances(heads)`` takes the forward dict ``{"heatmap", "offset",
    "displacement_fwd", "displacement_bwd"}`` and returns :class:`Instances` with
    ``N = max_people`` rows per image in input pixels (pixel-centre convention); a person's box
    is the extent of its 17 keypoints. The grid's stride fixes the input size the heads refer
    to, ``((w - 1) * 16 + 1, (h - 1) * 16 + 1)``: the codec needs no ``input_size`` (the
    decode takes one, as :class:`~posekit.codecs.movenet.MultiPoseCodec`'s does, and checks it).

    Args:
        max_people: rows per image (the decoding stops after this many people).
        root_threshold: heatmap probability a root keypoint needs.
        nms_radius: pixels within which a keypoint of an earlier person blocks a root and does
            not count in the instance score.
        refine_steps: snaps to the target keypoint's own prediction after each hop.
    """

    spec = COCO17
    stride = 16
    supports_flip = False
    udp_warp = False
    head_names = ("heatmap", "offset", "displacement_fwd", "displacement_bwd")

    def __init__(self, max_people: int = 20, root_threshold: float = 0.15, nms_radius: float = 20.0,
                 refine_steps: int = 2) -> None:
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        self.max_people = int(max_people)
        self.root_threshold = float(root_threshold)
        self.nms_radius = float(nms_radius)
        self.refine_steps = int(refine_steps)

    def __repr__(self) -> str:
        return (f"PoseNetCodec(max_people={self.max_people}, root_threshold={self.root_threshold:g}, "
                f"nms_radius={self.nms_radius:g}, refine_steps={self.refine_steps})")

    def input_size_for(self, width: int, height: int, long_side: int) -> tuple[int, int]:
        """The input ``(W, H)`` for a ``width x height`` image letterboxed at ``long_side``: both
        sides ``16 k + 1``, the long one ``long_side`` (which must be ``16 k + 1``,
        :class:`PosekitError` otherwise), the short one scaled alike and rounded up."""
        if (long_side - 1) % self.stride:
            raise PosekitError(f"PoseNet input side must be {self.stride}k + 1, got {long_side}")
        s = (long_side - 1) / max(width, height)
        return (int(np.ceil(width * s / self.stride)) * self.stride + 1,
                int(np.ceil(height * s / self.stride)) * self.stride + 1)

    @torch.no_grad()
    def decode_instances(self, heads: Mapping[str, torch.Tensor],
                         input_size: tuple[int, int] | None = None) -> Instances:
        """Forward dict -> :class:`Instances` (``N = max_people``) in input pixels.

        ``input_size`` (optional, the same argument as :meth:`MultiPoseCodec.decode_instances`'s)
        is only checked: it must be the ``((w - 1) * 16 + 1, (h - 1) * 16 + 1)`` of the heads."""
        ts = require_heads(heads, self.head_names, type(self).__name__)
        h, w = ts[0].shape[-2:]
        grid_input = ((w - 1) * self.stride + 1, (h - 1) * self.stride + 1)
        if input_size is not None and tuple(input_size) != grid_input:
            raise PosekitError(f"PoseNetCodec: heads on a {w}x{h} grid belong to a {grid_input[0]}x{grid_input[1]} "
                               f"input, not {input_size[0]}x{input_size[1]}")
        heat, off, fwd, bwd = (t.cpu().numpy() for t in ts)
        B, K = heat.shape[:2]
        kp = np.zeros((B, self.max_people, K, 3), np.float32)
        sc = np.zeros((B, self.max_people), np.float32)
        for b in range(B):
            people, scores = self._decode_one(heat[b], off[b], fwd[b], bwd[b])
            kp[b, :len(people)], sc[b, :len(people)] = people, scores
        boxes = np.concatenate([kp[..., :2].min(2), kp[..., :2].max(2)], -1)    # zero on padding rows
        dev = ts[0].device
        return Instances(*(torch.from_numpy(a).to(dev) for a in (kp, sc, boxes)))

    def decode(self, heads: Mapping[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Forward dict -> keypoints ``(B, max_people, 17, 3)`` (:meth:`decode_instances`)."""
        return self.decode_instances(heads, input_size).keypoints

    def _decode_one(self, heatmap: np.ndarray, offset: np.ndarray, fwd: np.ndarray, bwd: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
        """One image's channel-first heads -> ``keypoints (n, K, 3)`` float32 and ``scores (n,)``,
        best first, ``n <= max_people``."""
        heat = 1.0 / (1.0 + np.exp(-heatmap.astype(np.float64)))
        K, h, w = heat.shape
        E = len(POSENET_EDGES)
        stride = self.stride
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
            for _ in range(self.refine_steps):
                i, j = cell(p)
                p = snap(target, i, j)
            i, j = cell(p)
            return p, float(heat[target, i, j])

        people: list[np.ndarray] = []
        scores: list[float] = []
        r2 = self.nms_radius ** 2
        for score, k, i, j in _local_maxima(heat, self.root_threshold):
            if len(people) >= self.max_people:
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

"""Part affinity fields (Cao et al. 2017/2019, as the survey writes them): whole-image
confidence maps and limb fields for bottom-up models, and their decoding into people.

Frames. Keypoints are in the model's *input* pixels (integer = pixel centre). The heads are
on a grid ``stride`` times coarser, covering the input edge to edge, as
:class:`posekit.codecs.heatmap.MSRAHeatmap` maps a crop to its heatmap:

    ``x_hm = (x_in + 0.5) / stride - 0.5``,  ``x_in = stride * x_hm + (stride - 1) / 2``

(heatmap pixel ``i`` covers the input pixels around ``stride * i + (stride - 1) / 2``).
``sigma`` and ``limb_width`` are in heatmap pixels.

Targets (:meth:`PAFCodec.encode`), for people ``n`` with keypoints ``x_{n,k}``:

* confidence maps ``S_k(p) = max_n exp(-|p - x_{n,k}|^2 / sigma^2)`` (the survey's Gaussian,
  without the factor 2 of the top-down heatmaps);
* limb ``c = (a, b)`` fields ``L_c(p) = (1 / n_c(p)) sum_n v_n`` over the people whose limb
  contains ``p``: ``v_n = (x_{n,b} - x_{n,a}) / l_n`` and ``0 <= v_n · (p - x_{n,a}) <= l_n``,
  ``|v_n⊥ · (p - x_{n,a})| <= limb_width``; ``n_c(p)`` counts them (zero vector where none).

A keypoint is drawn when labelled (``v > 0``), a limb when both its ends are.

Limbs. One field per limb of ``spec.limbs`` (all of them: 19 for COCO17), ordered by
:func:`posekit.grouping.paf.tree_first`: first a spanning tree (the spec's limbs in order, a
limb dropped when it closes a cycle, then breadth-first from the first limb's first joint;
for COCO17, 16 limbs with the head attached through left ear - left shoulder), then the
redundant limbs (left-right shoulder, nose-right eye, right ear-right shoulder). The greedy
grouping runs over the tree; the redundant limbs (OpenPose 2019 keeps such connections) only
join fragments the tree leaves apart, e.g. a person whose left shoulder is out of the image.
``PAFCodec(limbs=...)`` takes any other list (``spanning_tree(spec.limbs, K)`` for a bare tree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from posekit.codecs.common import Instances, letterbox_input_size, person_row, require_heads
from posekit.errors import PosekitError
from posekit.grouping.paf import group_people, tree_first
from posekit.skeleton import KeypointSpec

__all__ = ["PAFTarget", "PAFCodec"]


@dataclass(frozen=True)
class PAFTarget:
    """Training target of one image.

    Attributes:
        heatmaps: ``(K, h, w)`` float32 confidence maps in ``[0, 1]``.
        pafs: ``(2L, h, w)`` float32 fields, channels ``2l, 2l + 1`` = ``x, y`` of limb ``l``.
        mask: ``(h, w)`` float32 loss weight ``W(p)``: 0 where ``ignore`` said so, else 1.
        heatmap_weights: ``(K,)`` float32, 1 where some person has the keypoint labelled.
        paf_weights: ``(L,)`` float32, 1 where some person has both ends of the limb labelled.
    """

    heatmaps: np.ndarray
    pafs: np.ndarray
    mask: np.ndarray
    heatmap_weights: np.ndarray
    paf_weights: np.ndarray


class PAFCodec:
    """OpenPose's confidence maps + part affinity fields; decoding groups people.

    Args:
        spec: keypoint spec (its limbs give the fields unless ``limbs`` is given).
        input_size: ``(W, H)`` of the input the targets refer to (also the default of
            :meth:`decode_instances`; bottom-up inputs may vary, see its ``input_size``).
        stride: input pixels per heatmap pixel (an integer; the grid is ``(W // s, H // s)``).
        sigma: Gaussian width of the confidence maps, heatmap pixels.
        limb_width: ``sigma_l``, half-width of a limb's field, heatmap pixels.
        limbs: the fields' limbs, pairs of joint indices, in grouping order; default all of
            ``spec.limbs``, spanning tree first (:func:`posekit.grouping.paf.tree_first`).
        max_people: rows per image of :meth:`decode_instances`.
        peak_threshold, paf_threshold, min_fraction, min_parts, min_mean_score: grouping
            settings (:func:`posekit.grouping.paf.group_people`).

    ``decode_instances(heads)`` takes ``{"heatmaps": (B, K, h, w), "pafs": (B, 2L, h, w)}``.
    Flip test: :meth:`flip_back` (needs the mirror of every limb among ``limbs``). Input sides
    are multiples of :attr:`multiple` (:meth:`input_size_for`).
    """

    supports_flip = True
    #: Confidence maps and fields resampled onto one grid average across scales (OpenPose's
    #: multi-scale test): a field holds unit directions, which a uniform rescale keeps.
    supports_multiscale = True
    udp_warp = False
    #: Input sides are multiples of this (:meth:`input_size_for`): 32 covers a VGG-19 stem at
    #: stride 8 and the stride-4 backbones; a model that halves more needs a larger multiple.
    multiple = 32

    def __init__(self, spec: KeypointSpec, input_size: tuple[int, int] = (256, 256), stride: int = 4,
                 sigma: float = 1.5, limb_width: float = 1.0, limbs: Sequence[tuple[int, int]] | None = None,
                 max_people: int = 20, peak_threshold: float = 0.1, paf_threshold: float = 0.05,
                 min_fraction: float = 0.8, min_parts: int = 3, min_mean_score: float = 0.2) -> None:
        if stride < 1 or int(stride) != stride:
            raise ValueError(f"stride must be a positive integer, got {stride}")
        if max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        self.spec = spec
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.stride = int(stride)
        self.sigma = float(sigma)
        self.limb_width = float(limb_width)
        self.limbs = tuple((int(a), int(b)) for a, b in limbs) if limbs is not None else \
            tree_first(spec.limbs, spec.num_keypoints)
        self.max_people = int(max_people)
        self.peak_threshold = float(peak_threshold)
        self.paf_threshold = float(paf_threshold)
        self.min_fraction = float(min_fraction)
        self.min_parts = int(min_parts)
        self.min_mean_score = float(min_mean_score)

    def __repr__(self) -> str:
        return (f"PAFCodec(spec={self.spec.name}, input_size={self.input_size}, stride={self.stride}, "
                f"sigma={self.sigma:g}, limb_width={self.limb_width:g}, limbs={len(self.limbs)})")

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(w, h)`` of the grid for :attr:`input_size`."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def input_to_heatmap(self, xy):
        """``(..., 2)`` input pixels -> heatmap pixels (numpy or torch)."""
        return (xy + 0.5) / self.stride - 0.5

    def heatmap_to_input(self, xy):
        """``(..., 2)`` heatmap pixels -> input pixels (numpy or torch)."""
        return (xy + 0.5) * self.stride - 0.5

    def input_size_for(self, width: int, height: int, long_side: int) -> tuple[int, int]:
        """The input ``(W, H)`` for a ``width x height`` image letterboxed at ``long_side``: the
        long side ``long_side``, the short side scaled alike, both rounded up to a multiple of
        :attr:`multiple` (which ``long_side`` must be, :class:`PosekitError` otherwise)."""
        return letterbox_input_size(width, height, long_side, max(self.multiple, self.stride), "PAFCodec")

    def flip_limbs(self) -> list[tuple[int, float]]:
        """For each limb ``l = (a, b)``: ``(l', sign)`` with ``l'`` the limb joining the mirror
        joints ``(flip a, flip b)`` and ``sign = +1`` when it is stored that way round, ``-1``
        when stored as ``(flip b, flip a)``. :class:`PosekitError` when a mirror is missing."""
        flip = self.spec.flip_index
        where = {(a, b): l for l, (a, b) in enumerate(self.limbs)}
        out = []
        for a, b in self.limbs:
            fa, fb = flip[a], flip[b]
            if (fa, fb) in where:
                out.append((where[(fa, fb)], 1.0))
            elif (fb, fa) in where:
                out.append((where[(fb, fa)], -1.0))
            else:
                raise PosekitError(f"PAFCodec flip: limb ({self.spec.names[a]}, {self.spec.names[b]}) has no mirror "
                                   f"limb among the codec's limbs")
        return out

    def flip_back(self, heads: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Heads of the mirrored input -> heads of the input (the flip test).

        Heatmaps: mirrored along ``w``, left/right channels swapped. Fields: limb ``(a, b)``
        of the input is the mirror of limb ``(flip a, flip b)`` of the mirrored input; its field
        is that limb's field mirrored along ``w`` with the x component negated (a vector
        ``(x, y)`` in the mirror is ``(-x, y)`` here), and negated as a whole when that limb is
        stored reversed, ``(flip b, flip a)`` (:meth:`flip_limbs`). ``{"heatmaps": (B, K, h,
        w), "pafs": (B, 2L, h, w)}`` -> a dict of the same two entries."""
        heatmaps, pafs = require_heads(heads, ("heatmaps", "pafs"), type(self).__name__)
        hm = heatmaps.flip(-1)[:, list(self.spec.flip_index)]
        f = pafs.flip(-1)
        out = torch.empty_like(f)
        for l, (m, sign) in enumerate(self.flip_limbs()):
            out[:, 2 * l] = -sign * f[:, 2 * m]
            out[:, 2 * l + 1] = sign * f[:, 2 * m + 1]
        return {"heatmaps": hm, "pafs": out}

    def encode(self, keypoints: np.ndarray, ignore: np.ndarray | None = None) -> PAFTarget:
        """``(N, K, 3)`` ``[x, y, v]`` in input pixels -> :class:`PAFTarget` on the
        ``heatmap_size`` grid. ``ignore``: optional ``(h, w)`` bool, grid cells with unlabelled
        people or crowds (the mask is 0 there)."""
        kp = np.asarray(keypoints, np.float64)
        K = self.spec.num_keypoints
        if kp.ndim != 3 or kp.shape[1:] != (K, 3):
            raise ValueError(f"encode expects (N, {K}, 3) keypoints, got shape {kp.shape}")
        w, h = self.heatmap_size
        px = np.arange(w, dtype=np.float64)[None, :]
        py = np.arange(h, dtype=np.float64)[:, None]
        mu = self.input_to_heatmap(kp[..., :2])
        labelled = (kp[..., 2] > 0) & np.isfinite(mu).all(axis=-1)
        heatmaps = np.zeros((K, h, w), np.float64)
        for n, k in zip(*np.nonzero(labelled)):
            g = np.exp(-((px - mu[n, k, 0]) ** 2 + (py - mu[n, k, 1]) ** 2) / self.sigma ** 2)
            np.maximum(heatmaps[k], g, out=heatmaps[k])
        L = len(self.limbs)
        pafs = np.zeros((2 * L, h, w), np.float64)
        paf_weights = np.zeros(L, np.float32)
        for l, (a, b) in enumerate(self.limbs):
            total = np.zeros((2, h, w))
            count = np.zeros((h, w))
            for n in np.flatnonzero(labelled[:, a] & labelled[:, b]):
                d = mu[n, b] - mu[n, a]
                length = float(np.hypot(d[0], d[1]))
                if length < 1e-6:
                    continue
                v = d / length
                rx, ry = px - mu[n, a, 0], py - mu[n, a, 1]
                along = v[0] * rx + v[1] * ry
                across = np.abs(-v[1] * rx + v[0] * ry)
                on = (along >= 0) & (along <= length) & (across <= self.limb_width)
                total[0][on] += v[0]
                total[1][on] += v[1]
                count += on
                paf_weights[l] = 1.0
            pafs[2 * l:2 * l + 2] = total / np.maximum(count, 1)
        mask = np.ones((h, w), np.float32)
        if ignore is not None:
            ignore = np.asarray(ignore, bool)
            if ignore.shape != (h, w):
                raise ValueError(f"ignore must be (h, w) = ({h}, {w}), got shape {ignore.shape}")
            mask[ignore] = 0.0
        return PAFTarget(heatmaps=heatmaps.astype(np.float32), pafs=pafs.astype(np.float32), mask=mask,
                         heatmap_weights=labelled.any(axis=0).astype(np.float32), paf_weights=paf_weights)

    def decode_instances(self, heads: Mapping[str, torch.Tensor],
                         input_size: tuple[int, int] | None = None) -> Instances:
        """``{"heatmaps": (B, K, h, w), "pafs": (B, 2L, h, w)}`` -> :class:`Instances`
        (``N = max_people``) in input pixels, grouped by
        :func:`posekit.grouping.paf.group_people`. ``input_size = (W, H)``: the input the
        heads came from, default the grid times the stride (only ``x_in = stride * x_hm +
        (stride - 1) / 2`` is used; a size that is not the grid times the stride is refused).
        A part not found sits at the centre of the person's box with score 0."""
        heatmaps, pafs = require_heads(heads, ("heatmaps", "pafs"), type(self).__name__)
        B, K, h, w = heatmaps.shape
        if K != self.spec.num_keypoints or pafs.shape[1] != 2 * len(self.limbs):
            raise ValueError(f"PAFCodec expects {self.spec.num_keypoints} heatmaps and {2 * len(self.limbs)} "
                             f"field channels, got {K} and {pafs.shape[1]}")
        if input_size is not None and (int(input_size[0]) // self.stride, int(input_size[1]) // self.stride) != (w, h):
            raise ValueError(f"input {input_size[0]}x{input_size[1]} at stride {self.stride} is not the "
                             f"{w}x{h} grid of the heads")
        N = self.max_people
        kps = np.zeros((B, N, K, 3), np.float32)
        scores = np.zeros((B, N), np.float32)
        boxes = np.zeros((B, N, 4), np.float32)
        for i in range(B):
            people, person_scores = group_people(
                heatmaps[i], pafs[i], self.limbs, self.peak_threshold, paf_threshold=self.paf_threshold,
                min_fraction=self.min_fraction, min_parts=self.min_parts, min_mean_score=self.min_mean_score)
            for n, (kp, s) in enumerate(zip(people[:N], person_scores[:N])):
                found = kp[:, 2] > 0
                kps[i, n], boxes[i, n] = person_row(self.heatmap_to_input(kp[found, :2]), found, kp[:, 2])
                scores[i, n] = s
        return Instances(torch.from_numpy(kps), torch.from_numpy(scores), torch.from_numpy(boxes))

    def decode(self, heads: Mapping[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Heads -> keypoints ``(B, max_people, K, 3)`` (:meth:`decode_instances`)."""
        return self.decode_instances(heads, input_size).keypoints

"""DeeperCut's targets and decoding (Insafutdinov et al., *DeeperCut*, ECCV 2016; the ILP of
Pishchulin et al., *DeepCut*, CVPR 2016): score maps, location refinement, pairwise offsets;
decoding = candidates -> pairwise probabilities -> ILP grouping.

Frames. Keypoints are in the model's *input* pixels (integer = pixel centre). The heads are
on a grid ``stride`` (8) times coarser; cell ``(i, j)`` (column ``i``, row ``j``) stands for the
input point ``c_ij = (stride * i + (stride - 1) / 2, stride * j + (stride - 1) / 2)``, the
frame of :class:`posekit.codecs.paf.PAFCodec`. ``pos_radius``, ``locref_stdev`` and
``pairwise_stdev`` are input pixels.

Targets (:meth:`DeeperCutCodec.encode`), for people ``n`` with parts ``x_nk``:

* score map ``k``: 1 on the cells within ``pos_radius`` of some person's part ``k`` (binary
  discs, DeeperCut's ``pos_dist_thresh``), else 0; trained with sigmoid cross-entropy;
* location refinement, channels ``2k, 2k + 1``: on those cells, ``(x_nk - c) / locref_stdev``
  with ``n`` the person whose part ``k`` is nearest the cell (Huber loss within the mask);
* pairwise offsets, channels ``2 p, 2 p + 1`` with ``p = pair_index(k, j)`` for each ordered
  pair of parts ``k != j``: on the cells of part ``k`` of person ``n``, ``(x_nj - c) /
  pairwise_stdev`` where person ``n`` has part ``j`` labelled (DeeperCut regresses from each
  part to every other part; its code normalises each pair by statistics of the training set,
  one scalar ``pairwise_stdev`` here).

Decoding (:meth:`DeeperCutCodec.decode_instances`): sigmoid of the score maps; the cells
that are maxima of their 3x3 neighbourhood (plateaus included) above ``peak_threshold`` give
candidates at ``c + locref_stdev * locref``; candidates of a
class closer than ``nms_radius`` to a better one are dropped (the binary targets are flat, so
every cell of a disc is a maximum; their refined positions coincide); at most
``max_candidates`` per class are kept. Each candidate's pairwise offsets give where it puts
every other part; :class:`posekit.grouping.ilp.PairwiseModel` turns them into pairwise
logits; :func:`posekit.grouping.ilp.solve_partition` (``grouping="ilp"``, exact) or
:func:`posekit.grouping.ilp.incremental_partition` (``"incremental"``, DeeperCut's stages)
assigns candidates to people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from posekit.codecs.common import Instances, letterbox_input_size, person_row, require_heads
from posekit.errors import PosekitError
from posekit.grouping.ilp import PairwiseModel, incremental_partition, logit, reliability_stages, solve_partition
from posekit.skeleton import KeypointSpec

__all__ = ["DeeperCutTarget", "DeeperCutCodec", "pair_index"]


def pair_index(k: int, j: int, num_keypoints: int) -> int:
    """Index ``p`` of the ordered pair (part ``k`` -> part ``j``, ``j != k``) in the pairwise
    head: ``k (K - 1) + (j if j < k else j - 1)``; its channels are ``2p`` (x) and ``2p + 1`` (y)."""
    if j == k:
        raise ValueError("pair_index: j must differ from k")
    return k * (num_keypoints - 1) + (j if j < k else j - 1)


@dataclass(frozen=True)
class DeeperCutTarget:
    """Training target of one image (``K`` parts, grid ``(h, w)``), float32.

    Attributes:
        scoremaps: ``(K, h, w)`` binary discs.
        scoremap_weights: ``(K, h, w)`` cross-entropy weights: 1, 0 where ``ignore``.
        locref_targets: ``(2K, h, w)`` offsets / ``locref_stdev``, channels ``2k, 2k + 1`` = x, y.
        locref_mask: ``(2K, h, w)`` 1 where the location target is defined.
        pairwise_targets: ``(2K(K-1), h, w)`` offsets / ``pairwise_stdev`` (:func:`pair_index`).
        pairwise_mask: ``(2K(K-1), h, w)`` 1 where the pairwise target is defined.
    """

    scoremaps: np.ndarray
    scoremap_weights: np.ndarray
    locref_targets: np.ndarray
    locref_mask: np.ndarray
    pairwise_targets: np.ndarray
    pairwise_mask: np.ndarray


@dataclass
class DeeperCutCodec:
    """DeeperCut's score maps, location refinement and pairwise offsets; decoding by the ILP.

    Args:
        spec: keypoint spec.
        input_size: ``(W, H)`` of the input (sides multiples of 16 for :func:`posekit.models.deepercut.deepercut`).
        stride: input pixels per cell.
        pos_radius: radius of the positive discs, input pixels (17 in DeeperCut's code).
        locref_stdev: scale of the location refinement targets, input pixels (7.2801 in
            DeeperCut's code).
        pairwise_stdev: scale of the pairwise targets, input pixels.
        max_people: rows per image of :meth:`decode_instances`.
        peak_threshold: minimum score-map probability of a candidate.
        nms_radius: candidates of one class closer than this (input pixels) to a better one
            are dropped.
        max_candidates: per class, at most this many candidates (best first).
        grouping: ``"ilp"`` (exact, :func:`~posekit.grouping.ilp.solve_partition`) or
            ``"incremental"`` (DeeperCut's stages, :func:`~posekit.grouping.ilp.incremental_partition`).
        pairwise_model: the pairwise logistic model.
        min_parts: people with fewer parts are dropped.
        time_limit: seconds per ``milp`` call (None: none). When HiGHS hits it, the answer is
            its best solution so far, repaired into a partition if need be (a warning is
            logged): decoding an untrained network's heads cannot hang.
        exact_max_candidates: with ``grouping="ilp"``, images with more candidates are grouped
            by the incremental scheme instead (the exact program has ``D(D-1)/2`` pair
            variables; see docs/deepercut.md for the times).

    ``decode_instances`` takes ``{"scoremaps": (B, K, h, w) logits, "locref": (B, 2K, h, w),
    "pairwise": (B, 2K(K-1), h, w)}`` (the model's dict; other keys are ignored). Flip test:
    :meth:`flip_back`.
    """

    spec: KeypointSpec
    input_size: tuple[int, int] = (512, 512)
    stride: int = 8
    pos_radius: float = 17.0
    locref_stdev: float = 7.2801
    pairwise_stdev: float = 50.0
    max_people: int = 20
    peak_threshold: float = 0.1
    nms_radius: float = 4.0
    max_candidates: int = 30
    grouping: str = "ilp"
    pairwise_model: PairwiseModel = field(default_factory=PairwiseModel)
    min_parts: int = 2
    time_limit: float | None = 10.0
    exact_max_candidates: int = 200

    supports_flip = True
    supports_multiscale = False
    udp_warp = False
    #: Input sides are multiples of this (ResNet at stride 16, then a 2x deconvolution).
    multiple = 16

    def __post_init__(self) -> None:
        if self.stride < 1 or int(self.stride) != self.stride:
            raise ValueError(f"stride must be a positive integer, got {self.stride}")
        if self.grouping not in ("ilp", "incremental"):
            raise ValueError(f"grouping must be 'ilp' or 'incremental', got {self.grouping!r}")
        if self.max_people < 1 or self.max_candidates < 1:
            raise ValueError("max_people and max_candidates must be >= 1")
        self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        self.stride = int(self.stride)

    @property
    def num_keypoints(self) -> int:
        return self.spec.num_keypoints

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """``(w, h)`` of the grid for :attr:`input_size`."""
        return self.input_size[0] // self.stride, self.input_size[1] // self.stride

    def cell_centres(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Input-pixel centres of the grid's columns ``(w,)`` and rows ``(h,)``."""
        s = self.stride
        return s * np.arange(w) + (s - 1) / 2, s * np.arange(h) + (s - 1) / 2

    def input_size_for(self, width: int, height: int, long_side: int) -> tuple[int, int]:
        """Input ``(W, H)`` for a ``width x height`` image letterboxed at ``long_side`` (a
        multiple of :attr:`multiple`), sides rounded up to multiples of it."""
        return letterbox_input_size(width, height, long_side, max(self.multiple, self.stride), "DeeperCutCodec")

    def flip_back(self, heads: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Heads of the mirrored input -> heads of the input (the flip test). The grid mirrors
        onto itself (cell ``i`` <-> ``w - 1 - i``: ``W - 1 - (s i + (s - 1) / 2) = s (w - 1 - i)
        + (s - 1) / 2`` with ``W = s w``). Score maps: mirrored along ``w``, part ``k`` taken
        from channel ``flip k``. Location refinement: likewise, x negated. Pairwise: pair
        ``(k, j)`` from pair ``(flip k, flip j)`` of the mirror, mirrored, x negated. Returns
        ``{"scoremaps", "locref", "pairwise"}``."""
        score, locref, pairwise = require_heads(heads, ("scoremaps", "locref", "pairwise"), type(self).__name__)
        K = self.num_keypoints
        flip = list(self.spec.flip_index)
        loc = locref.flip(-1).reshape(locref.shape[0], K, 2, *locref.shape[2:])[:, flip]
        loc = torch.stack([-loc[:, :, 0], loc[:, :, 1]], dim=2).reshape(locref.shape)
        src = [pair_index(flip[k], flip[j], K) for k in range(K) for j in range(K) if j != k]
        pw = pairwise.flip(-1).reshape(pairwise.shape[0], K * (K - 1), 2, *pairwise.shape[2:])[:, src]
        pw = torch.stack([-pw[:, :, 0], pw[:, :, 1]], dim=2).reshape(pairwise.shape)
        return {"scoremaps": score.flip(-1)[:, flip], "locref": loc, "pairwise": pw}

    # ------------------------------------------------------------------------- encode
    def encode(self, keypoints: np.ndarray, ignore: np.ndarray | None = None) -> DeeperCutTarget:
        """``(N, K, 3)`` ``[x, y, v]`` in input pixels -> :class:`DeeperCutTarget` on the
        ``heatmap_size`` grid. ``ignore``: optional ``(h, w)`` bool, cells of unlabelled people
        or crowds (score-map weight 0 there)."""
        kp = np.asarray(keypoints, np.float64)
        K = self.num_keypoints
        if kp.ndim != 3 or kp.shape[1:] != (K, 3):
            raise ValueError(f"encode expects (N, {K}, 3) keypoints, got shape {kp.shape}")
        w, h = self.heatmap_size
        cx, cy = self.cell_centres(w, h)
        labelled = (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(axis=-1)
        score = np.zeros((K, h, w), np.float32)
        locref = np.zeros((2 * K, h, w), np.float32)
        locref_mask = np.zeros((2 * K, h, w), np.float32)
        pairwise = np.zeros((2 * K * (K - 1), h, w), np.float32)
        pairwise_mask = np.zeros_like(pairwise)
        others = [[j for j in range(K) if j != k] for k in range(K)]
        for k in range(K):
            people = np.flatnonzero(labelled[:, k])
            if not len(people):
                continue
            dx = cx[None, None, :] - kp[people, k, 0][:, None, None]          # (n, 1, w)
            dy = cy[None, :, None] - kp[people, k, 1][:, None, None]          # (n, h, 1)
            dist = np.hypot(dx, dy)                                          # (n, h, w)
            nearest = dist.argmin(axis=0)
            on = dist.min(axis=0) <= self.pos_radius
            if not on.any():
                continue
            ys, xs = np.nonzero(on)
            who = people[nearest[ys, xs]]                                    # person per positive cell
            score[k, ys, xs] = 1.0
            locref[2 * k, ys, xs] = (kp[who, k, 0] - cx[xs]) / self.locref_stdev
            locref[2 * k + 1, ys, xs] = (kp[who, k, 1] - cy[ys]) / self.locref_stdev
            locref_mask[2 * k:2 * k + 2, ys, xs] = 1.0
            for j in others[k]:
                p = pair_index(k, j, K)
                has = labelled[who, j]
                yj, xj, wj = ys[has], xs[has], who[has]
                pairwise[2 * p, yj, xj] = (kp[wj, j, 0] - cx[xj]) / self.pairwise_stdev
                pairwise[2 * p + 1, yj, xj] = (kp[wj, j, 1] - cy[yj]) / self.pairwise_stdev
                pairwise_mask[2 * p:2 * p + 2, yj, xj] = 1.0
        weights = np.ones((K, h, w), np.float32)
        if ignore is not None:
            ignore = np.asarray(ignore, bool)
            if ignore.shape != (h, w):
                raise ValueError(f"ignore must be (h, w) = ({h}, {w}), got shape {ignore.shape}")
            weights[:, ignore] = 0.0
        return DeeperCutTarget(score, weights, locref, locref_mask, pairwise, pairwise_mask)

    # ------------------------------------------------------------------------- decode
    def candidates(self, prob: np.ndarray, locref: np.ndarray, pairwise: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Part candidates of one image.

        Args:
            prob: ``(K, h, w)`` score-map probabilities; ``locref (2K, h, w)``;
                ``pairwise (2K(K-1), h, w)`` (raw head values).

        Returns ``xy (D, 2)`` input pixels, ``classes (D,)``, ``scores (D,)`` and
        ``regressed (D, K, 2)``: where each candidate puts every part (its own: itself).
        """
        K, h, w = prob.shape
        cx, cy = self.cell_centres(w, h)
        # every cell equal to the maximum of its 3x3 neighbourhood, plateaus included (the
        # shared heatmap NMS keeps one cell per plateau; with binary discs two people's
        # overlapping discs form one plateau, so that would lose a person's part): the NMS on
        # the refined positions below removes the duplicates
        p = torch.from_numpy(np.ascontiguousarray(prob, np.float32))[None]
        peaks = ((p == F.max_pool2d(p, 3, 1, 1)) & (p > self.peak_threshold))[0].numpy()
        xy_all, cls_all, sc_all, reg_all = [], [], [], []
        for k in range(K):
            ys, xs = np.nonzero(peaks[k])
            if not len(ys):
                continue
            sc = prob[k, ys, xs].astype(np.float64)
            order = np.argsort(-sc, kind="stable")
            ys, xs, sc = ys[order], xs[order], sc[order]
            pos = np.stack([cx[xs] + self.locref_stdev * locref[2 * k, ys, xs],
                            cy[ys] + self.locref_stdev * locref[2 * k + 1, ys, xs]], axis=1)
            keep: list[int] = []
            for i in range(len(pos)):
                if len(keep) >= self.max_candidates:
                    break
                if keep and (np.hypot(*(pos[keep] - pos[i]).T) < self.nms_radius).any():
                    continue
                keep.append(i)
            ys, xs, sc, pos = ys[keep], xs[keep], sc[keep], pos[keep]
            reg = np.zeros((len(keep), K, 2), np.float64)
            reg[:, k] = pos
            for j in range(K):
                if j == k:
                    continue
                p = pair_index(k, j, K)
                reg[:, j, 0] = cx[xs] + self.pairwise_stdev * pairwise[2 * p, ys, xs]
                reg[:, j, 1] = cy[ys] + self.pairwise_stdev * pairwise[2 * p + 1, ys, xs]
            xy_all.append(pos)
            cls_all.append(np.full(len(keep), k, np.int64))
            sc_all.append(sc)
            reg_all.append(reg)
        if not xy_all:
            return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, K, 2))
        return (np.concatenate(xy_all), np.concatenate(cls_all), np.concatenate(sc_all),
                np.concatenate(reg_all))

    def group(self, xy: np.ndarray, classes: np.ndarray, scores: np.ndarray, regressed: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """Candidates -> people: ``keypoints (N, K, 3)`` ``[x, y, score]`` in input pixels (a
        part not found: zeros) and ``scores (N,)`` (sum of the parts' probabilities over
        ``K``), best first, people of fewer than ``min_parts`` parts dropped."""
        K = self.num_keypoints
        D = len(xy)
        if D == 0:
            return np.zeros((0, K, 3)), np.zeros(0)
        pair = self.pairwise_model.logits(xy, classes, regressed)
        unary = logit(scores)
        if self.grouping == "ilp" and D <= self.exact_max_candidates:
            one_hot = np.full((D, K), -np.inf)
            one_hot[np.arange(D), classes] = unary
            sol = solve_partition(one_hot, pair, time_limit=self.time_limit)
        else:
            sol = incremental_partition(unary, classes, pair, reliability_stages(self.spec.names),
                                        time_limit=self.time_limit)
        people, person_scores = [], []
        for p in range(sol.num_people):
            members = np.flatnonzero(sol.people == p)
            if len(members) < self.min_parts:
                continue
            kp = np.zeros((K, 3))
            kp[classes[members], :2] = xy[members]
            kp[classes[members], 2] = scores[members]
            people.append(kp)
            person_scores.append(scores[members].sum() / K)
        if not people:
            return np.zeros((0, K, 3)), np.zeros(0)
        order = np.argsort(-np.asarray(person_scores), kind="stable")
        return np.asarray(people)[order], np.asarray(person_scores)[order]

    def decode_instances(self, heads: Mapping[str, torch.Tensor],
                         input_size: tuple[int, int] | None = None) -> Instances:
        """``{"scoremaps", "locref", "pairwise"}`` -> :class:`Instances` (``N = max_people``)
        in input pixels. ``input_size = (W, H)``: the input the heads came from (default the
        grid times the stride; only checked against the grid). A part not found sits at the
        centre of the person's box with score 0."""
        score, locref, pairwise = require_heads(heads, ("scoremaps", "locref", "pairwise"), type(self).__name__)
        B, K, h, w = score.shape
        if K != self.num_keypoints or locref.shape[1] != 2 * K or pairwise.shape[1] != 2 * K * (K - 1):
            raise PosekitError(f"DeeperCutCodec: expects {self.num_keypoints} score maps, {2 * self.num_keypoints} "
                               f"locref and {2 * self.num_keypoints * (self.num_keypoints - 1)} pairwise channels, got "
                               f"{K}, {locref.shape[1]} and {pairwise.shape[1]}")
        if input_size is not None and (int(input_size[0]) // self.stride, int(input_size[1]) // self.stride) != (w, h):
            raise PosekitError(f"DeeperCutCodec: input {input_size[0]}x{input_size[1]} at stride {self.stride} is "
                               f"not the {w}x{h} grid of the heads")
        prob = torch.sigmoid(score).cpu().numpy()
        locref_np = locref.cpu().numpy()
        pairwise_np = pairwise.cpu().numpy()
        N = self.max_people
        kps = np.zeros((B, N, K, 3), np.float32)
        scores = np.zeros((B, N), np.float32)
        boxes = np.zeros((B, N, 4), np.float32)
        for i in range(B):
            people, person_scores = self.group(*self.candidates(prob[i], locref_np[i], pairwise_np[i]))
            for n, (kp, s) in enumerate(zip(people[:N], person_scores[:N])):
                found = kp[:, 2] > 0
                kps[i, n], boxes[i, n] = person_row(kp[found, :2], found, kp[:, 2])
                scores[i, n] = s
        return Instances(torch.from_numpy(kps), torch.from_numpy(scores), torch.from_numpy(boxes))

    def decode(self, heads: Mapping[str, torch.Tensor], input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Heads -> keypoints ``(B, max_people, K, 3)`` (:meth:`decode_instances`)."""
        return self.decode_instances(heads, input_size).keypoints

"""Part-affinity-field grouping (Cao et al., *Realtime Multi-Person 2D Pose Estimation using
Part Affinity Fields*, CVPR 2017; *OpenPose*, TPAMI 2019), for one image, in numpy.

Everything here works in *heatmap* pixels (integer = pixel centre); the codec
(:class:`posekit.codecs.paf.PAFCodec`) maps to input pixels.

1. :func:`find_peaks`: part candidates are the local maxima of each confidence map (3x3
   max-pool NMS) above a threshold, refined to sub-pixel by a parabola through the
   log-values of the peak and its neighbours (exact for the Gaussian targets).
2. :func:`score_limb`: every candidate pair ``(a, b)`` of a limb is scored by the line
   integral of the limb's field, sampled at ``num_samples`` points on the segment:
   ``E = mean(F(p_i) · u)``, ``u`` the unit vector from a to b. Unlike OpenPose (which takes
   ``linspace(a, b, 10)`` and rounds each point to a pixel) the samples are the midpoints of
   ``num_samples`` equal pieces (the midpoint rule) read bilinearly: the field of the
   paper's formula ends exactly at the joints, so a rounded end sample falls off it about
   half the time, and on short limbs (a few heatmap pixels) rounded samples miss the
   ``2 sigma_l`` wide band altogether. OpenPose's criteria: a pair is kept when at least ``min_fraction`` (0.8) of the samples
   exceed ``paf_threshold`` and ``E + min(0.5 * image_height / |b - a| - 1, 0) > 0`` (the
   distance prior, which penalises limbs longer than half the image).
3. :func:`match_limb`: greedy bipartite matching per limb: pairs in decreasing score, each
   candidate used at most once per limb (the survey's relaxation of the full k-partite
   matching to independent bipartite matchings over a spanning tree).
4. :func:`group_people`: the limbs in order (:func:`tree_first`: a spanning tree, then the
   redundant limbs, as OpenPose 2019 keeps redundant connections), each matched
   connection extends the person holding one of its ends, merges two people holding disjoint
   parts, or starts a person; people with fewer than ``min_parts`` parts or a low mean score
   are dropped.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np
import torch

from posekit.grouping.peaks import as_maps, heatmap_peaks

__all__ = ["spanning_tree", "tree_first", "find_peaks", "score_limb", "match_limb", "group_people"]


def spanning_tree(limbs: Sequence[tuple[int, int]], num_keypoints: int) -> tuple[tuple[int, int], ...]:
    """A spanning forest of the skeleton graph, in breadth-first order.

    Limbs are taken in the given order, a limb dropped when it closes a cycle (Kruskal with
    equal weights), then the kept ones are ordered breadth-first from the first limb's first
    joint (further components follow), each oriented parent -> child. For COCO17's 19 limbs
    this drops left_shoulder-right_shoulder, nose-right_eye and right_ear-right_shoulder and
    keeps 16 limbs: the head hangs from the left shoulder through the left ear.

    Returns ``L`` pairs of joint indices (``L = num_keypoints - components``).
    """
    parent = list(range(num_keypoints))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    kept = []
    for a, b in limbs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            kept.append((int(a), int(b)))
    adjacent: dict[int, list[int]] = {}
    for a, b in kept:
        adjacent.setdefault(a, []).append(b)
        adjacent.setdefault(b, []).append(a)
    ordered: list[tuple[int, int]] = []
    seen: set[int] = set()
    starts = [j for limb in kept for j in limb]
    for start in starts:
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            j = queue.popleft()
            for n in adjacent[j]:
                if n not in seen:
                    seen.add(n)
                    ordered.append((j, n))
                    queue.append(n)
    return tuple(ordered)


def tree_first(limbs: Sequence[tuple[int, int]], num_keypoints: int) -> tuple[tuple[int, int], ...]:
    """All ``limbs``: those of :func:`spanning_tree` first (breadth-first, oriented parent ->
    child), then the ones that close cycles, in their given order and orientation. The
    redundant limbs come last so that they only join fragments the tree left apart (a
    person whose tree path runs through an unlabelled or undetected joint) or fill parts."""
    tree = spanning_tree(limbs, num_keypoints)
    in_tree = {frozenset(limb) for limb in tree}
    return tree + tuple((int(a), int(b)) for a, b in limbs if frozenset((a, b)) not in in_tree)


def find_peaks(heatmaps: np.ndarray | torch.Tensor, threshold: float = 0.1) -> list[np.ndarray]:
    """Part candidates of one image.

    Args:
        heatmaps: ``(K, h, w)`` confidence maps.
        threshold: minimum peak value.

    Returns ``K`` arrays ``(n_k, 3)`` float64 ``[x, y, score]`` in heatmap pixels: the pixels
    equal to the maximum of their 3x3 neighbourhood and above ``threshold``, moved by at most
    half a pixel per axis to the vertex of the parabola through the logarithms of the peak and
    its two neighbours (where both exist and are positive). A plateau gives one peak per pixel
    of it; the targets here never have plateaus.
    """
    hm_np = as_maps(heatmaps, "heatmaps")
    K, h, w = hm_np.shape
    is_peak = heatmap_peaks(hm_np, kernel=3) > threshold
    logs = np.log(np.maximum(hm_np, 1e-12).astype(np.float64))
    out = []
    for k in range(K):
        ys, xs = np.nonzero(is_peak[k])
        peaks = np.zeros((len(xs), 3), np.float64)
        for i, (y, x) in enumerate(zip(ys, xs)):
            peaks[i] = [x + _vertex(logs[k, y], x, hm_np[k, y]), y + _vertex(logs[k, :, x], y, hm_np[k, :, x]),
                        hm_np[k, y, x]]
        out.append(peaks)
    return out


def _vertex(log_line: np.ndarray, i: int, line: np.ndarray) -> float:
    """Offset in [-0.5, 0.5] of the vertex of the parabola through ``log_line[i-1:i+2]``."""
    if i == 0 or i == len(line) - 1 or line[i - 1] <= 0 or line[i + 1] <= 0:
        return 0.0
    lm, lc, lp = log_line[i - 1], log_line[i], log_line[i + 1]
    curv = lm - 2 * lc + lp
    if curv >= 0:
        return 0.0
    return float(np.clip(0.5 * (lm - lp) / curv, -0.5, 0.5))


def score_limb(paf: np.ndarray, peaks_a: np.ndarray, peaks_b: np.ndarray, image_height: float,
               num_samples: int = 10, paf_threshold: float = 0.05, min_fraction: float = 0.8) -> np.ndarray:
    """Line-integral scores of every candidate pair of one limb.

    Args:
        paf: ``(2, h, w)`` the limb's field ``[x, y]`` components.
        peaks_a, peaks_b: ``(na, 2+)`` and ``(nb, 2+)`` candidates of the limb's two joints
            ``[x, y, ...]`` in heatmap pixels.
        image_height: the height the distance prior refers to, in the same (heatmap) pixels.
        num_samples: points sampled on each segment (midpoints of equal pieces, bilinear).
        paf_threshold: a sample counts when ``F(p) · u`` exceeds it.
        min_fraction: fraction of the samples that must count.

    Returns ``(na, nb)`` float64: ``mean(F(p_i) · u) + min(0.5 * image_height / length - 1, 0)``
    where both of OpenPose's criteria hold, ``-inf`` elsewhere (and for zero-length pairs).
    """
    na, nb = len(peaks_a), len(peaks_b)
    scores = np.full((na, nb), -np.inf)
    if na == 0 or nb == 0:
        return scores
    _, h, w = paf.shape
    a = np.asarray(peaks_a, np.float64)[:, None, :2]            # (na, 1, 2)
    b = np.asarray(peaks_b, np.float64)[None, :, :2]            # (1, nb, 2)
    d = b - a                                                   # (na, nb, 2)
    length = np.linalg.norm(d, axis=-1)
    u = d / np.maximum(length, 1e-9)[..., None]
    t = (np.arange(num_samples) + 0.5) / num_samples
    pts = a[:, :, None, :] + t[None, None, :, None] * d[:, :, None, :]     # (na, nb, S, 2)
    fx, fy = _bilinear(paf[0], pts), _bilinear(paf[1], pts)
    dots = fx * u[..., None, 0] + fy * u[..., None, 1]                      # (na, nb, S)
    prior = np.minimum(0.5 * image_height / np.maximum(length, 1e-9) - 1.0, 0.0)
    score = dots.mean(axis=-1) + prior
    ok = ((dots > paf_threshold).mean(axis=-1) >= min_fraction) & (score > 0) & (length > 1e-9)
    scores[ok] = score[ok]
    return scores


def _bilinear(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``(h, w)`` map sampled bilinearly at ``(..., 2)`` points ``[x, y]`` (clamped to the map)."""
    h, w = image.shape
    x = np.clip(pts[..., 0], 0, w - 1)
    y = np.clip(pts[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.intp), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    return ((image[y0, x0] * (1 - fx) + image[y0, x1] * fx) * (1 - fy)
            + (image[y1, x0] * (1 - fx) + image[y1, x1] * fx) * fy)


def match_limb(scores: np.ndarray) -> list[tuple[int, int, float]]:
    """Greedy bipartite matching of one limb: ``(na, nb)`` scores (``-inf`` = not a candidate)
    -> ``[(ia, ib, score)]``, highest score first, each ``ia`` and each ``ib`` at most once."""
    ia, ib = np.nonzero(np.isfinite(scores))
    order = np.argsort(-scores[ia, ib], kind="stable")
    used_a, used_b, out = set(), set(), []
    for i in order:
        a, b = int(ia[i]), int(ib[i])
        if a in used_a or b in used_b:
            continue
        used_a.add(a)
        used_b.add(b)
        out.append((a, b, float(scores[a, b])))
    return out


def group_people(heatmaps: np.ndarray | torch.Tensor, pafs: np.ndarray | torch.Tensor,
                 limbs: Sequence[tuple[int, int]], peak_threshold: float = 0.1, num_samples: int = 10,
                 paf_threshold: float = 0.05, min_fraction: float = 0.8, min_parts: int = 3,
                 min_mean_score: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """People of one image from its confidence maps and fields.

    Args:
        heatmaps: ``(K, h, w)`` confidence maps.
        pafs: ``(2L, h, w)`` fields, channels ``2l, 2l + 1`` = ``x, y`` of limb ``l``.
        limbs: ``L`` pairs ``(a, b)``, the field of limb ``l`` pointing from joint a to b; a
            tree in breadth-first order, then any redundant limbs (:func:`tree_first`).
        peak_threshold, num_samples, paf_threshold, min_fraction: see :func:`find_peaks` and
            :func:`score_limb` (the distance prior uses ``h``).
        min_parts: people with fewer parts are dropped.
        min_mean_score: people whose score (below) is lower are dropped.

    Returns ``keypoints (N, K, 3)`` float64 ``[x, y, score]`` in heatmap pixels (a part not
    found: ``[0, 0, 0]``, to be filled by the caller) and ``scores (N,)``, best first. A
    person's score is the mean of its parts' peak values and its connections' scores.
    """
    hm = torch.as_tensor(heatmaps).detach().float().cpu().numpy()
    field = torch.as_tensor(pafs).detach().float().cpu().numpy()
    K, h, _ = hm.shape
    if field.shape[0] != 2 * len(limbs):
        raise ValueError(f"{len(limbs)} limbs need {2 * len(limbs)} field channels, got {field.shape[0]}")
    peaks = find_peaks(hm, peak_threshold)
    # a person: part -> peak index (-1 = none), summed score, number of terms in the sum
    parts: list[np.ndarray] = []
    totals: list[float] = []
    counts: list[int] = []
    for l, (ja, jb) in enumerate(limbs):
        scores = score_limb(field[2 * l:2 * l + 2], peaks[ja], peaks[jb], float(h), num_samples,
                            paf_threshold, min_fraction)
        for ia, ib, s in match_limb(scores):
            owners = [p for p in range(len(parts)) if parts[p][ja] == ia or parts[p][jb] == ib]
            if len(owners) == 1:
                p = owners[0]
                if parts[p][jb] == -1:
                    parts[p][jb] = ib
                    totals[p] += s + peaks[jb][ib, 2]
                    counts[p] += 2
                elif parts[p][ja] == -1:
                    parts[p][ja] = ia
                    totals[p] += s + peaks[ja][ia, 2]
                    counts[p] += 2
            elif len(owners) == 2:
                p, q = owners
                if not ((parts[p] >= 0) & (parts[q] >= 0)).any():
                    parts[p] = np.maximum(parts[p], parts[q])
                    totals[p] += totals[q] + s
                    counts[p] += counts[q] + 1
                    del parts[q], totals[q], counts[q]
            else:
                person = np.full(K, -1, np.intp)
                person[ja], person[jb] = ia, ib
                parts.append(person)
                totals.append(s + peaks[ja][ia, 2] + peaks[jb][ib, 2])
                counts.append(3)
    keypoints, person_scores = [], []
    for person, total, count in zip(parts, totals, counts):
        score = total / count
        if (person >= 0).sum() < min_parts or score < min_mean_score:
            continue
        kp = np.zeros((K, 3), np.float64)
        for k in np.flatnonzero(person >= 0):
            kp[k] = peaks[k][person[k]]
        keypoints.append(kp)
        person_scores.append(score)
    order = np.argsort(-np.asarray(person_scores, np.float64), kind="stable")
    kps = np.asarray(keypoints, np.float64).reshape(-1, K, 3)[order]
    return kps, np.asarray(person_scores, np.float64)[order]

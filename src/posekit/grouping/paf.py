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

from posekit.grouping.peaks import as_maps, heatmap_peaks, subpixel_offsets

__all__ = ["spanning_tree", "tree_first", "find_peaks", "score_limb", "score_limbs", "match_limb", "group_people"]


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
    its two neighbours (where both exist and are positive). A plateau gives one peak, at its
    first pixel in raster order (:func:`posekit.grouping.peaks.heatmap_peaks`), which the
    parabola then moves half a pixel towards its twin.
    """
    hm_np = as_maps(heatmaps, "heatmaps")
    K = hm_np.shape[0]
    if threshold >= 0:
        ks, ys, xs = _peaks_above(hm_np, threshold)
    else:
        ks, ys, xs = np.nonzero(heatmap_peaks(hm_np, kernel=3) > threshold)
    peaks = np.empty((len(ks), 3), np.float64)
    peaks[:, :2] = np.stack([xs, ys], axis=1) + subpixel_offsets(hm_np, ks, ys, xs)
    peaks[:, 2] = hm_np[ks, ys, xs]
    return np.split(peaks, np.searchsorted(ks, np.arange(1, K)))


def _peaks_above(hm: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.nonzero(heatmap_peaks(hm, kernel=3) > threshold)`` for ``threshold >= 0``, looking
    only at the pixels above the threshold (a few per peak) instead of filtering whole maps:
    a pixel is a peak when it is at least each of its 8 neighbours (outside the map: -inf),
    and of equal peaks in one 3x3 window the first in raster order is kept (the plateau rule)."""
    K, h, w = hm.shape
    flat = hm.reshape(-1)
    idx = np.flatnonzero(flat > threshold)                      # sorted: maps, then raster order
    if len(idx) == 0:
        e = np.zeros(0, np.intp)
        return e, e, e
    ks, rest = np.divmod(idx, h * w)
    ys, xs = np.divmod(rest, w)
    v = flat[idx]

    def neighbour(dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
        """(inside the map, flat index) of each candidate's neighbour at (dy, dx)."""
        yy, xx = ys + dy, xs + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        return inside, np.where(inside, idx + dy * w + dx, 0)

    is_max = np.ones(len(idx), bool)
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        inside, j = neighbour(dy, dx)
        is_max &= ~inside | (v >= flat[j])
    tops = idx[is_max]
    keep = is_max.copy()
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):          # earlier in raster order
        inside, j = neighbour(dy, dx)
        at = np.minimum(np.searchsorted(tops, j), len(tops) - 1)
        keep &= ~(inside & (tops[at] == j) & (flat[j] == v))
    return ks[keep], ys[keep], xs[keep]


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
    fx, fy = _bilinear(paf, pts)
    dots = fx * u[..., None, 0] + fy * u[..., None, 1]                      # (na, nb, S)
    prior = np.minimum(0.5 * image_height / np.maximum(length, 1e-9) - 1.0, 0.0)
    score = dots.mean(axis=-1) + prior
    ok = ((dots > paf_threshold).mean(axis=-1) >= min_fraction) & (score > 0) & (length > 1e-9)
    scores[ok] = score[ok]
    return scores


def score_limbs(pafs: np.ndarray, peaks: Sequence[np.ndarray], limbs: Sequence[tuple[int, int]],
                image_height: float, num_samples: int = 10, paf_threshold: float = 0.05,
                min_fraction: float = 0.8) -> list[np.ndarray]:
    """:func:`score_limb` for every limb at once: the same numbers, in about linear time.

    All candidate pairs of all limbs are sampled together. A pair is kept only when at least
    ``ceil(min_fraction * S)`` of its ``S`` samples count, and a sample can count (``F(p) ·
    u > paf_threshold >= 0``) only when a corner of its bilinear cell has ``|F| >
    paf_threshold``. A first pass reads, for every pair, one boolean per sample (that
    corner test, precomputed per cell) and drops the pairs that cannot reach the fraction;
    only the rest are sampled bilinearly. The test is a necessary condition, so the scores
    are exactly :func:`score_limb`'s; the quadratic number of pairs then costs one cheap
    gather per sample, and the full sampling runs on the few plausible pairs.

    Args:
        pafs: ``(2L, h, w)`` fields, channels ``2l, 2l + 1`` = ``x, y`` of limb ``l``.
        peaks: ``K`` arrays ``(n_k, 2+)`` of candidates in heatmap pixels (:func:`find_peaks`).
        limbs: ``L`` pairs ``(a, b)``.
        image_height, num_samples, paf_threshold, min_fraction: as in :func:`score_limb`.

    Returns ``L`` arrays ``(n_a, n_b)`` float64 (``-inf`` = not a candidate pair).
    """
    L = len(limbs)
    out = [np.full((len(peaks[a]), len(peaks[b])), -np.inf) for a, b in limbs]
    _, h, w = pafs.shape
    ls, ias, ibs = [], [], []
    for l, (a, b) in enumerate(limbs):
        na, nb = len(peaks[a]), len(peaks[b])
        if na and nb:
            ia, ib = np.divmod(np.arange(na * nb), nb)
            ls.append(np.full(na * nb, l, np.intp))
            ias.append(ia)
            ibs.append(ib)
    if not ls:
        return out
    lp, ia, ib = np.concatenate(ls), np.concatenate(ias), np.concatenate(ibs)
    xy = [np.asarray(p, np.float64)[:, :2] if len(p) else np.zeros((0, 2)) for p in peaks]
    pa = np.concatenate([xy[limbs[l][0]][ia_l] for l, ia_l in zip([x[0] for x in ls], ias)])
    pb = np.concatenate([xy[limbs[l][1]][ib_l] for l, ib_l in zip([x[0] for x in ls], ibs)])
    fx_flat = np.ascontiguousarray(pafs[0::2], np.float32).reshape(-1)
    fy_flat = np.ascontiguousarray(pafs[1::2], np.float32).reshape(-1)

    def dots(sel: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``F(p) . u`` at the fractions ``t`` of the pairs ``sel`` -> ``(n, len(t))``, length."""
        a, d = pa[sel], pb[sel] - pa[sel]
        length = np.sqrt((d ** 2).sum(axis=-1))
        u = d / np.maximum(length, 1e-9)[:, None]
        x = np.clip(a[:, None, 0] + t * d[:, None, 0], 0, w - 1)
        y = np.clip(a[:, None, 1] + t * d[:, None, 1], 0, h - 1)
        x0 = np.minimum(x.astype(np.intp), max(w - 2, 0))       # x >= 0: truncation is floor
        y0 = np.minimum(y.astype(np.intp), max(h - 2, 0))
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = x - x0, y - y0
        base = (lp[sel] * (h * w))[:, None]
        i00, i01, i10, i11 = base + y0 * w + x0, base + y0 * w + x1, base + y1 * w + x0, base + y1 * w + x1
        out_dots = 0.0
        for flat, comp in ((fx_flat, u[:, 0]), (fy_flat, u[:, 1])):
            v = ((flat[i00] * (1 - fx) + flat[i01] * fx) * (1 - fy)
                 + (flat[i10] * (1 - fx) + flat[i11] * fx) * fy)
            out_dots = out_dots + v * comp[:, None]
        return out_dots, length

    t = (np.arange(num_samples) + 0.5) / num_samples
    need = int(np.ceil(min_fraction * num_samples - 1e-9))
    sel = np.arange(len(lp))
    if paf_threshold >= 0 and need > 0 and h > 1 and w > 1:
        # a sample counts only if some corner of its bilinear cell has |F| > threshold
        strong = (fx_flat * fx_flat + fy_flat * fy_flat > np.float32(paf_threshold) ** 2).reshape(L, h, w)
        cell = (strong[:, :-1, :-1] | strong[:, 1:, :-1] | strong[:, :-1, 1:] | strong[:, 1:, 1:]).reshape(-1)
        d = pb - pa

        def hits(a: np.ndarray, d: np.ndarray, limb: np.ndarray, ts: np.ndarray) -> np.ndarray:
            """How many of the samples at fractions ``ts`` of the pairs (starts ``a``, offsets
            ``d``, limbs ``limb``) can count."""
            x0 = np.minimum(np.clip(a[:, None, 0] + ts * d[:, None, 0], 0, w - 1).astype(np.intp), w - 2)
            y0 = np.minimum(np.clip(a[:, None, 1] + ts * d[:, None, 1], 0, h - 1).astype(np.intp), h - 2)
            return cell[(limb * ((h - 1) * (w - 1)))[:, None] + y0 * (w - 1) + x0].sum(axis=1)

        # first S - need + 1 samples spread along the segment: a pair none of which can count
        # misses too many (most pairs of two different people); then all S on the rest
        first = np.unique(np.linspace(0, num_samples - 1, num_samples - need + 1).round().astype(np.intp))
        if len(first) == num_samples - need + 1 and len(first) < num_samples:
            sel = np.flatnonzero(hits(pa, d, lp, t[first]) > 0)
        sel = sel[hits(pa[sel], d[sel], lp[sel], t) >= need]
    if len(sel) == 0:
        return out
    d_all, length = dots(sel, t)
    prior = np.minimum(0.5 * image_height / np.maximum(length, 1e-9) - 1.0, 0.0)
    score = d_all.mean(axis=-1) + prior
    ok = ((d_all > paf_threshold).mean(axis=-1) >= min_fraction) & (score > 0) & (length > 1e-9)
    for i, s_ in zip(sel[ok], score[ok]):
        out[lp[i]][ia[i], ib[i]] = s_
    return out


def _bilinear(maps: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``(C, h, w)`` maps sampled bilinearly at ``(..., 2)`` points ``[x, y]`` (clamped to the
    map) -> ``(C, ...)``."""
    _, h, w = maps.shape
    x = np.clip(pts[..., 0], 0, w - 1)
    y = np.clip(pts[..., 1], 0, h - 1)
    x0 = np.minimum(x.astype(np.intp), max(w - 2, 0))          # x >= 0: truncation is floor
    y0 = np.minimum(y.astype(np.intp), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    flat = maps.reshape(maps.shape[0], -1)
    at = lambda i: np.take(flat, i, axis=1)       # noqa: E731  (faster than flat[:, i])
    i00, i01, i10, i11 = y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1
    return ((at(i00) * (1 - fx) + at(i01) * fx) * (1 - fy)
            + (at(i10) * (1 - fx) + at(i11) * fx) * fy)


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
    # a person: part -> peak index (-1 = none), summed score, number of terms in the sum;
    # owner[k][i]: the person holding peak i of part k (-1 = none), kept in step with parts
    parts: list[np.ndarray] = []
    totals: list[float] = []
    counts: list[int] = []
    alive: list[bool] = []
    owner = [np.full(len(p), -1, np.intp) for p in peaks]
    limb_scores = score_limbs(field, peaks, limbs, float(h), num_samples, paf_threshold, min_fraction)
    for (ja, jb), scores in zip(limbs, limb_scores):
        for ia, ib, s in match_limb(scores):
            oa, ob = int(owner[ja][ia]), int(owner[jb][ib])
            owners = sorted({o for o in (oa, ob) if o >= 0})
            if len(owners) == 1:
                p = owners[0]
                if parts[p][jb] == -1:
                    parts[p][jb] = ib
                    owner[jb][ib] = p
                    totals[p] += s + peaks[jb][ib, 2]
                    counts[p] += 2
                elif parts[p][ja] == -1:
                    parts[p][ja] = ia
                    owner[ja][ia] = p
                    totals[p] += s + peaks[ja][ia, 2]
                    counts[p] += 2
            elif len(owners) == 2:
                p, q = owners
                if not ((parts[p] >= 0) & (parts[q] >= 0)).any():
                    for k in np.flatnonzero(parts[q] >= 0):
                        owner[k][parts[q][k]] = p
                    parts[p] = np.maximum(parts[p], parts[q])
                    totals[p] += totals[q] + s
                    counts[p] += counts[q] + 1
                    alive[q] = False
                    parts[q] = np.full(K, -1, np.intp)
            else:
                person = np.full(K, -1, np.intp)
                person[ja], person[jb] = ia, ib
                owner[ja][ia] = owner[jb][ib] = len(parts)
                parts.append(person)
                totals.append(s + peaks[ja][ia, 2] + peaks[jb][ib, 2])
                counts.append(3)
                alive.append(True)
    parts = [p for p, a in zip(parts, alive) if a]
    totals = [t for t, a in zip(totals, alive) if a]
    counts = [c for c, a in zip(counts, alive) if a]
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

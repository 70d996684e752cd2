"""Associative Embedding (Newell et al. 2017): the grouping loss and tag-based decoding.

A bottom-up AE network predicts, for one image, ``K`` detection heatmaps and ``K`` tag maps
(1-dim tags here). Joints of one person should carry similar tags, different people
different tags.

* :func:`ae_loss_terms` / :func:`ae_loss`: the grouping loss (pull each joint's tag to its
  person's mean tag, push the means of different people apart).
* :func:`posekit.grouping.peaks.heatmap_peaks` (shared with the PAF grouping), :func:`top_candidates`, :func:`group_by_tags`, :func:`refine_people`,
  :func:`decode_tags`: heatmap NMS -> top-k candidates per joint -> joints matched to people
  in a fixed order by tag distance plus detection score with the Hungarian algorithm ->
  optional filling of missing joints.

Coordinates are heatmap pixels (integer = pixel centre); mapping to the image is the caller's
job (through the affine matrix of the input, never ``* stride``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from posekit.errors import PosekitError
from posekit.grouping.peaks import as_maps, heatmap_peaks

__all__ = [
    "COCO17_AE_ORDER",
    "ae_loss",
    "ae_loss_terms",
    "top_candidates",
    "group_by_tags",
    "refine_people",
    "decode_tags",
]

# The order in which joints join people for COCO-17 (the AE reference's order): face, then
# shoulders and hips, then elbows, wrists, knees, ankles, i.e. from the most reliable, central
# joints outward, so each person's mean tag is settled before the hard extremities are matched.
COCO17_AE_ORDER: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)
# cost of a forbidden (tag distance over the threshold) or "new person" assignment
_NO_MATCH = 1e9


# ------------------------------------------------------------------------------------- loss
def ae_loss_terms(tags: torch.Tensor, keypoints_hm: torch.Tensor,
                  sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The two terms of the AE grouping loss, as the survey writes it.

    For one image with people ``n = 1..N``, ``J_n`` the labelled joints of person ``n`` that lie
    in the map, ``h_k(x_nk)`` the predicted tag of joint ``k`` at its ground-truth pixel (the
    coordinates rounded to the nearest pixel centre) and ``h̄_n`` the mean of those tags:

    * pull = ``1/N Σ_n 1/|J_n| Σ_{k∈J_n} (h̄_n - h_k(x_nk))²`` (mean over joints, then people);
    * push = ``1/(N(N-1)) Σ_{n≠n'} exp(-(h̄_n - h̄_n')² / (2σ²))`` (mean over ordered pairs
      of different people; 0 when N < 2, 1 when all means coincide).

    People without a labelled joint in the map are left out of N. Each term is then averaged
    over the ``B`` images (an image without people contributes 0). The lead may move this
    loss into ``posekit/losses.py`` (the one losses module) later.

    Args:
        tags: ``(B, K, h, w)`` predicted 1-dim tag maps.
        keypoints_hm: ``(B, N, K, 3)`` ground truth ``[x, y, v]`` in heatmap pixels; a joint
            counts when ``v > 0`` and its rounded pixel is inside the ``(h, w)`` map. Images
            with fewer people pad with rows of ``v = 0``.
        sigma: σ of the push term, in tag units.

    Returns ``(pull, push)``, two scalar tensors differentiable with respect to ``tags``.
    """
    if tags.dim() != 4 or keypoints_hm.dim() != 4 or keypoints_hm.shape[-1] != 3:
        raise PosekitError(f"ae_loss wants tags (B, K, h, w) and keypoints (B, N, K, 3), "
                           f"got {tuple(tags.shape)} and {tuple(keypoints_hm.shape)}")
    B, K, h, w = tags.shape
    if keypoints_hm.shape[0] != B or keypoints_hm.shape[2] != K:
        raise PosekitError(f"ae_loss: tags {tuple(tags.shape)} and keypoints "
                           f"{tuple(keypoints_hm.shape)} disagree on B or K")
    kp = keypoints_hm.detach().to(tags.device)
    xi = torch.round(kp[..., 0]).long()
    yi = torch.round(kp[..., 1]).long()
    valid = (kp[..., 2] > 0) & (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)      # (B, N, K)
    pulls, pushes = [], []
    joint = torch.arange(K, device=tags.device)
    for b in range(B):
        means, pull_b = [], tags.new_zeros(())
        for n in range(kp.shape[1]):
            ok = valid[b, n]
            if not bool(ok.any()):
                continue
            t = tags[b, joint[ok], yi[b, n, ok], xi[b, n, ok]]                 # (|J_n|,)
            mean = t.mean()
            pull_b = pull_b + (t - mean).pow(2).mean()
            means.append(mean)
        if not means:
            pulls.append(tags.new_zeros(()))
            pushes.append(tags.new_zeros(()))
            continue
        m = torch.stack(means)                                                 # (N,)
        pulls.append(pull_b / len(means))
        if len(means) < 2:
            pushes.append(tags.new_zeros(()))
            continue
        e = torch.exp(-(m[:, None] - m[None, :]).pow(2) / (2.0 * sigma ** 2))
        off_diagonal = ~torch.eye(len(means), dtype=torch.bool, device=tags.device)
        pushes.append(e[off_diagonal].mean())
    return torch.stack(pulls).mean(), torch.stack(pushes).mean()


def ae_loss(tags: torch.Tensor, keypoints_hm: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """AE grouping loss ``pull + push`` (scalar); see :func:`ae_loss_terms` for the terms and
    how they are averaged. ``tags (B, K, h, w)``, ``keypoints_hm (B, N, K, 3)`` in heatmap
    pixels."""
    pull, push = ae_loss_terms(tags, keypoints_hm, sigma)
    return pull + push


# --------------------------------------------------------------------------------- decoding
def top_candidates(heatmaps: np.ndarray | torch.Tensor, tags: np.ndarray | torch.Tensor,
                   max_people: int = 30, kernel: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``max_people`` strongest NMS peaks of every joint, with their tags.

    Args:
        heatmaps, tags: ``(K, h, w)`` of one image.
        max_people: candidates kept per joint.
        kernel: NMS neighbourhood (odd).

    Returns ``candidates (K, M, 3)`` ``[x, y, score]`` in heatmap pixels, sorted by score
    (``M = min(max_people, h*w)``; rows past the last peak have score 0) and their tags
    ``(K, M)``.
    """
    hm = heatmap_peaks(heatmaps, kernel)
    tg = as_maps(tags, "tags")
    if tg.shape != hm.shape:
        raise PosekitError(f"tags {tg.shape} and heatmaps {hm.shape} differ in shape")
    K, h, w = hm.shape
    m = min(int(max_people), h * w)
    flat = hm.reshape(K, -1)
    idx = np.empty((K, m), np.intp)                                            # (K, M)
    for k in range(K):
        # the stable argsort of -flat[k] cut at m, sorting only the positive peaks when
        # there are m of them (after NMS almost every pixel is 0)
        pos = np.flatnonzero(flat[k] > 0)
        if len(pos) >= m:
            idx[k] = pos[np.argsort(-flat[k, pos], kind="stable")[:m]]
        else:
            idx[k] = np.argsort(-flat[k], kind="stable")[:m]
    score = np.take_along_axis(flat, idx, axis=1)
    cand = np.stack([idx % w, idx // w, score], axis=-1).astype(np.float32)
    cand_tags = np.take_along_axis(tg.reshape(K, -1), idx, axis=1)
    return cand, cand_tags


def group_by_tags(candidates: np.ndarray, candidate_tags: np.ndarray,
                  joint_order: Sequence[int] | None = None, detection_threshold: float = 0.1,
                  tag_threshold: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Assemble people from per-joint candidates (AE's greedy-by-joint Hungarian matching).

    Joints are taken in ``joint_order`` (default ``0..K-1``; use :data:`COCO17_AE_ORDER` for
    COCO-17). Candidates of the current joint scoring above ``detection_threshold`` are matched
    to the people found so far with :func:`scipy.optimize.linear_sum_assignment`, the cost of
    candidate ``i`` for person ``p`` being ``round(|t_i - t̄_p|) * 100 - score_i`` (``t̄_p``
    the mean tag of the joints ``p`` holds so far): tags decide, the detection score breaks
    ties among tags closer than 0.5. Only pairs with ``|t_i - t̄_p| < tag_threshold`` may be
    matched: the others cost a prohibitive constant, and each candidate has a "new person"
    column at that constant, so the assignment first matches as many candidates within the
    threshold as possible, then minimises the cost above. (The AE reference assigns on the
    plain cost and drops pairs over the threshold afterwards; with as many candidates as
    people, a candidate whose person is missing is then forced onto another person's column,
    and a tie in the cost can push that person's own joint out: 20 synthetic people with
    perfect heads decoded as 21.) Every candidate left unmatched starts a new person.

    Args:
        candidates: ``(K, M, 3)`` ``[x, y, score]`` (from :func:`top_candidates`).
        candidate_tags: ``(K, M)``.

    Returns ``people (N, K, 3)`` float32 ``[x, y, score]`` in heatmap pixels (score 0 and
    ``x = y = 0`` for a joint the person lacks) and ``tags (N, K)`` (0 where missing).
    """
    K = candidates.shape[0]
    order = list(range(K)) if joint_order is None else [int(k) for k in joint_order]
    if sorted(order) != list(range(K)):
        raise PosekitError(f"joint_order must be a permutation of 0..{K - 1}, got {order}")
    people: list[np.ndarray] = []          # each (K, 3)
    people_tags: list[np.ndarray] = []     # each (K,)
    tag_sum = np.zeros(0, np.float64)      # per person: sum and number of the tags it holds
    tag_count = np.zeros(0, np.int64)
    for k in order:
        keep = candidates[k, :, 2] > detection_threshold
        cand, ctag = candidates[k, keep], candidate_tags[k, keep]
        if len(cand) == 0:
            continue
        n_old = len(people)
        if n_old:
            means = tag_sum / tag_count
            dist = np.abs(ctag[:, None] - means[None, :])                      # (C, P)
            allowed = dist < tag_threshold
            cost = np.where(allowed, np.round(dist) * 100.0 - cand[:, 2:3], _NO_MATCH)
            # one "new person" column per candidate: a candidate without a person within the
            # tag threshold goes there, instead of being forced onto (and blocking) a person
            cost = np.concatenate([cost, np.full((len(cand), len(cand)), _NO_MATCH)], axis=1)
            rows, cols = linear_sum_assignment(cost)
            matched = {int(r): int(c) for r, c in zip(rows, cols) if c < n_old and allowed[r, c]}
        else:
            matched = {}
        new = len(cand) - len(matched)
        tag_sum = np.concatenate([tag_sum, np.zeros(new)])
        tag_count = np.concatenate([tag_count, np.zeros(new, np.int64)])
        for i in range(len(cand)):
            if i in matched:
                p = matched[i]
            else:
                people.append(np.zeros((K, 3), np.float32))
                people_tags.append(np.zeros(K, np.float32))
                p = len(people) - 1
            people[p][k] = cand[i]
            people_tags[p][k] = ctag[i]
            if cand[i, 2] > 0:
                tag_sum[p] += ctag[i]
                tag_count[p] += 1
    if not people:
        return np.zeros((0, K, 3), np.float32), np.zeros((0, K), np.float32)
    return np.stack(people).astype(np.float32), np.stack(people_tags).astype(np.float32)


def refine_people(people: np.ndarray, heatmaps: np.ndarray | torch.Tensor,
                  tags: np.ndarray | torch.Tensor, tag_threshold: float = 1.0) -> np.ndarray:
    """Fill each person's missing joints (score 0) from the raw maps.

    For person ``p`` with mean tag ``t̄_p`` (over the joints it holds) and a missing joint
    ``k``, take the pixel ``u`` maximising ``H_k(u) - round(|T_k(u) - t̄_p|)``, i.e. the
    strongest response among pixels whose tag is within 0.5 of the person's. The joint gets
    that pixel and its heatmap value when ``H_k(u) > 0`` and ``|T_k(u) - t̄_p| <
    tag_threshold``. (The AE reference code fills every missing joint whenever ``H_k(u) > 0``;
    with real heatmaps that is always, so a joint outside the image or hidden would be
    placed on the nearest faint response. The tag test keeps such joints missing.) Joints the
    person holds are not moved.

    ``people (N, K, 3)`` heatmap pixels, ``heatmaps, tags (K, h, w)`` -> new ``(N, K, 3)``.
    """
    hm, tg = as_maps(heatmaps, "heatmaps"), as_maps(tags, "tags")
    K, h, w = hm.shape
    out = np.array(people, np.float32, copy=True)
    for p in range(out.shape[0]):
        held = out[p, :, 2] > 0
        if not held.any():
            continue
        xs = out[p, held, 0].round().astype(int).clip(0, w - 1)
        ys = out[p, held, 1].round().astype(int).clip(0, h - 1)
        mean = tg[np.flatnonzero(held), ys, xs].mean()
        missing = np.flatnonzero(~held)
        if len(missing) == 0:
            continue
        merit = (hm[missing] - np.round(np.abs(tg[missing] - mean))).reshape(len(missing), -1)
        best = np.argmax(merit, axis=1)
        y, x = np.divmod(best, w)
        value, tag = hm[missing, y, x], tg[missing, y, x]
        ok = (value > 0) & (np.abs(tag - mean) < tag_threshold)
        out[p, missing[ok]] = np.stack([x[ok], y[ok], value[ok]], axis=1)
    return out


def decode_tags(heatmaps: np.ndarray | torch.Tensor, tags: np.ndarray | torch.Tensor,
                joint_order: Sequence[int] | None = None, max_people: int = 30,
                kernel: int = 5, detection_threshold: float = 0.1, tag_threshold: float = 1.0,
                refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """AE decoding of one image: NMS -> top-k -> :func:`group_by_tags` -> optional
    :func:`refine_people`.

    Args:
        heatmaps: ``(K, h, w)`` detection maps.
        tags: ``(K, h, w)`` 1-dim tag maps.
        joint_order: see :func:`group_by_tags` (:data:`COCO17_AE_ORDER` for COCO-17).
        max_people, kernel: see :func:`top_candidates`.
        detection_threshold, tag_threshold: see :func:`group_by_tags`.
        refine: fill missing joints with :func:`refine_people` (same ``tag_threshold``).

    Returns ``people (N, K, 3)`` ``[x, y, score]`` in heatmap pixels and ``scores (N,)`` (the
    mean joint score over all K joints, missing ones counting 0), sorted by decreasing score.
    """
    cand, ctag = top_candidates(heatmaps, tags, max_people, kernel)
    people, _ = group_by_tags(cand, ctag, joint_order, detection_threshold, tag_threshold)
    if refine and len(people):
        people = refine_people(people, heatmaps, tags, tag_threshold)
    scores = people[:, :, 2].mean(axis=1) if len(people) else np.zeros(0, np.float32)
    order = np.argsort(-scores, kind="stable")
    return people[order], scores[order].astype(np.float32)

"""MPII multi-person mAP against the official MPII evaluation (``evaluateAP.m``,
``assignGTmulti.m``, ``getRPC.m``, ``VOCap.m``).

Two kinds of checks:

* hand-computed cases for each rule posekit used to get wrong (the two-step assignment, the
  14-joint assignment score, predicted joints with scores <= 0) and for tied scores across
  images and images that have only ground truth or only predictions;
* a straightforward transliteration of the official MATLAB code, written here loop by loop
  (MATLAB's 1-based indices become 0-based, its NaN-ignoring ``max`` is spelled out), which
  must give the very same per-joint AP as :func:`posekit.metrics.mpii_map` on seeded random
  multi-person scenes built from the MPII sample.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from posekit.metrics import MPIIImage, mpii_map
from posekit.skeleton import MPII16

# ----------------------------------------------------------------- the official procedure
# jidxMap of assignGTmulti.m: the 14 scored joints, as MPII joint ids (pelvis 6, thorax 7 absent)
JIDX_MAP = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9]
N_JOINTS = 14


def _div(a: float, b: float) -> float:
    """MATLAB's a / b: x/0 is +-inf, 0/0 is NaN (Python would raise)."""
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _max(values: list[float]) -> tuple[float, int]:
    """MATLAB's ``[val, idx] = max(v)``: NaN ignored, first index of the maximum; all NaN
    gives ``(NaN, first index)``."""
    best, idx = math.nan, 0
    for i, v in enumerate(values):
        if math.isnan(v):
            continue
        if math.isnan(best) or v > best:
            best, idx = v, i
    return best, idx


def _point_by_id(points: list[dict], pid: int) -> dict | None:
    """util_get_annopoint_by_id: the first point with that id, or empty."""
    for p in points:
        if p["id"] == pid:
            return p
    return None


def official_assign_gt_multi(pred: list, annolist_gt: list, thresh: float):
    """assignGTmulti.m: per joint, per image, the detection scores and labels, and the number
    of labelled ground-truth joints per joint and image."""
    n_img = len(annolist_gt)
    scores_all = [[[] for _ in range(n_img)] for _ in range(N_JOINTS)]
    labels_all = [[[] for _ in range(n_img)] for _ in range(N_JOINTS)]
    n_gt_all = [[0] * n_img for _ in range(N_JOINTS)]
    for imgidx in range(n_img):
        rects_pred, rects_gt = pred[imgidx], annolist_gt[imgidx]
        n_p, n_g = len(rects_pred), len(rects_gt)
        dist = [[[math.inf] * N_JOINTS for _ in range(n_g)] for _ in range(n_p)]
        score = [[math.nan] * N_JOINTS for _ in range(n_p)]
        has_pred = [[False] * N_JOINTS for _ in range(n_p)]
        has_gt = [[False] * N_JOINTS for _ in range(n_g)]
        for rp in range(n_p):                       # iterate over predicted poses
            points_pred = rects_pred[rp]["points"]
            for rg in range(n_g):                   # iterate over GT poses
                rect_gt = rects_gt[rg]
                ref_dist = rect_gt["head_size"]
                points_gt = rect_gt["points"]
                for i in range(N_JOINTS):
                    pp_pred = _point_by_id(points_pred, JIDX_MAP[i])
                    if pp_pred is not None:
                        score[rp][i] = pp_pred["score"]
                        has_pred[rp][i] = True
                    pp_gt = _point_by_id(points_gt, JIDX_MAP[i])
                    if pp_gt is not None:
                        has_gt[rg][i] = True
                    if has_pred[rp][i] and has_gt[rg][i]:
                        d = math.hypot(pp_gt["x"] - pp_pred["x"], pp_gt["y"] - pp_pred["y"])
                        dist[rp][rg][i] = _div(d, ref_dist)
        # number of annotated joints; PCKh of every pair
        n_gt = [sum(has_gt[rg]) for rg in range(n_g)]
        match = [[[dist[rp][rg][i] <= thresh for i in range(N_JOINTS)] for rg in range(n_g)]
                 for rp in range(n_p)]
        pck = [[_div(float(sum(match[rp][rg])), float(n_gt[rg])) for rg in range(n_g)]
               for rp in range(n_p)]
        # preserve best GT match only
        if n_g > 0:
            for rp in range(n_p):
                _, idx = _max(pck[rp])
                for rg in range(n_g):
                    if rg != idx:
                        pck[rp][rg] = 0.0
        pred_to_gt = []                             # -1 stands for MATLAB's 0 (no match)
        if n_p > 0:
            for rg in range(n_g):
                val, rp_best = _max([pck[rp][rg] for rp in range(n_p)])
                pred_to_gt.append(-1 if val == 0 else rp_best)
        # assign predicted poses to GT poses
        for rp in range(n_p):
            if rp in pred_to_gt:                    # pose matches to GT
                matched = [rg for rg in range(n_g) if pred_to_gt[rg] == rp]
                assert len(matched) == 1
                m = match[rp][matched[0]]
            else:                                   # no matching to GT
                m = [False] * N_JOINTS
            for i in range(N_JOINTS):
                if has_pred[rp][i]:
                    scores_all[i][imgidx].append(score[rp][i])
                    labels_all[i][imgidx].append(m[i])
        # save number of GT joints
        for rg in range(n_g):
            for i in range(N_JOINTS):
                n_gt_all[i][imgidx] += int(has_gt[rg][i])
    return scores_all, labels_all, n_gt_all


def official_get_rpc(scores: list[float], labels: list[bool], totalpos: int):
    """getRPC.m: precision and recall after a stable descending sort of the scores."""
    order = sorted(range(len(scores)), key=lambda r: -scores[r])    # MATLAB's sort is stable
    npos = 0
    precision, recall = [], []
    for rank, r in enumerate(order, start=1):
        if labels[r]:
            npos += 1
        precision.append(_div(float(npos), float(rank)))
        recall.append(_div(float(npos), float(totalpos)))
    return precision, recall


def official_voc_ap(rec: list[float], prec: list[float]) -> float:
    """VOCap.m."""
    mrec = [0.0, *rec, 1.0]
    mpre = [0.0, *prec, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    ap = 0.0
    for i in range(1, len(mrec)):
        if mrec[i] != mrec[i - 1]:
            ap += (mrec[i] - mrec[i - 1]) * mpre[i]
    return ap


def official_evaluate_ap(pred: list, annolist_gt: list, thresh: float = 0.5) -> list[float]:
    """evaluateAP.m: AP of the 14 joints in jidxMap order, then their mean (as fractions; the
    official code multiplies by 100 for its table)."""
    scores_all, labels_all, n_gt_all = official_assign_gt_multi(pred, annolist_gt, thresh)
    ap = []
    for j in range(N_JOINTS):
        scores, labels = [], []
        for imgidx in range(len(annolist_gt)):
            scores += scores_all[j][imgidx]
            labels += labels_all[j][imgidx]
        precision, recall = official_get_rpc(scores, labels, sum(n_gt_all[j]))
        ap.append(official_voc_ap(recall, precision))
    return [*ap, sum(ap) / N_JOINTS]


def to_annolists(images: list[MPIIImage]) -> tuple[list, list]:
    """posekit's arrays as the official structures: ground-truth rects with a head size and
    their labelled points (v > 0), predicted rects with their points of finite x, y."""
    gt, pred = [], []
    for im in images:
        gt.append([{"head_size": float(hs),
                    "points": [{"id": j, "x": float(x), "y": float(y)}
                               for j, (x, y, v) in enumerate(person) if v > 0]}
                   for person, hs in zip(im.gt_keypoints, im.head_sizes)])
        pred.append([{"points": [{"id": j, "x": float(x), "y": float(y), "score": float(s)}
                                 for j, (x, y, s) in enumerate(person)
                                 if math.isfinite(x) and math.isfinite(y)]}
                     for person in im.pred_keypoints])
    return pred, gt


def posekit_in_official_order(images: list[MPIIImage]) -> np.ndarray:
    """posekit's per-joint AP in jidxMap order, then its mean."""
    r = mpii_map(images, MPII16)
    return np.array([*r.per_joint[JIDX_MAP], r.mean])


# ------------------------------------------------------------------- hand-computed cases
def _pose(points: dict[int, tuple[float, float]], value: float) -> np.ndarray:
    """(16, 3) MPII16 pose; listed joints get ``value`` as v (gt) or score (pred); the others
    are unlabelled (gt: v = 0) or not predicted (pred: NaN)."""
    p = np.zeros((16, 3)) if value == 2 else np.full((16, 3), np.nan)
    for j, xy in points.items():
        p[j] = [*xy, value]
    return p


def _image(gts: list[np.ndarray], preds: list[np.ndarray], head: float = 10.0) -> MPIIImage:
    return MPIIImage(np.stack(gts) if gts else np.zeros((0, 16, 3)), np.full(len(gts), head),
                     np.stack(preds) if preds else np.zeros((0, 16, 3)))


def compare_with_official(images: list[MPIIImage]) -> tuple[float, int]:
    """Assert that posekit's per-joint AP equals the official procedure's on every joint with
    counted ground truth (NaN elsewhere, where the official code gives 0 or NaN), and the mean
    too when every joint has some (to 1e-15: the 14 terms are added in another order). Returns
    (max difference of the per-joint APs, number of APs compared)."""
    ours = posekit_in_official_order(images)
    official = np.array(official_evaluate_ap(*to_annolists(images)))
    labelled = mpii_map(images, MPII16).n_gt[JIDX_MAP] > 0
    assert np.isnan(ours[:-1][~labelled]).all()
    np.testing.assert_array_equal(ours[:-1][labelled], official[:-1][labelled])
    if labelled.all():
        assert ours[-1] == pytest.approx(official[-1], rel=0, abs=1e-15)
    diff = np.abs(ours[:-1][labelled] - official[:-1][labelled])
    return float(diff.max(initial=0.0)), int(labelled.sum())


def test_prediction_keeps_only_its_best_person():
    """p0 matches g0 on 2 of 3 joints and g1 on 1 of 3; p1 matches g0 fully. Officially p0
    keeps only g0, loses it to p1 and stays unassigned; a greedy pair-by-pair assignment
    gives p0 its second-best person g1 and counts its right hip as a true positive."""
    g0 = _pose({0: (0, 0), 1: (0, 20), 2: (0, 40)}, 2)
    g1 = _pose({0: (100, 0), 1: (100, 20), 2: (1, 40)}, 2)        # right hip next to g0's
    p1 = _pose({0: (0, 0), 1: (0, 20), 2: (0, 40)}, 0.9)          # = g0
    p0 = _pose({0: (0, 0), 1: (50, 20), 2: (0, 40)}, 0.8)         # g0: 2/3, g1: 1/3
    r = mpii_map([_image([g0, g1], [p0, p1])], MPII16)
    # every joint: p1 (0.9) TP, p0 (0.8) FP, 2 ground-truth joints -> AP 1/2 * 1 = 0.5
    np.testing.assert_array_equal(r.per_joint[[0, 1, 2]], [0.5, 0.5, 0.5])
    compare_with_official([_image([g0, g1], [p0, p1])])


def test_assignment_score_uses_the_14_scored_joints():
    """Pelvis and thorax do not count: p0 lies on g0's pelvis and thorax but misses its only
    scored joint (0/1), and matches one of g1's two scored joints (1/2), so p0 goes to g1.
    Counting pelvis and thorax (2/3 > 1/2) would send it to g0 and make its ankle a miss."""
    g0 = _pose({0: (0, 0), 6: (0, 50), 7: (0, 80)}, 2)
    g1 = _pose({0: (200, 0), 1: (200, 20)}, 2)
    p0 = _pose({0: (200, 0), 1: (300, 20), 6: (0, 50), 7: (0, 80)}, 0.9)
    r = mpii_map([_image([g0, g1], [p0])], MPII16)
    assert r.per_joint[0] == 0.5                          # TP of 2 ground-truth right ankles
    assert r.per_joint[1] == 0.0                          # the one right knee prediction misses
    assert np.isnan(r.per_joint[6]) and np.isnan(r.per_joint[7])   # pelvis, thorax: not scored
    assert "pelvis" not in r.table() and "thorax" not in r.table()
    assert r.scored.sum() == 14
    compare_with_official([_image([g0, g1], [p0])])


def test_predicted_joints_count_whatever_their_score():
    """Scores of 0 and below are detections like any other (they rank last)."""
    gt = _pose({0: (0, 0), 1: (0, 20)}, 2)
    p = _pose({0: (0, 0), 1: (0, 20)}, 0.0)
    p[1, 2] = -0.5
    r = mpii_map([_image([gt], [p])], MPII16)
    assert r.per_joint[0] == 1.0 and r.per_joint[1] == 1.0
    # a second image: a false positive of score 0.1 ranks above the true positive of score 0
    fp = _pose({0: (500, 500)}, 0.1)
    images = [_image([gt], [p]), _image([gt], [fp])]
    r = mpii_map(images, MPII16)
    # right ankle: FP (0.1), TP (0.0) of 2 -> precision 0, 1/2; recall 0, 1/2 -> AP 0.25
    assert r.per_joint[0] == 0.25
    compare_with_official(images)


def test_tied_scores_keep_image_order():
    """Equal scores in different images keep image order (a stable sort), then prediction
    order: image A's false positive before image B's true positive."""
    gt_a, gt_b = _pose({0: (0, 0)}, 2), _pose({0: (50, 50)}, 2)
    fp = _pose({0: (300, 300)}, 0.5)
    tp = _pose({0: (50, 50)}, 0.5)
    r = mpii_map([_image([gt_a], [fp]), _image([gt_b], [tp])], MPII16)
    assert r.per_joint[0] == 0.25                      # FP then TP: 0.5 * 0.5
    r = mpii_map([_image([gt_b], [tp]), _image([gt_a], [fp])], MPII16)
    assert r.per_joint[0] == 0.5                       # TP then FP: 0.5 * 1
    # within an image: prediction order
    both = _image([gt_b], [fp, tp])
    assert mpii_map([both], MPII16).per_joint[0] == 0.5      # n_gt 1: FP, TP -> 1 * 0.5
    compare_with_official([_image([gt_a], [fp]), _image([gt_b], [tp]), both])


def test_images_with_only_ground_truth_or_only_predictions():
    """Officially an image counts only when it has both (see the module docstring);
    count_one_sided_images=True counts the missed people and the stray predictions."""
    gt = _pose({0: (0, 0)}, 2)
    tp = _pose({0: (0, 0)}, 0.9)
    stray = _pose({0: (7, 7)}, 0.95)
    images = [_image([gt], [tp]), _image([gt], []), _image([], [stray])]
    assert mpii_map(images, MPII16).per_joint[0] == 1.0
    assert mpii_map(images, MPII16).n_gt[0] == 1
    strict = mpii_map(images, MPII16, count_one_sided_images=True)
    assert strict.n_gt[0] == 2
    assert strict.per_joint[0] == 0.25                 # FP (0.95), TP (0.9) of 2
    compare_with_official(images)
    # a joint without any counted ground truth is NaN (the official code: 0 here)
    assert np.isnan(mpii_map([_image([gt], [])], MPII16).per_joint[0])


def test_people_without_scored_joints():
    """A person labelled only on pelvis and thorax has PCKh NaN with every prediction (0 / 0);
    MATLAB's max skips NaN, and a prediction whose every PCKh is NaN stays unassigned (its
    joints are false positives)."""
    only_torso = _pose({6: (0, 0), 7: (0, 30)}, 2)
    person = _pose({0: (100, 0), 1: (100, 20)}, 2)
    p0 = _pose({0: (100, 0), 1: (100, 20)}, 0.8)
    p1 = _pose({0: (0, 0), 6: (0, 0)}, 0.9)
    images = [_image([only_torso, person], [p1, p0]), _image([only_torso], [p0])]
    r = mpii_map(images, MPII16)
    assert r.n_gt[0] == 1 and r.per_joint[1] == 1.0
    assert r.per_joint[0] == 0.5            # FP (p1, 0.9), TP (p0, 0.8), FP (p0 in image 2, 0.8)
    compare_with_official(images)


def test_nan_score_of_a_predicted_joint_is_an_error():
    gt = _pose({0: (0, 0)}, 2)
    p = _pose({0: (0, 0)}, np.nan)
    with pytest.raises(ValueError, match="NaN"):
        mpii_map([_image([gt], [p])], MPII16)


# --------------------------------------------------------------- seeded random scenes
SAMPLE = "mpii/test_mpii.json"


def _sample_people(shared_data) -> list[tuple[np.ndarray, float]]:
    """The MPII sample's people, centred at the origin: ``(16, 3)`` keypoints and head size
    (the head segment, which is what 0.6 x diagonal of the estimated head box equals)."""
    entries = json.loads((shared_data / SAMPLE).read_text())
    people = []
    for e in entries:
        xy = np.asarray(e["joints"], np.float64)
        vis = np.asarray(e["joints_vis"]) > 0
        kp = np.concatenate([xy - xy[vis].mean(0), np.where(vis, 2.0, 0.0)[:, None]], axis=1)
        people.append((kp, float(np.linalg.norm(xy[8] - xy[9]))))
    return people


def random_scene(rng: np.random.Generator, people: list) -> list[MPIIImage]:
    """1-3 images of 1-4 people each, close enough to overlap; predictions are noisy copies,
    duplicates, mixtures of two people, strays and dropped joints, with scores on a 0.1 grid
    from -0.2 to 1 (ties and scores <= 0), in random order."""
    images = []
    for _ in range(rng.integers(1, 4)):
        n_g = int(rng.integers(0, 5)) if rng.random() < 0.1 else int(rng.integers(1, 5))
        gts, heads = [], []
        for _ in range(n_g):
            kp, head = people[rng.integers(len(people))]
            s = rng.uniform(0.2, 0.6)
            g = kp.copy()
            g[:, :2] = g[:, :2] * s + rng.uniform(0, 250, 2)
            g[rng.random(16) < 0.1, 2] = 0                      # a few more unlabelled joints
            g[g[:, 2] == 0, :2] = 0
            gts.append(g)
            heads.append(head * s)
        preds = []
        for g, h in zip(gts, heads):
            copies = int(rng.choice([0, 1, 1, 1, 2]))
            for _ in range(copies):
                p = g.copy()
                p[:, :2] += rng.normal(0, h * rng.uniform(0.05, 0.6), (16, 2))
                preds.append(p)
        if len(gts) >= 2 and rng.random() < 0.5:                # half of one, half of another
            a, b = rng.choice(len(gts), 2, replace=False)
            p = gts[a].copy()
            take = rng.random(16) < 0.5
            p[take] = gts[b][take]
            p[:, :2] += rng.normal(0, 3, (16, 2))
            preds.append(p)
        for _ in range(rng.integers(0, 2)):                     # a stray pose
            kp, _ = people[rng.integers(len(people))]
            p = kp.copy()
            p[:, :2] = p[:, :2] * rng.uniform(0.2, 0.6) + rng.uniform(0, 250, 2)
            preds.append(p)
        if rng.random() < 0.1:
            preds = []
        pred = np.array(preds).reshape(-1, 16, 3)
        pred[..., 2] = np.round(rng.uniform(-0.2, 1.0, pred.shape[:2]), 1)
        pred[rng.random(pred.shape[:2]) < 0.1, :2] = np.nan     # joints not predicted
        pred = pred[rng.permutation(len(pred))]
        images.append(MPIIImage(np.array(gts).reshape(-1, 16, 3), np.array(heads), pred))
    return images


N_SCENES = 300


def test_equals_the_official_procedure_on_random_scenes(shared_data):
    if not (shared_data / SAMPLE).is_file():
        pytest.skip(f"MPII sample {shared_data / SAMPLE} not found")
    people = _sample_people(shared_data)
    rng = np.random.default_rng(2024)
    max_diff, compared = 0.0, 0
    for _ in range(N_SCENES):
        diff, n = compare_with_official(random_scene(rng, people))
        max_diff, compared = max(max_diff, diff), compared + n
    assert max_diff == 0.0 and compared > N_SCENES * 10

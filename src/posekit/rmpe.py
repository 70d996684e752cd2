"""RMPE's parametric pose NMS, fitted from data (Fang, Xie, Tai, Lu, "RMPE: Regional Multi-person
Pose Estimation", ICCV 2017, Sec. 3.3).

The pose distance of RMPE (:func:`posekit.nms.rmpe_pose_similarity`) has four parameters: the
keypoint-confidence softness ``sigma1``, the spatial softness ``sigma2``, the weight ``lam`` of
the spatial term, and the elimination threshold ``eta``. The paper learns them "in a
data-driven manner": on a validation set of pose proposals with duplicates, they are chosen to
maximise the detection AP after NMS, by an iterative search that fixes some of them and
optimises the others, until nothing improves. :func:`fit_pnms` does that: a coordinate search
over ``sigma1``, ``sigma2`` and ``lam`` in turn, with ``eta`` re-optimised on a grid for every
candidate (``eta`` is where the similarity is cut, so it has to move with the other three).

Frames: all keypoints are image pixels, ``(N, K, 3)`` ``[x, y, score]``; boxes ``(N, 4)`` xyxy.

:func:`synthetic_proposals` makes the validation and test material of the figure in
``docs/rmpe.md``: crowded synthetic scenes (``posekit.data.synthetic``) whose ground-truth poses
are turned into pose proposals as a top-down pipeline produces them: several noisy duplicates per
person (one per overlapping detector box), some of them pulled toward a neighbour's joints, with
keypoint confidences that fall with the error and pose scores from them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posekit.data.records import ImageRecord
from posekit.errors import PosekitError
from posekit.nms import _greedy_suppress, oks_nms

__all__ = ["PNMSParams", "AUTHORS_PNMS", "load_pnms_params", "save_pnms_params", "ImageProposals",
           "synthetic_proposals", "proposals_from_results", "nms_ap", "pnms_ap", "oks_nms_ap", "fit_pnms",
           "fit_oks_threshold", "FitResult", "PNMS_PARAMS_NAME", "PNMSPredictor"]

log = logging.getLogger(__name__)

#: File name of fitted parameters written beside a checkpoint.
PNMS_PARAMS_NAME = "pnms_params.json"


@dataclass(frozen=True)
class PNMSParams:
    """Parameters of RMPE's parametric pose NMS (see :func:`posekit.nms.parametric_pose_nms`).

    ``eta`` is for ``num_keypoints`` keypoints (the similarity is a sum over keypoints).
    ``alpha`` (the keypoint box side as a fraction of the reference pose's box) is fixed, as in
    the paper."""

    sigma1: float = 1.0
    sigma2: float = 2.65
    lam: float = 1.7
    eta: float = 22.48
    alpha: float = 0.1
    num_keypoints: int = 17

    def for_keypoints(self, k: int) -> "PNMSParams":
        """The same parameters for ``k`` keypoints (``eta`` scaled by ``k / num_keypoints``)."""
        if k == self.num_keypoints:
            return self
        return dataclasses.replace(self, eta=self.eta * k / self.num_keypoints, num_keypoints=k)

    def kwargs(self) -> dict[str, float]:
        """Keyword arguments of :func:`posekit.nms.parametric_pose_nms`."""
        return {"sigma1": self.sigma1, "sigma2": self.sigma2, "lam": self.lam, "eta": self.eta, "alpha": self.alpha}


#: The values the authors learned (released with their code, 17 COCO keypoints).
AUTHORS_PNMS = PNMSParams()


def save_pnms_params(params: PNMSParams, path: str | Path, extra: dict | None = None) -> Path:
    """Write ``params`` (and ``extra``, e.g. the fit's AP) as JSON, atomically."""
    from posekit.io import write_text_atomic
    d = {"format": "posekit.pnms_params/1", **dataclasses.asdict(params)}
    if extra:
        d["fit"] = extra
    write_text_atomic(path, json.dumps(d, indent=2) + "\n")
    return Path(path)


def load_pnms_params(path: str | Path) -> PNMSParams:
    """Read a file written by :func:`save_pnms_params` (or ``posekit rmpe fit-pnms``); a
    :class:`PosekitError` naming the file when it is missing or malformed."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise PosekitError(f"{p}: no such P-NMS parameter file") from None
    except (OSError, json.JSONDecodeError) as e:
        raise PosekitError(f"{p}: not a P-NMS parameter file ({e})") from None
    names = [f.name for f in dataclasses.fields(PNMSParams)]
    if not isinstance(d, dict) or not all(n in d for n in names[:4]):
        raise PosekitError(f"{p}: a P-NMS parameter file needs {', '.join(names[:4])}")
    try:
        params = PNMSParams(**{n: type(getattr(AUTHORS_PNMS, n))(d[n]) for n in names if n in d})
    except (TypeError, ValueError) as e:
        raise PosekitError(f"{p}: bad P-NMS parameter value ({e})") from None
    if not all(np.isfinite(v) and v > 0 for v in (params.sigma1, params.sigma2, params.alpha)) or params.lam < 0:
        raise PosekitError(f"{p}: sigma1, sigma2, alpha must be > 0 and lam >= 0, got {params}")
    return params


# ------------------------------------------------------------------------------------ proposals
@dataclass(frozen=True)
class ImageProposals:
    """The pose proposals of one image: ``keypoints (N, K, 3)`` ``[x, y, score]`` in image
    pixels, ``scores (N,)``, ``boxes (N, 4)`` xyxy (the keypoint extent when not given)."""

    image_id: int
    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray


def _extent(kp: np.ndarray) -> np.ndarray:
    xy = kp[..., :2]
    return np.concatenate([xy.min(-2), xy.max(-2)], axis=-1)


def synthetic_proposals(n_images: int, seed: int, size: tuple[int, int] = (320, 256),
                        num_people: tuple[int, int] = (3, 6), duplicates: float = 3.0,
                        mix_prob: float = 0.25, error: tuple[float, float] = (0.005, 0.06)) -> tuple[list[ImageRecord], list[ImageProposals]]:
    """Crowded synthetic scenes and pose proposals with duplicates, as a top-down pipeline
    produces them. ``size`` is ``(W, H)``.

    For each labelled person of height ``h`` (its box height): ``1 + Poisson(duplicates)``
    proposals. Each proposal has an error level ``e ~ U(error) * h``; its keypoints are the
    ground truth plus ``N(0, e)`` per coordinate; with probability ``mix_prob`` it is confused with
    the nearest other person (a box covering both): each keypoint is replaced, with probability
    ``U(0.3, 0.7)``, by that person's keypoint. A keypoint's confidence is
    ``exp(-(d / 0.08 h)^2)`` of its error ``d``, plus ``N(0, 0.05)``, clipped to [0.02, 1]; the pose
    score is the mean confidence times ``U(0.8, 1)``.

    Returns ``(records, proposals)``, one entry of each per image (image ids 0..n-1).
    """
    from posekit.data.synthetic import render_scene
    records, out = [], []
    for i in range(int(n_images)):
        rng = np.random.default_rng([int(seed), i])
        _, rec = render_scene(rng, size=size, num_people=num_people, height_range=(0.45, 0.85),
                              clutter=0, occlusion=0.2, file_name=f"crowd_{seed}_{i:05d}.png", image_id=i)
        records.append(rec)
        gt = rec.keypoints.astype(np.float64)
        heights = np.maximum(rec.boxes[:, 3] - rec.boxes[:, 1], 1.0).astype(np.float64)
        centres = gt[..., :2].mean(1)
        kps, scores = [], []
        for p in range(rec.num_people):
            if not (gt[p, :, 2] > 0).any():
                continue
            h = heights[p]
            for _ in range(1 + int(rng.poisson(duplicates))):
                e = rng.uniform(*error) * h
                xy = gt[p, :, :2] + rng.normal(0, e, size=(gt.shape[1], 2))
                if rec.num_people > 1 and rng.random() < mix_prob:
                    d = np.linalg.norm(centres - centres[p], axis=1)
                    d[p] = np.inf
                    q = int(np.argmin(d))
                    take = rng.random(gt.shape[1]) < rng.uniform(0.3, 0.7)
                    xy[take] = gt[q, take, :2] + rng.normal(0, e, size=(int(take.sum()), 2))
                err = np.linalg.norm(xy - gt[p, :, :2], axis=1)
                conf = np.exp(-(err / (0.08 * h)) ** 2) + rng.normal(0, 0.05, size=err.shape)
                conf = conf.clip(0.02, 1.0)
                kps.append(np.concatenate([xy, conf[:, None]], axis=1))
                scores.append(conf.mean() * rng.uniform(0.8, 1.0))
        K = gt.shape[1]
        kp = np.asarray(kps, np.float64).reshape(-1, K, 3)
        out.append(ImageProposals(i, kp, np.asarray(scores, np.float64), _extent(kp)))
    return records, out


def proposals_from_results(results) -> list[ImageProposals]:
    """Group a :class:`~posekit.data.formats.CocoResults` (keypoint predictions) by image; boxes
    from the results' ``bbox`` when they have one, else the keypoint extent."""
    if results.keypoints is None:
        raise PosekitError(f"{results.source}: the results hold no keypoints (a box detection list?)")
    boxes = None
    if results.boxes_xywh is not None:
        b = results.boxes_xywh
        boxes = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
    out = []
    for image_id in np.unique(results.image_ids):
        sel = np.flatnonzero(results.image_ids == image_id)
        kp = results.keypoints[sel]
        out.append(ImageProposals(int(image_id), kp, results.scores[sel],
                                  boxes[sel] if boxes is not None else _extent(kp)))
    return out


# ------------------------------------------------------------------------------------ scoring
def nms_ap(gt, proposals: Sequence[ImageProposals], keep_fn: Callable[[int, ImageProposals], np.ndarray],
           key: str = "AP") -> float:
    """COCO keypoint ``key`` (``"AP"``) of the proposals kept by ``keep_fn(i, proposals[i])``
    (indices), scored on ``gt`` (ImageRecords or a CocoGroundTruth) by
    :func:`posekit.metrics.coco_eval`."""
    from posekit.data.formats import CocoResults
    from posekit.metrics.coco import coco_eval
    ids, kps, scores = [], [], []
    K = proposals[0].keypoints.shape[1] if proposals else 17
    for i, p in enumerate(proposals):
        keep = keep_fn(i, p) if len(p.scores) else np.zeros(0, np.int64)
        ids.append(np.full(len(keep), p.image_id, np.int64))
        kps.append(p.keypoints[keep])
        scores.append(p.scores[keep])
    res = CocoResults.create(np.concatenate(ids) if ids else np.zeros(0, np.int64),
                             np.concatenate(kps) if kps else np.zeros((0, K, 3)),
                             np.concatenate(scores) if scores else np.zeros(0))
    return float(coco_eval(gt, res)[key])


class _PairTerms:
    """Per image, what RMPE's similarity needs of every ordered pair (ref i, other j),
    computed once so that a parameter setting costs only sums (Sec. 3.3):
    ``inside (N, N, K)`` (j's keypoint in the box around i's, sides alpha * i's box),
    ``dist (N, N, K)`` (distance / (alpha * max side of i's box)), and the confidences."""

    def __init__(self, p: ImageProposals, alpha: float) -> None:
        kp = p.keypoints
        w = np.maximum(p.boxes[:, 2] - p.boxes[:, 0], 1e-6)
        h = np.maximum(p.boxes[:, 3] - p.boxes[:, 1], 1e-6)
        delta = np.abs(kp[None, :, :, :2] - kp[:, None, :, :2])              # (i, j, K, 2)
        self.inside = (delta[..., 0] <= alpha * w[:, None, None] / 2) & (delta[..., 1] <= alpha * h[:, None, None] / 2)
        self.dist = np.sqrt((delta ** 2).sum(-1)) / (alpha * np.maximum(w, h))[:, None, None]
        self.conf = kp[..., 2]
        self.scores = p.scores

    def similarity(self, sigma1: float, sigma2: float, lam: float) -> np.ndarray:
        t = np.tanh(self.conf / sigma1)                                         # (N, K)
        k_sim = (t[:, None, :] * t[None, :, :] * self.inside).sum(-1)
        h_sim = np.exp(-self.dist / sigma2).sum(-1)
        return k_sim + lam * h_sim

    def keep(self, sim: np.ndarray, eta: float) -> np.ndarray:
        return _greedy_suppress(self.scores, lambda i, rest: sim[i, rest], eta)


def pnms_ap(gt, proposals: Sequence[ImageProposals], params: PNMSParams = AUTHORS_PNMS) -> float:
    """COCO AP after :func:`posekit.nms.parametric_pose_nms` with ``params`` (for the
    proposals' number of keypoints)."""
    from posekit.nms import parametric_pose_nms
    K = proposals[0].keypoints.shape[1] if proposals else params.num_keypoints
    kw = params.for_keypoints(K).kwargs()
    return nms_ap(gt, proposals, lambda i, p: parametric_pose_nms(p.keypoints, p.scores, p.boxes, **kw))


def oks_nms_ap(gt, proposals: Sequence[ImageProposals], threshold: float, sigmas: np.ndarray) -> float:
    """COCO AP after greedy OKS-NMS at ``threshold`` (scale: each proposal's box area)."""
    return nms_ap(gt, proposals, lambda i, p: oks_nms(p.keypoints, p.scores, sigmas, threshold, boxes=p.boxes))


def fit_oks_threshold(gt, proposals: Sequence[ImageProposals], sigmas: np.ndarray,
                      grid: Sequence[float] = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2))) -> tuple[float, float]:
    """The OKS-NMS threshold of ``grid`` with the best AP on ``proposals``: ``(threshold, AP)``
    (the fair opponent of the fitted P-NMS: tuned on the same validation set)."""
    best = max(((oks_nms_ap(gt, proposals, t, sigmas), t) for t in grid))
    return float(best[1]), float(best[0])


@dataclass(frozen=True)
class FitResult:
    """``params``: the fitted parameters; ``ap``: their AP on the fitting set; ``start_ap``:
    the AP of the starting values (the authors'); ``evaluations``: AP evaluations made;
    ``history``: ``(round, name, value, eta, ap)`` of every improvement."""

    params: PNMSParams
    ap: float
    start_ap: float
    evaluations: int
    history: tuple


SIGMA1_GRID = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5)
SIGMA2_GRID = (0.3, 0.6, 1.0, 1.5, 2.0, 2.65, 3.5, 5.0, 8.0)
LAM_GRID = (0.0, 0.5, 1.0, 1.7, 2.5, 4.0, 6.0)


def fit_pnms(gt, proposals: Sequence[ImageProposals], start: PNMSParams = AUTHORS_PNMS, rounds: int = 3,
             eta_steps: int = 24, sigma1_grid: Sequence[float] = SIGMA1_GRID,
             sigma2_grid: Sequence[float] = SIGMA2_GRID, lam_grid: Sequence[float] = LAM_GRID) -> FitResult:
    """Fit ``(sigma1, sigma2, lam, eta)`` by maximising COCO AP on ``proposals`` (with
    duplicates) against ``gt`` (ImageRecords or a CocoGroundTruth), as RMPE does: starting from
    ``start``, each round tries every grid value of ``sigma1``, then ``sigma2``, then ``lam``
    (the others fixed), each with ``eta`` searched on ``eta_steps`` values spanning the range of
    the similarity (0 to ``K (1 + lam)``), keeping a change only when AP improves; stop after
    ``rounds`` or a round without improvement. ``alpha`` stays at ``start.alpha``.
    Deterministic. Returns a :class:`FitResult` (``params.num_keypoints`` is the proposals' K).
    """
    proposals = [p for p in proposals]
    if not proposals or not any(len(p.scores) for p in proposals):
        raise PosekitError("fit_pnms: no proposals to fit on")
    K = next(p.keypoints.shape[1] for p in proposals if len(p.scores))
    start = start.for_keypoints(K)
    terms = [_PairTerms(p, start.alpha) for p in proposals]
    evaluations = 0

    def ap_of(s1: float, s2: float, lam: float, etas: Sequence[float]) -> tuple[float, float]:
        nonlocal evaluations
        sims = [t.similarity(s1, s2, lam) for t in terms]
        best = (-1.0, 0.0)
        for eta in etas:
            evaluations += 1
            ap = nms_ap(gt, proposals, lambda i, p: terms[i].keep(sims[i], eta))
            if ap > best[0] + 1e-12:
                best = (ap, float(eta))
        return best

    def eta_grid(lam: float, around: float | None = None) -> np.ndarray:
        top = K * (1.0 + lam)
        grid = np.linspace(0.02, 0.98, eta_steps) * top
        if around is not None:   # keep the current value reachable, so a round never loses AP
            grid = np.unique(np.append(grid, around))
        return grid

    cur = {"sigma1": start.sigma1, "sigma2": start.sigma2, "lam": start.lam}
    start_ap, _ = ap_of(cur["sigma1"], cur["sigma2"], cur["lam"], [start.eta])
    best_ap, eta = ap_of(cur["sigma1"], cur["sigma2"], cur["lam"], eta_grid(cur["lam"], start.eta))
    if start_ap >= best_ap:
        best_ap, eta = start_ap, start.eta
    history = [(0, "start", None, eta, best_ap)]
    grids = {"sigma1": sigma1_grid, "sigma2": sigma2_grid, "lam": lam_grid}
    for r in range(1, rounds + 1):
        improved = False
        for name, values in grids.items():
            for v in values:
                if v == cur[name]:
                    continue
                trial = {**cur, name: float(v)}
                ap, e = ap_of(trial["sigma1"], trial["sigma2"], trial["lam"], eta_grid(trial["lam"]))
                if ap > best_ap + 1e-9:
                    cur, best_ap, eta, improved = trial, ap, e, True
                    history.append((r, name, float(v), e, ap))
                    log.info("fit_pnms round %d: %s=%g eta=%.3g AP=%.4f", r, name, v, e, ap)
        if not improved:
            break
    params = PNMSParams(sigma1=cur["sigma1"], sigma2=cur["sigma2"], lam=cur["lam"], eta=float(eta),
                        alpha=start.alpha, num_keypoints=K)
    return FitResult(params, float(best_ap), float(start_ap), evaluations, tuple(history))



class PNMSPredictor:
    """A predictor (``predict(image) -> Poses``, top-down ones also ``predict_boxes``) whose
    poses go through RMPE's parametric pose NMS with ``params`` (e.g. fitted by
    :func:`fit_pnms`). The wrapped predictor's own pose NMS should be off (``pose_nms="none"``);
    every other attribute (``timings``, ``name``, ``draw_min_pose_score``) is the wrapped one's."""

    def __init__(self, predictor, params: PNMSParams) -> None:
        self.predictor = predictor
        self.params = params
        if hasattr(predictor, "predict_boxes"):
            self.predict_boxes = self._predict_boxes

    def _nms(self, poses):
        if len(poses) < 2:
            return poses
        from posekit.nms import parametric_pose_nms
        kw = self.params.for_keypoints(poses.keypoints.shape[1]).kwargs()
        return poses.select(parametric_pose_nms(poses.keypoints, poses.scores, poses.boxes, **kw))

    def predict(self, image_rgb: np.ndarray):
        return self._nms(self.predictor.predict(image_rgb))

    def _predict_boxes(self, image_rgb: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray):
        return self._nms(self.predictor.predict_boxes(image_rgb, boxes, box_scores))

    def __getattr__(self, name: str):
        if name == "predictor":             # not yet set (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.predictor, name)

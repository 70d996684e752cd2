"""DeepCut's ILP: solve time (exact and DeeperCut's incremental scheme) against the number of
part candidates.

Two kinds of instances, for 1, 2, 4, 6, 8, 12, 16, 20 people:

* ``perfect``: synthetic scenes (:func:`posekit.data.synthetic.render_scene`, 512x512, people
  35-90 % of the height, overlapping) encoded by :class:`posekit.codecs.DeeperCutCodec` into
  perfect heads; the candidates and pairwise logits are those the codec's decode builds
  (:meth:`DeeperCutCodec.candidates`, :class:`posekit.grouping.ilp.PairwiseModel`).
* ``noisy``: stick people 50 px apart (crossing arms on every other person), each part a
  candidate with 1.5 px position noise, regressions with ``--reg-noise`` px noise (default
  3), plus one false candidate per person (the instances of tests/grouping/test_ilp.py).

For each: ``D`` candidates, the time of :func:`posekit.grouping.ilp.solve_partition`
(exact, cutting planes) and :func:`posekit.grouping.ilp.incremental_partition` (3 stages),
median over ``--repeats`` runs (one thread), the ILP rounds, and the incremental objective
relative to the exact one (1 = optimal), and ``found``: people (perfect) or labelled
candidates (noisy; the true ones are ``D - people``) of the incremental solution.
``--time-limit`` caps each ``milp`` call (HiGHS then returns its best solution so far and a
warning is logged: the exact column is then no longer exact).

``--roundtrip LO HI N`` instead measures the whole decode: ``N`` synthetic 512x512 scenes of
``LO`` to ``HI`` people, ground truth -> :meth:`DeeperCutCodec.encode` -> perfect heads ->
``decode_instances`` (``--grouping ilp|incremental``), COCO AP against the ground truth and
the decode time per image.

Run: ``.venv/bin/python benchmarks/ilp.py [--repeats 3] [--people 1 2 4 8] [--reg-noise 3]``
or ``.venv/bin/python benchmarks/ilp.py --roundtrip 1 8 10 --grouping ilp``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from posekit.codecs import DeeperCutCodec
from posekit.data.synthetic import render_scene
from posekit.grouping.ilp import (
    PairwiseModel, incremental_partition, logit, reliability_stages, solve_partition,
)
from posekit.skeleton import COCO17

STAGES = reliability_stages(COCO17.names)
BASE = np.array([[0, -.45], [-.03, -.47], [.03, -.47], [-.06, -.45], [.06, -.45], [-.12, -.33], [.12, -.33],
                 [-.18, -.15], [.18, -.15], [-.2, 0.02], [.2, 0.02], [-.08, 0.02], [.08, 0.02], [-.09, .25],
                 [.09, .25], [-.09, .47], [.09, .47]])


def perfect_instance(n: int, seed: int = 0):
    """Candidates of perfect heads for a scene of exactly ``n`` people."""
    codec = DeeperCutCodec(COCO17, input_size=(512, 512))
    _, rec = render_scene(seed, size=(512, 512), num_people=(n, n))
    t = codec.encode(rec.keypoints)
    prob = torch.sigmoid(torch.from_numpy(t.scoremaps * 16 - 8)).numpy()
    xy, cls, sc, reg = codec.candidates(prob, t.locref_targets, t.pairwise_targets)
    return xy, cls, sc, codec.pairwise_model.logits(xy, cls, reg)


def noisy_instance(n: int, reg_noise: float, seed: int = 0):
    """Stick people 50 px apart in rows of 8, noisy candidates, one false candidate each."""
    rng = np.random.default_rng(seed)
    xy, cls, sc, reg = [], [], [], []
    for p in range(n):
        kp = BASE.copy()
        if p % 2:
            kp[7], kp[8], kp[9], kp[10] = [.02, -.12], [-.02, -.12], [.45, -.05], [-.45, -.05]
        pts = np.array([60 + 50 * (p % 8), 120 + 220 * (p // 8)]) + 150 * kp + rng.normal(0, 1.5, kp.shape)
        for k in range(17):
            xy.append(pts[k] + rng.normal(0, 1.5, 2))
            cls.append(k)
            sc.append(rng.uniform(0.6, 0.95))
            reg.append(pts + rng.normal(0, reg_noise, (17, 2)))
        xy.append(rng.uniform(0, 450, 2))
        cls.append(int(rng.integers(17)))
        sc.append(rng.uniform(0.05, 0.4))
        reg.append(rng.uniform(0, 450, (17, 2)))
    xy, cls, sc, reg = np.array(xy), np.array(cls), np.array(sc), np.array(reg)
    return xy, cls, sc, PairwiseModel().logits(xy, cls, reg)


def time_both(xy, cls, sc, pw, repeats: int, time_limit: float | None, skip_exact: bool):
    D = len(xy)
    unary = np.full((D, 17), -np.inf)
    unary[np.arange(D), cls] = logit(sc)
    full_t, inc_t, full, inc = [], [], None, None
    for _ in range(repeats):
        if not skip_exact:
            t0 = time.perf_counter()
            full = solve_partition(unary, pw, time_limit=time_limit)
            full_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        inc = incremental_partition(logit(sc), cls, pw, STAGES, time_limit=time_limit)
        inc_t.append(time.perf_counter() - t0)
    return full, inc, (np.median(full_t) if full_t else None), np.median(inc_t)


def roundtrip(lo: int, hi: int, n: int, grouping: str) -> None:
    """COCO AP of encode -> perfect heads -> decode on ``n`` scenes of ``lo`` to ``hi`` people."""
    from posekit.data.formats.coco import CocoGroundTruth, CocoResults
    from posekit.metrics.coco import coco_eval
    codec = DeeperCutCodec(COCO17, input_size=(512, 512), grouping=grouping)
    records, ids, kps, scores, seconds, people = [], [], [], [], 0.0, 0
    for s in range(n):
        _, rec = render_scene(s, size=(512, 512), num_people=(lo, hi), image_id=s + 1)
        records.append(rec)
        people += rec.num_people
        t = codec.encode(rec.keypoints)
        heads = {"scoremaps": torch.from_numpy(t.scoremaps * 16 - 8)[None],
                 "locref": torch.from_numpy(t.locref_targets)[None], "pairwise": torch.from_numpy(t.pairwise_targets)[None]}
        t0 = time.perf_counter()
        inst = codec.decode_instances(heads)
        seconds += time.perf_counter() - t0
        keep = inst.scores[0] > 0
        for kp, sc in zip(inst.keypoints[0][keep].numpy(), inst.scores[0][keep].numpy()):
            ids.append(rec.image_id)
            kps.append(kp)
            scores.append(float(sc))
    ap = coco_eval(CocoGroundTruth.from_records(records), CocoResults.create(np.array(ids), np.array(kps), np.array(scores)))
    print(f"roundtrip {grouping}: {n} scenes, {people} people ({lo}-{hi} per scene), {len(ids)} detections, "
          f"AP {ap['AP']:.4f}, AR {ap['AR']:.4f}, decode {seconds / n:.3f} s/image")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 6, 8, 12, 16, 20])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reg-noise", type=float, default=3.0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--max-exact", type=int, default=400, help="skip the exact ILP above this many candidates")
    ap.add_argument("--roundtrip", type=int, nargs=3, metavar=("LO", "HI", "N"))
    ap.add_argument("--grouping", choices=("ilp", "incremental"), default="ilp")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.roundtrip:
        roundtrip(*args.roundtrip, args.grouping)
        return
    print(f"{'kind':8s} {'people':>6s} {'D':>5s} {'exact s':>9s} {'rounds':>6s} {'incr s':>8s} {'rounds':>6s} "
          f"{'incr/exact obj':>14s} {'found':>6s}")
    for kind in ("perfect", "noisy"):
        for n in args.people:
            inst = perfect_instance(n) if kind == "perfect" else noisy_instance(n, args.reg_noise)
            D = len(inst[0])
            full, inc, ft, it = time_both(*inst, args.repeats, args.time_limit, D > args.max_exact)
            ratio = f"{inc.objective / full.objective:.4f}" if full is not None else "-"
            ft_s = f"{ft:9.3f}" if ft is not None else f"{'skipped':>9s}"
            print(f"{kind:8s} {n:6d} {D:5d} {ft_s} {full.rounds if full else '-':>6} {it:8.3f} {inc.rounds:6d} "
                  f"{ratio:>14s} {inc.num_people if kind == 'perfect' else (inc.people >= 0).sum():>6}", flush=True)


if __name__ == "__main__":
    main()

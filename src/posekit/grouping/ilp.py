"""DeepCut's joint subset partitioning and labelling as an integer linear program, and
DeeperCut's incremental scheme; solved exactly with ``scipy.optimize.milp`` (HiGHS).

References: Pishchulin, Insafutdinov, Tang, Andres, Andriluka, Gehler, Schiele, *DeepCut: Joint
Subset Partition and Labeling for Multi Person Pose Estimation*, CVPR 2016; Insafutdinov,
Pishchulin, Andres, Andriluka, Schiele, *DeeperCut: A Deeper, Stronger, and Faster
Multi-Person Pose Estimation Model*, ECCV 2016.

The problem. ``D`` part candidates ``d`` and ``C`` part classes ``c``. Binary variables
``x_dc`` (candidate ``d`` is a part of class ``c``) and ``y_dd'`` (``d`` and ``d'``, ``d <
d'``, belong to the same person). Unary logits ``alpha_dc = log(p_dc / (1 - p_dc))`` and
pairwise logits ``beta_dd'cc' = log(q / (1 - q))``, ``q`` the probability that ``d`` (as
``c``) and ``d'`` (as ``c'``) are the same person. The program maximises

    sum_dc alpha_dc x_dc + sum_{d<d'} sum_cc' beta_dd'cc' z_dd'cc',   z_dd'cc' = x_dc x_d'c' y_dd'

(DeepCut's objective, written as a maximum of logits instead of a minimum of costs
``log((1 - p) / p)``), subject to

* uniqueness: ``sum_c x_dc <= 1`` (a candidate has at most one class; 0 = suppressed);
* y only between labelled candidates: ``y_dd' <= sum_c x_dc`` and ``y_dd' <= sum_c x_d'c``;
* transitivity: ``y_dd' + y_d'd'' - 1 <= y_dd''`` for every triple (each rotation), so that
  the ``y = 1`` pairs form a partition into people;
* the linearisation of ``z``: ``z <= x_dc``, ``z <= x_d'c'``, ``z <= y_dd'``,
  ``z >= x_dc + x_d'c' + y_dd' - 2``;
* optionally (``one_per_class``, DeeperCut's addition) at most one candidate of a class per
  person: ``x_dc + x_d'c + y_dd' <= 2``.

When the pairwise logits do not depend on the classes (``pairwise`` given ``(D, D)``, the
case of DeeperCut's detector, whose candidates each come from one class's score map) the term
is ``beta_dd' y_dd'`` and no ``z`` is needed (``y`` already implies both are labelled); a
pair of candidates that can only take the same class is then simply never joined.

Transitivity by cutting planes (``lazy=True``, the default): the program is solved without
the ``3 C(D, 3)`` triangle inequalities; in the integer solution every pair ``(a, b)`` that
the ``y = 1`` pairs connect through a shortest path ``P`` while ``y_ab = 0`` gets the cycle
inequality ``sum_{e in P} y_e - y_ab <= |P| - 1`` (valid for every partition; for ``|P| =
2`` it is the triangle inequality), and the program is solved again, until no pair is cut.
The last solution is optimal for a relaxation of the full program and feasible for it, hence
optimal for it: the answer is exact, with a small fraction of the constraints. Before the
integer rounds, up to 20 rounds of the LP relaxation add the triangle inequalities its
fractional solutions violate most (at most ``5 D`` per round): a tighter relaxation, so
HiGHS branches far less; when the LP optimum is then integral it is the answer.
``lazy=False`` writes every triangle inequality up front (small instances; the tests check
both agree).

Incremental (DeeperCut, Sec. 4): :func:`incremental_partition` adds the part classes in
stages, most reliable first (head and shoulders, then elbows and wrists, then hips, knees
and ankles); each stage's ILP holds the people found so far as fixed, labelled nodes (their
pairwise logit to a new candidate is the sum over their members; two of them are never
joined) plus the new candidates; candidates suppressed at a stage are dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import chain, combinations
from typing import Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from posekit.errors import PosekitError

__all__ = ["Partition", "logit", "solve_partition", "incremental_partition", "partition_objective",
           "reliability_stages", "PairwiseModel", "fit_pairwise"]

log = logging.getLogger(__name__)

#: Labels of the fixed people of earlier stages in the incremental scheme (above any class).
_PERSON = 1 << 30


@dataclass(frozen=True)
class Partition:
    """A solution of the partitioning and labelling problem.

    Attributes:
        labels: ``(D,)`` int64 class of each candidate, ``-1`` = suppressed.
        people: ``(D,)`` int64 person index ``0..P-1`` of each labelled candidate (a labelled
            candidate alone is a person of one part), ``-1`` = suppressed.
        objective: the objective (sum of logits) of the solution on the full problem.
        cuts: number of transitivity (cycle) inequalities in the last program solved.
        rounds: number of ``milp`` calls.
        seconds: wall time of the solve, setup included.
    """

    labels: np.ndarray
    people: np.ndarray
    objective: float
    cuts: int
    rounds: int
    seconds: float

    @property
    def num_people(self) -> int:
        return int(self.people.max()) + 1 if self.people.size and self.people.max() >= 0 else 0


def logit(p, eps: float = 1e-6) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]`` (finite logits)."""
    p = np.clip(np.asarray(p, np.float64), eps, 1.0 - eps)
    return np.log(p) - np.log1p(-p)


# ------------------------------------------------------------------------------ the core
def _solve_core(allowed: list[list[tuple[int, float]]], fixed_on: np.ndarray, pair_logit: np.ndarray | None,
                pair_logit4: np.ndarray | None, forbid: np.ndarray, one_per_class: bool, lazy: bool,
                time_limit: float | None, lp_rounds: int = 20,
                max_rounds: int = 50) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Solve one program. ``allowed[d]``: the ``(class, alpha)`` pairs candidate ``d`` may take;
    ``fixed_on``: ``(D,)`` bool, candidates that must be labelled; ``pair_logit (D, D)`` or
    ``pair_logit4 (D, D, C, C)``; ``forbid (D, D)`` bool: pairs never joined. After
    ``max_rounds`` integer solves still cut (only when ``time_limit`` stops HiGHS early) the
    last solution is repaired (:func:`_repair`) and a warning logged.
    Returns ``labels (D,)``, ``y (D, D)`` bool (symmetric), cuts, rounds."""
    D = len(allowed)
    allowed = _drop_useless(allowed, fixed_on, pair_logit, pair_logit4, forbid)
    cost: list[float] = []           # minimised: minus the logits
    x_index: dict[tuple[int, int], int] = {}
    for d, opts in enumerate(allowed):
        for c, a in opts:
            x_index[(d, c)] = len(cost)
            cost.append(-float(a))
    y_index: dict[tuple[int, int], int] = {}
    classes_of = [{c for c, _ in opts} for opts in allowed]
    for a, b in combinations(range(D), 2):
        if forbid[a, b] or not allowed[a] or not allowed[b]:
            continue
        if one_per_class and len(classes_of[a]) == 1 and classes_of[a] == classes_of[b]:
            continue  # both can only be the same class: never one person
        y_index[(a, b)] = len(cost)
        cost.append(-float(pair_logit[a, b]) if pair_logit is not None else 0.0)
    rows: list[tuple[list[int], list[float], float]] = []   # sum coef * var <= rhs
    lower_rows: list[tuple[list[int], list[float], float]] = []  # sum coef * var >= rhs
    for d, opts in enumerate(allowed):
        if opts:
            idx = [x_index[(d, c)] for c, _ in opts]
            rows.append((idx, [1.0] * len(idx), 1.0))
            if fixed_on[d]:
                lower_rows.append((idx, [1.0] * len(idx), 1.0))
    for (a, b), yi in y_index.items():
        for d in (a, b):
            idx = [x_index[(d, c)] for c, _ in allowed[d]]
            rows.append(([yi] + idx, [1.0] + [-1.0] * len(idx), 0.0))
        if one_per_class:
            for c in classes_of[a] & classes_of[b]:
                rows.append(([x_index[(a, c)], x_index[(b, c)], yi], [1.0, 1.0, 1.0], 2.0))
        if pair_logit4 is not None:
            for ca, _ in allowed[a]:
                for cb, _ in allowed[b]:
                    beta = float(pair_logit4[a, b, ca, cb])
                    zi = len(cost)
                    cost.append(-beta)
                    xa, xb = x_index[(a, ca)], x_index[(b, cb)]
                    for v in (xa, xb, yi):
                        rows.append(([zi, v], [1.0, -1.0], 0.0))
                    rows.append(([xa, xb, yi, zi], [1.0, 1.0, 1.0, -1.0], 2.0))
    n = len(cost)
    cuts: list[tuple[list[int], list[float], float]] = []
    if not lazy:
        for a, b, c in combinations(range(D), 3):
            for (p, q), (r, s), (u, v) in (((a, b), (b, c), (a, c)), ((a, b), (a, c), (b, c)),
                                           ((a, c), (b, c), (a, b))):
                i, j, k = y_index.get((p, q)), y_index.get((r, s)), y_index.get((u, v))
                if i is None or j is None:
                    continue   # a pair never joined: this triangle cannot be violated
                if k is None:
                    cuts.append(([i, j], [1.0, 1.0], 1.0))
                else:
                    cuts.append(([i, j, k], [1.0, 1.0, -1.0], 1.0))
    rounds = 0
    sol = None
    if lazy and y_index:
        # strengthen the relaxation first: triangle inequalities violated by LP solutions
        for _ in range(lp_rounds):
            rounds += 1
            frac = _milp(np.asarray(cost), rows + cuts, lower_rows, n, time_limit, integral=False)
            new = _violated_triangles(frac, y_index, D)
            if not new:
                if np.abs(frac - np.round(frac)).max() < 1e-7:
                    sol = np.round(frac)   # integral and transitive: optimal for the full program
                break
            cuts.extend(new)
    integer_rounds = 0
    while sol is None or lazy:
        if sol is None:
            rounds += 1
            integer_rounds += 1
            sol = _milp(np.asarray(cost), rows + cuts, lower_rows, n, time_limit)
        y = np.zeros((D, D), bool)
        for (a, b), yi in y_index.items():
            if sol[yi] > 0.5:
                y[a, b] = y[b, a] = True
        new = _violated_cycles(y, y_index)
        if not new:
            break
        if not lazy or integer_rounds >= max_rounds:
            log.warning("ilp: no partition after %d integer rounds (time limit hit?); repairing the last "
                        "solution (not optimal)", integer_rounds)
            break
        cuts.extend(new)
        sol = None
    labels = np.full(D, -1, np.int64)
    for (d, c), xi in x_index.items():
        if sol[xi] > 0.5:
            labels[d] = c
    if new:
        labels, y = _repair(labels, y, allowed, one_per_class)
    return labels, y, len(cuts), rounds


def _repair(labels: np.ndarray, y: np.ndarray, allowed, one_per_class: bool) -> tuple[np.ndarray, np.ndarray]:
    """A valid partition near a solution that is not one: people = connected components of
    ``y``; with ``one_per_class``, of several members of one class only the best (unary) stays."""
    alpha = {(d, c): a for d, opts in enumerate(allowed) for c, a in opts}
    people = _components(labels, y)
    if one_per_class:
        for p in range(people.max() + 1):
            members = np.flatnonzero(people == p)
            for c in np.unique(labels[members]):
                same = members[labels[members] == c]
                for d in sorted(same, key=lambda d: -alpha[(d, c)])[1:]:
                    labels[d] = -1
                    people[d] = -1
    on = people >= 0
    return labels, (people[:, None] == people[None, :]) & on[:, None] & on[None, :] & ~np.eye(len(labels), dtype=bool)


def _drop_useless(allowed, fixed_on: np.ndarray, pair_logit, pair_logit4, forbid: np.ndarray) -> list:
    """Exact reduction: a candidate whose best unary logit plus the sum of its positive
    pairwise logits is <= 0 is suppressed in some optimal solution (labelling it adds at most
    that; removing a candidate from a person keeps a partition), so it gets no variables.
    Repeated until nothing changes (a dropped candidate's logits no longer count)."""
    if pair_logit4 is not None:
        beta = np.where(np.isfinite(pair_logit4), pair_logit4, 0).max(axis=(2, 3))
    else:
        beta = pair_logit
    gain = np.where(forbid, 0.0, np.maximum(beta, 0.0))
    np.fill_diagonal(gain, 0.0)
    best = np.array([max((a for _, a in opts), default=-np.inf) for opts in allowed])
    alive = np.array([bool(opts) for opts in allowed], bool)
    while True:
        bound = best + (gain * alive[None, :]).sum(axis=1)
        drop = alive & ~fixed_on & (bound <= 0)
        if not drop.any():
            break
        alive &= ~drop
    return [opts if alive[d] else [] for d, opts in enumerate(allowed)]


def _milp(cost: np.ndarray, rows, lower_rows, n: int, time_limit: float | None, integral: bool = True) -> np.ndarray:
    """One HiGHS call: minimise ``cost · v`` over binary ``v`` (``integral=False``: over
    ``[0, 1]``, the LP relaxation, unrounded) with ``rows`` (``<=``) and ``lower_rows`` (``>=``)."""
    constraints = []
    for group, upper in ((rows, True), (lower_rows, False)):
        if not group:
            continue
        lengths = np.fromiter((len(idx) for idx, _, _ in group), np.int64, len(group))
        r = np.repeat(np.arange(len(group)), lengths)
        col = np.fromiter(chain.from_iterable(idx for idx, _, _ in group), np.int64, int(lengths.sum()))
        val = np.fromiter(chain.from_iterable(cf for _, cf, _ in group), np.float64, int(lengths.sum()))
        rhs = np.fromiter((b for _, _, b in group), np.float64, len(group))
        A = csr_array((val, (r, col)), shape=(len(group), n))
        constraints.append(LinearConstraint(A, -np.inf, rhs) if upper else LinearConstraint(A, rhs, np.inf))
    options = {"disp": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    if n == 0:
        return np.zeros(0)
    res = milp(cost, integrality=np.ones(n) if integral else np.zeros(n), bounds=Bounds(0, 1),
               constraints=constraints, options=options)
    if res.x is None:
        raise PosekitError(f"ilp: HiGHS found no solution ({res.message})")
    if res.status != 0:
        log.warning("ilp: HiGHS stopped early (%s); the solution may not be optimal", res.message)
    return np.round(res.x) if integral else res.x


def _violated_triangles(v: np.ndarray, y_index: dict[tuple[int, int], int], D: int,
                        per_round: int | None = None) -> list:
    """Triangle inequalities ``y_ab + y_bc - y_ac <= 1`` violated (by more than 1e-6) by the
    fractional solution ``v``, most violated first, at most ``per_round`` (default ``5 D``)."""
    Y = np.zeros((D, D))
    for (a, b), i in y_index.items():
        Y[a, b] = Y[b, a] = v[i]
    # y_ab + y_bc - y_ac > 1 needs y_ab > 0 and y_bc > 0: per apex b, only its positive pairs
    found_a, found_b, found_c, found_v = [], [], [], []
    for apex in range(D):
        nb = np.flatnonzero(Y[apex] > 1e-9)
        if len(nb) < 2:
            continue
        viol = Y[nb, apex][:, None] + Y[apex, nb][None, :] - Y[np.ix_(nb, nb)] - 1.0
        i, j = np.nonzero(viol > 1e-6)
        keep = nb[i] < nb[j]
        found_a.append(nb[i[keep]])
        found_c.append(nb[j[keep]])
        found_b.append(np.full(int(keep.sum()), apex))
        found_v.append(viol[i[keep], j[keep]])
    if not found_v:
        return []
    a, b, c, v = (np.concatenate(x) for x in (found_a, found_b, found_c, found_v))
    order = np.argsort(-v, kind="stable")[:per_round or 5 * D]
    cuts = []
    for i in order:
        ab, bc, ac = (min(a[i], b[i]), max(a[i], b[i])), (min(b[i], c[i]), max(b[i], c[i])), (a[i], c[i])
        idx, coef = [y_index[ab], y_index[bc]], [1.0, 1.0]
        if ac in y_index:
            idx.append(y_index[ac])
            coef.append(-1.0)
        cuts.append((idx, coef, 1.0))
    return cuts


def _violated_cycles(y: np.ndarray, y_index: dict[tuple[int, int], int]) -> list:
    """Cycle inequalities violated by the integer ``y``: for each pair in one connected
    component of the ``y = 1`` graph but not joined, the shortest path between them."""
    D = len(y)
    comp = -np.ones(D, np.int64)
    for s in range(D):
        if comp[s] >= 0 or not y[s].any():
            continue
        stack, comp[s] = [s], s
        while stack:
            u = stack.pop()
            for v in np.flatnonzero(y[u]):
                if comp[v] < 0:
                    comp[v] = s
                    stack.append(v)
    cuts = []
    for root in np.unique(comp[comp >= 0]):
        members = np.flatnonzero(comp == root)
        for i, a in enumerate(members):
            missing = [b for b in members[i + 1:] if not y[a, b]]
            if not missing:
                continue
            parent = _bfs_parents(y, a)
            for b in missing:
                path, v = [], b
                while v != a:
                    path.append((min(v, parent[v]), max(v, parent[v])))
                    v = parent[v]
                idx = [y_index[e] for e in path]
                coef = [1.0] * len(idx)
                k = y_index.get((min(a, b), max(a, b)))
                if k is not None:
                    idx.append(k)
                    coef.append(-1.0)
                cuts.append((idx, coef, float(len(path) - 1)))
    return cuts


def _bfs_parents(y: np.ndarray, s: int) -> dict[int, int]:
    parent, frontier = {s: s}, [s]
    while frontier:
        nxt = []
        for u in frontier:
            for v in np.flatnonzero(y[u]):
                if v not in parent:
                    parent[int(v)] = u
                    nxt.append(int(v))
        frontier = nxt
    return parent


def _components(labels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Person index per candidate from the labelled candidates and ``y``, in order of each
    person's first candidate."""
    D = len(labels)
    people = np.full(D, -1, np.int64)
    nxt = 0
    for d in range(D):
        if labels[d] < 0 or people[d] >= 0:
            continue
        stack = [d]
        people[d] = nxt
        while stack:
            u = stack.pop()
            for v in np.flatnonzero(y[u]):
                if people[v] < 0 and labels[v] >= 0:
                    people[v] = nxt
                    stack.append(v)
        nxt += 1
    return people


# ---------------------------------------------------------------------------- public API
def _check(unary: np.ndarray, pairwise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unary = np.asarray(unary, np.float64)
    pairwise = np.asarray(pairwise, np.float64)
    if unary.ndim != 2:
        raise PosekitError(f"ilp: unary logits must be (D, C), got shape {unary.shape}")
    D, C = unary.shape
    if pairwise.shape not in ((D, D), (D, D, C, C)):
        raise PosekitError(f"ilp: pairwise logits must be ({D}, {D}) or ({D}, {D}, {C}, {C}), got {pairwise.shape}")
    if np.isnan(unary).any() or not np.isfinite(pairwise).all():
        raise PosekitError("ilp: logits must be finite (unary may be -inf for a class not allowed)")
    return unary, pairwise


def partition_objective(unary: np.ndarray, pairwise: np.ndarray, labels: np.ndarray, people: np.ndarray) -> float:
    """The objective ``sum alpha_dc x_dc + sum beta z`` of a labelling and partition (the
    arguments of :func:`solve_partition` and the fields of a :class:`Partition`)."""
    unary, pairwise = _check(unary, pairwise)
    on = np.flatnonzero(labels >= 0)
    total = float(unary[on, labels[on]].sum())
    for i, a in enumerate(on):
        for b in on[i + 1:]:
            if people[a] == people[b]:
                total += float(pairwise[a, b] if pairwise.ndim == 2 else pairwise[a, b, labels[a], labels[b]])
    return total


def solve_partition(unary: np.ndarray, pairwise: np.ndarray, one_per_class: bool = True, lazy: bool = True,
                    time_limit: float | None = None) -> Partition:
    """DeepCut's ILP, solved exactly (HiGHS through ``scipy.optimize.milp``).

    Args:
        unary: ``(D, C)`` logits ``alpha_dc``; ``-inf`` where candidate ``d`` may not take class
            ``c`` (DeeperCut's candidates: one finite entry per row).
        pairwise: ``(D, D)`` logits ``beta_dd'`` that ``d`` and ``d'`` are one person
            (independent of the classes), or ``(D, D, C, C)`` logits ``beta_dd'cc'`` (DeepCut);
            only ``d < d'`` is read.
        one_per_class: at most one candidate of each class per person (DeeperCut).
        lazy: transitivity by cutting planes (exact; see the module docstring), else every
            triangle inequality up front.
        time_limit: seconds for each ``milp`` call (a warning is logged if it is hit).

    Returns a :class:`Partition`.
    """
    t0 = time.perf_counter()
    unary, pairwise = _check(unary, pairwise)
    D = unary.shape[0]
    allowed = [[(int(c), float(unary[d, c])) for c in np.flatnonzero(np.isfinite(unary[d]))] for d in range(D)]
    labels, y, cuts, rounds = _solve_core(
        allowed, np.zeros(D, bool), pairwise if pairwise.ndim == 2 else None,
        pairwise if pairwise.ndim == 4 else None, np.zeros((D, D), bool), one_per_class, lazy, time_limit)
    people = _components(labels, y)
    return Partition(labels, people, partition_objective(unary, pairwise, labels, people), cuts, rounds,
                     time.perf_counter() - t0)


def reliability_stages(names: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """DeeperCut's order of part classes by reliability, from keypoint names: head parts
    (nose, eyes, ears, head, neck) and shoulders; elbows and wrists; hips, knees, ankles and
    anything else. Empty stages are left out."""
    head = ("nose", "eye", "ear", "head", "neck", "shoulder")
    arms = ("elbow", "wrist")
    stages: list[list[int]] = [[], [], []]
    for k, name in enumerate(names):
        low = name.lower()
        stages[0 if any(w in low for w in head) else 1 if any(w in low for w in arms) else 2].append(k)
    return tuple(tuple(s) for s in stages if s)


def incremental_partition(unary: np.ndarray, classes: np.ndarray, pairwise: np.ndarray,
                          stages: Sequence[Sequence[int]], one_per_class: bool = True, lazy: bool = True,
                          time_limit: float | None = None, allow_merge: bool = True) -> Partition:
    """DeeperCut's incremental optimisation: several smaller ILPs, adding part classes stage by
    stage (most reliable first), the people of earlier stages fixed.

    Args:
        unary: ``(D,)`` logits of each candidate being a part of its class.
        classes: ``(D,)`` int class of each candidate.
        pairwise: ``(D, D)`` logits that two candidates are one person.
        stages: class indices per stage, e.g. :func:`reliability_stages` (classes in no stage
            form a last stage).
        one_per_class, lazy, time_limit: as in :func:`solve_partition`.
        allow_merge: two people of earlier stages may still be joined into one (their logit
            is the sum over their members; only when their classes do not overlap) when the
            later parts bind them: the earlier stages' joins are fixed, their splits are not.
            ``False``: people of earlier stages are never joined (the strict scheme).

    At each stage the nodes are the people found so far (labelled, fixed; their logit to a new
    candidate is the sum of their members' logits to it; a person never takes a second part of
    a class it has) and the stage's candidates. Returns a
    :class:`Partition` whose ``objective`` is that of the full problem
    (:func:`partition_objective` with ``unary`` one-hot over the classes).
    """
    t0 = time.perf_counter()
    unary = np.asarray(unary, np.float64).reshape(-1)
    classes = np.asarray(classes, np.int64).reshape(-1)
    pairwise = np.asarray(pairwise, np.float64)
    D = len(unary)
    if classes.shape != (D,) or pairwise.shape != (D, D):
        raise PosekitError(f"ilp: incremental needs unary (D,), classes (D,), pairwise (D, D); got "
                           f"{unary.shape}, {classes.shape}, {pairwise.shape}")
    C = int(classes.max()) + 1 if D else 0
    staged = [list(s) for s in stages]
    rest = sorted(set(range(C)) - {c for s in staged for c in s})
    if rest:
        staged.append(rest)
    labels = np.full(D, -1, np.int64)
    people = np.full(D, -1, np.int64)
    cuts = rounds = 0
    for stage in staged:
        new = np.flatnonzero(np.isin(classes, stage))
        if not len(new):
            continue
        groups = [np.flatnonzero(people == p) for p in range(people.max() + 1)] if (people >= 0).any() else []
        P, n = len(groups), len(groups) + len(new)
        # people of earlier stages: labelled nodes with a label of their own (_PERSON + p)
        allowed = [[(_PERSON + p, 0.0)] for p in range(P)] + [[(int(classes[d]), float(unary[d]))] for d in new]
        fixed_on = np.zeros(n, bool)
        fixed_on[:P] = True
        logits = np.zeros((n, n))
        forbid = np.zeros((n, n), bool)
        forbid[:P, :P] = True
        if allow_merge:
            for p, q in combinations(range(P), 2):
                logits[p, q] = logits[q, p] = pairwise[np.ix_(groups[p], groups[q])].sum()
                if not (one_per_class and np.isin(classes[groups[p]], classes[groups[q]]).any()):
                    forbid[p, q] = forbid[q, p] = False
        for i, d in enumerate(new):
            for p, members in enumerate(groups):
                logits[p, P + i] = logits[P + i, p] = pairwise[members, d].sum()
                if one_per_class and classes[d] in classes[members]:
                    forbid[p, P + i] = forbid[P + i, p] = True
            logits[P + i, P:] = pairwise[d, new]
        np.fill_diagonal(forbid, True)
        lab, y, c, r = _solve_core(allowed, fixed_on, logits, None, forbid, one_per_class, lazy, time_limit)
        cuts, rounds = cuts + c, rounds + r
        comp = _components(np.where(np.arange(n) < P, 0, lab), y)
        for p, members in enumerate(groups):
            people[members] = comp[p]
        for i, d in enumerate(new):
            if lab[P + i] >= 0:
                labels[d] = classes[d]
                people[d] = comp[P + i]
    one_hot = np.full((D, max(C, 1)), -np.inf)
    one_hot[np.arange(D), classes] = unary
    return Partition(labels, people, partition_objective(one_hot, pairwise, labels, people), cuts, rounds,
                     time.perf_counter() - t0)


# ------------------------------------------------------------------ pairwise probabilities
@dataclass(frozen=True)
class PairwiseModel:
    """DeeperCut's image-conditioned pairwise term: logistic regression on features of the
    regressed offsets (DeeperCut Sec. 3: the distance between where one candidate's
    regression puts the other part and where the other candidate is, and the angle between
    the regressed and the actual offset, in both directions).

    For candidates ``d`` (class ``c``, at ``x_d``) and ``d'`` (class ``c'``, at ``x_d'``),
    ``r_dc'`` the location of part ``c'`` regressed from ``d`` (input pixels):

    * ``f_dist = (|r_dc' - x_d'| + |r_d'c - x_d|) / (2 s)`` with ``s = scale_px + scale_rel *
      |x_d' - x_d|`` (errors grow with the distance between parts);
    * ``f_angle = 1 - (cos angle(r_dc' - x_d, x_d' - x_d) + cos angle(r_d'c - x_d', x_d -
      x_d')) / 2``, in ``[0, 2]``;
    * ``logit = bias - w_dist f_dist - w_angle f_angle``.

    The defaults are chosen, not fitted: perfect heads (zero regression error) give logit
    ``bias = 6`` (p = 0.9975) to true pairs; an error of a quarter of ``s`` in each direction
    brings the logit to 3, of half of ``s`` to 0, and of ``s`` (8 px plus a tenth of the
    distance between the parts) to -6 (p = 0.0025), before the angle term. :func:`fit_pairwise` fits the
    three weights to labelled pairs (DeeperCut fits one regression per class pair; one
    model for all pairs here). Same-class pairs get ``same_class`` (they are never joined
    when :func:`solve_partition` keeps one part of a class per person).
    """

    bias: float = 6.0
    w_dist: float = 12.0
    w_angle: float = 2.0
    scale_px: float = 8.0
    scale_rel: float = 0.1
    same_class: float = -10.0

    def features(self, xy: np.ndarray, classes: np.ndarray, regressed: np.ndarray) -> np.ndarray:
        """``xy (D, 2)``, ``classes (D,)``, ``regressed (D, C, 2)`` (where candidate ``d``
        puts each class, input pixels) -> ``(D, D, 2)`` ``[f_dist, f_angle]``."""
        xy = np.asarray(xy, np.float64)
        D = len(xy)
        classes = np.asarray(classes, np.int64)
        reg = np.asarray(regressed, np.float64)
        to = reg[:, classes, :]                              # (D, D, 2): r_{d, class(d')}
        actual = xy[None, :, :] - xy[:, None, :]             # x_d' - x_d
        dist = np.linalg.norm(actual, axis=-1)
        err = np.linalg.norm(to - xy[None, :, :], axis=-1)   # |r_dc' - x_d'|
        s = self.scale_px + self.scale_rel * dist
        f_dist = (err + err.T) / (2 * s)
        pred = to - xy[:, None, :]
        cos = (pred * actual).sum(-1) / np.maximum(np.linalg.norm(pred, axis=-1) * dist, 1e-9)
        f_angle = 1.0 - (cos + cos.T) / 2
        return np.stack([f_dist, f_angle], axis=-1).reshape(D, D, 2)

    def logits(self, xy: np.ndarray, classes: np.ndarray, regressed: np.ndarray) -> np.ndarray:
        """``(D, D)`` symmetric pairwise logits (see the class docstring)."""
        f = self.features(xy, classes, regressed)
        out = self.bias - self.w_dist * f[..., 0] - self.w_angle * f[..., 1]
        classes = np.asarray(classes)
        out[classes[:, None] == classes[None, :]] = self.same_class
        return out


def fit_pairwise(features: np.ndarray, same: np.ndarray, base: PairwiseModel = PairwiseModel(),
                 l2: float = 1e-3, iterations: int = 50) -> PairwiseModel:
    """Fit ``bias, w_dist, w_angle`` of a :class:`PairwiseModel` by L2-regularised logistic
    regression (Newton's method) to ``features (n, 2)`` of candidate pairs of different
    classes (:meth:`PairwiseModel.features`) labelled ``same (n,)`` (1 = one person). The
    scales and ``same_class`` are kept from ``base``."""
    f = np.asarray(features, np.float64).reshape(-1, 2)
    t = np.asarray(same, np.float64).reshape(-1)
    X = np.concatenate([np.ones((len(f), 1)), -f], axis=1)   # logit = X @ [bias, w_dist, w_angle]
    w = np.array([base.bias, base.w_dist, base.w_angle], np.float64)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - t) + l2 * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + l2 * np.eye(3)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return PairwiseModel(float(w[0]), float(w[1]), float(w[2]), base.scale_px, base.scale_rel, base.same_class)

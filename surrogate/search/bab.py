"""Input-splitting branch and bound: complete verification of low-dimensional networks.

The input box of a verification problem is split, best-first, into sub-boxes. Each batch of boxes
is bounded at once (:func:`surrogate.bounds.boxes.objective_lower_bounds`: sound DeepPoly/CROWN
lower bounds of every unsafe row ``C_kr y - d_kr``): a box whose bound ``min_k max_r lower_kr`` is
positive holds no counterexample and is closed. The others are probed (their centre, the corner
that minimises the linear bound and :data:`RANDOM_PROBES` uniform points, judged on the dense
network in float64 and confirmed by ``confirm``, e.g. onnxruntime) and queued with their bound.
The box with the lowest bound is split in two along one input, chosen by **lookahead**: its
:data:`LOOKAHEAD` best inputs by the "smear" score (width times the bound's coefficient, as in
nnenum) are each tried, all children bounded in one batch, and the split whose children leave
least open is kept (smear sees only the last linear function; splitting an input also tightens
every intermediate bound). Only inputs whose width, relative to the root box, is at least
1/:data:`SPLIT_CAP` (probes) or 1/:data:`TREE_SPLIT_CAP` (main tree) of the widest are tried:
plain smear kept halving one input down to float resolution on ACAS Xu property 4 and
reach_prob_density vdp_6. A box whose bound stalls split after split is tried along every input
at least 1/:data:`SPLIT_CAP` as wide (:data:`STALL_REL`): smear missed the input that closes
ACAS Xu 3_3 property 2's last boxes.
Measured on ACAS Xu property 1, net 3_7 (`input_split_bab` alone): smear with a cap of 4,
unanswered at 30 s (lowest bound -30 after 19000 boxes); cap 64, unsat in 6.1 s (7629 boxes);
lookahead 2, unsat in 0.9 s (1357).
Which lookahead closes a tree quickly varies by instance, so short probes with 1 and 3 inputs
tried come first (:data:`LOOKAHEAD_PROBES`).

Two more steps work near a point that almost touches the unsafe set, where plain
back-substitution leaves boxes open until they are tiny:

* **optimised slopes** (:func:`_tune`): the kept children still open are bounded again with
  their ReLU lower slopes (and a conjunction's mixing weights) optimised per box by a few Adam
  steps (:func:`surrogate.bounds.crown.box_alpha_bounds`, alpha-CROWN on the objective rows):
  with the box's pre-activation bounds fixed this approaches the LP relaxation's bound at a
  fraction of an LP's cost (ACAS Xu 3_3 property 2, 224 open frontier boxes: LP 131 closed in
  2.2 s, 20 slope steps 121 in 0.26 s). The main search uses them while they close at least
  :data:`ALPHA_MIN_RATE` of the boxes they are tried on (36 % on ACAS Xu 1_1 property 5, 3 %
  on reach_prob_density robot_5); the short probes do not (torch's import alone is 1.5 s);
* **walks** (:func:`surrogate.search.region.local_search`): from the best probe of the lowest
  open boxes, and of the box holding the batch's lowest probe, a walk over the dense network's
  linear regions inside the box (within :data:`WALK_SHARE` of the time): counterexamples in
  slivers no sampled point meets (ACAS Xu 1_9 property 7, 1_5 and 5_3 property 2) are a few
  regions away from a probe.
``unsat`` when every box is closed; ``sat`` with a confirmed point; ``unknown`` when the budget
ends first or a box can no longer be split in float64 without being decided.

Splits are at a float midpoint shared by both children, so the children cover the parent exactly;
every bound is the sound, outward-widened one, so a closed box is a proof independent of any LP or
MILP solver's tolerances."""

from __future__ import annotations

import heapq
import itertools
import multiprocessing
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from surrogate.bounds.boxes import batch_bounds, mixed_lower_bounds, objective_lower_bounds
from surrogate.bounds.crown import box_alpha_bounds, torch_threads
from surrogate.budget import Budget
from surrogate.problems.verification import VerificationProblem
from surrogate.search.objective import OutputObjective
from surrogate.search.region import local_search
from surrogate.sets import Box

__all__ = ["ALPHA_AFTER", "ALPHA_LR", "ALPHA_MIN_RATE", "ALPHA_RECHECK", "ALPHA_SAMPLE",
           "ALPHA_STEPS", "LOOKAHEAD", "LOOKAHEAD_PROBES", "MIXED_STEPS", "PROBE_CAP_S",
           "SPLIT_CAP", "STALL_LEVELS", "STALL_REL", "TREE_SPLIT_CAP", "WALK_BOXES",
           "WALK_GRACE_S", "WALK_REGIONS", "WALK_SHARE",
           "BabResult", "LpBound", "input_split_bab", "parallel_input_split_bab", "split_box"]

#: ``(lo, hi, lowers, uppers) -> lower bound of t or None``: see :func:`input_split_bab`.
LpBound = Callable[[np.ndarray, np.ndarray, list, list], float | None]

#: Random points probed in every box besides its centre and the bound's minimising corner
#: (reach_prob_density robot_4 and robot_9: unsafe points in a thin band that neither the attack
#: nor centre/corner probes met, while uniform samples do).
RANDOM_PROBES = 8

#: Supergradient steps of a conjunction's mixed row on every box its rows leave open (0: rows
#: only). reach_prob_density robot_3, 20 s on a loaded machine: 1720 -> 2762 boxes closed, the
#: lowest open bound -0.44 -> -0.10.
MIXED_STEPS = 8

#: Adam steps of the optimised ReLU slopes (and their learning rate) on the kept children the
#: back-substitution leaves open (0: none), once a tree has bounded :data:`ALPHA_AFTER` boxes
#: (trees that close sooner do not pay for the slopes, nor for importing torch).
ALPHA_STEPS = 8
ALPHA_LR = 0.3
ALPHA_AFTER = 1000

#: The share of the boxes tried that the slopes must close to go on being tried, measured over
#: the first ALPHA_SAMPLE boxes and then on every ALPHA_RECHECK-th batch. ACAS Xu property 5 on
#: net 1_1: 36 % (unsat in 11 s, unanswered at 60 s without); reach_prob_density robot_5: 3 %
#: (6.7 of 30 s spent on them; about 40 % fewer boxes bounded in 60 s).
ALPHA_MIN_RATE = 0.1
ALPHA_SAMPLE = 500
ALPHA_RECHECK = 50

#: Walks per batch: from the best probe of its WALK_BOXES lowest open boxes and of the open box
#: holding its lowest probe (each start walked once), each visiting WALK_REGIONS regions at
#: most, while the walks have taken at most WALK_SHARE of the tree's time, or WALK_GRACE_S in
#: the first tree of a search (the first probe; the other trees get no grace: ACAS Xu 2_8
#: property 1, closed by the lookahead-3 probe in about 2 s, was left open when every tree had
#: it). Without the grace ACAS Xu 1_9 property 7 was met in one campaign run of two: its
#: counterexample is met by the 19th walk of the first probe, after 0.25 s of walks in 0.9 s.
#: Walking every start again and again cost reach_prob_density robot_3 (unsat, 53 s before the
#: walks) 5.4 s and its answer at 60 s; walking each start once, 5.2-5.9 s (proved in 55 s in
#: one run, open in another). Within 10 % instead of 5 %, ACAS Xu 2_8 property 1 (the
#: lookahead-3 probe closes it after about 1630 boxes) was left open in two runs of three.
WALK_BOXES = 2
WALK_REGIONS = 20
WALK_SHARE = 0.05
WALK_GRACE_S = 0.3

#: An input is split only if its relative width is at least 1/SPLIT_CAP of the box's widest
#: (in the probes of :data:`LOOKAHEAD_PROBES`), 1/TREE_SPLIT_CAP in the main tree. ACAS Xu 3_3
#: property 2 needs its input 1 far narrower than the others near the point where it holds by
#: a hair: three eighths of its box stayed open at 30 s with 64 in the main tree, all closed in
#: 15-17 s each with 1024 (and the stall rule below). ACAS Xu 1_1 property 2 is closed by the
#: lookahead-1 probe in about 1 s with 64, but not in 60 s with 1024.
SPLIT_CAP = 64.0
TREE_SPLIT_CAP = 1024.0

#: Inputs tried per split (their children all bounded, the best pair kept).
LOOKAHEAD = 2

#: A box **stalls** when its bound is above its parent's by less than STALL_REL of the parent's
#: (negative) bound. A box that stalled STALL_LEVELS splits in a row is tried along every input
#: (within :data:`SPLIT_CAP`, smear or not), and of its splits within STALL_REL of the best the
#: one along the widest input (relative to the root box) is kept. The smear score sees only the
#: bound's last linear function, not the looseness an input brings through the unstable neurons'
#: relaxations: on ACAS Xu 3_3 property 2 the lowest boxes had their smear-chosen inputs halved
#: down to 1e-5 (relative) at no gain while input 2 kept 1/32 of its range, and one halving of
#: input 2 closed such a box (bound -0.0048 -> +0.0044). After one stalled split already, every
#: input tried cost reach_prob_density robot_5 its answer at 60 s (unsat in 30 s without); after
#: two, 35 s. A stalled box's inputs are tried within the probes' cap (:data:`SPLIT_CAP`), not
#: the main tree's: with 1/1024 there, the fourth of the eight pieces of robot_5's box
#: (``--jobs 2``; with the LP bound, one process) was open at 40 s (depth 40, 12473 boxes
#: tried along every input), unsat in 20 s with 1/64 (18 s with no stall rule); ACAS Xu 3_3
#: property 2's eighths 5, 6, 7 unsat in 17.0, 14.2, 14.4 s with 1/64 (13-17 s with 1/1024).
STALL_REL = 0.01
STALL_LEVELS = 2

#: ``(lookahead, share of the time)`` of the short searches before :data:`LOOKAHEAD`'s.
LOOKAHEAD_PROBES = ((1, 0.04), (3, 0.04))

#: Seconds each probe takes at most.
PROBE_CAP_S = 3.0


#: The counters of a search's statistics that add up over searches (probes, pieces).
_SUMMED = ("lp_bounds", "closed_by_lp", "lp_s", "closed_by_mixed_rows", "closed_by_alpha", "tuned",
           "alpha_s", "walks", "walk_s", "stalled")


@dataclass
class BabResult:
    verdict: str  # "sat" | "unsat" | "unknown"
    x: np.ndarray | None
    time_s: float
    nodes: int  # boxes bounded
    closed: int  # boxes proved safe
    open: int  # boxes left when the budget ended
    max_depth: int
    lower_bound: float  # min over open boxes of the bound (inf when all closed)
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "time_s": self.time_s, "nodes": self.nodes,
                "closed": self.closed, "open": self.open, "max_depth": self.max_depth,
                "lower_bound": self.lower_bound, **self.stats}


def _bound(problem: VerificationProblem, lo: np.ndarray, hi: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple, int, tuple]:
    """Per box: the lower bound of ``t``, the smear score per input, a candidate corner, the
    boxes' pre-activation bounds, how many (box, disjunct) pairs only a mixed row closed, and
    every disjunct's own bound ``(B, D)`` (``t``'s is their minimum) with its rows' mixing
    weights ``(B, R_d)`` (equal where no mixed row was tried).

    A disjunct's bound is its best row's, or, for a conjunction of several rows on a box that
    no row closes, the mixed row's (:func:`surrogate.bounds.boxes.mixed_lower_bounds`,
    :data:`MIXED_STEPS` steps from equal weights) when higher."""
    B, n = lo.shape
    t_low = np.full(B, np.inf)
    smear = np.zeros((B, n))
    corner = (lo + hi) / 2.0
    pre = batch_bounds(problem.network, lo, hi)
    by_mixed = 0
    pieces = np.empty((B, len(problem.unsafe)))
    weights = [np.full((B, c.C.shape[0]), 1.0 / c.C.shape[0]) for c in problem.unsafe]
    for d, conj in enumerate(problem.unsafe):
        low, coef, _, _ = objective_lower_bounds(problem.network, conj.C, conj.d, lo, hi, pre)
        r = np.argmax(low, axis=1)  # the row that bounds this disjunct best
        piece = low[np.arange(B), r]
        c = coef[np.arange(B), r]  # (B, n) linear lower bound of that row
        R = conj.C.shape[0]
        # (a box whose bound an earlier disjunct already holds at or below this one's cannot
        # gain from lifting it: no mixed row there)
        open_ = np.flatnonzero((piece <= 0.0) & (piece < t_low))
        if R > 1 and open_.size and MIXED_STEPS > 0:
            sub = ([a[open_] for a in pre[0]], [a[open_] for a in pre[1]],
                   [tuple(a[open_] for a in t) for t in pre[2]], [a[open_] for a in pre[3]])
            mixed, weights[d][open_], mcoef = mixed_lower_bounds(
                problem.network, conj.C, conj.d, lo[open_], hi[open_], sub,
                weights[d][open_], steps=MIXED_STEPS)
            lift = mixed > piece[open_]
            by_mixed += int(np.sum(mixed > 0.0))
            piece[open_[lift]] = mixed[lift]
            c[open_[lift]] = mcoef[lift]
        pieces[:, d] = piece
        better = piece < t_low
        t_low = np.where(better, piece, t_low)
        smear = np.where(better[:, None], np.abs(c) * (hi - lo), smear)
        corner = np.where(better[:, None], np.where(c > 0, lo, hi), corner)
    return t_low, smear, corner, pre, by_mixed, (pieces, weights)


def _tune(problem: VerificationProblem, lo: np.ndarray, hi: np.ndarray, pre: tuple,
          disjuncts: tuple, idx: np.ndarray) -> np.ndarray:
    """The lower bound of ``t`` over the boxes ``idx`` with every disjunct still open bounded
    again, its ReLU slopes and mixing weights optimised per box by :data:`ALPHA_STEPS` steps
    (:func:`surrogate.bounds.crown.box_alpha_bounds`: the bound of the LP relaxation on the
    same pre-activation bounds, approached without an LP), the mixing weights starting from the
    mixed rows' (``disjuncts``: :func:`_bound`'s bounds and weights). A box stays open as soon
    as one disjunct does, so its later disjuncts are left as they are."""
    pieces, weights = disjuncts
    low = pieces[idx].copy()
    alive = np.ones(idx.size, dtype=bool)  # every disjunct so far closed
    for d, conj in enumerate(problem.unsafe):
        todo = np.flatnonzero(alive & (low[:, d] <= 0.0))
        if todo.size:
            rows = idx[todo]
            with torch_threads(1):
                low[todo, d] = np.maximum(low[todo, d], box_alpha_bounds(
                    problem.network, conj.C, conj.d, lo[rows], hi[rows],
                    [a[rows] for a in pre[0]], [a[rows] for a in pre[1]],
                    steps=ALPHA_STEPS, lr=ALPHA_LR, mu0=weights[d][rows]))
        alive &= low[:, d] > 0.0
    return low.min(axis=1)


def _walk_starts(ts: np.ndarray, t_low: np.ndarray, open_kept: np.ndarray
                 ) -> list[tuple[int, int]]:
    """``(box, point)`` pairs the walks of a batch start from: the best probe of each of the
    :data:`WALK_BOXES` lowest open kept boxes, and of the box holding the lowest probe among
    the boxes not closed. ``ts``: the probes' values in the order probed (every box's centre,
    every box's corner, then :data:`RANDOM_PROBES` draws per box); ``t_low``: the boxes'
    bounds."""
    P = t_low.size
    own = np.column_stack([np.arange(P), P + np.arange(P),
                           2 * P + np.arange(P * RANDOM_PROBES).reshape(P, RANDOM_PROBES)])
    owner = np.empty(ts.size, dtype=int)
    owner[own] = np.arange(P)[:, None]
    boxes = [int(i) for i in open_kept[np.argsort(t_low[open_kept])][:WALK_BOXES]]
    reach = np.where(t_low[owner] <= 0.0, ts, np.inf)
    if np.isfinite(reach.min()) and int(owner[np.argmin(reach)]) not in boxes:
        boxes.append(int(owner[np.argmin(reach)]))
    return [(i, int(own[i][np.argmin(ts[own[i]])])) for i in boxes]


def _candidates(lo: np.ndarray, hi: np.ndarray, smear: np.ndarray, root: np.ndarray,
                k: int, cap: float = SPLIT_CAP, every: bool = False) -> list[int]:
    """The inputs a box may be split along: the ``k`` best by smear among those at least
    1/``cap`` as wide (relative to the root box) as the widest; the widest alone when the bound
    depends on none of them. With ``every`` (a stalled box, see :data:`STALL_REL`): every input
    at least 1/min(``cap``, :data:`SPLIT_CAP`) as wide, smear or not. Empty for a point."""
    width = hi - lo
    rel = np.where(root > 0, width / np.where(root > 0, root, 1.0), 0.0)
    if not np.any(width > 0):
        return []
    allowed = (width > 0) & (rel >= rel.max() / (min(cap, SPLIT_CAP) if every else cap))
    if every:
        return [int(d) for d in np.flatnonzero(allowed)]
    score = np.where(allowed, smear, -1.0)
    dims = [int(d) for d in np.argsort(-score, kind="stable")[:k] if score[d] > 0]
    return dims or [int(np.argmax(rel))]


def input_split_bab(
    problem: VerificationProblem,
    *,
    budget: Budget | None = None,
    confirm: Callable[[np.ndarray], bool] | None = None,
    batch: int = 256,
    max_boxes: int = 2_000_000,
    lp_bound: LpBound | None = None,
    lp_share: float = 0.3,
    seed: int = 0,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    lookahead: int | None = None,
) -> BabResult:
    """Branch and bound over the input box of ``problem`` (see the module docstring).

    Every box in the queue is already bounded; the batch of boxes with the lowest bounds is
    split. Each box is tried split along its ``lookahead`` best inputs by smear, every child of
    every try bounded in the same batch, and the split whose children leave the least open (the
    sum of their negative bounds) is kept: the smear score sees only the last linear function,
    while splitting an input also tightens every intermediate bound. The open children enter
    the queue with their own bounds.

    Without ``lookahead``, short searches with each lookahead of :data:`LOOKAHEAD_PROBES` come
    first (a share of the time each, at most :data:`PROBE_CAP_S` seconds, every one from the
    start box), then :data:`LOOKAHEAD` for the rest of the time: which lookahead closes a tree
    quickly varies by instance (ACAS Xu property 1 on net 2_8: unanswered at 20 s with 2,
    unsat in 1.3 s with 3; property 2 on 1_7 the other way round; property 2 on 1_1 only with
    1), and the trees a lookahead closes at all it mostly closes in a second or two.

    ``lp_bound(lo, hi, lowers, uppers)``: a sound lower bound of ``t`` over one box from an LP
    relaxation built on the box's pre-activation bounds (tighter than the back-substitution,
    and joint over the rows of a conjunction); it is tried on the open children, closest to
    closing first, while it has used at most ``lp_share`` of the time, on the batches whose
    open children did not get the optimised slopes (both approach the LP relaxation's bound on
    the same pre-activation bounds, and an LP costs about 15 times as much).
    ``start``: search this sub-box ``(lo, hi)`` of the input box only (a piece of
    :func:`parallel_input_split_bab`); splitting widths stay relative to the whole box."""
    if not isinstance(problem.input_set, Box):
        raise TypeError("input splitting needs a box input set")
    budget = budget or Budget.of(float("inf"))
    search = partial(_search, problem, confirm=confirm, batch=batch, max_boxes=max_boxes,
                     lp_bound=lp_bound, lp_share=lp_share, seed=seed, start=start)
    if lookahead is not None:
        return search(budget, max(1, int(lookahead)), cap=TREE_SPLIT_CAP)
    t0 = time.perf_counter()
    probes: list[BabResult] = []
    for k, share in LOOKAHEAD_PROBES:
        seconds = min(share * budget.remaining(), PROBE_CAP_S)
        res = search(budget.until(time.perf_counter() + seconds), k, tune=False,
                     grace=0.0 if probes else WALK_GRACE_S, cap=SPLIT_CAP)
        if res.verdict != "unknown" or budget.expired():
            return _with_probes(res, probes, t0)
        probes.append(res)
    return _with_probes(search(budget, LOOKAHEAD, grace=0.0, cap=TREE_SPLIT_CAP), probes, t0)


def _with_probes(res: BabResult, probes: list[BabResult], t0: float) -> BabResult:
    """``res`` (the last search) with the time and boxes of the probes before it counted in;
    the probes' own verdicts and sizes go to ``stats["probes"]``."""
    res.time_s = time.perf_counter() - t0
    res.nodes += sum(p.nodes for p in probes)
    res.closed += sum(p.closed for p in probes)
    for key in _SUMMED:
        res.stats[key] = res.stats.get(key, 0) + sum(p.stats.get(key, 0) for p in probes)
    res.stats["probes"] = [{"lookahead": p.stats["lookahead"], "time_s": p.time_s,
                            "nodes": p.nodes, "lower_bound": p.lower_bound} for p in probes]
    return res


def _search(
    problem: VerificationProblem, budget: Budget, k: int, *, tune: bool = True,
    grace: float = WALK_GRACE_S, cap: float = SPLIT_CAP,
    confirm: Callable[[np.ndarray], bool] | None, batch: int, max_boxes: int,
    lp_bound: LpBound | None, lp_share: float, seed: int,
    start: tuple[np.ndarray, np.ndarray] | None,
) -> BabResult:
    """One tree of :func:`input_split_bab` with lookahead ``k``; ``tune``: optimise the slopes
    on open boxes (:func:`_tune`) while it pays, see :data:`ALPHA_MIN_RATE`; ``grace``: the
    seconds the walks may take before their share of the time binds; ``cap``: see
    :data:`SPLIT_CAP`."""
    t0 = time.perf_counter()
    net = problem.network
    box = problem.input_set
    root = box.upper - box.lower
    counter = itertools.count()
    objective = OutputObjective.of_problem(problem)
    walks = tuned = batches = stalled = 0
    walked: set[float] = set()  # the starting values of the walks so far (one walk per start)
    alpha_s = walk_s = 0.0
    nodes = closed = max_depth = stuck = lps = lp_closed = mixed_closed = alpha_closed = 0
    n = box.lower.size
    rng = np.random.default_rng(seed)
    lp_s = 0.0
    # queue entries: (bound, tie, lo, hi, depth, smear, splits in a row its bound stalled); the
    # root is bounded like any child
    heap: list[tuple[float, int, np.ndarray, np.ndarray, int, np.ndarray, int]] = []

    def probe(points: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """A confirmed counterexample among ``points`` (or None), and every point's ``t``."""
        ys = net.forward(points)
        ts = objective.values(ys)
        for i in np.argsort(ts):
            if ts[i] > 0:
                break
            x = box.project(points[i])
            y = net.forward(x)
            if problem.is_success(x, y) and (confirm is None or confirm(x)):
                return x, ts
        return None, ts

    def result(verdict: str, x: np.ndarray | None, lower: float, open_: int) -> BabResult:
        return BabResult(verdict, x, time.perf_counter() - t0, nodes, closed, open_,
                         max_depth, float(lower),
                         {"undecided": stuck, "lp_bounds": lps, "closed_by_lp": lp_closed,
                          "lp_s": lp_s, "closed_by_mixed_rows": mixed_closed,
                          "closed_by_alpha": alpha_closed, "tuned": tuned, "alpha_s": alpha_s,
                          "walks": walks, "walk_s": walk_s, "stalled": stalled,
                          "lookahead": k})

    first = (box.lower, box.upper) if start is None else start
    # boxes to bound: (lo, hi, depth, index of the parent among this round's split boxes (the
    # root has none), the parent's width along the split input relative to the root box)
    pending = [(np.array(first[0], dtype=np.float64), np.array(first[1], dtype=np.float64),
                0, -1, 0.0)]
    split_bounds = [-np.inf]  # the bounds of the boxes being split (theirs until their children's)
    split_stalled = [0]  # how many splits in a row those boxes' bounds stalled (STALL_REL)
    while pending and not budget.expired():
        lo = np.stack([c[0] for c in pending])
        hi = np.stack([c[1] for c in pending])
        t_low, smear, corner, pre, n_mixed, disjuncts = _bound(problem, lo, hi)
        mixed_closed += n_mixed
        nodes += len(pending)
        batches += 1
        draws = lo[:, None, :] + rng.random((len(pending), RANDOM_PROBES, n)) * (hi - lo)[:, None, :]
        points = np.vstack([(lo + hi) / 2.0, corner, draws.reshape(-1, n)])
        found, ts = probe(points)
        if found is not None:
            return result("sat", found, float(np.min(t_low)), len(heap))
        # the kept split of every parent: the pair of children leaving the least open (the
        # first on ties); for a box tried along every input (STALL_LEVELS), of the splits within
        # STALL_REL of that, the one along the input widest relative to the root box. The root,
        # split along no input, is kept as it is.
        tries_of: dict[int, list[tuple[float, float, int]]] = {}  # (score, rel. width, index)
        for i in range(0, len(pending), 2) if pending[0][3] >= 0 else ():
            score = min(float(t_low[i]), 0.0) + min(float(t_low[i + 1]), 0.0)
            tries_of.setdefault(pending[i][3], []).append((score, pending[i][4], i))
        keep: list[int] = []
        for parent, options in tries_of.items():
            best, _, top = max(options, key=lambda o: o[0])
            if split_stalled[parent] >= STALL_LEVELS:
                keep.append(max((rel, i) for score, rel, i in options
                                if score >= best - STALL_REL * abs(best))[1])
            else:
                keep.append(top)
        kept = (np.array([i + j for i in keep for j in (0, 1)]) if keep
                else np.arange(len(pending)))
        safe = t_low[kept] > 0.0
        # the slopes are optimised while they close at least ALPHA_MIN_RATE of the boxes they
        # are tried on (measured over the first ALPHA_SAMPLE, then every ALPHA_RECHECK-th batch)
        pays = tuned < ALPHA_SAMPLE or alpha_closed >= ALPHA_MIN_RATE * tuned
        slopes = (tune and ALPHA_STEPS > 0 and nodes >= ALPHA_AFTER and not np.all(safe)
                  and (pays or batches % ALPHA_RECHECK == 0))
        if slopes:
            todo = kept[~safe]
            t1 = time.perf_counter()
            t_low[todo] = np.maximum(t_low[todo], _tune(problem, lo, hi, pre, disjuncts, todo))
            alpha_s += time.perf_counter() - t1
            tuned += todo.size
            now = t_low[kept] > 0.0
            alpha_closed += int(np.sum(now & ~safe))
            safe = now
        # the LP only where the slopes were not tried: both approach the LP relaxation's bound,
        # and an LP costs about 11 ms a box, 8 slope steps 0.7 ms. ACAS Xu 4_2 property 2
        # (`input_split_bab` alone, two runs at a time, one BLAS thread each): unsat in 69 s with
        # the LP on every batch, 62 s with this rule, 58 s with no LP at all; the 222 ACAS Xu and
        # reach_prob_density instances at 60 s: total 730 s against 781-812 s, 220 answered
        # against 219-220. The LP stays for the probes, a tree's first boxes and the batches the
        # slopes skip because they do not pay (reach_prob_density's many-row conjunctions: on 226
        # open boxes of robot_3, 8 slope steps close 20, the LP 57; no LP at all was not
        # measured there).
        if lp_bound is not None and not slopes:
            for j in np.argsort(-t_low[kept]):  # closest to closing first
                if lp_s > lp_share * (time.perf_counter() - t0) or budget.expired():
                    break
                if safe[j]:
                    continue
                i = int(kept[j])
                t1 = time.perf_counter()
                value = lp_bound(lo[i], hi[i], [a[i] for a in pre[0]], [a[i] for a in pre[1]])
                lp_s += time.perf_counter() - t1
                lps += 1
                if value is not None:
                    t_low[i] = max(t_low[i], value)
                    safe[j] = value > 0.0
                    lp_closed += bool(safe[j])
        closed += int(safe.sum())
        # walks over the dense network's linear regions from the best probe of the lowest open
        # boxes and of the open box of the batch's lowest probe (a counterexample in a sliver
        # that no probe meets is often a few regions away from one)
        if walk_s <= max(WALK_SHARE * (time.perf_counter() - t0), grace):
            for i, best in _walk_starts(ts, t_low, kept[~safe]):
                if ts[best] in walked:
                    continue
                walked.add(float(ts[best]))
                t1 = time.perf_counter()
                walk = local_search(net, objective, Box(lo[i], hi[i]), points[best],
                                    budget=budget, max_regions=WALK_REGIONS)
                walk_s += time.perf_counter() - t1
                walks += 1
                if walk.value <= 0.0:
                    found, _ = probe(walk.x[None, :])
                    if found is not None:
                        return result("sat", found, float(np.min(t_low)), len(heap))
        for j in np.flatnonzero(~safe):
            i = int(kept[j])
            depth = pending[i][2]
            max_depth = max(max_depth, depth)
            # a child stalls when its bound rose above its parent's by less than STALL_REL of
            # it (the root has no parent)
            parent, stall = pending[i][3], 0
            if parent >= 0 and t_low[i] < (split_bounds[parent]
                                           + STALL_REL * abs(split_bounds[parent])):
                stall = split_stalled[parent] + 1
            heapq.heappush(heap, (float(t_low[i]), next(counter), lo[i], hi[i], depth, smear[i],
                                  stall))
        if len(heap) > max_boxes:
            pending = []
            break
        # split the lowest boxes, each along its candidate inputs, about `batch` children in all
        pending = []
        split_bounds = []
        split_stalled = []
        while heap and len(pending) < batch:
            bound, _, blo, bhi, depth, bsmear, bstalled = heapq.heappop(heap)
            tries = []
            every = bstalled >= STALL_LEVELS
            stalled += every
            for d in _candidates(blo, bhi, bsmear, root, k, cap, every=every):
                mid = blo[d] + (bhi[d] - blo[d]) / 2.0
                if blo[d] < mid < bhi[d]:
                    left_hi, right_lo = bhi.copy(), blo.copy()
                    left_hi[d], right_lo[d] = mid, mid
                    rel = float((bhi[d] - blo[d]) / root[d]) if root[d] > 0 else 0.0
                    tries += [(blo, left_hi, depth + 1, len(split_bounds), rel),
                              (right_lo, bhi, depth + 1, len(split_bounds), rel)]
            if not tries:  # a point, or no input can be halved in float64: undecided
                stuck += 1
                continue
            pending += tries
            split_bounds.append(bound)
            split_stalled.append(bstalled)
    # boxes split but never bounded (the budget ended) are open with their parents' bounds
    lower = min([t[0] for t in heap] + (split_bounds if pending else []), default=np.inf)
    open_ = len(heap) + (len(split_bounds) if pending else 0)
    return result("unsat" if open_ == 0 and stuck == 0 else "unknown", None, lower, open_)


def split_box(lo: np.ndarray, hi: np.ndarray, pieces: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``pieces`` sub-boxes covering ``[lo, hi]`` exactly: the piece with the widest input
    is halved along it (at a float midpoint both halves share) until there are enough, or that
    input can no longer be halved in float64."""
    out = [(np.asarray(lo, dtype=np.float64).copy(), np.asarray(hi, dtype=np.float64).copy())]
    while len(out) < pieces:
        k = max(range(len(out)), key=lambda i: float(np.max(out[i][1] - out[i][0])))
        a, b = out[k]
        d = int(np.argmax(b - a))
        mid = a[d] + (b[d] - a[d]) / 2.0
        if not a[d] < mid < b[d]:
            break
        left_hi, right_lo = b.copy(), a.copy()
        left_hi[d], right_lo[d] = mid, mid
        out[k:k + 1] = [(a, left_hi), (right_lo, b)]
    return out


#: Pieces per worker of :func:`parallel_input_split_bab` (more pieces balance the load better;
#: each costs one root bound).
PIECES_PER_JOB = 4


def _init_piece_worker() -> None:
    """Pool initializer: one BLAS thread per worker, Ctrl-C handled by the parent."""
    from threadpoolctl import threadpool_limits  # lazy: only worker processes need it

    threadpool_limits(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_piece(args: tuple) -> BabResult:
    """One piece of :func:`parallel_input_split_bab`, in a worker process (the deadline is a
    wall-clock ``time.time()``, shared across processes)."""
    problem, lo, hi, deadline, confirm, lp_bound_of, options = args
    budget = Budget.of(max(deadline - time.time(), 1e-3))
    lp_bound = None if lp_bound_of is None else lp_bound_of(problem)
    return input_split_bab(problem, budget=budget, confirm=confirm, lp_bound=lp_bound,
                           start=(lo, hi), **options)


def parallel_input_split_bab(
    problem: VerificationProblem,
    *,
    jobs: int,
    budget: Budget | None = None,
    confirm: Callable[[np.ndarray], bool] | None = None,
    lp_bound_of: Callable[[VerificationProblem], LpBound] | None = None,
    pieces_per_job: int = PIECES_PER_JOB,
    **options: object,
) -> BabResult:
    """:func:`input_split_bab` over ``jobs`` worker processes: the input box is cut into
    ``jobs * pieces_per_job`` pieces (:func:`split_box`, which cover it exactly), each searched
    by a worker as its own tree, as workers come free, until the budget ends. ``sat`` as soon
    as one piece finds a confirmed point (the other workers are stopped), ``unsat`` when every
    piece is ``unsat``, ``unknown`` otherwise. ``confirm`` and ``lp_bound_of(problem)`` (which
    builds the LP bound in the worker) must be picklable (module-level functions or
    ``functools.partial`` of them). ``jobs <= 1`` runs :func:`input_split_bab` here."""
    if not isinstance(problem.input_set, Box):
        raise TypeError("input splitting needs a box input set")
    budget = budget or Budget.of(float("inf"))
    if jobs <= 1:
        return input_split_bab(problem, budget=budget, confirm=confirm,
                               lp_bound=None if lp_bound_of is None else lp_bound_of(problem),
                               **options)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    box = problem.input_set
    pieces = split_box(box.lower, box.upper, jobs * max(1, pieces_per_job))
    deadline = time.time() + budget.remaining()
    tasks = [(problem, lo, hi, deadline, confirm, lp_bound_of, options) for lo, hi in pieces]
    results: list[BabResult] = []
    found: BabResult | None = None
    ctx = multiprocessing.get_context("spawn")
    pool = ctx.Pool(processes=jobs, initializer=_init_piece_worker)
    try:
        for res in pool.imap_unordered(_run_piece, tasks):
            results.append(res)
            if res.verdict == "sat":
                found = res
                break
            if res.verdict == "unknown" and budget.expired():
                break
    finally:
        pool.terminate()
        pool.join()
    depth = int(np.ceil(np.log2(len(pieces))))
    stats: dict = {"jobs": jobs, "pieces": len(pieces), "pieces_done": len(results)}
    for key in ("undecided", *_SUMMED):
        stats[key] = sum(r.stats.get(key, 0) for r in results)
    nodes = sum(r.nodes for r in results)
    closed = sum(r.closed for r in results)
    max_depth = depth + max((r.max_depth for r in results), default=0)
    elapsed = time.perf_counter() - t0
    if found is not None:
        return BabResult("sat", found.x, elapsed, nodes, closed, 0, max_depth,
                         found.lower_bound, stats)
    unsat = len(results) == len(pieces) and all(r.verdict == "unsat" for r in results)
    open_ = sum(r.open for r in results) + (len(pieces) - len(results))
    lower = min((r.lower_bound for r in results), default=-np.inf)
    if len(results) < len(pieces):
        lower = -np.inf  # pieces never searched
    return BabResult("unsat" if unsat else "unknown", None, elapsed, nodes, closed, open_,
                     max_depth, float(np.inf if unsat else lower), stats)

r"""ReLU-splitting branch and bound with optimised linear bounds (alpha/beta-CROWN style).

For networks with many inputs (MNIST, where splitting the input box does not pay), the search
space is split on the *signs of unstable ReLUs* instead. A **domain** is a set of split decisions
``sigma_j z_j >= 0`` (``sigma = +1``: the neuron is active, ``-1``: inactive) on top of the input
box; its children fix one more neuron each way, so the two children cover the parent exactly.

Bounding a domain (:mod:`surrogate.bounds.crown`, which states the soundness argument): the
domain's own sound pre-activation bounds, a split neuron's side clipped at 0, and the unsafe
rows of the property bounded from below by back-substitution with optimised ``alpha`` (the lower
lines' slopes) and ``beta`` (the splits' Lagrange multipliers), per domain and per row, inherited
by the children; a conjunction of several rows also gets a mixed row ``mu . (C y - d)``
(:class:`~surrogate.bounds.crown.MixedRows`). The bound used to close a domain is recomputed in
float64 and lowered by a rounding margin. A domain is **closed** when, for every unsafe disjunct,
one of its rows has a bound ``> 0``; ``unsat`` when every domain is closed. The disjuncts closed
at the root are closed in every domain, so only the others' rows are bounded after it.

Intermediate bounds per domain (:func:`_domain_bounds`, with ``branching="layers"``): the
root's are ``bounds``; before a domain's rows are bounded, every ReLU layer after its first
split is bounded again by
back-substitution (no Lagrangian term) under the domain's splits, lowered by the
rounding margin and intersected with the bounds the domain inherited from its parent. A split
in an early layer thus tightens every later one (beta-CROWN recomputes intermediate bounds the
same way); without it, splits in early layers barely moved the bound (mnist_fc 256x6
``prop_7_0.03``, 148 unstable neurons: lowest bound -0.157 after 2700 domains either way). A
domain whose bounds cross, or exclude one of its split sides, holds no point and is closed.
That back-substitution runs with CROWN's slopes (chosen on the domain's own bounds) and,
where ``bounds`` carries them (``Bounds.slopes``, from
:func:`~surrogate.bounds.crown.alpha_bounds`), again with the root's optimised slopes; every
neuron keeps the tighter of the two. Their rounding margin comes from one pass on absolute
values that majorises both choices and both signs of a neuron's rows
(:meth:`~surrogate.bounds.crown.CrownNet.magnitude_of_any_slopes`), not one per choice and
row. The root's slopes alone: on eran 9x200 with the same root
bounds and 52 s, ``idx_225`` and ``idx_2697`` were proved in 197 and 525 domains (open after
829 and 616 with CROWN's, at -0.008 and -1.5), ``idx_2971``, ``idx_3857``, ``idx_1385`` in 35,
91, 71 domains instead of 377, 321, 127; but mnist_fc 256x4 ``prop_13_0.05`` stayed open after
1154 domains (CROWN's: ``unsat`` in 817), its splits having moved the domains' bounds far from
the root's. Both (50 s each, one run): ``idx_2971`` in 33 domains, ``prop_13_0.05`` in 513,
256x4 ``prop_11_0.05`` in 297 (CROWN's: 1757), 256x6 ``prop_7_0.03`` in 21 (CROWN's: 419),
eran ``idx_2954`` open at -2.6 (-3.9 root's, -8.7 CROWN's).

Branching, on the BaBSR intercept score (Bunel et al., JMLR 2020): for an unstable, unsplit
neuron, ``sum_r |min(lambda_r, 0)| u (-l) / (u - l)`` over the rows still open (``lambda_r`` the
row's coefficient on the neuron's output: what the neuron's upper line costs the bound, which a
split removes); of the :data:`FSB_CANDIDATES` best, the one whose worse child bounds best
(filtered smart branching, De Palma et al., ICLR 2021). ``branching="layers"`` (the default)
takes the candidates from the earliest ReLU layer that still has an unstable, unsplit neuron:
with intermediate bounds per domain such a split tightens every later layer, which the
candidates' one-step evaluation does not see (eran 9x200 ``idx_2971``: ``unsat`` in 377
domains, 16 s; over all layers, open at -1.7 after 13695 domains). ``"output"`` takes them from
every layer, on the root's intermediate bounds; it mostly splits neurons near the output,
whose domains' minimising corners find counterexamples the layer order misses (mnist_fc 256x4
``prop_6_0.05``: ``sat`` in 63 domains, 1 s, on symbolic bounds; with the layer order open
after 742). Recomputing intermediate bounds there costs as much and pays little (splits near
the output leave few layers after them), and it slowed the hunt: mnist_fc 2021 256x4
``prop_1_0.05``, ``sat`` in 127 domains (1.8 s) without, open after 111 domains (9 s) with.
Domains are processed in batches, the lowest bound first; a batch holds at most ``batch``
domains and, from the time per domain of the batch before, at most what takes
:data:`BATCH_MAX_S` and :data:`BATCH_SHARE` of the time left (not below :data:`BATCH_MIN_S`).

Counterexamples: for every domain and row, the input corner that minimises the bound's linear
function is run on the dense network in float64; a point in an unsafe disjunct is returned only
after ``confirm`` (e.g. onnxruntime) accepts it.

``unknown`` when the budget ends, the number of open domains passes ``max_domains``, or a domain
has no unstable neuron left to split without being closed (its bound is then the LP optimum of a
linear region, up to the optimisation's convergence). The result's ``lower_bound`` is then the
smallest bound of the domains left open (those with nothing to split included): a sound lower
bound of the rows over the whole box, which :mod:`surrogate.search.refine` relies on.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from surrogate.bounds.crown import BOUND_ROUND_REL, CrownNet, MixedRows, optimise, torch_threads
from surrogate.bounds.interval import Bounds
from surrogate.budget import Budget
from surrogate.problems.verification import VerificationProblem
from surrogate.search.bab import BabResult
from surrogate.sets import Box

__all__ = ["relu_split_bab"]

#: Adam steps at the root and per batch of domains.
ROOT_STEPS = 40
STEPS = 12
#: Candidates per domain that filtered smart branching evaluates.
FSB_CANDIDATES = 4
#: How the neuron to split is chosen (see the module docstring).
BRANCHINGS = ("layers", "output")
#: A batch of domains is cut to last at most BATCH_MAX_S seconds and BATCH_SHARE of the time
#: left, but never below BATCH_MIN_S (from the time per domain of the batch before): batches of
#: a few domains made a 2 s probe slower per domain and changed its course (mnist_fc 2021 256x4
#: prop_1_0.05: 103 domains in 28 batches, no counterexample; 127 in 6 batches found one).
BATCH_MAX_S = 2.0
BATCH_MIN_S = 0.5
BATCH_SHARE = 0.1


@dataclass
class _Domain:
    depth: int
    splits: list  # per ReLU layer: int8 (n_i,) in {-1, 0, +1}
    alpha: list  # per ReLU layer: float32 (R, n_i)
    beta: list  # per ReLU layer: float32 (R, n_i)
    lb: np.ndarray  # (R,) sound lower bounds of the rows
    logits: np.ndarray  # float32 (K, R0): the mixed rows' weights
    lo: list | None = None  # per ReLU layer: float64 (n_i,) pre-activation bounds on the domain
    up: list | None = None  # (None: the root's)


class _Net(CrownNet):
    """The engine with the property's rows (all disjuncts stacked, plus one mixed row per
    conjunction of several rows: :class:`~surrogate.bounds.crown.MixedRows`) and the disjunct of
    every row."""

    def __init__(self, problem: VerificationProblem, bounds: Bounds):
        box = problem.input_set
        assert isinstance(box, Box)
        super().__init__(problem.network, box, bounds)
        t = self.torch
        self.last = len(self.W) - 1
        lo, up = self.lo_b[self.last], self.up_b[self.last]
        if self.relu[self.last]:
            lo, up = t.clamp(lo, min=0.0), t.clamp(up, min=0.0)
        self.v_mag = t.maximum(lo.abs(), up.abs())
        self.root_lo = [self.lo_b[i].numpy() for i in self.relu_layers]
        self.root_up = [self.up_b[i].numpy() for i in self.relu_layers]
        self.slopes = self._slopes(bounds.slopes or {})
        self._set_rows(t.from_numpy(np.vstack([c.C for c in problem.unsafe])),
                       t.from_numpy(np.concatenate([c.d for c in problem.unsafe])),
                       np.concatenate([np.full(c.C.shape[0], k)
                                       for k, c in enumerate(problem.unsafe)]))

    def _slopes(self, given: dict) -> dict:
        """Per ReLU layer ``i`` with slopes in ``given`` (``Bounds.slopes``): ``{j: (2 n_i,
        n_j)}``, the lower-line slopes in every ReLU layer ``j < i`` of the rows bounding each
        neuron of layer ``i`` from below (rows ``0..n_i-1``) and above (``n_i..2 n_i-1``);
        CROWN's choice on the root's bounds for neurons ``given`` has none. Slopes that do not
        fit this network are left out (any slope in ``[0, 1]`` is valid: only tightness is
        at stake)."""
        t = self.torch
        out = {}
        for i, (idx, by_layer) in given.items():
            if i not in self.relu_layers or not by_layer:
                continue
            n, m = self.widths[i], idx.size
            if m == 0 or idx.max() >= n or any(
                    j not in self.relu_layers or j >= i or a.shape != (2 * m, self.widths[j])
                    for j, a in by_layer.items()):
                continue
            table = {j: a[0] for j, a in self.start_alpha(2 * n, below=i).items()}  # CROWN's
            rows = t.from_numpy(np.concatenate([idx, idx + n]))
            for j, a in by_layer.items():
                table[j][rows] = t.from_numpy(np.clip(a.astype(np.float64), 0.0, 1.0))
            out[i] = {j: table[j] for j in by_layer}
        return out

    def _set_rows(self, G, h, group: np.ndarray) -> None:
        self.group0 = group
        self.mixed = MixedRows(G, h, group, self.v_mag)
        self.group = self.mixed.group
        self.n_groups = int(group.max()) + 1

    def keep_groups(self, keep: np.ndarray) -> np.ndarray:
        """Bound only the rows of the disjuncts ``keep`` (bool per disjunct), renumbered in
        order; returns the mask of the kept rows (base rows, then mixed rows)."""
        rows = keep[self.group]
        base = keep[self.group0]
        idx = self.torch.from_numpy(np.flatnonzero(base))
        _, group = np.unique(self.group0[base], return_inverse=True)
        self._set_rows(self.mixed.G[idx], self.mixed.h[idx], group)
        return rows

    @property
    def R(self) -> int:
        return int(self.mixed.G.shape[0]) + self.mixed.K

    def rows_bound(self, logits, **kw) -> dict:
        G, h, _ = self.mixed.rows(logits, logits.shape[0])
        return self.backward(G, h, self.last, post=True, **kw)


def _closed(lb: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Per domain (rows of ``lb``, ``(B, R)``): every disjunct has a row with bound > 0."""
    ok = np.ones(lb.shape[0], dtype=bool)
    for k in range(n_groups):
        ok &= np.any(lb[:, group == k] > 0.0, axis=1)
    return ok


def _open_rows(lb: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Rows whose disjunct is not yet closed (``(B, R)`` bool)."""
    out = np.zeros_like(lb, dtype=bool)
    for k in range(n_groups):
        cols = group == k
        open_k = ~np.any(lb[:, cols] > 0.0, axis=1)
        out[:, cols] = open_k[:, None]
    return out


def _key(lb: np.ndarray, group: np.ndarray, n_groups: int) -> float:
    """A domain's priority: its worst disjunct's best row bound (lowest first)."""
    return float(min(np.max(lb[group == k]) for k in range(n_groups)))


def _domain_bounds(net: _Net, doms: list[_Domain], splits: dict,
                   budget: Budget | None = None, refine: bool = True) -> np.ndarray:
    """Load the batch's per-domain pre-activation bounds into ``net`` (``(B, n_i)`` per ReLU
    layer) and tighten every layer after the first split one by back-substitution under
    each domain's splits (the split sides clipped at 0 in the layers below, no Lagrangian
    term: valid on the domain; once with CROWN's slopes and, where the root's bounds carry
    them, once with the root's optimised slopes), lowered by the rounding margin as
    :func:`~surrogate.bounds.crown.optimise` does, and intersected with the domain's bounds.
    Returns the domains found empty (a neuron's bounds cross, or a split side is excluded by
    its bounds): they hold no point, so they are closed. Once ``budget`` ends, the layers not
    yet done keep the bounds the domains inherited. Without ``refine`` the search keeps the
    root's bounds in ``net`` for every domain (its domains carry none: ``lo``/``up`` None), and
    no domain is found empty."""
    t = net.torch
    B = len(doms)
    empty = np.zeros(B, dtype=bool)
    if not refine:  # every domain keeps the root's bounds, already in ``net``
        return empty
    seen_split = False
    for j, i in enumerate(net.relu_layers):
        lo = np.stack([net.root_lo[j] if d.lo is None else d.lo[j] for d in doms])
        up = np.stack([net.root_up[j] if d.up is None else d.up[j] for d in doms])
        sp = splits[i].numpy()
        if seen_split and not (budget is not None and budget.expired()):
            # (split neurons too: a bound excluding the split's side shows the domain empty)
            need = np.flatnonzero(((lo < 0.0) & (up > 0.0)).any(axis=0))
            m = need.size
            if m:
                G = t.zeros((2 * m, net.widths[i]), dtype=t.float64)
                G[np.arange(m), need] = 1.0
                G[m + np.arange(m), need] = -1.0
                choices: list[dict | None] = [None]  # CROWN's slopes on the domain's bounds
                if i in net.slopes:  # and the root's optimised slopes of these neurons' rows
                    rows = t.from_numpy(np.concatenate([need, need + net.widths[i]]))
                    choices.append({below: a[rows].unsqueeze(0).expand(B, -1, -1)
                                    for below, a in net.slopes[i].items()})
                # the rounding margin's magnitude, once for both signs and every choice
                # (G[:m] are the rows +e_j: their own absolute values)
                mag = net.magnitude_of_any_slopes(G[:m], i, splits=splits, batch=B)
                mag = t.cat([mag, mag], dim=1)
                for alpha in choices:  # each gives valid bounds: keep the tighter
                    lb = net.backward(G, t.zeros(2 * m, dtype=t.float64), i, post=False,
                                      splits=splits, batch=B, alpha=alpha)["lb"]
                    sound = (lb - BOUND_ROUND_REL * (mag + lb.abs())).numpy()
                    sound = np.where(np.isfinite(sound), sound, -np.inf)
                    lo[:, need] = np.maximum(lo[:, need], sound[:, :m])
                    up[:, need] = np.minimum(up[:, need], -sound[:, m:])
        empty |= np.any((lo > up) | ((sp > 0) & (up < 0.0)) | ((sp < 0) & (lo > 0.0)), axis=1)
        net.lo_b[i], net.up_b[i] = t.from_numpy(lo), t.from_numpy(up)
        seen_split = seen_split or bool(np.any(sp != 0))
    return empty


def _filtered_smart_branching(net: _Net, splits: dict, alpha: dict, beta: dict, logits,
                              scores: dict) -> list[tuple[int, int]]:
    """Per domain, the neuron to split: of the :data:`FSB_CANDIDATES` best by the BaBSR score,
    the one whose worse child has the best bound (one back-substitution of every candidate's two
    children with the parent's alpha and beta: filtered smart branching, De Palma et al., ICLR
    2021). ``(-1, -1)`` when the domain has no unstable neuron left."""
    t = net.torch
    layers = net.relu_layers
    if not layers:  # a network without ReLUs: nothing to split
        return [(-1, -1)] * int(logits.shape[0])
    flat = t.cat([scores[i] for i in layers], dim=1)  # (B, sum n)
    B = flat.shape[0]
    k = min(FSB_CANDIDATES, flat.shape[1])
    top_s, top_i = flat.topk(k, dim=1)
    offsets = np.cumsum([0] + [net.widths[i] for i in layers])
    top_i_np, top_s_np = top_i.numpy(), top_s.numpy()
    layer_of = np.searchsorted(offsets, top_i_np, side="right") - 1  # index into layers
    idx_of = top_i_np - offsets[layer_of]
    # children: domain b, candidate c, side (+1, -1) -> row (b * k + c) * 2 + side
    n_child = B * k * 2
    rep = t.arange(B).repeat_interleave(2 * k)
    cand = np.repeat(np.arange(k)[None, :], B, axis=0)
    sp = {i: splits[i][rep].clone() for i in layers}
    rows = np.arange(n_child)
    b_of, c_of = rows // (2 * k), (rows // 2) % k
    sign = np.where(rows % 2 == 0, 1, -1).astype(np.int8)
    lay, neu = layer_of[b_of, cand[b_of, c_of]], idx_of[b_of, cand[b_of, c_of]]
    for j, i in enumerate(layers):
        sel = lay == j
        if sel.any():
            sp[i][t.from_numpy(rows[sel]), t.from_numpy(neu[sel])] = t.from_numpy(sign[sel])
    saved = net.lo_b, net.up_b
    net.lo_b = [b[rep] if b.dim() == 2 else b for b in saved[0]]
    net.up_b = [b[rep] if b.dim() == 2 else b for b in saved[1]]
    try:  # a choice, not a bound: in float32 (CrownNet.search_copy)
        fast = net.search_copy()
        dt = fast.dtype
        lb = fast.rows_bound(logits[rep].to(dt), splits=sp,
                             alpha={i: alpha[i][rep].to(dt) for i in layers},
                             beta={i: beta[i][rep].to(dt) for i in layers})["lb"].numpy()
    finally:
        net.lo_b, net.up_b = saved
    worst = np.full(n_child, np.inf)
    for g in range(net.n_groups):
        worst = np.minimum(worst, lb[:, net.group == g].max(axis=1))
    per_cand = worst.reshape(B, k, 2).min(axis=2)
    per_cand = np.where(top_s_np >= 0.0, per_cand, -np.inf)  # not unstable: never chosen
    best = per_cand.argmax(axis=1)
    out = []
    for b in range(B):
        c = int(best[b])
        if top_s_np[b, c] < 0.0:
            out.append((-1, -1))
        else:
            out.append((int(layer_of[b, c]), int(idx_of[b, c])))
    return out


def relu_split_bab(
    problem: VerificationProblem,
    bounds: Bounds,
    *,
    budget: Budget | None = None,
    confirm: Callable[[np.ndarray], bool] | None = None,
    batch: int = 64,
    max_domains: int = 20_000,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
    branching: str = "layers",
) -> BabResult:
    """Branch and bound over ReLU signs on ``problem`` (see the module docstring); ``bounds``:
    sound pre-activation bounds of every layer over the problem's input box (the root's).
    ``threads``: torch's intra-op threads for the batched bounds (one by default: see
    :func:`surrogate.bounds.crown.torch_threads`). ``branching``: ``"layers"`` (default) or
    ``"output"`` (see the module docstring)."""
    if not isinstance(problem.input_set, Box):
        raise TypeError("ReLU splitting needs a box input set")
    if branching not in BRANCHINGS:
        raise ValueError(f"unknown branching {branching!r}; choose one of {', '.join(BRANCHINGS)}")
    import torch

    t0 = time.perf_counter()
    budget = budget or Budget.of(float("inf"))
    with torch.no_grad(), torch_threads(threads):
        return _search(problem, bounds, budget, confirm, batch, max_domains, progress, t0,
                       branching)


def _search(problem, bounds, budget, confirm, batch, max_domains, progress, t0,
            branching) -> BabResult:
    import torch

    net = _Net(problem, bounds)
    refine = branching == "layers"  # intermediate bounds per domain (module docstring)
    R = net.R
    counter = itertools.count()
    stats: dict[str, Any] = {"strategy": "relu-split", "branching": branching,
                             "batches": 0, "splits": 0,
                             "leaves_stuck": 0, "root_lower_bound": None, "probes": 0,
                             "empty": 0}

    def probe(corners: np.ndarray) -> np.ndarray | None:
        stats["probes"] += len(corners)
        ys = problem.network.forward(corners)
        viol = np.min([np.max(ys @ c.C.T - c.d, axis=1) for c in problem.unsafe], axis=0)
        for i in np.argsort(viol)[:4]:
            if viol[i] > 0:
                break
            x = problem.input_set.project(corners[i])
            if problem.is_success(x, problem.network.forward(x)) and (
                    confirm is None or confirm(x)):
                return x
        return None

    def result(verdict: str, x: np.ndarray | None, nodes: int, closed: int, heap: list,
               max_depth: int, lower: float) -> BabResult:
        return BabResult(verdict, x, time.perf_counter() - t0, nodes, closed, len(heap),
                         max_depth, lower, stats)

    def bound_batch(doms: list[_Domain], steps: int):
        """Optimise alpha/beta of a batch; sound bounds, corners and branching scores."""
        splits = {i: torch.from_numpy(np.stack([d.splits[j] for d in doms]))
                  for j, i in enumerate(net.relu_layers)}
        alpha = {i: torch.from_numpy(np.stack([d.alpha[j] for d in doms]).astype(np.float64))
                 for j, i in enumerate(net.relu_layers)}
        beta = {i: torch.from_numpy(np.stack([d.beta[j] for d in doms]).astype(np.float64))
                for j, i in enumerate(net.relu_layers)}
        logits = torch.from_numpy(np.stack([d.logits for d in doms]).astype(np.float64))
        parent_lb = np.stack([d.lb for d in doms])
        empty = _domain_bounds(net, doms, splits, budget, refine)
        open_mask = torch.from_numpy(_open_rows(parent_lb, net.group, net.n_groups))
        out = optimise(net, None, None, net.last, post=True, steps=steps, alpha=alpha,
                       beta=beta, splits=splits, open_mask=open_mask, budget=budget,
                       keep_lambda=True, mixed=net.mixed, logits=logits)
        logits = out["logits"]
        lb = np.maximum(out["sound"], parent_lb)
        lb[empty] = np.inf
        stats["empty"] += int(empty.sum())
        scores = {}
        open_now = _open_rows(lb, net.group, net.n_groups)
        w = torch.from_numpy(open_now.astype(np.float64))
        for i in net.relu_layers:
            lo, up = net.layer_bounds(i, splits[i])
            unstable = (lo < 0.0) & (up > 0.0)
            inter = torch.where(unstable, up * (-lo) / torch.where(unstable, up - lo, 1.0), 0.0)
            neg = (-out["lambdas"][i].clamp(max=0.0) * w.unsqueeze(-1)).sum(1)
            scores[i] = torch.where(unstable, neg * inter, torch.full_like(inter, -1.0))
        if branching == "layers":  # only the earliest layer with an unstable neuron left
            taken = torch.zeros(len(doms), dtype=torch.bool)
            for i in net.relu_layers:
                has = (scores[i] >= 0.0).any(1)
                scores[i] = torch.where(taken.unsqueeze(1), -1.0, scores[i])
                taken |= has
        choice = _filtered_smart_branching(net, splits, alpha, beta, logits, scores)
        alphas = [alpha[i].numpy().astype(np.float32) for i in net.relu_layers]
        betas = [beta[i].numpy().astype(np.float32) for i in net.relu_layers]
        corners = out["corner"].numpy().reshape(-1, problem.network.n_inputs)
        dbounds: list[tuple[list | None, list | None]]
        if refine:
            los = [net.lo_b[i].numpy() for i in net.relu_layers]
            ups = [net.up_b[i].numpy() for i in net.relu_layers]
            dbounds = [([x[b].copy() for x in los], [x[b].copy() for x in ups])
                       for b in range(len(doms))]
        else:
            dbounds = [(None, None)] * len(doms)
        return lb, choice, alphas, betas, corners, logits.numpy().astype(np.float32), dbounds

    # ---- root
    zeros = [np.zeros(n, dtype=np.int8) for i, n in enumerate(net.widths) if net.relu[i]]
    root = _Domain(0, zeros,
                   [a[0].numpy().astype(np.float32)
                    for a in net.start_alpha(R).values()],  # CROWN's choice
                   [np.zeros((R, net.widths[i]), dtype=np.float32) for i in net.relu_layers],
                   np.full(R, -np.inf), net.mixed.start(1)[0].numpy().astype(np.float32))
    lb, choice, alphas, betas, corners, logits, dbounds = bound_batch([root], ROOT_STEPS)
    stats["root_lower_bound"] = _key(lb[0], net.group, net.n_groups)
    nodes, closed, max_depth = 1, 0, 0
    found = probe(corners)
    if found is not None:
        return result("sat", found, nodes, closed, [], 0, float(stats["root_lower_bound"]))
    if _closed(lb, net.group, net.n_groups)[0]:
        return result("unsat", None, nodes, 1, [], 0, np.inf)
    # the disjuncts closed at the root stay closed in every domain: bound only the others' rows
    open_groups = np.array([not np.any(lb[0][net.group == g] > 0.0)
                            for g in range(net.n_groups)])
    old_mixed = net.mixed
    keep = net.keep_groups(open_groups)
    mix_keep = keep[old_mixed.G.shape[0]:]
    base_keep = keep[:old_mixed.G.shape[0]]
    stats["rows"] = int(keep.sum())
    R = net.R
    heap: list[tuple[float, int, _Domain]] = []
    pending = [(root, lb[0][keep], choice[0], [a[0][keep] for a in alphas],
                [b[0][keep] for b in betas], logits[0][mix_keep][:, base_keep], dbounds[0])]

    def branch(parent: _Domain, lb_p: np.ndarray, choice: tuple[int, int], a_p: list,
               b_p: list, mix_p: np.ndarray, bounds_p: tuple) -> bool:
        """Push the two children of ``parent`` split on the chosen neuron; False if none."""
        best_layer, best_idx = choice
        if best_layer < 0:  # no unstable neuron left to split
            return False
        key = _key(lb_p, net.group, net.n_groups)
        for sign in (1, -1):
            sp = [s.copy() for s in parent.splits]
            sp[best_layer][best_idx] = sign
            child = _Domain(parent.depth + 1, sp, [a.copy() for a in a_p],
                            [b.copy() for b in b_p], lb_p.copy(), mix_p.copy(), *bounds_p)
            heapq.heappush(heap, (key, next(counter), child))
        stats["splits"] += 1
        return True

    def lowest() -> float:
        return min([t[0] for t in heap] + [_key(p[1], net.group, net.n_groups)
                                           for p in pending], default=np.inf)

    last_report = time.perf_counter()
    per_domain = 0.0  # seconds per domain of the last batch
    while True:
        stuck = []  # the bounds of domains left open with nothing to split
        for item in pending:
            if not branch(*item):
                stats["leaves_stuck"] += 1
                stuck.append(_key(item[1], net.group, net.n_groups))
            else:
                max_depth = max(max_depth, item[0].depth + 1)
        pending = []
        if stats["leaves_stuck"]:  # the lowest bound counts them too: they stay open
            return result("unknown", None, nodes, closed, heap, max_depth,
                          min([lowest(), *stuck]))
        if not heap:
            return result("unsat", None, nodes, closed, heap, max_depth, np.inf)
        if budget.expired() or len(heap) > max_domains:
            return result("unknown", None, nodes, closed, heap, max_depth, lowest())
        size = min(batch, len(heap))
        if per_domain > 0.0:  # see BATCH_MAX_S
            target = min(BATCH_MAX_S, max(BATCH_MIN_S, BATCH_SHARE * budget.remaining()))
            size = max(1, min(size, int(target / per_domain)))
        take = [heapq.heappop(heap)[2] for _ in range(size)]
        t_batch = time.perf_counter()
        lb, choice, alphas, betas, corners, logits, dbounds = bound_batch(take, STEPS)
        per_domain = (time.perf_counter() - t_batch) / len(take)
        stats["batches"] += 1
        nodes += len(take)
        found = probe(corners)
        if found is not None:
            return result("sat", found, nodes, closed, heap, max_depth, float(np.min(lb)))
        shut = _closed(lb, net.group, net.n_groups)
        closed += int(shut.sum())
        for b in np.flatnonzero(~shut):
            pending.append((take[b], lb[b], choice[b], [a[b] for a in alphas],
                            [x[b] for x in betas], logits[b], dbounds[b]))
        if progress is not None and time.perf_counter() - last_report > 5.0:
            last_report = time.perf_counter()
            progress(f"ReLU splitting: {nodes} domains bounded, {closed} closed, "
                     f"{len(heap) + len(pending)} open, lowest bound {lowest():.4g}")

"""Choose the sparsity of the surrogate automatically, before any solve.

The surrogate helps when its MILP is much smaller than the dense one (fewer binaries: the unstable
ReLUs) while it still behaves like the dense network near the answer. Both pull in opposite
directions as the sparsity grows, and the best fixed sparsity differs between networks and
problems. The rule here looks only at what is known before solving: the number of unstable
neurons of each candidate surrogate's MILP (its binaries), with the bounds the run would use.
It picks the **lowest** candidate whose MILP keeps at most :data:`AUTO_RATIO` of the dense MILP's
unstable neurons **and** at most :data:`AUTO_MAX_BINARIES` binaries (the least pruning that
makes the MILP markedly smaller and small enough for the solver); when every candidate's MILP is
larger than that, the most pruned candidate up to :data:`AUTO_FALLBACK_MAX`; when some are small
enough but none is markedly smaller than the dense MILP (pruning does not shrink it), the lowest
candidate (pruning then only costs fidelity). A surrogate that has lost every path to the
objective is never picked.

Measured (docs/results.md, "Automatic sparsity"):

- The first version (ratio 0.5, the highest candidate as the fallback) picked 0.95 on 39 of 45
  runs of problems/mnist-l1.toml and won none. Ratio 0.8 with the lowest candidate as the
  fallback won 8 there (in-sample) and held on digits-l1 and mnist-l1-2021 (out of sample), but
  won 0 of 54 on Task 2's n0 = 100 / 10000 grid (the best fixed sparsity, 0.8, won 15) and 4 of
  45 on the 2021 images' rerun (best fixed 8): on wide MILPs a 20 % cut leaves hundreds of
  binaries, which the solver does not get through in 10-20 s either.
- The cap of 120 binaries was chosen on the 12 campaigns stored then (their recorded counts,
  in hindsight: in-sample) and checked before any code used it on two campaigns run for the
  purpose (out of sample): see docs/results.md. It is a count for 10-20 s budgets on 2 cores.
:func:`pick_sparsity` is the rule on the counts alone (the campaign report applies it to the
counts its runs recorded, to compare it with every fixed sparsity in hindsight);
:func:`choose_sparsity` prunes and bounds each candidate and applies it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from surrogate.app.build import build_milp
from surrogate.app.run import make_surrogate
from surrogate.encode.network import reaches_output
from surrogate.errors import InputError
from surrogate.problems.base import Problem

__all__ = ["AUTO_CANDIDATES", "AUTO_FALLBACK_MAX", "AUTO_MAX_BINARIES", "AUTO_RATIO",
           "SparsityChoice", "choose_sparsity", "pick_sparsity"]

#: The sparsities the rule chooses from (the paper's grid).
AUTO_CANDIDATES = (0.3, 0.5, 0.8, 0.9, 0.95)
#: The lowest candidate whose MILP keeps at most this share of the dense MILP's unstable neurons
#: (and at most AUTO_MAX_BINARIES of them).
AUTO_RATIO = 0.8
#: ... and at most this many unstable neurons (binaries) in all.
AUTO_MAX_BINARIES = 120
#: When every candidate's MILP has more binaries than that: the most pruned candidate up to this.
AUTO_FALLBACK_MAX = 0.9


def pick_sparsity(unstable: Mapping[float, int], *, ratio: float = AUTO_RATIO,
                  max_binaries: float = AUTO_MAX_BINARIES) -> float | None:
    """The rule (see the module docstring) on ``unstable``: sparsity -> unstable neurons of that
    surrogate's MILP, with the dense count under ``0.0``; candidates that cannot be used (no path
    to the objective) are left out by the caller. None when there is no candidate."""
    if 0.0 not in unstable:
        raise InputError("pick_sparsity needs the dense MILP's unstable count (sparsity 0.0)")
    candidates = sorted(p for p in unstable if p > 0)
    if not candidates:
        return None
    dense = unstable[0.0]
    for p in candidates:
        if unstable[p] <= ratio * dense and unstable[p] <= max_binaries:
            return p
    if all(unstable[p] > max_binaries for p in candidates):  # too big: prune the most
        return ([p for p in candidates if p <= AUTO_FALLBACK_MAX] or candidates[:1])[-1]
    return candidates[0]  # small, but pruning does not shrink it


@dataclass(frozen=True)
class SparsityChoice:
    sparsity: float | None  # None: no candidate can be used
    unstable: dict[float, int]  # per sparsity (0.0: dense), the candidates that can be used
    skipped: dict[float, str] = field(default_factory=dict)  # candidates left out, and why
    time_s: float = 0.0  # pruning and bounds of every candidate


def choose_sparsity(
    problem: Problem, *, method: str = "magnitude",
    candidates: Sequence[float] = AUTO_CANDIDATES, bounds: Any = "symbolic",
    ratio: float = AUTO_RATIO, max_binaries: float = AUTO_MAX_BINARIES,
) -> SparsityChoice:
    """Prune ``problem.network`` with ``method`` at each candidate, count the unstable neurons of
    each MILP with ``bounds`` (the method the runs will use), and apply :func:`pick_sparsity`."""
    t0 = time.perf_counter()
    counts: dict[float, int] = {}
    skipped: dict[float, str] = {}
    for p in [0.0, *sorted(float(c) for c in candidates if c > 0)]:
        net = problem.network
        if p > 0:
            net = make_surrogate(problem.network, method, p).network
            if not reaches_output(net):
                skipped[p] = "no path from the inputs to the objective is left"
                continue
        built = build_milp(problem, net, bounds)
        counts[p] = int(built.neurons()["unstable"])  # what the run records: its binaries
    return SparsityChoice(pick_sparsity(counts, ratio=ratio, max_binaries=max_binaries), counts,
                          skipped, time.perf_counter() - t0)

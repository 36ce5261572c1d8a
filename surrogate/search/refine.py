r"""Intermediate bounds refined by small ReLU-splitting searches, one per neuron and side.

alpha-beta-CROWN tightens the intermediate bounds of mnist_fc and eran networks with one MILP
per neuron on the first layers (Gurobi, many cores) before its branch and bound. With HiGHS on
two cores that does not fit a minute: on eran 9x200 ``idx_2954`` the MILP of one second-layer
neuron (39 binaries, 784 inputs) ran 0.4-1 s per side at the root alone (heuristics and cuts),
and the 46 unstable neurons of that layer took 58 s (10 made stable). The same question asked
of :func:`~surrogate.search.relu_bab.relu_split_bab` on the network cut after the neuron's
layer took 4.2 s and made 20 stable.

:func:`refine_bounds`, for every ReLU layer ``i`` after the first, in order, and every neuron
``j`` of it still unstable:

1. the network truncated after layer ``i`` (layer ``i`` linear) and the property
   "``z_j >= 0`` somewhere in the box" (the row ``-z_j``), searched for at most ``neuron_s``
   seconds; ``unsat`` proves ``z_j < 0`` on the whole box: the upper bound becomes 0 and the
   neuron is stably inactive; otherwise, when the search ran out of time, its lowest open
   bound ``v`` (the smallest sound bound over the domains not closed, each valid on its
   domain, the closed ones above 0) gives ``z_j <= -v``; a point found (``sat``) only says the
   neuron can be active;
2. the same for ``z_j <= 0`` (the row ``z_j``): ``unsat`` makes the lower bound 0 (stably
   active), a lowest open bound ``v`` gives ``z_j >= v``.

Each result is intersected with the bounds the neuron had, so the bounds never get looser;
before a layer is searched its symbolic bounds are recomputed from the refined layers below
(:func:`~surrogate.bounds.symbolic.refine_layer`), and at the end optimised back-substitution
(:func:`~surrogate.bounds.crown.alpha_bounds`) carries the gains to every later layer.
Soundness is the searches': every bound they report is a float64 back-substitution bound
lowered by its rounding margin (:mod:`surrogate.search.relu_bab`), valid given the bounds of
the layers below, which are themselves sound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from surrogate.bounds.crown import alpha_bounds
from surrogate.bounds.interval import Bounds
from surrogate.bounds.symbolic import refine_layer
from surrogate.budget import Budget
from surrogate.network.spec import Network
from surrogate.problems.verification import Conjunction, VerificationProblem
from surrogate.search.relu_bab import relu_split_bab
from surrogate.sets import Box

__all__ = ["NEURON_S", "refine_bounds"]

#: Seconds of ReLU splitting per neuron and side at most.
NEURON_S = 0.3


def refine_bounds(network: Network, box: Box, bounds: Bounds, *, budget: Budget,
                  then: Budget | None = None, neuron_s: float = NEURON_S, threads: int = 1,
                  progress: Callable[[str], None] | None = None) -> tuple[Bounds, dict]:
    """``bounds`` (sound pre-activation bounds of ``network`` over ``box``) tightened neuron
    by neuron (see the module docstring) until ``budget`` ends, then, if anything was
    tightened, carried to the later layers by optimised back-substitution within ``then``
    (default: no limit). Returns the bounds (method ``"refined"``, never looser than
    ``bounds``; the slopes of the final back-substitution, or ``bounds``' when it did not
    run) and a record: neurons searched, searches, neurons made stable and tightened, ReLU
    layers finished, unstable neurons before and after, seconds."""
    t0 = time.perf_counter()
    lowers = [np.array(a, dtype=np.float64) for a in bounds.lower]
    uppers = [np.array(a, dtype=np.float64) for a in bounds.upper]
    relus = [i for i, layer in enumerate(network.layers) if layer.activation == "relu"]
    stats: dict[str, Any] = {"neurons": 0, "searches": 0, "stable": 0, "tightened": 0,
                             "layers_done": 0}
    last = len(network.layers) - 1
    for i in relus[1:]:
        if i == last or budget.expired():
            break
        lowers[i], uppers[i] = refine_layer(network, i, lowers, uppers, box)
        trunc = network.with_layers(list(network.layers[:i])
                                    + [network.layers[i].replace(activation="linear")])
        finished = True
        for j in np.flatnonzero((lowers[i] < 0.0) & (uppers[i] > 0.0)):
            if budget.expired():
                finished = False
                break
            stats["neurons"] += 1
            was = (lowers[i][j], uppers[i][j])
            for sign in (-1.0, 1.0):  # the upper bound first: a neuron proved inactive is done
                if budget.expired():
                    break
                here = Bounds(tuple(lowers[:i + 1]), tuple(uppers[:i + 1]), bounds.method, 0.0)
                v = _side_bound(trunc, box, here, int(j), sign, budget, neuron_s, threads)
                stats["searches"] += 1
                # sign * z_j >= v on the whole box
                lo, up = (lowers[i][j], min(uppers[i][j], -v)) if sign < 0 else (
                    max(lowers[i][j], v), uppers[i][j])
                if lo <= up:  # (sound bounds never cross: kept out of caution)
                    lowers[i][j], uppers[i][j] = lo, up
                if lowers[i][j] >= 0.0 or uppers[i][j] <= 0.0:
                    stats["stable"] += 1
                    break
            stats["tightened"] += (lowers[i][j], uppers[i][j]) != was
        if not finished:
            break
        stats["layers_done"] += 1
        if progress is not None:
            progress(f"bounds refined in layer {i}: {stats['stable']} neurons made stable "
                     f"so far, {time.perf_counter() - t0:.1f} s")
    refined = Bounds(tuple(lowers), tuple(uppers), bounds.method, 0.0, bounds.slopes)
    if stats["tightened"]:
        refined = alpha_bounds(network, box, refined, budget=then, threads=threads)
    stats.update(unstable_before=bounds.counts(network)["unstable"],
                 unstable_after=refined.counts(network)["unstable"],
                 time_s=time.perf_counter() - t0)
    return Bounds(refined.lower, refined.upper, "refined",
                  bounds.time_s + time.perf_counter() - t0, refined.slopes), stats


def _side_bound(trunc: Network, box: Box, bounds: Bounds, j: int, sign: float,
                budget: Budget, neuron_s: float, threads: int) -> float:
    """A sound lower bound of ``sign * z_j`` over ``box`` (``z_j`` the output ``j`` of
    ``trunc``) from at most ``neuron_s`` seconds of ReLU splitting on "``sign * z_j <= 0``
    somewhere": ``0`` when the search proves it nowhere, its lowest open bound when it runs
    out of time, ``-inf`` (nothing learnt) when it finds such a point."""
    C = np.zeros((1, trunc.n_outputs))
    C[0, j] = sign
    problem = VerificationProblem(trunc, box, (Conjunction(C, np.zeros(1)),))
    res = relu_split_bab(problem, bounds, threads=threads,
                         budget=budget.until(time.perf_counter() + neuron_s))
    if res.verdict == "unsat":  # sign * z_j > 0 on the whole box
        return 0.0
    if res.verdict == "unknown" and np.isfinite(res.lower_bound):
        return float(res.lower_bound)
    return -np.inf

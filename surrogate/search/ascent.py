"""Multi-start projected (signed) gradient descent of the objective on the **dense** network.

Points move in batches (one float32 forward and backward pass per step for all of them, exact ReLU
(sub)gradients); every point is ranked by its float64 value, so the float32 arithmetic only steers.
Boxes take signed steps of a decaying fraction of their width (PGD in L-inf), L1 balls take
gradient steps projected back onto the ball. Restarts run until the budget ends or ``rounds``
batches are done; the best point of all is returned with its float64 value.

This is the plain baseline of the paper's Task 2 (and the attack of verification): cheap, often
good at scale, and the seed of the local search (:mod:`surrogate.search.region`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from surrogate.budget import Budget
from surrogate.network.spec import Network
from surrogate.search.objective import OutputObjective
from surrogate.sets import Box, L1Ball

__all__ = ["DescentResult", "gradient_descent"]


@dataclass(frozen=True)
class DescentResult:
    x: np.ndarray
    value: float  # float64 objective t at x (lower is better)
    points: int  # point-steps taken
    rounds: int
    time_s: float
    trace: tuple[tuple[float, float], ...]  # (seconds, best value) at each improvement


def _layers32(network: Network) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    return [(np.ascontiguousarray(la.weight, dtype=np.float32), la.bias.astype(np.float32),
             la.activation == "relu") for la in network.layers]


def _values_and_grads(layers: list, objective: OutputObjective, X: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``t`` and its subgradient w.r.t. the input for every row of ``X``."""
    masks = []
    h = X.astype(np.float32)
    for w, b, relu in layers:
        z = h @ w.T + b
        if relu:
            m = z > 0
            masks.append(m)
            h = np.where(m, z, np.float32(0.0))
        else:
            masks.append(None)
            h = z
    N = X.shape[0]
    best = np.full(N, np.inf, dtype=np.float32)
    g = np.zeros_like(h)
    for G, hh in objective.pieces:
        e = h @ G.T.astype(np.float32) - hh.astype(np.float32)
        r = np.argmax(e, axis=1)
        v = e[np.arange(N), r]
        better = v < best
        best = np.where(better, v, best)
        g[better] = G[r[better]].astype(np.float32)
    for (w, _, _), m in zip(reversed(layers), reversed(masks), strict=True):
        if m is not None:
            g = g * m
        g = g @ w
    return best, g


def gradient_descent(
    network: Network, objective: OutputObjective, input_set: Box | L1Ball, *,
    budget: Budget | None = None, starts: int = 64, steps: int = 150, rounds: int = 1_000_000,
    step_frac: float = 0.1, seed: int = 0, first: np.ndarray | None = None,
) -> DescentResult:
    """Minimise ``objective`` over ``input_set`` from ``starts`` points per round (the first
    round starts from ``first``, default the set's centre, plus random points)."""
    t0 = time.perf_counter()
    budget = budget or Budget.of(float("inf"))
    rng = np.random.default_rng(seed)
    layers = _layers32(network)
    s = input_set
    box = s if isinstance(s, Box) else s.box
    centre = s.center() if isinstance(s, Box) else np.asarray(s.center, dtype=np.float64)
    x0 = s.project(np.asarray(centre if first is None else first, dtype=np.float64))
    best_x = x0
    best = objective.value(network.forward(x0))
    trace = [(time.perf_counter() - t0, best)]
    width = np.maximum(box.upper - box.lower, 0.0)
    alpha = step_frac * (width if isinstance(s, Box) else np.full(s.dim, s.eps))
    points = 0
    done = 0
    for rnd in range(rounds):
        if budget.expired():
            break
        X = s.sample(starts, rng)
        if rnd == 0:
            X[0] = x0
        X = np.clip(X, box.lower, box.upper) if isinstance(s, Box) else np.array(
            [s.project(x) for x in X])
        for it in range(steps):
            v32, g = _values_and_grads(layers, objective, X)
            points += X.shape[0]
            i = int(np.argmin(v32))
            v = objective.value(network.forward(X[i]))
            if v < best:
                best, best_x = v, X[i].copy()
                trace.append((time.perf_counter() - t0, best))
            if budget.expired():
                break
            decay = 1.0 - it / steps
            if isinstance(s, Box):
                X = np.clip(X - decay * alpha * np.sign(g), s.lower, s.upper)
            else:
                X = s.descend(X, g, decay * s.eps)
        done += 1
    return DescentResult(best_x, float(best), points, done, time.perf_counter() - t0,
                         tuple(trace))

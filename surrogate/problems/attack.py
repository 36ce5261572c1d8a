"""A cheap attack first: projected gradient descent on the dense network (numpy, exact ReLU
gradients), with random restarts. It settles easy ``sat`` cases before any MILP is built, and its
best point warm-starts the MILP otherwise. Never a proof: it only ever returns candidates, which
callers still confirm on the dense network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from surrogate.network.spec import Network
from surrogate.problems.verification import VerificationProblem
from surrogate.sets import Box

__all__ = ["AttackResult", "pgd_attack"]


@dataclass(frozen=True)
class AttackResult:
    x: np.ndarray  # best point found (in the input set)
    objective: float  # problem objective on the dense network at x (<= 0: unsafe disjunct holds)
    success: bool
    iterations: int


def _objective_and_grad(
    network: Network, X: np.ndarray, C: np.ndarray, d: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``X``: ``max_r (C y - d)_r`` and its (sub)gradient w.r.t. the input."""
    hs, masks = [X], []
    h = X
    for layer in network.layers:
        z = h @ layer.weight.T + layer.bias
        if layer.activation == "relu":
            m = z > 0
            masks.append(m)
            h = np.where(m, z, 0.0)
        else:
            masks.append(None)
            h = z
        hs.append(h)
    e = h @ C.T - d  # (N, rows)
    r = np.argmax(e, axis=1)
    g = C[r]  # (N, n_out) gradient of the active row w.r.t. outputs
    for layer, m in zip(reversed(network.layers), reversed(masks), strict=True):
        if m is not None:
            g = g * m
        g = g @ layer.weight
    return e[np.arange(X.shape[0]), r], g


def pgd_attack(
    problem: VerificationProblem,
    *,
    steps: int = 100,
    restarts: int = 8,
    step_frac: float = 0.1,
    seed: int = 0,
    deadline_s: float | None = None,
) -> AttackResult:
    """Minimise each unsafe disjunct's violation over the input set with signed-gradient steps
    (L-inf boxes) or projected gradient steps (L1 balls); keep the best dense point.

    ``deadline_s``: stop after this many seconds (checked every step) and return the best so far."""
    t_end = None if deadline_s is None else time.perf_counter() + deadline_s
    net = problem.network
    s = problem.input_set
    rng = np.random.default_rng(seed)
    width = np.maximum(s.upper - s.lower, 0.0)
    start = [problem.x0 if problem.x0 is not None else (s.lower + s.upper) / 2.0]
    best_x: np.ndarray = np.asarray(start[0], dtype=np.float64)
    best_obj, iters = np.inf, 0
    for conj in problem.unsafe:
        if t_end is not None and time.perf_counter() > t_end:
            break
        X = np.vstack(start + [s.sample(1, rng)[0] for _ in range(restarts - 1)])
        X = np.array([s.project(x) for x in X])
        alpha = step_frac * (width if isinstance(s, Box) else np.full(s.dim, s.eps))
        for it in range(steps):
            obj, g = _objective_and_grad(net, X, conj.C, conj.d)
            iters += X.shape[0]
            i = int(np.argmin(obj))
            if obj[i] < best_obj:
                best_obj, best_x = float(obj[i]), X[i].copy()
            if best_obj < 0 and problem.is_success(best_x, net.forward(best_x)):
                return AttackResult(best_x, best_obj, True, iters)
            if t_end is not None and time.perf_counter() > t_end:
                break
            decay = 1.0 - it / steps
            if isinstance(s, Box):
                X = X - decay * alpha * np.sign(g)
                X = np.clip(X, s.lower, s.upper)
            else:
                norm = np.abs(g).sum(axis=1, keepdims=True) + 1e-12
                X = np.array([s.project(x) for x in X - decay * s.eps * g / norm])
    y = net.forward(best_x)
    return AttackResult(best_x, problem.objective_of_outputs(y), problem.is_success(best_x, y), iters)

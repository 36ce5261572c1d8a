"""A cheap attack first: projected gradient descent on the dense network (numpy, exact ReLU
gradients), with random restarts. It settles easy ``sat`` cases before any MILP is built, and its
best point warm-starts the MILP otherwise. Never a proof: it only ever returns candidates, which
callers still confirm on the dense network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from surrogate.budget import Budget
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


@dataclass
class _Best:
    """The best point so far, its float64 objective, and the point-steps taken."""

    x: np.ndarray
    obj: float = np.inf
    iters: int = 0


def _float32_layers(network: Network) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The layers in float32: the attack only proposes candidates (each is re-checked in float64),
    and float32 products take half the time of float64 ones."""
    return [(np.ascontiguousarray(layer.weight, dtype=np.float32), layer.bias.astype(np.float32),
             layer.activation) for layer in network.layers]


def _forward_with_masks(
    layers: list[tuple[np.ndarray, np.ndarray, str]], X: np.ndarray
) -> tuple[np.ndarray, list]:
    masks: list[np.ndarray | None] = []
    h = X
    for weight, bias, activation in layers:
        z = h @ weight.T + bias
        if activation == "relu":
            m = z > 0
            masks.append(m)
            h = np.where(m, z, 0.0)
        else:
            masks.append(None)
            h = z
    return h, masks


def _objective_and_grad(
    layers: list[tuple[np.ndarray, np.ndarray, str]], X: np.ndarray,
    groups: list[tuple[np.ndarray, np.ndarray, slice]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``X``: ``max_r (C y - d)_r`` of the conjunction ``(C, d)`` whose ``slice`` of
    rows it belongs to, and its (sub)gradient w.r.t. the input. One forward and one backward pass
    for all conjunctions together."""
    Y, masks = _forward_with_masks(layers, X)
    obj = np.empty(X.shape[0])
    g = np.empty_like(Y)
    for C, d, rows in groups:
        e = Y[rows] @ C.T - d  # (restarts, rows of C)
        r = np.argmax(e, axis=1)
        obj[rows] = e[np.arange(e.shape[0]), r]
        g[rows] = C[r]  # gradient of the active row w.r.t. the outputs
    for (weight, _, _), m in zip(reversed(layers), reversed(masks), strict=True):
        if m is not None:
            g = g * m
        g = g @ weight
    return obj, g


#: At most this many points move together (conjunctions x restarts); more conjunctions are
#: attacked in successive batches, so memory stays bounded on properties with many disjuncts.
MAX_BATCH_POINTS = 256


def pgd_attack(
    problem: VerificationProblem,
    *,
    steps: int = 100,
    restarts: int = 8,
    step_frac: float = 0.1,
    seed: int = 0,
    budget: Budget | None = None,
) -> AttackResult:
    """Minimise each unsafe disjunct's violation over the input set with signed-gradient steps
    (L-inf boxes) or sparse projected steps (L1 balls: :meth:`~surrogate.sets.L1Ball.descend`);
    keep the best dense point.

    Every disjunct gets ``restarts`` points (the first at ``x0`` or the set's centre, the others
    random in the set); the points of up to :data:`MAX_BATCH_POINTS` // ``restarts`` disjuncts
    move together, one batched float32 forward/backward pass per step. Points are ranked by their
    float64 objective. ``budget``: stop when it ends (checked every step) and
    return the best so far."""
    t_end = None if budget is None else budget.deadline
    net = problem.network
    s = problem.input_set
    rng = np.random.default_rng(seed)
    first = np.asarray(problem.x0 if problem.x0 is not None else (s.lower + s.upper) / 2.0,
                       dtype=np.float64)
    layers = _float32_layers(net)
    state = _Best(s.project(first))
    per_batch = max(1, MAX_BATCH_POINTS // max(restarts, 1))
    conjs = list(problem.unsafe)
    for b in range(0, len(conjs), per_batch):
        if t_end is not None and time.perf_counter() > t_end:
            break
        if _attack_batch(problem, conjs[b:b + per_batch], layers, first, rng, state, steps,
                         restarts, step_frac, t_end):
            return AttackResult(state.x, state.obj, True, state.iters)
    best_x = state.x
    y = net.forward(best_x)
    return AttackResult(best_x, problem.objective_of_outputs(y), problem.is_success(best_x, y),
                        state.iters)


def _attack_batch(
    problem: VerificationProblem, conjs: list, layers: list, first: np.ndarray,
    rng: np.random.Generator, state: _Best, steps: int, restarts: int, step_frac: float,
    t_end: float | None,
) -> bool:
    """PGD on the conjunctions ``conjs`` together; updates ``state`` (best x, float64 objective,
    iterations); returns True when the best point is a confirmed success."""
    net = problem.network
    s = problem.input_set
    blocks, groups = [], []
    for j, conj in enumerate(conjs):
        blocks.append(first[None, :])
        if restarts > 1:
            blocks.append(s.sample(restarts - 1, rng))
        groups.append((conj.C.astype(np.float32), conj.d.astype(np.float32),
                       slice(j * restarts, (j + 1) * restarts)))
    X = np.vstack(blocks)
    X = np.clip(X, s.lower, s.upper) if isinstance(s, Box) else np.array([s.project(x) for x in X])
    width = np.maximum(s.upper - s.lower, 0.0)
    alpha = step_frac * (width if isinstance(s, Box) else np.full(s.dim, s.eps))
    for it in range(steps):
        obj, g = _objective_and_grad(layers, X.astype(np.float32), groups)
        state.iters += X.shape[0]
        i = int(np.argmin(obj))
        if obj[i] < state.obj:
            # the float32 objective only ranks points: keep the float64 value of the best one
            y = net.forward(X[i])
            value = problem.objective_of_outputs(y)
            if value < state.obj:
                state.obj, state.x = value, X[i].copy()
                if value <= 0 and problem.is_success(state.x, y):
                    return True
        if t_end is not None and time.perf_counter() > t_end:
            break
        decay = 1.0 - it / steps
        if isinstance(s, Box):
            X = X - decay * alpha * np.sign(g)
            X = np.clip(X, s.lower, s.upper)
        else:
            X = s.descend(X, g, decay * s.eps)
    return False

"""Pre-activation bounds of ReLU networks over an input set: interval -> symbolic -> LP.

Tighter bounds give smaller big-M constants, and a neuron whose bounds have one sign needs no binary
variable at all (Tjeng, Xiao & Tedrake, MIPVerify, ICLR 2019). Three methods, each never looser than
the one before it:

* ``"interval"`` (:func:`interval_bounds`): interval arithmetic, microseconds per layer;
* ``"symbolic"`` (:func:`symbolic_bounds`): DeepPoly/CROWN back-substitution, the default;
* ``"lp"`` (:func:`lp_bounds`): LP tightening with HiGHS of the neurons symbolic leaves unstable.

All bounds are sound in floating point: widened by ``1e-7 * max(1, |b|)`` (see
:mod:`surrogate.bounds.interval`) before stability is decided.
"""

from __future__ import annotations

from surrogate.bounds.interval import Bounds, interval_bounds, linear_bounds
from surrogate.bounds.lp import lp_bounds
from surrogate.bounds.symbolic import symbolic_bounds
from surrogate.budget import Budget
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, L1Ball

__all__ = [
    "DEFAULT_LP_BUDGET_S",
    "LP_SHARE",
    "METHODS",
    "Bounds",
    "compute_bounds",
    "interval_bounds",
    "linear_bounds",
    "lp_bounds",
    "symbolic_bounds",
]

METHODS = ("interval", "symbolic", "lp")

#: LP budget of :func:`compute_bounds` when none is given (seconds)
DEFAULT_LP_BUDGET_S = 10.0
#: Share of a run's remaining time that ``"lp"`` bounds may take when the run has a budget.
LP_SHARE = 0.3


def compute_bounds(
    network: Network,
    input_set: Box | L1Ball,
    method: str = "symbolic",
    *,
    time_limit_s: float | None = None,
    budget: Budget | None = None,
) -> Bounds:
    """Bounds of every layer of ``network`` over ``input_set`` by ``method``.

    ``time_limit_s`` limits the LP phase of ``"lp"``: ``None`` means :data:`DEFAULT_LP_BUDGET_S`
    (10 s), ``math.inf`` no limit. Neurons not reached in time keep their symbolic bounds (measured:
    mnist_fc 256x2 needs 0.03-1.3 s, 256x6 over 15 minutes without a limit). ``"interval"`` and
    ``"symbolic"`` take milliseconds to a fraction of a second and ignore it, so callers can pass
    one budget to any method. ``budget``: also ends the LP phase (its deadline, or its
    cancellation)."""
    if method not in METHODS:
        raise InputError(f"unknown bounds method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "lp":
        limit = DEFAULT_LP_BUDGET_S if time_limit_s is None else time_limit_s
        return lp_bounds(network, input_set, time_limit_s=limit, budget=budget)
    if method == "interval":
        return interval_bounds(network, input_set)
    return symbolic_bounds(network, input_set)

"""Pre-activation bounds of ReLU networks over an input set: interval -> symbolic -> LP.

Tighter bounds give smaller big-M constants, and a neuron whose bounds have one sign needs no binary
variable at all (Tjeng, Xiao & Tedrake, MIPVerify, ICLR 2019). Three methods, each never looser than
the one before it:

* ``"interval"`` (:func:`interval_bounds`): interval arithmetic, microseconds per layer;
* ``"symbolic"`` (:func:`symbolic_bounds`): DeepPoly/CROWN back-substitution, the default;
* ``"lp"`` (:func:`lp_bounds`): LP tightening with HiGHS of the neurons symbolic leaves unstable;
  on deep networks with many inputs, after optimised back-substitution (alpha-CROWN,
  :func:`surrogate.bounds.crown.alpha_bounds`; :func:`lp_start`), which gets most of the LP's
  gain in a fraction of its time there (on eran 9x200, all of it).

All bounds are sound in floating point: widened by ``1e-7 * max(1, |b|)`` (see
:mod:`surrogate.bounds.interval`) before stability is decided.
"""

from __future__ import annotations

import time

from surrogate.bounds.crown import alpha_bounds
from surrogate.bounds.interval import Bounds, interval_bounds, linear_bounds
from surrogate.bounds.lp import lp_bounds
from surrogate.bounds.symbolic import symbolic_bounds
from surrogate.budget import Budget
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, L1Ball

__all__ = [
    "ALPHA_SHARE",
    "DEFAULT_LP_BUDGET_S",
    "LP_SHARE",
    "METHODS",
    "Bounds",
    "compute_bounds",
    "interval_bounds",
    "linear_bounds",
    "lp_bounds",
    "lp_start",
    "symbolic_bounds",
]

METHODS = ("interval", "symbolic", "lp")

#: LP budget of :func:`compute_bounds` when none is given (seconds)
DEFAULT_LP_BUDGET_S = 10.0
#: Share of a run's remaining time that ``"lp"`` bounds may take when the run has a budget.
LP_SHARE = 0.3
#: ``"lp"`` starts with optimised back-substitution (alpha-CROWN,
#: :func:`surrogate.bounds.crown.alpha_bounds`, at most ALPHA_SHARE of its time) on networks
#: with at least this many inputs and ReLU layers; low-dimensional networks are split on their
#: inputs instead, and the LP alone is quick on shallow ones.
ALPHA_MIN_INPUTS = 64
ALPHA_MIN_RELU_LAYERS = 3
ALPHA_SHARE = 0.5


def _alpha_pays(network: Network) -> bool:
    """Optimised back-substitution before the LP: on networks with many inputs and at least
    :data:`ALPHA_MIN_RELU_LAYERS` ReLU layers (mnist_fc 256x6 prop_3_0.05: 548 unstable
    neurons after 3.8 s against 649 after 18 s of LP alone)."""
    return (network.n_inputs >= ALPHA_MIN_INPUTS
            and network.relu_layer_count() >= ALPHA_MIN_RELU_LAYERS)


def lp_start(network: Network, input_set: Box | L1Ball, *, time_limit_s: float,
             budget: Budget | None = None) -> Bounds:
    """The bounds ``"lp"`` starts from: symbolic bounds, tightened by optimised
    back-substitution (:func:`~surrogate.bounds.crown.alpha_bounds`, method ``"alpha"``, with
    its slopes) within ``time_limit_s`` (and ``budget``) where it pays (box input sets of
    networks with at least :data:`ALPHA_MIN_INPUTS` inputs and :data:`ALPHA_MIN_RELU_LAYERS`
    ReLU layers); elsewhere the symbolic bounds. A caller that can use these before the LP
    runs (the verifier: eran 9x200, where the LP tightened at most one neuron more in 13 s)
    passes them back as ``compute_bounds(..., "lp", initial=...)``."""
    initial = symbolic_bounds(network, input_set)
    if isinstance(input_set, Box) and _alpha_pays(network):
        own = Budget.of(max(time_limit_s, 1e-3))
        initial = alpha_bounds(network, input_set, initial,
                               budget=own if budget is None else budget.until(own.deadline))
    return initial


def compute_bounds(
    network: Network,
    input_set: Box | L1Ball,
    method: str = "symbolic",
    *,
    time_limit_s: float | None = None,
    budget: Budget | None = None,
    initial: Bounds | None = None,
) -> Bounds:
    """Bounds of every layer of ``network`` over ``input_set`` by ``method``.

    ``time_limit_s`` limits the LP phase of ``"lp"``: ``None`` means :data:`DEFAULT_LP_BUDGET_S`
    (10 s), ``math.inf`` no limit. Neurons not reached in time keep their symbolic bounds (measured:
    mnist_fc 256x2 needs 0.03-1.3 s, 256x6 over 15 minutes without a limit). ``"interval"`` and
    ``"symbolic"`` take milliseconds to a fraction of a second and ignore it, so callers can pass
    one budget to any method. ``budget``: also ends the LP phase (its deadline, or its
    cancellation). ``initial`` (``"lp"`` only): :func:`lp_start`'s bounds, already computed,
    for the LP to start from (otherwise it computes them first, with :data:`ALPHA_SHARE` of
    its time)."""
    if method not in METHODS:
        raise InputError(f"unknown bounds method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "lp":
        limit = DEFAULT_LP_BUDGET_S if time_limit_s is None else time_limit_s
        if initial is None and isinstance(input_set, Box) and _alpha_pays(network):
            t0 = time.perf_counter()
            initial = lp_start(network, input_set, time_limit_s=ALPHA_SHARE * limit,
                               budget=budget)
            limit = max(limit - (time.perf_counter() - t0), 0.0)
        # plain symbolic bounds are what lp_bounds starts from by itself (without refreshing them)
        start = None if initial is None or initial.method == "symbolic" else initial
        return lp_bounds(network, input_set, time_limit_s=limit, initial=start, budget=budget)
    if method == "interval":
        return interval_bounds(network, input_set)
    return symbolic_bounds(network, input_set)

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
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, L1Ball

__all__ = [
    "METHODS",
    "Bounds",
    "compute_bounds",
    "interval_bounds",
    "linear_bounds",
    "lp_bounds",
    "symbolic_bounds",
]

METHODS = ("interval", "symbolic", "lp")


def compute_bounds(
    network: Network,
    input_set: Box | L1Ball,
    method: str = "symbolic",
    *,
    time_budget_s: float | None = None,
) -> Bounds:
    """Bounds of every layer of ``network`` over ``input_set`` by ``method``.

    ``time_budget_s`` limits the LP phase of ``"lp"`` (``None``: no limit); ``"interval"`` and
    ``"symbolic"`` take milliseconds and ignore it, so callers can pass one budget to any method."""
    if method not in METHODS:
        raise InputError(f"unknown bounds method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "lp":
        return lp_bounds(network, input_set, time_budget_s=time_budget_s)
    if method == "interval":
        return interval_bounds(network, input_set)
    return symbolic_bounds(network, input_set)

"""Build the MILP of (problem, network, bounds): the one place a problem's model is assembled.

:func:`build_milp` computes the bounds (when given a method name, the LP phase within the time it
is given), encodes the network over the problem's input set (:func:`surrogate.encode.network.
encode_over`, the chain shared with the Pyomo embedding) and adds the problem's objective. Runs,
the pruning study and the benchmarks all call it, so every model of the project is built the same
way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from surrogate.budget import Budget
from surrogate.encode.inputs import InputColumns
from surrogate.encode.matrix import MatrixModel
from surrogate.encode.network import NetworkEncoding, encode_over, resolve_bounds
from surrogate.network.spec import Network
from surrogate.problems.base import Problem

__all__ = ["BuiltMilp", "build_milp"]


@dataclass(frozen=True)
class BuiltMilp:
    """A problem's MILP on one network, with the maps needed to fill and read it."""

    model: MatrixModel
    network: Network  # the network encoded (dense, or a pruned surrogate)
    inputs: InputColumns
    encoding: NetworkEncoding
    objective: object  # the problem's handle for fill_objective
    bounds: Any
    bounds_s: float
    build_s: float

    def size(self) -> dict[str, int]:
        return self.model.size()

    def neurons(self) -> dict[str, int]:
        out = dict(self.encoding.stats())
        out["relus"] = self.network.relu_count()
        return out

    def warm_start(self, problem: Problem, x: np.ndarray) -> np.ndarray:
        """Every column's value at input ``x`` (the forward pass of the encoded network)."""
        values = np.zeros(self.model.n_cols)
        self.inputs.fill(x, values)
        self.encoding.fill(self.network, x, values)
        problem.fill_objective(self.objective, self.network.forward(x), values)
        return values


def build_milp(
    problem: Problem, network: Network, bounds: Any = "symbolic",
    *, lp_budget_s: float | None = None, budget: Budget | None = None,
) -> BuiltMilp:
    """The MILP of ``problem`` with ``network`` encoded (see the module docstring).

    ``bounds``: a method name (``"interval"``, ``"symbolic"``, ``"lp"``) or a computed
    :class:`~surrogate.bounds.Bounds`; ``lp_budget_s`` caps the LP phase of ``"lp"``, which also
    ends with ``budget`` (its deadline or its cancellation)."""
    t0 = time.perf_counter()
    b = resolve_bounds(network, problem.input_set, bounds, time_limit_s=lp_budget_s,
                       budget=budget)
    bounds_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = encode_over(network, problem.input_set, b)
    handle = problem.add_objective(rows.builder, rows.encoding.output_cols, rows.out_lower,
                                   rows.out_upper)
    model = rows.builder.build()
    return BuiltMilp(model, network, rows.inputs, rows.encoding, handle, b, bounds_s,
                     time.perf_counter() - t0)

"""Maximise (or minimise) one output of a network over a box: the paper's Task 2 as a use case.

``maximize(network, ...)`` runs a strategy within one time budget and returns the best point as
judged by the dense network in float64:

* ``portfolio`` (default): generators and MILPs sharing the best point
  (:func:`surrogate.app.portfolio.portfolio`);
* ``milp``: the dense MILP alone (:func:`surrogate.app.run.run_milp`, warm-started from the box
  centre), the only strategy whose bound can prove optimality on its own;
* ``gradient``, ``local``, ``lp``: one generator alone (multi-start gradient ascent; the local
  search over linear regions from the box centre; the dense LP-relaxation point, polished), for
  comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from surrogate.app.portfolio import DEFAULT_MILPS, MilpJob, portfolio
from surrogate.app.problems import box_maximization
from surrogate.app.run import run_milp
from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = ["STRATEGIES", "MaximizeResult", "maximize"]

STRATEGIES = ("portfolio", "milp", "gradient", "local", "lp")


@dataclass
class MaximizeResult:
    strategy: str
    output: int
    maximize: bool
    best_dense_objective: float
    x: np.ndarray
    start_objective: float
    bound: float | None
    status: str
    total_s: float
    trace: list[dict[str, Any]] = field(default_factory=list)  # (time_s, value, component)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_run_record(self, label: str) -> dict[str, Any]:
        """The fields a campaign's report reads from a run (as :class:`~surrogate.app.run.
        RunResult` has them), plus this result's own."""
        trace = [{"time_s": t["time_s"], "dense_objective": t["value"],
                  "surrogate_objective": t["value"], "success": False,
                  "component": t["component"]} for t in self.trace]
        best_t = next((t["time_s"] for t in self.trace
                       if t["value"] == self.best_dense_objective), None)
        return {**self.to_dict(), "label": label, "kind": "maximization",
                "status": self.status, "verdict": None, "sparsity": 0.0,
                "best_dense_time_s": best_t, "trace": trace, "total_s": self.total_s,
                "time_to_first_success_s": None, "size": {}, "neurons": {}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "output": self.output, "maximize": self.maximize,
            "best_dense_objective": self.best_dense_objective,
            "x": [float(v) for v in self.x], "start_objective": self.start_objective,
            "bound": self.bound, "status": self.status, "total_s": self.total_s,
            "trace": self.trace, "components": self.components,
        }


def maximize(
    network: Network,
    *,
    output: int = 0,
    minimize: bool = False,
    lower: float | np.ndarray = 0.0,
    upper: float | np.ndarray = 1.0,
    time_limit_s: float = 60.0,
    strategy: str = "portfolio",
    milps: tuple[MilpJob, ...] = DEFAULT_MILPS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> MaximizeResult:
    """The extreme of output ``output`` over ``[lower, upper]`` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    problem = box_maximization(network, output, lower=lower, upper=upper, minimize=minimize)
    if strategy == "milp":
        run = run_milp(problem, time_limit_s=time_limit_s, seed=seed, progress=progress)
        d = run.to_dict()
        start = float(problem.objective_of_outputs(network.forward(
            (problem.input_set.lower + problem.input_set.upper) / 2.0)))
        status = "optimal" if run.status == "optimal" else run.status
        best = run.best_dense_objective if run.best_dense_objective is not None else start
        return MaximizeResult(
            "milp", output, not minimize, float(best), np.array(run.best_x),
            start, run.bound, status, run.total_s,
            [{"time_s": e["time_s"], "value": e["dense_objective"], "component": "dense MILP"}
             for e in d["trace"]],
            {"dense MILP": {"time_s": run.total_s, "status": run.status, "nodes": run.node_count,
                            "incumbents": run.incumbents, "bound": run.bound}})
    options: dict[str, Any] = {
        "portfolio": {},
        "gradient": {"milps": (), "local": False, "lp_points": False},
        "local": {"milps": (), "gradient": False, "lp_points": False,
                  "polish_cap_s": time_limit_s, "polish_share": 1.0},
        "lp": {"milps": (), "gradient": False, "polish_cap_s": time_limit_s,
               "polish_share": 1.0},
    }[strategy]
    options.setdefault("milps", milps)
    res = portfolio(problem, time_limit_s=time_limit_s, seed=seed, progress=progress, **options)
    d = res.to_dict()
    return MaximizeResult(strategy, output, not minimize, res.best_value, res.best_x,
                          res.start_value, res.bound, res.status, res.total_s, d["trace"],
                          res.components)

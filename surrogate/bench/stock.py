"""The ``stock-omlt`` pipeline: what a user of the peers gets, as one more campaign configuration.

A Pyomo ``ConcreteModel`` holding OMLT's ``ReluBigMFormulation`` on an OMLT ``NetworkDefinition``
with OMLT's interval bounds (:func:`surrogate.encode.stock.add_stock_network`), the problem's own
objective (the rows :meth:`Problem.add_objective` writes for our MILP, put into Pyomo), solved
through Pyomo's HiGHS interface (``pyomo.contrib.solver`` ``"highs"``) with HiGHS's defaults:
``load_solutions=False``, ``raise_exception_on_nonoptimal_result=False``, ``time_limit``; no warm
start, no attack, no early stop. HiGHS gets the whole time limit for each MILP (the Pyomo build and
translation come on top: generous to the baseline).

The record has the fields of our runs that the reports read (``status``, ``verdict``,
``best_dense_objective``, ``time_to_first_success_s``, ``best_dense_time_s``, ``bound``,
``build_s``, ``solve_s``, ``total_s``, ``size``, ``trace``), plus ``translate_s`` (Pyomo to HiGHS)
and ``cpu_s``. The user sees an answer when the solve returns, so the time to a ``sat`` is the
whole run; HiGHS's log tells when each incumbent appeared, which gives the stock pipeline's time to
a value (:func:`parse_highs_log`) -- the earliest it *could* have known it.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.bounds import interval_bounds
from surrogate.encode.matrix import MatrixBuilder
from surrogate.network.spec import Network
from surrogate.problems.vnnlib_problem import problems_from_property
from surrogate.solve import PROOF_MARGIN
from surrogate.vnnlib.parser import read_vnnlib

__all__ = ["fresh_highs_scheduler", "parse_highs_log", "quiet_pyomo", "run_stock",
           "run_stock_instance", "stock_model"]

PIPELINE = "stock-omlt"

_LOG_LINE = re.compile(
    r"^\s*(?P<src>[A-Za-z])?\s+\S+\s+\S+\s+\S+\s+\S+%\s+(?P<bound>\S+)\s+(?P<sol>\S+)\s+\S+"
    r"\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<time>\d+(?:\.\d+)?)s\s*$"
)
_LOG_SIZE = re.compile(
    r"MIP has (?P<rows>\d+) rows; (?P<cols>\d+) cols; (?P<nnz>\d+) nonzeros; (?P<int>\d+) integer"
)


def _log_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf if "inf" in text.lower() else math.nan


def parse_highs_log(text: str) -> tuple[list[tuple[float, float, float]], dict[str, int]]:
    """The MIP progress lines of a HiGHS log as ``(time_s, best_bound, best_solution)`` (times
    since the HiGHS run started, objective in the model's sense) and the original model size."""
    trace = []
    for line in text.splitlines():
        m = _LOG_LINE.match(line)
        if m:
            trace.append((float(m["time"]), _log_float(m["bound"]), _log_float(m["sol"])))
    size: dict[str, int] = {}
    s = _LOG_SIZE.search(text)
    if s:
        size = {"variables": int(s["cols"]), "binaries": int(s["int"]),
                "constraints": int(s["rows"]), "nonzeros": int(s["nnz"])}
    return trace, size


def fresh_highs_scheduler() -> None:
    """Reset HiGHS's process-wide thread scheduler (sized by its first run), so the stock solve
    gets HiGHS's default thread count, as in a fresh process."""
    import highspy

    highspy.Highs.resetGlobalScheduler(True)


@contextmanager
def quiet_pyomo() -> Iterator[None]:
    """OMLT's build logs a W1002 warning per input whose box excludes 0; keep stderr readable."""
    log = logging.getLogger("pyomo")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _add_objective(m: Any, blk: Any, problem: Any, network: Network) -> None:
    """The problem's objective over the OMLT block's outputs: the rows and columns
    :meth:`add_objective` writes for our MILP (output bounds by interval arithmetic over the input
    box, OMLT's own), written into Pyomo."""
    import pyomo.environ as pyo

    # lazy: pulls in pyomo; surrogate.bench stays light (the report imports it)
    from surrogate.encode.pyomo_block import write_rows

    b = interval_bounds(network, problem.input_set.box)
    lo, hi = np.asarray(b.lower[-1], float), np.asarray(b.upper[-1], float)
    if network.layers[-1].activation == "relu":
        lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    builder = MatrixBuilder()
    out_cols = builder.add_columns(lo, hi, name="y")
    problem.add_objective(builder, out_cols, lo, hi)
    model = builder.build()
    col_vars: list[Any] = [None] * model.n_cols
    for k, j in enumerate(out_cols):
        col_vars[j] = blk.outputs[k]
    extra = [j for j in range(model.n_cols) if col_vars[j] is None]
    m.objective_vars = pyo.Var(
        range(len(extra)),
        within=lambda _m, k: pyo.Binary if model.integer[extra[k]] else pyo.Reals,
        bounds=lambda _m, k: (float(model.col_lower[extra[k]]), float(model.col_upper[extra[k]])),
    )
    for k, j in enumerate(extra):
        col_vars[j] = m.objective_vars[k]
    write_rows(m, model, col_vars, name="objective_rows")
    expr = sum(float(model.c[j]) * col_vars[j] for j in np.flatnonzero(model.c)) + model.offset
    m.obj = pyo.Objective(expr=expr, sense=pyo.maximize if model.maximize else pyo.minimize)


def stock_model(problem: Any, network: Network | None = None) -> tuple[Any, Any]:
    """The stock Pyomo model of ``problem`` with ``network`` (default: the problem's dense
    network) encoded by OMLT; returns ``(model, block)``."""
    import pyomo.environ as pyo

    # lazy: pulls in pyomo, omlt; surrogate.bench stays light (the report imports it)
    from surrogate.encode.stock import add_stock_network

    net = problem.network if network is None else network
    m = pyo.ConcreteModel()
    with quiet_pyomo():
        blk = add_stock_network(m, net, problem.input_set)
    _add_objective(m, blk, problem, net)
    return m, blk


def run_stock(problem: Any, time_limit_s: float, network: Network | None = None) -> dict[str, Any]:
    """Build and solve the stock model of ``problem`` (on ``network``, default dense); every
    answer is judged on the dense network, and ``unsat`` needs the dense MILP's dual bound above
    the proof margin."""
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus

    dense = network is None or network is problem.network
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    m, blk = stock_model(problem, network)
    build_s = time.perf_counter() - t0
    fresh_highs_scheduler()
    t1 = time.perf_counter()
    res = SolverFactory("highs").solve(
        m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
        time_limit=float(time_limit_s))
    solve_call_s = time.perf_counter() - t1
    fresh_highs_scheduler()
    x = y = None
    if res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal):
        res.solution_loader.load_vars()
        x = problem.input_set.project(
            np.array([pyo.value(blk.inputs[i]) for i in range(problem.network.n_inputs)]))
        y = problem.network.forward(x)
    total_s = time.perf_counter() - t0
    highs_s = float(res.timing_info.highs_time)
    pre_s = build_s + max(solve_call_s - highs_s, 0.0)
    log, size = parse_highs_log(res.solver_log or "")
    bound = None if res.objective_bound is None else float(res.objective_bound)
    success = x is not None and y is not None and problem.is_success(x, y)
    verdict = None
    if problem.kind == "verification":
        proved = dense and bound is not None and problem.proves(bound - PROOF_MARGIN)
        verdict = "sat" if success else ("unsat" if proved else "unknown")
    best = None if y is None else float(problem.objective_of_outputs(y))
    if dense:
        trace = _log_trace(log, pre_s, problem.maximize)
    else:  # the log's values are the pruned network's: only the final point is judged
        trace = [] if best is None else [{"time_s": total_s, "dense_objective": best}]
    return {
        "pipeline": PIPELINE,
        "kind": problem.kind,
        "problem": getattr(problem, "describe", lambda: problem.kind)(),
        "status": str(res.termination_condition).split(".")[-1],
        "verdict": verdict,
        "time_limit_s": float(time_limit_s),
        "build_s": build_s,
        "translate_s": pre_s - build_s,
        "solve_s": highs_s,
        "total_s": total_s,
        "cpu_s": time.process_time() - c0,
        "time_to_first_incumbent_s": trace[0]["time_s"] if trace else None,
        "time_to_first_success_s": total_s if success else None,
        "best_dense_objective": best,
        "best_dense_time_s": _time_to(trace, res.incumbent_objective if dense else best,
                                      problem.maximize, total_s),
        "surrogate_objective": (None if res.incumbent_objective is None
                                else float(res.incumbent_objective)),
        "bound": bound,
        "size": size,
        "trace": trace,
        "best_x": None if x is None else x.tolist(),
        "best_y_dense": None if y is None else y.tolist(),
    }


def _log_trace(log: list[tuple[float, float, float]], pre_s: float,
               maximize: bool) -> list[dict[str, float]]:
    """Improving incumbents of the HiGHS log, at pipeline time (build and translation included).
    The values are the MILP's (on the dense network: the dense objective up to HiGHS's
    tolerances)."""
    out: list[dict[str, float]] = []
    sign = 1.0 if maximize else -1.0
    for t, _bound, sol in log:
        if math.isfinite(sol) and (not out or sign * sol > sign * out[-1]["dense_objective"]):
            out.append({"time_s": pre_s + t, "dense_objective": sol})
    return out


def _time_to(trace: list[dict[str, float]], value: float | None, maximize: bool,
             total_s: float) -> float | None:
    """When the trace first reaches ``value`` (within 1e-6 relative); the whole run if never."""
    if value is None:
        return None
    tol = 1e-6 * max(1.0, abs(value))
    for e in trace:
        v = e["dense_objective"]
        if (v >= value - tol) if maximize else (v <= value + tol):
            return e["time_s"]
    return total_s


def run_stock_instance(onnx: str | Path, vnnlib: str | Path, time_limit_s: float) -> dict[str, Any]:
    """The stock pipeline on a VNN-COMP instance: one stock model per case of the property, in
    order, until one is ``sat``; ``unsat`` when every case is. The network is read with our reader
    (OMLT's own cannot read these files), and the reading is charged to the stock side."""
    # lazy: pulls in onnx; surrogate.bench stays light (the report imports it)
    from surrogate.network.onnx_io import read_onnx

    t0, c0 = time.perf_counter(), time.process_time()
    net = read_onnx(onnx)
    prop = read_vnnlib(vnnlib, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    problems = problems_from_property(net, prop, name=Path(vnnlib).name)
    read_s = time.perf_counter() - t0
    cases: list[dict[str, Any]] = []
    for p in problems:
        cases.append(run_stock(p, time_limit_s))
        if cases[-1]["verdict"] == "sat":
            break
    verdicts = [c["verdict"] for c in cases]
    if "sat" in verdicts:
        result = "sat"
    elif len(cases) == len(problems) and all(v == "unsat" for v in verdicts):
        result = "unsat"
    else:
        result = "timeout" if any(c["status"] == "maxTimeLimit" for c in cases) else "unknown"
    sat = next((c for c in cases if c["verdict"] == "sat"), None)
    return {
        "pipeline": PIPELINE,
        "result": result,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "method": PIPELINE,
        "cases": len(problems),
        "read_s": read_s,
        "build_s": sum(c["build_s"] for c in cases),
        "translate_s": sum(c["translate_s"] for c in cases),
        "solve_s": sum(c["solve_s"] for c in cases),
        "counterexample_x": None if sat is None else sat["best_x"],
        "counterexample_y": None if sat is None else sat["best_y_dense"],
        "details": {"per_case": [{k: v for k, v in c.items() if k not in ("best_x",
                                                                          "best_y_dense")}
                                 for c in cases]},
    }

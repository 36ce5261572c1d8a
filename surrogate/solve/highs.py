"""Solve a :class:`~surrogate.encode.MatrixModel` with HiGHS (highspy) under a wall-clock limit.

* Every improving incumbent is passed to ``on_incumbent(x, objective, time_s)`` as it is found
  (the improving-solution callback): the problems layer re-evaluates it on the *dense* network.
  The callback may return ``True`` to stop the solve (e.g. a dense counterexample was found).
* ``stop_when(primal, dual)`` is polled during the search (the MIP interrupt callback): return
  ``True`` to stop early, e.g. as soon as the dual bound proves a property.
* ``warm_start`` (a full column vector) is handed to HiGHS before the solve, so a run whose input
  set is non-empty starts with an incumbent.
* A time limit is a normal outcome: :class:`SolveResult` carries status, best objective, bound,
  incumbent, node count and the anytime trace. Only a HiGHS failure raises :class:`SolverError`.
* Ctrl-C during a solve stops HiGHS and is raised as ``KeyboardInterrupt`` once it has returned,
  so callers see an interruption, not a solver failure: while HiGHS runs (in the main thread),
  SIGINT only sets a flag that the interrupt callback reads.
* HiGHS gets the model scaled by powers of two (:func:`~surrogate.solve.numerics.scale_for_highs`:
  exact, so its absolute tolerances act relative to each quantity's size) and without the matrix
  entries it would silently drop (their effect moved into the row bounds); solutions, warm starts
  and callbacks are in the caller's unscaled columns.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np

from surrogate._highs import highs_lp, new_highs
from surrogate.budget import Budget
from surrogate.encode.matrix import MatrixModel
from surrogate.errors import SolverError
from surrogate.solve.numerics import scale_for_highs

__all__ = ["SolveResult", "TracePoint", "solve_matrix", "PRESETS"]

#: HiGHS option presets. Chosen by measurement (``surrogate perf --suite presets``, docs/performance.md):
#: on the digits verification grid nine candidates (heuristic effort, presolve, symmetry, cuts, LP age,
#: restarts, 2 threads) were within noise of HiGHS's defaults with one thread, and 2 threads and higher
#: heuristic effort were slower on average, so the default preset is HiGHS's defaults (1 thread).
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "no-symmetry": {"mip_detect_symmetry": False},
}

_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kInterrupt: "stopped",
    highspy.HighsModelStatus.kObjectiveBound: "stopped",
    highspy.HighsModelStatus.kObjectiveTarget: "stopped",
    highspy.HighsModelStatus.kSolutionLimit: "stopped",
    highspy.HighsModelStatus.kIterationLimit: "time_limit",
}


@dataclass(frozen=True)
class TracePoint:
    """One improving incumbent: when (seconds since the solve started) and its objective."""

    time_s: float
    objective: float
    bound: float


@dataclass(frozen=True)
class SolveResult:
    status: str  # optimal | infeasible | unbounded | time_limit | stopped
    objective: float | None
    bound: float | None
    x: np.ndarray | None
    wall_s: float
    node_count: int
    trace: tuple[TracePoint, ...] = field(default=())
    highs_status: str = ""

    @property
    def has_incumbent(self) -> bool:
        return self.x is not None


def _to_highs_lp(model: MatrixModel) -> highspy.HighsLp:
    return highs_lp(model.c, model.col_lower, model.col_upper, model.A, model.row_lower,
                    model.row_upper, integer=model.integer, offset=model.offset,
                    maximize=model.maximize)


#: HiGHS checks its time limit and calls back only between some steps; one round of root cut
#: separation on a 290k-nonzero model (mnist_fc 256x6) ran 3.4 s without either. A solve with a
#: deadline therefore gives HiGHS a limit that ends this much earlier per nonzero (at most
#: RESERVE_SHARE of the time), so that its last uninterruptible step still ends by the deadline.
#: The callbacks also stop HiGHS once the deadline is nearer than GAP_FACTOR times the longest
#: stretch it has run without calling back (at most RESERVE_SHARE of the time): on a
#: 326k-nonzero maximisation MILP (1000-200x4-1) its presolve took 9.5 s, and a root heuristic
#: that presolves a fresh LP as large ran 8-11 s past a 60 s limit before this rule.
RESERVE_S_PER_NONZERO = 1e-5
RESERVE_SHARE = 0.2
GAP_FACTOR = 1.5


def _highs_limit(model: MatrixModel, time_limit_s: float, budget: Budget | None) -> float:
    limit = float(time_limit_s)
    if budget is not None:
        left = budget.remaining()
        reserve = min(RESERVE_SHARE * left, RESERVE_S_PER_NONZERO * model.nnz)
        limit = min(limit, left - reserve)
    return max(limit, 1e-3)


@contextlib.contextmanager
def _sigint_as_flag(stop: dict[str, object]) -> Iterator[None]:
    """While HiGHS runs, SIGINT records a ``KeyboardInterrupt`` in ``stop`` and sets its flag (the
    interrupt callback then stops HiGHS) instead of raising inside C++, which HiGHS reports as a
    solve error. Only in the main thread (the only one that receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: object) -> None:
        stop["flag"], stop["interrupt"] = True, KeyboardInterrupt()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def solve_matrix(
    model: MatrixModel,
    *,
    time_limit_s: float = 60.0,
    on_incumbent: Callable[[np.ndarray, float, float], bool | None] | None = None,
    stop_when: Callable[[float, float], bool] | None = None,
    warm_start: np.ndarray | None = None,
    options: Mapping[str, object] | None = None,
    preset: str = "default",
    threads: int = 1,
    seed: int = 0,
    relax: float = 0.0,
    budget: Budget | None = None,
    inject: Callable[[], np.ndarray | None] | None = None,
    reset_scheduler: bool = True,
) -> SolveResult:
    """Solve ``model``; see the module docstring for the callbacks. ``options`` are HiGHS options;
    ``relax`` widens every row and continuous bound of the scaled model (proof runs, see
    :mod:`surrogate.solve.numerics`); the end of ``budget`` is enforced by the interrupt
    callbacks on top of HiGHS's own ``time_limit``, which HiGHS checks less often in some
    phases. ``inject()`` is polled by HiGHS's user-solution callback: a full column vector (in
    ``model``'s columns) it returns is handed to the running solve as a solution (a point found
    by someone else, e.g. the portfolio's local search). ``reset_scheduler=False`` skips the reset
    of HiGHS's process-wide thread scheduler (needed after a solve with another thread count, but
    not while other HiGHS solves run in other threads)."""
    if not time_limit_s > 0:
        raise SolverError(f"time_limit_s must be > 0, got {time_limit_s}")
    original = model
    model, col_scale = scale_for_highs(model, relax)
    h = new_highs()
    h.setOptionValue("time_limit", _highs_limit(model, time_limit_s, budget))
    deadline = None if budget is None else budget.deadline
    h.setOptionValue("threads", int(threads))
    h.setOptionValue("random_seed", int(seed))
    for key, value in {**PRESETS.get(preset, {}), **dict(options or {})}.items():
        if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:  # type: ignore[arg-type]
            raise SolverError(f"HiGHS rejected option {key}={value!r}")
    if h.passModel(_to_highs_lp(model)) == highspy.HighsStatus.kError:
        raise SolverError("HiGHS could not load the model (passModel returned an error)")

    t_start = time.perf_counter()
    trace: list[TracePoint] = []
    best: dict[str, object] = {"x": None, "obj": None}
    stop: dict[str, object] = {"flag": False, "interrupt": None, "deadline": False}
    # the longest stretch HiGHS has run without calling back (see past_deadline)
    gaps = {"last": t_start, "longest": 0.0,
            "cap": 0.0 if deadline is None else RESERVE_SHARE * max(deadline - t_start, 0.0)}

    def past_deadline() -> bool:
        """The deadline is reached, or near enough that a stretch without a callback like the
        longest so far (times GAP_FACTOR, at most RESERVE_SHARE of the time) would run past it,
        or the budget was cancelled."""
        now = time.perf_counter()
        gaps["longest"] = max(gaps["longest"], now - gaps["last"])
        gaps["last"] = now
        if budget is not None and budget.cancel is not None and budget.cancel.is_set():
            return True
        if deadline is None:
            return False
        return now + min(GAP_FACTOR * gaps["longest"], gaps["cap"]) >= deadline
    sign = -1.0 if model.maximize else 1.0

    def record(x_scaled: np.ndarray, obj: float, bound: float, report: bool = True) -> None:
        t = time.perf_counter() - t_start
        x = x_scaled * col_scale
        if best["obj"] is not None and sign * obj >= sign * float(best["obj"]) - 1e-12:  # type: ignore[arg-type]
            return
        best["x"], best["obj"] = x, obj
        trace.append(TracePoint(t, obj, bound))
        if report and on_incumbent is not None and on_incumbent(x, obj, t):
            stop["flag"] = True

    def improving(e: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        try:
            out = e.data_out
            x = np.array(out.mip_solution, dtype=np.float64)
            record(x, float(out.objective_function_value), float(out.mip_dual_bound))
        except KeyboardInterrupt as exc:  # Ctrl-C: stop HiGHS, raise it after run() returns
            stop["flag"], stop["interrupt"] = True, exc

    def interrupt(e: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        try:
            if not stop["flag"] and stop_when is not None:
                out = e.data_out
                if stop_when(float(out.mip_primal_bound), float(out.mip_dual_bound)):
                    stop["flag"] = True
            if past_deadline() and not stop["flag"]:
                stop["deadline"] = True
                e.interrupt()
        except KeyboardInterrupt as exc:
            stop["flag"], stop["interrupt"] = True, exc
        if stop["flag"]:
            e.interrupt()

    def lp_interrupt(e: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        # the MIP callback is not reached while HiGHS solves a large LP (the root of a 256x6
        # mnist_fc model: seconds); the simplex one is, so the deadline and Ctrl-C hold there too
        if past_deadline() or stop["flag"]:
            stop["deadline"] = stop["deadline"] or not stop["flag"]
            e.interrupt()

    def user_solution(e: highspy.cb.HighsCallbackEvent) -> None:  # type: ignore[name-defined]
        try:
            vec = inject() if inject is not None else None
            if vec is not None and vec.shape == (model.n_cols,):
                scaled = np.asarray(vec, dtype=np.float64) / col_scale
                if e.data_in.setSolution(scaled) == highspy.HighsStatus.kOk:
                    record(scaled, model.objective_value(scaled), float("nan"), report=False)
        except KeyboardInterrupt as exc:
            stop["flag"], stop["interrupt"] = True, exc

    if model.n_integer:
        h.cbMipImprovingSolution.subscribe(improving)
        h.cbMipInterrupt.subscribe(interrupt)
        if inject is not None:
            h.cbMipUserSolution.subscribe(user_solution)
    h.cbSimplexInterrupt.subscribe(lp_interrupt)
    if warm_start is not None:
        ws = np.asarray(warm_start, dtype=np.float64)
        if ws.shape == (model.n_cols,) and original.max_violation(ws) <= 1e-6:
            ws = ws / col_scale
            sol = highspy.HighsSolution()
            sol.col_value = ws
            sol.value_valid = True
            h.setSolution(sol)
            # HiGHS does not report a user solution through the improving-solution callback, so the
            # warm start is recorded here as the first incumbent.
            record(ws, model.objective_value(ws), float("nan"))
    if not stop["flag"]:
        # HiGHS sizes a process-wide thread scheduler on its first run; after a solve with another
        # thread count (e.g. a Pyomo solve in the same process) run() fails with "Not Set" unless reset.
        if reset_scheduler:
            highspy.Highs.resetGlobalScheduler(True)
        with _sigint_as_flag(stop):
            run_status = h.run()
        if isinstance(stop["interrupt"], KeyboardInterrupt):
            raise stop["interrupt"]
        if run_status == highspy.HighsStatus.kError:
            raise SolverError(f"HiGHS failed: {h.modelStatusToString(h.getModelStatus())}")
    wall = time.perf_counter() - t_start
    ms = h.getModelStatus()
    info = h.getInfo()
    status = "stopped" if stop["flag"] else _STATUS.get(ms, "unknown")
    if stop["deadline"] and not stop["flag"]:
        status = "time_limit"
    x_best = best["x"]
    sol = h.getSolution()
    if sol.value_valid:
        x_sol = np.array(sol.col_value, dtype=np.float64)
        obj_sol = model.objective_value(x_sol)  # the same value as on the unscaled model
        if best["obj"] is None or sign * obj_sol < sign * float(best["obj"]) - 1e-12:  # type: ignore[arg-type]
            record(x_sol, obj_sol, float(info.mip_dual_bound) if model.n_integer else obj_sol)
        x_best = best["x"]
    bound: float | None
    if model.n_integer:
        bound = float(info.mip_dual_bound)
        if not np.isfinite(bound):
            bound = None
    else:
        bound = float(info.objective_function_value) if ms == highspy.HighsModelStatus.kOptimal else None
    return SolveResult(
        status=status,
        objective=None if best["obj"] is None else float(best["obj"]),  # type: ignore[arg-type]
        bound=bound,
        x=None if x_best is None else np.asarray(x_best),
        wall_s=wall,
        node_count=int(info.mip_node_count) if model.n_integer else 0,
        trace=tuple(trace),
        highs_status=h.modelStatusToString(ms),
    )

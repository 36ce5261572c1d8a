"""One MILP run of a problem, on the dense network or on a pruned surrogate of it.

The surrogate's MILP is built (bounds, encoding, objective) and solved under a time limit; every
incumbent's input is clipped into the input set and evaluated on the **dense** network (float64),
so the record says when the sparse model first produced a good *dense* solution. Times are
wall-clock seconds from the start of the run, including pruning (passed in), bounds and build, so
comparisons between dense and pruned runs are honest; the setup part is also reported alone.

Verdicts (verification problems): ``sat`` only with a dense-confirmed counterexample (and, when
``confirm`` is given, confirmed by it too, e.g. onnxruntime); ``unsat`` only when the MILP of the
**dense** network proved it *beyond the model's numerical margin*
(:func:`~surrogate.solve.numerics.proof_margin`): dual bound ``> margin``, on a model whose
scaling HiGHS's tolerances can certify at all, and HiGHS did not report the model infeasible or
unbounded (the input set is never empty, so that would be a numerical failure); anything else is
``unknown``, and ``note`` says why when the reason is numerical.

The one exception to "infeasible is a failure": a dense verification run with ``cutoff=True`` hands
HiGHS the cutoff ``objective_bound = margin`` (only solutions with ``t <= margin`` count, so HiGHS
prunes every node whose bound exceeds it and uses the cutoff in propagation). When HiGHS then ends
infeasible (status ``"cutoff"`` here), no input reaches ``t <= margin``: the same proof as a dual
bound ``> margin``, found much sooner on hard instances. It is never used on a surrogate (a
surrogate incumbent with ``t > 0`` can still be a dense counterexample) nor for maximisation (no
threshold). With the cutoff, HiGHS's dual bound only speaks of the points with ``t <= margin``:
the proof is the same test, and the ``bound`` reported is capped at ``margin``, the largest lower
bound on ``min t`` it gives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from surrogate.app.build import build_milp
from surrogate.bounds import LP_SHARE
from surrogate.budget import Budget
from surrogate.errors import InputError, SolverError
from surrogate.network.spec import Network
from surrogate.problems.base import Problem
from surrogate.prune import apply
from surrogate.sets import L1Ball
from surrogate.solve.highs import SolveResult, solve_matrix
from surrogate.solve.numerics import PROOF_MARGIN, PROOF_RELAX, proof_margin, proof_options

__all__ = [
    "MIN_SOLVE_S",
    "PROOF_MARGIN",
    "RunHooks",
    "RunResult",
    "Surrogate",
    "TraceEntry",
    "make_surrogate",
    "run_milp",
    "run_problem",
]

#: HiGHS always gets at least this long (it then returns at least the warm start).
MIN_SOLVE_S = 0.01


@dataclass(frozen=True)
class TraceEntry:
    time_s: float  # since the run started (setup included)
    surrogate_objective: float
    dense_objective: float
    success: bool


@dataclass(frozen=True)
class RunResult:
    label: str
    problem: str
    kind: str
    status: str
    verdict: str | None
    sparsity: float
    time_limit_s: float
    prune_s: float
    bounds_s: float
    build_s: float
    solve_s: float
    total_s: float
    time_to_first_incumbent_s: float | None
    time_to_first_success_s: float | None
    best_dense_objective: float | None
    best_dense_time_s: float | None
    surrogate_objective: float | None
    bound: float | None
    node_count: int
    incumbents: int
    size: dict[str, int]
    neurons: dict[str, int]
    bounds_method: str
    trace: tuple[TraceEntry, ...] = field(default=())
    best_x: tuple[float, ...] | None = None
    best_y_dense: tuple[float, ...] | None = None
    counterexample_x: tuple[float, ...] | None = None
    counterexample_y: tuple[float, ...] | None = None
    cutoff: float | None = None  # the HiGHS objective cutoff of a dense verification run
    margin: float | None = None  # a dual bound above this proves (dense verification runs)
    note: str | None = None  # why no proof could be trusted, or how HiGHS failed

    @property
    def setup_s(self) -> float:
        return self.prune_s + self.bounds_s + self.build_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trace"] = [asdict(t) for t in self.trace]
        d["setup_s"] = self.setup_s
        return d


@dataclass(frozen=True)
class RunHooks:
    """A run inside a portfolio (:mod:`surrogate.app.portfolio`): ``on_point(x, label)`` gets the
    input of every incumbent (already judged on the dense network by the run); ``offered()``
    returns a better input point found elsewhere, or None, and is handed to HiGHS as a solution;
    ``should_stop()`` ends the run (another component answered). Runs with hooks leave HiGHS's
    process-wide thread scheduler alone: other solves run beside them."""

    on_point: Callable[[np.ndarray, str], None]
    offered: Callable[[], np.ndarray | None]
    should_stop: Callable[[], bool]


def default_point(problem: Problem) -> np.ndarray:
    """The problem's ``x0`` if it has one, else the centre of its input set (a feasible point)."""
    x0 = getattr(problem, "x0", None)
    if x0 is not None:
        return np.asarray(x0, dtype=np.float64)
    s = problem.input_set
    return np.asarray(s.center, dtype=np.float64) if isinstance(s, L1Ball) else s.center()


def _into_set(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Solver values may sit a hair outside the set (feasibility tolerance): bring them in."""
    return problem.input_set.project(x)


def run_milp(
    problem: Problem,
    surrogate: Network | None = None,
    *,
    label: str = "dense",
    sparsity: float = 0.0,
    prune_s: float = 0.0,
    time_limit_s: float = 60.0,
    bounds: Any = "symbolic",
    warm_start: np.ndarray | str | None = "auto",
    stop_on_success: bool = True,
    stop_on_proof: bool = True,
    confirm: Callable[[np.ndarray], bool] | None = None,
    preset: str = "default",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    cutoff: bool = False,
    prove: bool = True,
    hooks: RunHooks | None = None,
) -> RunResult:
    """Build and solve ``problem`` with ``surrogate`` (default: the dense network itself).

    ``time_limit_s`` is the wall-clock budget of the whole run, counted from ``prune_s`` seconds
    ago (the pruning that made ``surrogate``): bounds (``"lp"`` takes at most
    :data:`~surrogate.bounds.LP_SHARE` of what remains), build and HiGHS all come out of it.

    ``warm_start``: an input point, ``"auto"`` (the problem's ``x0`` if it has one, else the centre
    of the input set: every point of the set is feasible, so no run ends without an incumbent), or
    ``None`` for a cold start.

    ``cutoff``: give HiGHS the proof cutoff (see the module docstring); only for a verification
    problem on the dense network (else :class:`InputError`). Off by default: it makes proofs much
    faster, but HiGHS's heuristics then keep no incumbent above the cutoff, which can slow the
    search for a counterexample when no attack found one first. ``surrogate verify`` uses it for
    its dense MILPs, after the attack.

    ``hooks``: how a run takes part in a portfolio (:class:`RunHooks`): every incumbent's input
    is passed on, points found elsewhere are handed to HiGHS, and the run stops on request.

    ``prove``: on a dense verification problem, run HiGHS as a prover (the numerical contract of
    :mod:`surrogate.solve.numerics`: relaxed, scaled model with tight tolerances; the verdict may
    be ``unsat``); ``False`` searches the exact model with HiGHS's defaults (``sat`` or
    ``unknown`` only)."""
    t_run = time.perf_counter() - prune_s
    dense = problem.network
    net = surrogate if surrogate is not None else dense
    is_dense = surrogate is None or surrogate is dense
    if cutoff and not (is_dense and prove and problem.kind == "verification"
                       and not problem.maximize):
        raise InputError(
            "cutoff=True needs a verification problem on the dense network (a surrogate's "
            "incumbent above the cutoff can still be a dense counterexample)"
        )
    budget = Budget.since(t_run, time_limit_s, what="time_limit_s")
    built = build_milp(problem, net, bounds, lp_budget_s=LP_SHARE * budget.remaining())
    model, cols, b = built.model, built.inputs, built.bounds
    bounds_s, build_s = built.bounds_s, built.build_s
    proving = prove and is_dense and problem.kind == "verification" and not problem.maximize
    pm = proof_margin(model) if proving else None
    can_prove = pm is not None and pm.trusted
    # HiGHS compares the cutoff with c.x + offset; on a model without binaries (an LP: every
    # neuron stable) its simplex would stop with "objective bound" instead, and the LP is quick
    use_cutoff = bool(cutoff) and can_prove and model.offset == 0.0 and model.n_integer > 0
    margin = pm.margin if pm is not None else PROOF_MARGIN

    ws = None
    if isinstance(warm_start, str):
        if warm_start != "auto":
            raise InputError(f"warm_start must be an input point, 'auto' or None, got {warm_start!r}")
        warm_start = default_point(problem)
    if warm_start is not None:
        ws = built.warm_start(problem, _into_set(problem, np.asarray(warm_start, dtype=np.float64)))

    trace: list[TraceEntry] = []
    state: dict[str, Any] = {"success": None, "best": None, "proved": None}
    sign = -1.0 if problem.maximize else 1.0

    def on_incumbent(xcols: np.ndarray, obj: float, _t: float) -> bool:
        x = _into_set(problem, xcols[cols.x])
        y = dense.forward(x)
        dense_obj = problem.objective_of_outputs(y)
        ok = problem.is_success(x, y) and (confirm is None or confirm(x))
        t = time.perf_counter() - t_run
        trace.append(TraceEntry(t, float(obj), float(dense_obj), bool(ok)))
        if state["best"] is None or sign * dense_obj < sign * state["best"][0]:
            state["best"] = (float(dense_obj), t, x, y)
        if ok and state["success"] is None:
            state["success"] = (t, x, y)
            if progress:
                progress(f"{label}: dense counterexample at {t:.2f} s")
        if hooks is not None:
            hooks.on_point(x, label)
        return bool(ok and stop_on_success)

    def stop_when(_primal: float, dual: float) -> bool:
        if hooks is not None and hooks.should_stop():
            return True
        if not (stop_on_proof and can_prove):
            return False
        if math.isinf(dual) and not use_cutoff:
            return False  # an infinite bound would mean infeasible: a numerical failure, no proof
        if problem.proves(dual - margin):
            # under the cutoff HiGHS's bound turns infinite once every node is pruned: no point
            # has t <= margin
            state["proved"] = float(dual)
            return True
        return False

    def inject() -> np.ndarray | None:
        x = hooks.offered() if hooks is not None else None
        return None if x is None else built.warm_start(problem, _into_set(problem, x))

    note = None if pm is None else pm.reason
    t_solve = time.perf_counter()
    try:
        res = solve_matrix(
            model,
            time_limit_s=max(budget.remaining(), MIN_SOLVE_S),
            budget=budget,
            on_incumbent=on_incumbent,
            stop_when=stop_when,
            warm_start=ws,
            preset=preset,
            seed=seed,
            options=proof_options(pm, cutoff=use_cutoff) if pm is not None else None,
            relax=PROOF_RELAX if pm is not None else 0.0,
            inject=None if hooks is None else inject,
            reset_scheduler=hooks is None,
        )
    except SolverError as exc:  # a HiGHS failure is an answer of its own: no proof, say why
        note = str(exc)
        res = SolveResult("error", None, None, None, time.perf_counter() - t_solve, 0)
    status = res.status
    if use_cutoff and (status == "infeasible" or math.isinf(state["proved"] or 0.0)):
        status = "cutoff"  # no point with t <= margin: the property is proved
    total_s = time.perf_counter() - t_run

    verdict = None
    if problem.kind == "verification":
        if state["success"] is not None:
            verdict = "sat"
        elif can_prove and (
            state["proved"] is not None  # the interrupt callback saw the proof
            or (
                res.status in ("optimal", "stopped", "time_limit")
                and res.bound is not None
                and problem.proves(res.bound - margin)
            )
            or status == "cutoff"
        ):
            verdict = "unsat"
        else:
            verdict = "unknown"
            if can_prove and note is None and res.status in ("optimal", "infeasible"):
                bound_text = "none" if res.bound is None else f"{res.bound:.3g}"
                note = (f"the dense MILP ended with dual bound {bound_text}, not above this "
                        f"model's numerical margin {margin:.3g} (see docs/verify.md): no proof")
    bound = res.bound
    if status == "cutoff":
        bound = margin  # no point with t <= margin: min t > margin
    elif use_cutoff and bound is not None:
        # HiGHS's bound then covers only the points with t <= cutoff (and its incumbent): past
        # the cutoff, the valid lower bound on min t is the cutoff itself
        bound = min(bound, margin)
    best = state["best"]
    succ = state["success"]
    neurons = built.neurons()
    return RunResult(
        label=label,
        problem=getattr(problem, "describe", lambda: problem.kind)(),
        kind=problem.kind,
        status=status,
        verdict=verdict,
        sparsity=float(sparsity),
        time_limit_s=float(time_limit_s),
        prune_s=float(prune_s),
        bounds_s=bounds_s,
        build_s=build_s,
        solve_s=res.wall_s,
        total_s=total_s,
        time_to_first_incumbent_s=trace[0].time_s if trace else None,
        time_to_first_success_s=None if succ is None else succ[0],
        best_dense_objective=None if best is None else best[0],
        best_dense_time_s=None if best is None else best[1],
        surrogate_objective=res.objective,
        bound=bound,
        node_count=res.node_count,
        incumbents=len(trace),
        size=model.size(),
        neurons=neurons,
        bounds_method=str(getattr(b, "method", bounds)),
        trace=tuple(trace),
        best_x=None if best is None else tuple(map(float, best[2])),
        best_y_dense=None if best is None else tuple(map(float, best[3])),
        counterexample_x=None if succ is None else tuple(map(float, succ[1])),
        counterexample_y=None if succ is None else tuple(map(float, succ[2])),
        cutoff=margin if use_cutoff else None,
        margin=margin if pm is not None else None,
        note=note,
    )


# ----------------------------------------------------------------------------- surrogates
@dataclass(frozen=True)
class Surrogate:
    """A pruned network made for a run: how long pruning took is part of the run's time."""

    network: Network
    method: str
    sparsity: float
    prune_s: float
    info: dict[str, Any]  # the pruning report (PruneReport's fields, achieved_sparsity, time_s)


def make_surrogate(
    network: Network, method: str, sparsity: float, **options: Any
) -> Surrogate:
    """Prune ``network`` with ``method`` to ``sparsity`` (options as the method takes them, e.g.
    ``data=(x, y)``), timed."""
    t0 = time.perf_counter()
    res = apply(network, method, sparsity, **options)
    prune_s = time.perf_counter() - t0
    info = {**asdict(res.report), "achieved_sparsity": res.report.sparsity, "time_s": prune_s,
            "finetuned": bool(options.get("finetune"))}
    return Surrogate(res.network, method, float(sparsity), prune_s, info)


def run_problem(problem: Problem, surrogate: Surrogate | None = None, **options: Any) -> RunResult:
    """One run of ``problem``: on the dense network, or on ``surrogate`` (its pruning time counted
    in the run's times and budget); ``options`` as :func:`run_milp` takes them."""
    if surrogate is None:
        return run_milp(problem, **options)
    options.setdefault("label", f"{surrogate.method}@{surrogate.sparsity:g}")
    return run_milp(problem, surrogate.network, sparsity=surrogate.sparsity,
                    prune_s=surrogate.prune_s, **options)

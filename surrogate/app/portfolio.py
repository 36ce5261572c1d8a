"""The portfolio: generators and MILPs in one time budget, sharing the best dense point.

The project's claim is that a pruned surrogate helps find good solutions of the *dense* problem
sooner. At the paper's scale (1000 inputs) a MILP alone returns its start point, so the MILPs work
beside cheaper generators, every candidate judged on the dense network in float64:

* the **LP-relaxation point** of each MILP (the dense one and the surrogates'), polished;
* **multi-start gradient descent** on the dense network (:func:`surrogate.search.gradient_descent`);
* the **local search** over linear regions of the dense network
  (:func:`surrogate.search.local_search`), which makes any point exact and locally optimal: it
  polishes the LP points, the gradient points and every MILP incumbent;
* **MILPs**: pruned surrogates at one or more sparsities, then the dense MILP, one after the
  other in a second thread (HiGHS releases the interpreter while it runs, so on two cores the
  MILP and the generators run at the same time). The thread starts after the first gradient
  round and runs at a lower scheduling priority (:data:`MILP_NICE`): with one core per run, at
  n0 = 10000, its model builds had delayed the first gradient rounds past 10 s and its root
  solve had taken CPU from the gradient ascent, which ended 1.2-1.6 % below the ascent alone.
  Each MILP is warm-started from the best dense point so far; every incumbent goes to the local
  search; the best dense point found by anyone is handed to the running MILP (HiGHS's
  user-solution callback).

The dense MILP is the only component that can prove: for maximisation its dual bound is the
bound reported (``optimal`` when it meets the best value); for verification its proof is the
same as :func:`surrogate.app.run.run_milp`'s. A verification portfolio stops at the first point
that is a dense counterexample (and passes ``confirm``). The record names the component that
found each improvement and when (:class:`PortfolioResult`).

A surrogate that has lost every path to the objective (no nonzero weight reaches the output) is
skipped with a message: its MILP would be "optimal" at once and say nothing.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from surrogate.app.build import build_milp
from surrogate.app.run import (
    RunHooks,
    RunResult,
    Surrogate,
    TraceEntry,
    make_surrogate,
    run_problem,
)
from surrogate.bounds import LP_SHARE
from surrogate.budget import Budget
from surrogate.encode.matrix import MatrixModel
from surrogate.encode.network import reaches_output
from surrogate.problems.attack import pgd_attack
from surrogate.problems.base import Problem
from surrogate.problems.verification import VerificationProblem
from surrogate.search import OutputObjective, activation_pattern, gradient_descent, local_search
from surrogate.solve.highs import solve_matrix

__all__ = [
    "DEFAULT_MILPS", "VERIFY_GENERATOR_SHARE", "Improvement", "MilpJob", "PortfolioResult",
    "portfolio",
]


@dataclass(frozen=True)
class MilpJob:
    """One MILP of the portfolio: the dense network (``method=None``) or a pruned surrogate; it
    gets ``share`` of what remains of the MILP thread's time when it starts."""

    method: str | None
    sparsity: float = 0.0
    share: float = 1.0
    name: str | None = None  # the label of its runs and record (default: from method/sparsity)
    prepared: Surrogate | None = None  # the surrogate already pruned by the caller (else pruned here)

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        return "dense MILP" if self.method is None else f"{self.method}@{self.sparsity:g} MILP"


#: The default MILPs: a 30 %-pruned surrogate (the sparsity that helped most often in the paper's
#: maximisation data) for 40 % of the time, then the dense MILP, which alone can prove.
DEFAULT_MILPS = (MilpJob("magnitude-global", 0.3, 0.4), MilpJob(None, 0.0, 1.0))


@dataclass(frozen=True)
class Improvement:
    time_s: float
    value: float  # the problem's objective on the dense network
    component: str


@dataclass
class PortfolioResult:
    best_value: float  # problem units (the output for maximisation, t for verification)
    best_x: np.ndarray
    start_value: float
    bound: float | None  # the dense MILP's dual bound, problem units
    status: str  # "optimal" | "sat" | "unsat" | "time_limit"
    total_s: float
    trace: tuple[Improvement, ...]
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)  # the MILPs' RunResult records
    found_by: str | None = None  # the component that found the counterexample (status "sat")
    found_s: float | None = None  # ... and when (seconds from the start)

    def as_run(self, problem: Problem, time_limit_s: float, label: str = "portfolio"
               ) -> RunResult:
        """This result as one row of a comparison of runs (:func:`surrogate.app.compare.compare`):
        times from the portfolio's start, size and neurons of its dense MILP (the last one run),
        nodes summed over its MILPs."""
        dense = [r for r in self.runs if r.get("sparsity", 0.0) == 0.0]
        last = dense[-1] if dense else (self.runs[-1] if self.runs else {})
        size = last.get("size") or {"variables": 0, "binaries": 0, "constraints": 0,
                                    "nonzeros": 0}
        verification = problem.kind == "verification"
        x = self.best_x
        y = problem.network.forward(x)
        success = verification and self.status == "sat"
        return RunResult(
            label=label, problem=getattr(problem, "describe", lambda: problem.kind)(),
            kind=problem.kind, status=self.status,
            verdict=({"sat": "sat", "unsat": "unsat"}.get(self.status, "unknown")
                     if verification else None),
            sparsity=0.0, time_limit_s=float(time_limit_s), prune_s=0.0, bounds_s=0.0,
            build_s=0.0, solve_s=self.total_s, total_s=self.total_s,
            time_to_first_incumbent_s=self.trace[0].time_s if self.trace else None,
            time_to_first_success_s=self.found_s,
            best_dense_objective=self.best_value,
            best_dense_time_s=self.trace[-1].time_s if self.trace else None,
            surrogate_objective=None, bound=self.bound,
            node_count=int(sum(max(r.get("node_count", 0), 0) for r in self.runs)),
            incumbents=len(self.trace), size=dict(size),
            # (no MILP built, e.g. the attack answered first: the network's ReLUs, nothing bounded)
            neurons=dict(last.get("neurons") or {"relus": problem.network.relu_count()}),
            bounds_method=str(last.get("bounds_method", "-")),
            trace=tuple(TraceEntry(i.time_s, i.value, i.value, False) for i in self.trace),
            best_x=tuple(map(float, x)), best_y_dense=tuple(map(float, y)),
            counterexample_x=tuple(map(float, x)) if success else None,
            counterexample_y=tuple(map(float, y)) if success else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_dense_objective": self.best_value, "best_x": [float(v) for v in self.best_x],
            "start_value": self.start_value, "bound": self.bound, "status": self.status,
            "total_s": self.total_s,
            "trace": [{"time_s": i.time_s, "value": i.value, "component": i.component}
                      for i in self.trace],
            "components": self.components, "runs": self.runs, "found_by": self.found_by,
            "found_s": self.found_s,
        }


class _Shared:
    """The best dense point so far, the record of improvements, the polishing queue."""

    def __init__(self, problem: Problem, objective: OutputObjective, t0: float,
                 progress: Callable[[str], None] | None,
                 confirm: Callable[[np.ndarray], bool] | None) -> None:
        self.problem, self.objective, self.t0 = problem, objective, t0
        self.progress, self.confirm = progress, confirm
        self.lock = threading.Lock()
        self.best_t = np.inf
        self.best_x: np.ndarray | None = None
        self.version = 0
        self.trace: list[Improvement] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.polish: queue.PriorityQueue[tuple[float, int, str, np.ndarray]] = (
            queue.PriorityQueue())
        self._count = 0
        self.success: np.ndarray | None = None
        self.success_by: str | None = None
        self.success_s: float | None = None
        self.done = threading.Event()

    def to_polish(self, x: np.ndarray, name: str) -> None:
        """Queue ``x`` for the local search, best dense value first."""
        t = self.objective.value(self.problem.network.forward(x))
        with self.lock:
            self._count += 1
            self.polish.put((t, self._count, name, x))

    def component(self, name: str) -> dict[str, Any]:
        return self.stats.setdefault(name, {"time_s": 0.0, "improvements": 0, "calls": 0})

    def offer(self, x: np.ndarray, name: str) -> bool:
        """Judge ``x`` on the dense network; keep it if it is the best so far."""
        x = self.problem.input_set.project(np.asarray(x, dtype=np.float64))
        y = self.problem.network.forward(x)
        t = self.objective.value(y)
        success = self.problem.kind == "verification" and self.problem.is_success(x, y)
        if success and self.confirm is not None and not self.confirm(x):
            success = False
        with self.lock:
            if success and self.success is None:
                self.success, self.success_by = x, name
                self.success_s = time.perf_counter() - self.t0
                self.done.set()
            if not t < self.best_t:
                return False
            self.best_t, self.best_x = t, x
            self.version += 1
            value = self.objective.to_problem_units(t)
            elapsed = time.perf_counter() - self.t0
            self.trace.append(Improvement(elapsed, value, name))
            self.component(name)["improvements"] += 1
        if self.progress is not None:
            self.progress(f"{elapsed:6.2f} s  {value:.6g}  ({name})")
        return True


def _lp_point(built: Any, problem: Problem, budget: Budget) -> np.ndarray | None:
    """The input part of the optimum of the MILP's LP relaxation."""
    m = built.model
    relaxed = MatrixModel(m.col_lower, m.col_upper, np.zeros_like(m.integer), m.A, m.row_lower,
                          m.row_upper, m.c, m.offset, m.maximize, m.col_names)
    res = solve_matrix(relaxed, time_limit_s=max(budget.remaining(), 0.01), budget=budget,
                       reset_scheduler=False)
    return None if res.x is None else np.asarray(res.x)[built.inputs.x]


def _incumbent_to(shared: _Shared, name: str) -> Callable[[np.ndarray, str], None]:
    """A MILP incumbent's input: judged on the dense network, then queued for the local search."""

    def on_point(x: np.ndarray, _label: str) -> None:
        shared.offer(x, name)
        shared.to_polish(x, name)
    return on_point


#: Scheduling priority (nice) of the MILP thread on Linux: when it and the generators want the
#: same core, the generators get most of it; a free core still goes to the MILP in full.
MILP_NICE = 10


#: On a verification problem, the share of the time the gradient rounds may take while a MILP runs
#: (on a loaded machine every second they take is a second less for the proof: at 25 %, two eran
#: instances at a time on 2 cores, an unsat proof took 43.8 s instead of 20.6 s).
VERIFY_GENERATOR_SHARE = 0.05

#: How long an interrupted portfolio waits for its MILP thread to stop (HiGHS stops at its next
#: callback; a model build cannot be interrupted).
STOP_WAIT_S = 30.0

#: A MILP job does not start with less time than this (maximisation: its build would run past the
#: budget for nothing) ...
MIN_JOB_S = 1.0
#: ... or, on a verification problem, than this (a short proof is still a proof).
MIN_VERIFY_JOB_S = 0.05


def _yield_cpu() -> None:
    """Lower the calling thread's scheduling priority by :data:`MILP_NICE` (Linux applies it
    to the thread alone; elsewhere, or when refused, nothing happens)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid,
                       min(os.getpriority(os.PRIO_PROCESS, tid) + MILP_NICE, 19))
    except (OSError, AttributeError):
        pass


def _run_milps(problem: Problem, jobs: Sequence[MilpJob], budget: Budget, shared: _Shared,
               bounds: Any, seed: int, out: list, lp_points: bool) -> None:
    """The MILP thread: each job in turn, with hooks into the shared state. On a verification
    problem the dense MILP is the prover (HiGHS's proof cutoff, as in
    :func:`surrogate.app.run.run_milp`); when its relaxed proof model ends early without an answer,
    the exact model is searched for a counterexample with the time left."""
    verification = problem.kind == "verification"
    if not verification:
        _yield_cpu()  # a verification MILP is the only prover: it keeps its priority
    budget = budget.cancelled_by(shared.done)  # bounds and LP points stop once someone answered

    def offered_for(job: str) -> Callable[[], np.ndarray | None]:
        seen = {"version": shared.version}

        def offered() -> np.ndarray | None:
            with shared.lock:
                if shared.version == seen["version"] or shared.best_x is None:
                    return None
                seen["version"] = shared.version
                return shared.best_x.copy()
        return offered

    queue_ = [(job, True) for job in jobs]
    i = 0
    while i < len(queue_):
        job, prove = queue_[i]
        i += 1
        if budget.remaining() < (MIN_VERIFY_JOB_S if verification else MIN_JOB_S) \
                or shared.done.is_set():
            break
        last = i == len(queue_)
        jb = budget if last else budget.share(job.share)
        name = job.label if prove else f"{job.label} (search)"
        stats = shared.component(name)
        t_job = time.perf_counter()
        try:
            surrogate = None
            if job.method is not None:
                surrogate = job.prepared or make_surrogate(problem.network, job.method,
                                                            job.sparsity)
                if not reaches_output(surrogate.network):
                    stats["skipped"] = ("the pruned network has lost every path from the inputs "
                                        "to the objective: its MILP would say nothing")
                    continue
            net = problem.network if surrogate is None else surrogate.network
            built = build_milp(problem, net, bounds, lp_budget_s=LP_SHARE * jb.remaining(),
                               budget=jb)
            # (verification: the main thread's quick LP point only; here it would only delay
            # the prover, whose root LP is the same relaxation)
            x_lp = (_lp_point(built, problem, jb.share(0.1))
                    if lp_points and prove and not verification else None)
            if x_lp is not None:
                shared.offer(x_lp, f"LP point ({name})")
                shared.to_polish(x_lp, f"LP point ({name})")
            hooks = RunHooks(on_point=_incumbent_to(shared, name), offered=offered_for(name),
                             should_stop=shared.done.is_set)
            with shared.lock:
                start = None if shared.best_x is None else shared.best_x.copy()
            prover = verification and surrogate is None and prove
            run: RunResult = run_problem(
                problem, surrogate, label=name, time_limit_s=max(jb.remaining(), 0.05),
                bounds=built.bounds, warm_start=start if start is not None else "auto",
                seed=seed, hooks=hooks, stop_on_success=True, confirm=shared.confirm,
                cutoff=prover, prove=prove)
            d = run.to_dict()
            d.pop("trace", None)
            counts = built.bounds.counts(net)
            d["bounds"] = {"method": built.bounds.method, "time_s": built.bounds_s,
                           **{k: counts[k] for k in ("unstable", "active", "inactive")}}
            out.append(d)
            stats.update(status=run.status, nodes=run.node_count, incumbents=run.incumbents,
                         bound=run.bound, verdict=run.verdict)
            if surrogate is None and run.verdict == "unsat":
                stats["proved"] = True
                shared.done.set()
            elif prover and run.verdict != "sat" and run.status in ("optimal", "infeasible",
                                                                     "error"):
                # the proof model is a relaxation whose optimum need not be a real point (or
                # HiGHS failed): search the exact model with the time left
                queue_.append((job, False))
        except Exception as exc:  # one component failing must not sink the others
            stats["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            stats["time_s"] += time.perf_counter() - t_job
            stats["calls"] += 1


def portfolio(
    problem: Problem,
    *,
    time_limit_s: float = 60.0,
    milps: Sequence[MilpJob] = DEFAULT_MILPS,
    bounds: Any = "symbolic",
    seed: int = 0,
    confirm: Callable[[np.ndarray], bool] | None = None,
    progress: Callable[[str], None] | None = None,
    polish_cap_s: float = 5.0,
    polish_share: float = 0.3,
    gradient: bool = True,
    local: bool = True,
    lp_points: bool = True,
    budget: Budget | None = None,
    start: np.ndarray | None = None,
    attack: bool = True,
) -> PortfolioResult:
    """Run the portfolio on ``problem`` for ``time_limit_s`` seconds (see the module docstring).

    ``milps``: the MILP jobs, in order (empty: generators only). ``confirm(x)``: an extra check
    of a verification counterexample (e.g. onnxruntime). ``polish_cap_s``: the longest one local
    search may run; ``polish_share``: the share of the main thread's time the local search may
    take (gradient descent gets the rest: at 1000 inputs it is the strongest generator).
    ``gradient``, ``local``, ``lp_points``: switch a generator off (the benchmark runs each alone
    against the whole); without MILPs, ``lp_points`` solves the dense MILP's LP relaxation in the
    main thread. ``budget``: the time to use (instead of ``time_limit_s`` from now); ``start``:
    the first point (default: the problem's ``x0``, else the centre of the box). ``attack``: on
    a verification problem, run the PGD attack (:func:`surrogate.problems.attack.pgd_attack`)
    once first, before any MILP starts (``surrogate verify`` runs its own attack rounds before
    the portfolio and switches this off).

    On a verification problem the MILPs start at once (the dense one is the prover), the
    generators take at most :data:`VERIFY_GENERATOR_SHARE` of the time while a MILP runs, and the
    portfolio ends when the MILPs have ended and the local search has polished every point
    queued (the attack that usually comes before it has searched with gradients already)."""
    t0 = time.perf_counter()
    if budget is None:
        budget = Budget.of(time_limit_s, what="time_limit_s")
    verification = problem.kind == "verification"
    objective = OutputObjective.of_problem(problem)
    shared = _Shared(problem, objective, t0, progress, confirm)
    net, box = problem.network, problem.input_set
    if start is None:
        start = getattr(problem, "x0", None)
    x_start = np.asarray(start if start is not None else (box.lower + box.upper) / 2.0,
                         dtype=np.float64)
    shared.offer(x_start, "start")
    start_value = objective.to_problem_units(shared.best_t)
    if attack and isinstance(problem, VerificationProblem):
        # a second or less: the cheapest generator, made for the unsafe disjuncts; it answers
        # many cases before a MILP is built (eran 9x200 under the paper's L1 budget: 4 of 6
        # images in 0.0-0.6 s, which the gradient rounds, at 5 % of the time beside the MILP,
        # reached at about 10 s)
        stats = shared.component("attack")
        t1 = time.perf_counter()
        hit = pgd_attack(problem, seed=seed, budget=budget)
        stats["time_s"] += time.perf_counter() - t1
        stats["calls"] += 1
        shared.offer(hit.x, "attack")
        shared.to_polish(hit.x, "attack")
        if shared.done.is_set():
            milps = ()
    highspy.Highs.resetGlobalScheduler(True)  # once, before any two solves run side by side
    runs: list[dict[str, Any]] = []
    thread = None
    if milps:
        thread = threading.Thread(
            target=_run_milps,
            args=(problem, list(milps), budget, shared, bounds, seed, runs, lp_points),
            name="portfolio-milp", daemon=True)
        if not gradient or verification:
            thread.start()  # otherwise after the first gradient round (below)
    polished: set[bytes] = set()

    def lp_point() -> None:
        # (verification: a quick LP point on symbolic bounds while the MILP thread tightens its
        # own bounds)
        stats = shared.component("LP point (dense)")
        t1 = time.perf_counter()
        try:
            built = build_milp(problem, net, "symbolic" if milps else bounds,
                               lp_budget_s=LP_SHARE * budget.remaining())
            x_lp = _lp_point(built, problem, budget.share(0.2))
        except Exception as exc:  # a generator failing must not sink the others
            stats["error"] = f"{type(exc).__name__}: {exc}"
            x_lp = None
        stats["time_s"] += time.perf_counter() - t1
        stats["calls"] += 1
        if x_lp is not None:
            shared.offer(x_lp, "LP point (dense)")
            shared.to_polish(x_lp, "LP point (dense)")

    def polish(name: str, x: np.ndarray) -> None:
        if not local:
            return
        key = b"".join(p.tobytes() for p in activation_pattern(net, x))
        if key in polished or budget.expired():
            return
        polished.add(key)
        stats = shared.component("local search")
        t1 = time.perf_counter()
        try:
            res = local_search(net, objective, box, x,
                               budget=budget.until(t1 + max(polish_cap_s, 0.0)))
        except Exception as exc:  # (HiGHS failing on a badly scaled region LP)
            stats["error"] = f"{type(exc).__name__}: {exc}"
            return
        finally:
            stats["time_s"] += time.perf_counter() - t1
            stats["calls"] += 1
        stats["regions"] = stats.get("regions", 0) + res.regions
        if res.improved:
            shared.offer(res.x, f"local search <- {name}")

    try:
        if lp_points and (not milps or verification) and not shared.done.is_set():
            lp_point()
        if local and (not gradient or verification):
            shared.to_polish(x_start, "start")
        rnd = 0
        rng = np.random.default_rng(seed)
        while not budget.expired() and not shared.done.is_set():
            milp_running = thread is not None and thread.is_alive()
            if verification and thread is not None and not milp_running and shared.polish.empty():
                break  # the MILPs ended without an answer and every point has been polished
            if verification and milp_running and (shared.component("gradient descent")["time_s"]
                                                  > VERIFY_GENERATOR_SHARE * (time.perf_counter() - t0)):
                try:  # the prover's turn: the main thread only polishes what comes in
                    _, _, name, x = shared.polish.get(timeout=0.05)
                    polish(name, x)
                except queue.Empty:
                    pass
                continue
            spent = shared.component("local search")["time_s"]
            if spent <= polish_share * (time.perf_counter() - t0) or rnd == 0:
                try:
                    _, _, name, x = shared.polish.get_nowait()
                    polish(name, x)
                    continue
                except queue.Empty:
                    pass
            if not gradient:
                if thread is None or not thread.is_alive():
                    if not local:
                        break
                    # the local search alone: walk again from a random point of the set
                    shared.to_polish(box.sample(1, rng)[0], "random start")
                    continue
                time.sleep(0.01)
                continue
            stats = shared.component("gradient descent")
            t1 = time.perf_counter()
            res = gradient_descent(net, objective, box, budget=budget, rounds=1, seed=seed + rnd,
                                   first=x_start if rnd == 0 else None)
            stats["time_s"] += time.perf_counter() - t1
            stats["calls"] += 1
            rnd += 1
            if thread is not None and thread.ident is None:
                thread.start()
            if shared.offer(res.x, "gradient descent") or rnd == 1:
                polish("gradient descent", res.x)
    except BaseException:
        # Ctrl-C (or a failure) in the main thread: stop the MILP thread before leaving; a
        # HiGHS solve still running when the interpreter exits aborts the process
        shared.done.set()
        if thread is not None and thread.ident is not None:
            thread.join(timeout=STOP_WAIT_S)
        raise
    shared.done.set()
    if thread is not None and thread.ident is not None:
        # the MILP stops at its next callback; a build cannot be interrupted, so the portfolio
        # does not wait for more than a second past its budget (the thread is a daemon: its
        # late result is dropped)
        thread.join(timeout=max(budget.remaining(), 0.0) + 1.0)
        for job in milps:
            job_stats = shared.stats.get(job.label)
            if thread.is_alive() and job_stats is not None and "status" not in job_stats:
                job_stats["status"] = "unfinished at the time limit"
    return _result(problem, shared, start_value, runs, time.perf_counter() - t0)


def _result(problem: Problem, shared: _Shared, start_value: float, runs: list[dict[str, Any]],
            total_s: float) -> PortfolioResult:
    dense = [r for r in runs if r.get("sparsity", 0.0) == 0.0]
    bound = dense[-1].get("bound") if dense else None
    best = shared.objective.to_problem_units(shared.best_t)
    status = "time_limit"
    if problem.kind == "verification":
        if shared.success is not None:
            status = "sat"
        elif dense and dense[-1].get("verdict") == "unsat":
            status = "unsat"
    elif bound is not None:
        gap = (bound - best) if problem.maximize else (best - bound)
        if gap <= 1e-6 * max(1.0, abs(best)):
            status = "optimal"
    x = shared.success if shared.success is not None else shared.best_x
    assert x is not None
    return PortfolioResult(best, x, start_value, bound, status, total_s, tuple(shared.trace),
                           shared.stats, runs, shared.success_by, shared.success_s)

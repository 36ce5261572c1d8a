"""Performance benchmark (issue 4): our pipeline against the stock OMLT + HiGHS pipeline.

Two pipelines solve the same problems side by side:

* **stock** -- exactly what a user of the peers gets: a Pyomo model holding OMLT's
  ``ReluBigMFormulation`` on an OMLT ``NetworkDefinition`` (interval bounds computed by OMLT:
  :func:`surrogate.encode.stock.add_stock_network`), the same objective and input-set constraints,
  solved through Pyomo's HiGHS interface (``pyomo.contrib.solver`` ``"highs"``) with HiGHS defaults:
  ``load_solutions=False``, ``raise_exception_on_nonoptimal_result=False``, ``time_limit``; no warm
  start, no attack, no early stop. Its build (Pyomo model construction), the Pyomo-to-HiGHS
  translation and the HiGHS run are timed separately. HiGHS' own log gives the time at which each
  incumbent appeared, so the time the stock pipeline needed to *reach* a value is known too.
* **ours** -- the library's pipeline: :func:`surrogate.app.verify.verify_instance` for VNN-LIB
  instances; for the digits and maximisation grids a PGD attack (or gradient ascent) first, then
  :func:`surrogate.solve.run_milp` (symbolic or LP bounds, warm start, early stops).

Suites (:data:`SUITES`): ``build`` (build time of a 784-512-512-10 MILP, dense and 90 % pruned),
``mnist_fc`` (VNN-COMP 2022 mnist_fc 256x2), ``digits`` (robustness of the shipped digits
models), ``maximize`` (random MLPs, the paper's Task 2) and ``presets`` (HiGHS option presets of
our MILPs on the digits grid). :func:`run_perf` returns a JSON-ready dict with per-instance rows
for both pipelines, per-suite medians, the ratios the issue's targets name (:data:`TARGETS`) and
machine information. A verdict on which the pipelines disagree (one ``sat``, the other ``unsat``)
is a soundness bug: it is listed under ``"bugs"`` and printed loudly.

Thread settings: HiGHS keeps one global thread scheduler per process, sized by the first run
(``threads=0``, the default, means all cores). A later run that asks for another thread count
fails, so :func:`fresh_highs_scheduler` resets it before every solve: the stock pipeline then gets
HiGHS' default (all cores) and ours its configured count, as each would in a fresh process.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, InputSet

__all__ = [
    "DIGITS_GRID",
    "MAXIMIZE_GRID",
    "PRESET_CANDIDATES",
    "SUITES",
    "TARGETS",
    "PerfConfig",
    "StockRun",
    "ascent_start",
    "build_suite",
    "digits_suite",
    "fresh_highs_scheduler",
    "machine_info",
    "maximize_suite",
    "mnist_fc_suite",
    "ours_maximize",
    "ours_verify",
    "parse_highs_log",
    "presets_suite",
    "run_perf",
    "stock_model",
    "stock_run",
]

SUITES = ("build", "mnist_fc", "digits", "maximize", "presets")

#: The issue's targets: (suite, key in the suite's summary, comparison, threshold, meaning).
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    ("build", "dense_ours_matrix_over_stock", "<=", 0.1,
     "dense build: ours (symbolic bounds + matrix model) / stock OMLT Pyomo build"),
    ("build", "dense_ours_pyomo_symbolic_over_stock", "<=", 0.1,
     "dense build into Pyomo (the embedding API, symbolic bounds): ours / stock OMLT"),
    ("build", "dense_ours_pyomo_symbolic_over_stock_nogc", "<=", 0.1,
     "dense build into Pyomo: ours / stock OMLT with the garbage collector paused too"),
    ("build", "sparse_over_dense_ours_matrix", "<=", 0.25,
     "90 % pruned / dense, ours: symbolic bounds + matrix model"),
    ("build", "sparse_over_dense_ours_matrix_build_only", "<=", 0.25,
     "90 % pruned / dense, ours: matrix model alone (bounds given)"),
    ("build", "sparse_over_dense_ours_pyomo_symbolic", "<=", 0.25,
     "90 % pruned / dense, ours: Pyomo build with symbolic bounds"),
    ("mnist_fc", "ours_answered_share", ">=", 1.0, "share of instances ours answers"),
    ("mnist_fc", "ours_median_s", "<=", 2.0, "median wall time of ours (s)"),
    ("mnist_fc", "stock_over_ours_median", ">=", 10.0, "stock median / ours median"),
    ("digits", "same_answer_stock_over_ours_median", ">=", 10.0,
     "median time to the same answer (instances both answer alike): stock / ours"),
    ("maximize", "stock_over_ours_median", ">=", 10.0,
     "median time to the stock's final value: stock / ours"),
    ("maximize", "ours_with_incumbent_share", ">=", 1.0, "share of ours runs with an incumbent"),
)

#: Default digits verification grid: shipped models x test images x (norm, eps).
DIGITS_GRID: dict[str, Any] = {
    "models": ("digits-2x32", "digits-2x64", "digits-4x32", "digits-4x64"),
    "images": (0, 1, 2, 3, 4),
    "balls": (("linf", 0.05), ("l1", 2.0)),
}

#: Default maximisation grid: random MLPs ``[n0, w x L, 1]`` (PyTorch default init, paper seeds).
MAXIMIZE_GRID: dict[str, Any] = {
    "inputs": (100, 1000),
    "hidden": ((50, 50), (100, 100), (50, 50, 50)),
    "seeds": (50, 51),
}

#: HiGHS option presets measured by the ``presets`` suite (name -> options for ``run_milp``).
PRESET_CANDIDATES: dict[str, dict[str, object]] = {
    "default": {},
    "heuristics-0.2": {"mip_heuristic_effort": 0.2},
    "heuristics-0.01": {"mip_heuristic_effort": 0.01},
    "presolve-off": {"presolve": "off"},
    "no-symmetry": {"mip_detect_symmetry": False},
    "no-node-cuts": {"mip_allow_cut_separation_at_nodes": False},
    "lp-age-20": {"mip_lp_age_limit": 20},
    "no-restart": {"mip_allow_restart": False},
    "threads-2": {"threads": 2},
    # HiGHS cutoff: only solutions with objective <= 1e-6 count, so a verification MILP that
    # has none ends "infeasible" -- a proof of the property; run as run_milp(cutoff=True),
    # which reads that proof (see _preset_run)
    "cutoff": {"objective_bound": 1e-6},
}

Progress = Callable[[str], None]

#: Build suite: at least this many timings of the millisecond steps (bounds, matrix build).
FAST_REPEATS = 15


@dataclass(frozen=True)
class PerfConfig:
    """Options of a benchmark run (see ``surrogate perf --help``)."""

    time_limit_s: float | None = None  # None: each suite's default
    limit: int | None = None  # at most this many instances per suite
    repeats: int = 3  # build suite: timings per variant (median kept)
    build_sizes: tuple[int, ...] = (784, 512, 512, 10)
    build_sparsity: float = 0.9
    bounds: str = "symbolic"  # ours: "symbolic" or "lp"
    seed: int = 0
    vnncomp_dir: str = ""
    presets: tuple[str, ...] = tuple(PRESET_CANDIDATES)
    blas_threads: int | None = None  # None: leave numpy's BLAS threading as the process has it
    reuse_stock: str = ""  # a previous perf JSON whose stock rows are reused (same time limit)
    presets_on: str = "digits"  # problems of the presets suite: "digits" or "mnist_fc"
    progress: Progress | None = None

    def __post_init__(self) -> None:
        if self.time_limit_s is not None and not (
            math.isfinite(self.time_limit_s) and self.time_limit_s > 0
        ):
            raise InputError(f"time limit must be a finite number of seconds > 0, got {self.time_limit_s}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"limit must be >= 1 instance, got {self.limit}")
        if self.repeats < 1:
            raise InputError(f"repeats must be >= 1, got {self.repeats}")
        if len(self.build_sizes) < 3 or min(self.build_sizes) < 1:
            raise InputError(
                f"build sizes must be >= 3 positive widths (input, hidden..., output), "
                f"got {list(self.build_sizes)}"
            )
        if not 0.0 < self.build_sparsity < 1.0:
            raise InputError(f"build sparsity must lie in (0, 1), got {self.build_sparsity}")
        if self.bounds not in ("symbolic", "lp"):
            raise InputError(f"bounds must be 'symbolic' or 'lp', got {self.bounds!r}")
        if self.blas_threads is not None and self.blas_threads < 1:
            raise InputError(f"blas_threads must be >= 1, got {self.blas_threads}")
        if self.presets_on not in ("digits", "mnist_fc"):
            raise InputError(f"presets_on must be 'digits' or 'mnist_fc', got {self.presets_on!r}")
        unknown = [p for p in self.presets if p not in PRESET_CANDIDATES]
        if unknown:
            raise InputError(
                f"unknown preset(s) {unknown}; choose from {', '.join(PRESET_CANDIDATES)}"
            )

    def limit_for(self, default_s: float) -> float:
        return float(self.time_limit_s) if self.time_limit_s is not None else default_s

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def take(self, items: Sequence[Any]) -> list[Any]:
        return list(items[: self.limit] if self.limit is not None else items)

    def reused_stock(self, suite: str, time_limit_s: float) -> dict[str, dict[str, Any]]:
        """Stock rows of ``suite`` from :attr:`reuse_stock` by instance name ({} when unset)."""
        if not self.reuse_stock:
            return {}
        return _load_stock_rows(self.reuse_stock, suite, float(time_limit_s))


def _load_stock_rows(path: str, suite: str, time_limit_s: float) -> dict[str, dict[str, Any]]:
    """The stock rows of ``suite`` in the perf JSON ``path`` (the stock pipeline does not depend
    on our settings, so a run comparing variants of ours may reuse them)."""
    import json

    p = Path(path)
    if not p.is_file():
        raise InputError(f"--reuse-stock file not found: {path}")
    try:
        record = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path} as a perf JSON record: {exc}") from None
    data = record.get("suites", {}).get(suite)
    if data is None:
        return {}
    if float(data.get("time_limit_s", -1.0)) != time_limit_s:
        raise InputError(
            f"{path} ran suite {suite} with a {data.get('time_limit_s')} s limit, this run uses "
            f"{time_limit_s:g} s: stock rows are reused only with the same time limit")
    return {row["instance"]: row["stock"] for row in data.get("rows", [])}


# ============================================================================= helpers
def machine_info() -> dict[str, Any]:
    """Cores, load, versions and BLAS threading of this machine (for the JSON record)."""
    import highspy
    import omlt
    import pyomo.version
    import scipy

    from surrogate._highs import new_highs

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    h = new_highs()
    return {
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pyomo": pyomo.version.version,
        "omlt": getattr(omlt, "__version__", "?"),
        "highs": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}",
        "highspy": getattr(highspy, "__version__", "?"),
        "blas_threads_env": {
            k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "threadpools": _threadpools(),
    }


def _threadpools() -> list[dict[str, Any]]:
    """numpy's BLAS (and OpenMP) thread pools as threadpoolctl sees them now."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return []
    return [{"api": i.get("internal_api"), "threads": i.get("num_threads")}
            for i in threadpool_info()]


@contextmanager
def _blas_limit(threads: int | None) -> Iterator[None]:
    """Limit BLAS/OpenMP threads to ``threads`` for the block (no change for None)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        yield


def fresh_highs_scheduler() -> None:
    """Reset HiGHS' process-wide thread scheduler so the next run may use any ``threads``."""
    import highspy

    highspy.Highs.resetGlobalScheduler(True)


def median(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return float(num) / float(den)


def _timed(fn: Callable[[], Any], *, collect: bool = False) -> tuple[Any, float]:
    """``(fn(), seconds)``; ``collect`` runs the garbage collector first (outside the timing),
    so that a build is not charged for collecting the previous one's objects."""
    if collect:
        gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@contextmanager
def _quiet_pyomo() -> Iterator[None]:
    """OMLT's build logs a W1002 warning per input whose box excludes 0; keep stderr readable."""
    log = logging.getLogger("pyomo")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


# ============================================================================= stock
@dataclass(frozen=True)
class StockRun:
    """One stock solve: times, HiGHS' answer and the incumbent's inputs (``x``)."""

    build_s: float
    translate_s: float  # Pyomo -> HiGHS (solve call minus HiGHS' own run time)
    highs_s: float
    total_s: float
    cpu_s: float  # process CPU time (all threads) of build + solve
    termination: str
    objective: float | None
    bound: float | None
    x: np.ndarray | None
    log_trace: tuple[tuple[float, float, float], ...]  # (HiGHS time s, best bound, best sol)
    size: dict[str, int] = field(default_factory=dict)

    @property
    def pre_highs_s(self) -> float:
        """Time before HiGHS starts: Pyomo build plus translation."""
        return self.build_s + self.translate_s

    def time_to_value_s(self, value: float, maximize: bool, tol: float) -> float | None:
        """Pipeline time at which HiGHS' log first shows an incumbent at least as good as
        ``value`` (within ``tol``); None when it never does."""
        for t, _bound, sol in self.log_trace:
            if math.isfinite(sol) and ((sol >= value - tol) if maximize else (sol <= value + tol)):
                return self.pre_highs_s + t
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["x"] = None
        d["log_trace"] = [list(p) for p in self.log_trace]
        return d


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
        size = {"constraints": int(s["rows"]), "variables": int(s["cols"]),
                "nonzeros": int(s["nnz"]), "binaries": int(s["int"])}
    return trace, size


def _objective_rows(problem: Any, network: Network, input_set: InputSet) -> list[tuple[np.ndarray,
                                                                                        np.ndarray]]:
    """Per unsafe conjunction, the interval bounds of ``C y - d`` (for the big-M of the
    disjunction), from interval bounds of the outputs over the input box (OMLT's arithmetic)."""
    from surrogate.bounds import interval_bounds

    b = interval_bounds(network, input_set.box)
    lo, hi = b.lower[-1], b.upper[-1]
    if network.layers[-1].activation == "relu":
        lo, hi = np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    rows = []
    for conj in problem.unsafe:
        cp, cn = np.maximum(conj.C, 0.0), np.minimum(conj.C, 0.0)
        rows.append((cp @ lo + cn @ hi - conj.d, cp @ hi + cn @ lo - conj.d))
    return rows


def _add_verification_objective(m: Any, blk: Any, problem: Any) -> None:
    """``min t`` with ``t >= C_k y - d_k - M_k (1 - s_k)``, ``sum s_k = 1``: the same MILP
    objective as :class:`surrogate.problems.VerificationProblem` (so ``t* <= 0`` iff unsafe)."""
    import pyomo.environ as pyo

    rows = _objective_rows(problem, problem.network, problem.input_set)
    t_lo = min(float(np.max(lo)) for lo, _ in rows)
    t_hi = max(float(np.max(hi)) for _, hi in rows)
    k = len(problem.unsafe)
    m.t = pyo.Var(bounds=(t_lo, t_hi))
    m.unsafe_rows = pyo.ConstraintList()
    if k > 1:
        m.s = pyo.Var(range(k), within=pyo.Binary)
    for i, conj in enumerate(problem.unsafe):
        big_m = np.maximum(rows[i][1] - t_lo, 0.0)
        for r in range(conj.C.shape[0]):
            expr = sum(float(conj.C[r, j]) * blk.outputs[j] for j in np.flatnonzero(conj.C[r]))
            rhs = expr - float(conj.d[r])
            if k > 1:
                rhs = rhs - float(big_m[r]) * (1 - m.s[i])
            m.unsafe_rows.add(m.t >= rhs)
    if k > 1:
        m.pick_one = pyo.Constraint(expr=sum(m.s[i] for i in range(k)) == 1)
    m.obj = pyo.Objective(expr=m.t, sense=pyo.minimize)


def stock_model(problem: Any) -> tuple[Any, Any]:
    """The stock Pyomo model of ``problem`` (a verification or maximisation problem): OMLT's
    big-M block on the dense network and the problem's objective. Returns ``(model, block)``."""
    import pyomo.environ as pyo

    from surrogate.encode.stock import add_stock_network

    m = pyo.ConcreteModel()
    with _quiet_pyomo():
        blk = add_stock_network(m, problem.network, problem.input_set)
    if problem.kind == "verification":
        _add_verification_objective(m, blk, problem)
    else:
        sense = pyo.maximize if problem.maximize else pyo.minimize
        m.obj = pyo.Objective(expr=blk.outputs[problem.output], sense=sense)
    return m, blk


def stock_run(problem: Any, time_limit_s: float) -> StockRun:
    """Build the stock model of ``problem`` and solve it with Pyomo's HiGHS interface (defaults)."""
    import pyomo.environ as pyo
    from pyomo.contrib.solver.common.factory import SolverFactory
    from pyomo.contrib.solver.common.results import SolutionStatus

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    (m, blk), build_s = _timed(lambda: stock_model(problem))
    opt = SolverFactory("highs")
    fresh_highs_scheduler()
    t1 = time.perf_counter()
    res = opt.solve(m, load_solutions=False, raise_exception_on_nonoptimal_result=False,
                    time_limit=float(time_limit_s))
    solve_s = time.perf_counter() - t1
    x = None
    if res.solution_status in (SolutionStatus.feasible, SolutionStatus.optimal):
        res.solution_loader.load_vars()
        x = np.array([pyo.value(blk.inputs[i]) for i in range(problem.network.n_inputs)])
    highs_s = float(res.timing_info.highs_time)
    trace, size = parse_highs_log(res.solver_log or "")
    fresh_highs_scheduler()
    return StockRun(
        build_s=build_s, translate_s=max(solve_s - highs_s, 0.0), highs_s=highs_s,
        total_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
        termination=str(res.termination_condition).split(".")[-1],
        objective=None if res.incumbent_objective is None else float(res.incumbent_objective),
        bound=None if res.objective_bound is None else float(res.objective_bound),
        x=x, log_trace=tuple(trace), size=size,
    )


def stock_verdict(problem: Any, run: StockRun) -> str:
    """``sat`` when HiGHS' incumbent is a counterexample on the dense network, ``unsat`` when its
    dual bound proves the property, else ``unknown``."""
    from surrogate.solve import PROOF_MARGIN

    if run.x is not None:
        x = problem.input_set.project(run.x)
        if problem.is_success(x, problem.network.forward(x)):
            return "sat"
    if run.bound is not None and problem.proves(run.bound - PROOF_MARGIN):
        return "unsat"
    return "unknown"


# ============================================================================= ours
def _ours_bounds(problem: Any, method: str, budget_s: float) -> Any:
    from surrogate.bounds import compute_bounds

    if method == "lp":
        return compute_bounds(problem.network, problem.input_set, "lp",
                              time_limit_s=max(0.3 * budget_s, 0.05))
    return compute_bounds(problem.network, problem.input_set, method)


def ours_verify(
    problem: Any, time_limit_s: float, *, bounds: str = "symbolic", preset: str = "default",
    attack: bool = True, seed: int = 0,
) -> dict[str, Any]:
    """Our pipeline on a verification problem: PGD first (a confirmed attack answers ``sat``),
    then the MILP warm-started from the attack's best point, stopping at the first dense
    counterexample or at the proof. Returns a JSON-ready row (times in seconds)."""
    from surrogate.app.run import run_milp
    from surrogate.problems.attack import pgd_attack

    t0, c0 = time.perf_counter(), time.process_time()
    warm, attack_s = None, 0.0
    if attack:
        res = pgd_attack(problem, seed=seed)
        attack_s = time.perf_counter() - t0
        if res.success:
            return {"verdict": "sat", "method": "attack", "total_s": attack_s,
                    "cpu_s": time.process_time() - c0,
                    "attack_s": attack_s, "bounds_s": 0.0, "build_s": 0.0, "solve_s": 0.0}
        warm = res.x
    b, bounds_s = _timed(lambda: _ours_bounds(problem, bounds, time_limit_s))
    limit = max(time_limit_s - (time.perf_counter() - t0), 0.05)
    fresh_highs_scheduler()
    run = run_milp(problem, time_limit_s=limit, bounds=b, warm_start=warm, preset=preset,
                   seed=seed, cutoff=True)
    return {
        "verdict": run.verdict, "method": "milp", "total_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "attack_s": attack_s, "bounds_s": bounds_s, "build_s": run.build_s,
        "solve_s": run.solve_s, "status": run.status, "bound": run.bound,
        "nodes": run.node_count, "size": run.size, "neurons": run.neurons,
    }


def ascent_start(
    network: Network, box: Box, output: int, *, maximize: bool = True, starts: int = 16,
    steps: int = 60, seed: int = 0,
) -> np.ndarray:
    """A good feasible point for ``max f_output(x)`` over ``box``: signed-gradient ascent on the
    dense network from the box centre and ``starts - 1`` random points (exact ReLU gradients),
    step ``0.1 (u - l)`` decaying linearly; the best point evaluated on the way is returned."""
    rng = np.random.default_rng(seed)
    x = np.vstack([box.center()[None, :], box.sample(starts - 1, rng)])
    sign = 1.0 if maximize else -1.0
    width = box.upper - box.lower
    best_x, best_v = x[0].copy(), -np.inf
    for it in range(steps):
        hs, masks = x, []
        for layer in network.layers:
            z = hs @ layer.weight.T + layer.bias
            mask = z > 0 if layer.activation == "relu" else np.ones_like(z, dtype=bool)
            masks.append(mask)
            hs = np.where(mask, z, 0.0)
        v = sign * hs[:, output]
        i = int(np.argmax(v))
        if v[i] > best_v:
            best_v, best_x = float(v[i]), x[i].copy()
        g = np.zeros((x.shape[0], network.n_outputs))
        g[:, output] = sign
        for layer, mask in zip(reversed(network.layers), reversed(masks), strict=True):
            g = (g * mask) @ layer.weight
        x = np.clip(x + 0.1 * (1.0 - it / steps) * width * np.sign(g), box.lower, box.upper)
    return best_x


def ours_maximize(
    problem: Any, time_limit_s: float, *, bounds: str = "symbolic", preset: str = "default",
    seed: int = 0,
) -> dict[str, Any]:
    """Our pipeline on a maximisation problem: gradient-ascent warm start, then the MILP.
    Trace times count from the start (ascent, bounds and build included)."""
    from surrogate.app.run import run_milp

    t0, c0 = time.perf_counter(), time.process_time()
    x0 = ascent_start(problem.network, problem.input_set.box, problem.output,
                      maximize=problem.maximize, seed=seed)
    ascent_s = time.perf_counter() - t0
    b, bounds_s = _timed(lambda: _ours_bounds(problem, bounds, time_limit_s))
    limit = max(time_limit_s - (time.perf_counter() - t0), 0.05)
    fresh_highs_scheduler()
    # prune_s shifts run_milp's clock back to t0, so trace times include ascent and bounds
    run = run_milp(problem, time_limit_s=limit, bounds=b, warm_start=x0, preset=preset, seed=seed,
                   prune_s=time.perf_counter() - t0)
    return {
        "best_objective": run.best_dense_objective, "best_time_s": run.best_dense_time_s,
        "total_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
        "ascent_s": ascent_s, "bounds_s": bounds_s,
        "build_s": run.build_s, "solve_s": run.solve_s, "status": run.status,
        "bound": run.bound, "incumbents": run.incumbents, "nodes": run.node_count,
        "size": run.size, "neurons": run.neurons,
        "trace": [(e.time_s, e.dense_objective) for e in run.trace],
    }


def _time_to_value(trace: Sequence[tuple[float, float]], value: float, maximize: bool,
                   tol: float) -> float | None:
    for t, v in trace:
        if (v >= value - tol) if maximize else (v <= value + tol):
            return float(t)
    return None


# ============================================================================= build suite
def _build_networks(cfg: PerfConfig) -> tuple[Network, Network]:
    from surrogate.bench.networks import random_mlp
    from surrogate.prune import apply

    dense = random_mlp(cfg.build_sizes, seed=cfg.seed)
    return dense, apply(dense, "magnitude", cfg.build_sparsity).network


def _pyomo_build(network: Network, box: Box, formulation: str, bounds: str, *, no_gc: bool = False
                 ) -> Callable[[], Any]:
    """A Pyomo build of ``network``; ``no_gc`` pauses the garbage collector around it (our
    formulation does that itself; for stock OMLT it is the fairer baseline)."""
    def build() -> Any:
        import pyomo.environ as pyo

        from surrogate.encode import add_network
        from surrogate.encode.stock import add_stock_network

        m = pyo.ConcreteModel()
        was = gc.isenabled()
        if no_gc:
            gc.disable()
        try:
            with _quiet_pyomo():
                if formulation == "omlt-bigm":
                    add_stock_network(m, network, box)
                else:
                    add_network(m, network, box, bounds=bounds)
        finally:
            if was:
                gc.enable()
        return m

    return build


def _matrix_build(network: Network, box: Box, bounds: Any) -> Callable[[], Any]:
    def build() -> Any:
        from surrogate.encode.inputs import add_input_set
        from surrogate.encode.matrix import MatrixBuilder
        from surrogate.encode.network import encode_network

        builder = MatrixBuilder()
        cols = add_input_set(builder, box)
        encode_network(builder, network, cols.x, bounds.lower, bounds.upper)
        return builder.build()

    return build


def _pyomo_size(m: Any) -> dict[str, int]:
    import pyomo.environ as pyo

    variables = list(m.component_data_objects(pyo.Var, descend_into=True))
    return {
        "variables": len(variables),
        "binaries": sum(1 for v in variables if v.is_binary()),
        "constraints": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True,
                                                                descend_into=True)),
    }


def _repeat(fn: Callable[[], Any], repeats: int, *, collect_each: bool = True
            ) -> tuple[Any, list[float]]:
    """``repeats`` timings of ``fn``; the garbage collector runs before each one (Pyomo builds
    leave many objects behind) or, with ``collect_each=False``, only before the first."""
    times, out = [], None
    for k in range(repeats):
        out = None
        out, t = _timed(fn, collect=collect_each or k == 0)
        times.append(t)
    return out, times


def _build_variant(name: str, network: Network, box: Box, cfg: PerfConfig) -> dict[str, Any]:
    from surrogate.bounds import compute_bounds

    row: dict[str, Any] = {"variant": name, "nonzeros": network.nonzeros,
                           "sparsity": network.sparsity, "times_s": {}}
    m, t = _repeat(_pyomo_build(network, box, "omlt-bigm", "interval"), cfg.repeats)
    row["times_s"]["stock_pyomo"] = t
    row["stock_size"] = _pyomo_size(m)
    del m
    m, t = _repeat(_pyomo_build(network, box, "omlt-bigm", "interval", no_gc=True), cfg.repeats)
    row["times_s"]["stock_pyomo_nogc"] = t
    del m
    for bm in ("interval", "symbolic"):
        m, t = _repeat(_pyomo_build(network, box, "sparse-bigm", bm), cfg.repeats)
        row["times_s"][f"ours_pyomo_{bm}"] = t
        del m
        # bounds and matrix builds take milliseconds: more repeats for a stable median
        fast = max(cfg.repeats, FAST_REPEATS)
        b, tb = _repeat(functools.partial(compute_bounds, network, box, bm), fast,
                        collect_each=False)
        model, tm = _repeat(_matrix_build(network, box, b), fast, collect_each=False)
        row["times_s"][f"ours_bounds_{bm}"] = tb
        row["times_s"][f"ours_matrix_{bm}"] = tm
        row[f"ours_size_{bm}"] = model.size()
    row["median_s"] = {k: median(v) for k, v in row["times_s"].items()}
    med = row["median_s"]
    med["ours_matrix_total_symbolic"] = med["ours_bounds_symbolic"] + med["ours_matrix_symbolic"]
    med["ours_matrix_total_interval"] = med["ours_bounds_interval"] + med["ours_matrix_interval"]
    return row


def build_suite(cfg: PerfConfig) -> dict[str, Any]:
    """Build times of a random ``cfg.build_sizes`` MLP, dense and magnitude-pruned: the stock OMLT
    Pyomo build, ours into Pyomo (sparse-bigm, interval and symbolic bounds) and our matrix model
    (bounds and matrix build timed apart). Medians of ``cfg.repeats`` timings, after a warm-up."""
    dense, pruned = _build_networks(cfg)
    box = Box(np.zeros(dense.n_inputs), np.ones(dense.n_inputs))
    _warm_up()
    rows = []
    for name, net in (("dense", dense), (f"pruned-{cfg.build_sparsity:g}", pruned)):
        cfg.say(f"build: {name} {'-'.join(map(str, cfg.build_sizes))} ({net.nonzeros} weights)")
        row = _build_variant(name, net, box, cfg)
        med = row["median_s"]
        cfg.say(f"  stock OMLT {med['stock_pyomo']:.3f} s | ours Pyomo interval "
                f"{med['ours_pyomo_interval']:.3f} s, symbolic {med['ours_pyomo_symbolic']:.3f} s"
                f" | ours matrix {med['ours_matrix_symbolic']:.3f} s + bounds "
                f"{med['ours_bounds_symbolic']:.3f} s")
        rows.append(row)
    d, s = rows[0]["median_s"], rows[1]["median_s"]
    summary = {
        "dense_ours_matrix_over_stock": ratio(d["ours_matrix_total_symbolic"], d["stock_pyomo"]),
        "dense_ours_matrix_interval_over_stock": ratio(d["ours_matrix_total_interval"],
                                                       d["stock_pyomo"]),
        "dense_ours_pyomo_interval_over_stock": ratio(d["ours_pyomo_interval"], d["stock_pyomo"]),
        "dense_ours_pyomo_symbolic_over_stock": ratio(d["ours_pyomo_symbolic"], d["stock_pyomo"]),
        "dense_ours_pyomo_symbolic_over_stock_nogc": ratio(d["ours_pyomo_symbolic"],
                                                           d["stock_pyomo_nogc"]),
        "sparse_ours_matrix_over_stock": ratio(s["ours_matrix_total_symbolic"], s["stock_pyomo"]),
        "sparse_over_dense_ours_matrix": ratio(s["ours_matrix_total_symbolic"],
                                               d["ours_matrix_total_symbolic"]),
        "sparse_over_dense_ours_matrix_build_only": ratio(s["ours_matrix_symbolic"],
                                                          d["ours_matrix_symbolic"]),
        "sparse_over_dense_ours_pyomo_interval": ratio(s["ours_pyomo_interval"],
                                                       d["ours_pyomo_interval"]),
        "sparse_over_dense_ours_pyomo_symbolic": ratio(s["ours_pyomo_symbolic"],
                                                       d["ours_pyomo_symbolic"]),
        "sparse_over_dense_stock": ratio(s["stock_pyomo"], d["stock_pyomo"]),
    }
    return {"sizes": list(cfg.build_sizes), "sparsity": cfg.build_sparsity,
            "repeats": cfg.repeats, "rows": rows, "summary": summary}


def _warm_up() -> None:
    """One tiny build of each kind, so first-call import costs are not timed."""
    from surrogate.bench.networks import random_mlp
    from surrogate.bounds import compute_bounds

    net = random_mlp((4, 3, 2), seed=0)
    box = Box(np.zeros(4), np.ones(4))
    _pyomo_build(net, box, "omlt-bigm", "interval")()
    for bm in ("interval", "symbolic"):
        _pyomo_build(net, box, "sparse-bigm", bm)()
        _matrix_build(net, box, compute_bounds(net, box, bm))()


# ============================================================================= verification
def _compare_verdicts(ours: str, stock: str) -> str:
    answered = {"sat", "unsat"}
    if ours in answered and stock in answered:
        return "agree" if ours == stock else "DISAGREE"
    return "only-ours" if ours in answered else ("only-stock" if stock in answered else "neither")


def _bug(cfg: PerfConfig, suite: str, name: str, ours: str, stock: str) -> dict[str, str]:
    msg = (f"!!! SOUNDNESS BUG in {suite} {name}: ours says {ours}, stock OMLT+HiGHS says "
           f"{stock} -- report this !!!")
    print(msg, file=sys.stderr, flush=True)
    cfg.say(msg)
    return {"suite": suite, "instance": name, "ours": ours, "stock": stock}


def _verification_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, answered shares and ratios over verification rows (``ours``/``stock`` dicts)."""
    n = len(rows)
    ours_ok = [r for r in rows if r["ours"]["verdict"] in ("sat", "unsat")]
    stock_ok = [r for r in rows if r["stock"]["verdict"] in ("sat", "unsat")]
    same = [r for r in rows if r["agreement"] == "agree"]
    ours_med = median([r["ours"]["total_s"] for r in rows])
    stock_med = median([r["stock"]["total_s"] for r in rows])
    same_ours = median([r["ours"]["total_s"] for r in same])
    same_stock = median([r["stock"]["total_s"] for r in same])
    return {
        "instances": n,
        "ours_answered": len(ours_ok), "stock_answered": len(stock_ok),
        "ours_answered_share": len(ours_ok) / n if n else None,
        "stock_answered_share": len(stock_ok) / n if n else None,
        "agree": len(same), "disagree": sum(r["agreement"] == "DISAGREE" for r in rows),
        "ours_median_s": ours_med, "stock_median_s": stock_med,
        "stock_over_ours_median": ratio(stock_med, ours_med),
        "same_answer_ours_median_s": same_ours, "same_answer_stock_median_s": same_stock,
        "same_answer_stock_over_ours_median": ratio(same_stock, same_ours),
        "median_of_instance_ratios": median(
            [ratio(r["stock"]["total_s"], r["ours"]["total_s"]) for r in same]),
        # CPU time (all threads of the process): less sensitive to other load on the machine
        "ours_median_cpu_s": median([r["ours"].get("cpu_s") for r in rows]),
        "stock_median_cpu_s": median([r["stock"].get("cpu_s") for r in rows]),
        "stock_over_ours_median_cpu": ratio(median([r["stock"].get("cpu_s") for r in rows]),
                                            median([r["ours"].get("cpu_s") for r in rows])),
        # instances ours answers: stock's time there is its full run when it did not answer
        # (a lower bound on its time to the answer, so this ratio understates our lead)
        "answered_by_ours_stock_over_ours_median": ratio(
            median([r["stock"]["total_s"] for r in ours_ok]),
            median([r["ours"]["total_s"] for r in ours_ok])),
        "ours_verdicts": _count(r["ours"]["verdict"] for r in rows),
        "stock_verdicts": _count(r["stock"]["verdict"] for r in rows),
    }


def _count(items: Iterator[str] | Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in items:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _stock_row(problem: Any, time_limit_s: float) -> dict[str, Any]:
    run = stock_run(problem, time_limit_s)
    row = run.to_dict()
    row["verdict"] = stock_verdict(problem, run)
    return row


def _verify_breakdown(details: dict[str, Any]) -> dict[str, Any]:
    """Where ``verify_instance``'s time went: attack, bounds, build, solve (summed over cases)
    and the unstable-neuron count of each MILP."""
    out: dict[str, Any] = {"attack_s": 0.0, "bounds_s": 0.0, "build_s": 0.0, "solve_s": 0.0,
                           "unstable": [], "nodes": 0}
    for case in details.get("per_case", []):
        out["attack_s"] += float(case.get("attack", {}).get("time_s", 0.0))
        for run in case.get("runs", []):
            out["bounds_s"] += float(run.get("bounds", {}).get("time_s", 0.0))
            out["build_s"] += float(run.get("build_s", 0.0))
            out["solve_s"] += float(run.get("solve_s", 0.0))
            out["nodes"] += int(run.get("node_count", 0))
            out["unstable"].append(run.get("bounds", {}).get("unstable"))
    return out


def _stock_vnnlib(onnx_path: Path, vnn_path: Path, name: str, limit_s: float) -> dict[str, Any]:
    """The stock pipeline on one VNN-LIB instance: one stock model per case, ``sat`` when a case
    is, ``unsat`` when every case is. Reading the files (with our reader: OMLT's own ONNX reader
    cannot read these networks) is counted."""
    from surrogate.network.onnx_io import read_onnx
    from surrogate.problems.vnnlib_problem import problems_from_property
    from surrogate.vnnlib.parser import read_vnnlib

    t0, c0 = time.perf_counter(), time.process_time()
    net = read_onnx(onnx_path)
    prop = read_vnnlib(vnn_path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    read_s, read_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    cases = [_stock_row(p, limit_s) for p in problems_from_property(net, prop, name=name)]
    verdicts = [c["verdict"] for c in cases]
    verdict = ("sat" if "sat" in verdicts else
               "unsat" if all(v == "unsat" for v in verdicts) else "unknown")
    return {"verdict": verdict, "read_s": read_s,
            "total_s": read_s + sum(c["total_s"] for c in cases),
            "cpu_s": read_cpu_s + sum(c["cpu_s"] for c in cases),
            "build_s": sum(c["build_s"] for c in cases),
            "translate_s": sum(c["translate_s"] for c in cases),
            "highs_s": sum(c["highs_s"] for c in cases), "cases": cases}


def mnist_fc_suite(cfg: PerfConfig) -> dict[str, Any]:
    """VNN-COMP 2022 mnist_fc 256x2 (30 properties): ``verify_instance`` against the stock model
    of each case (one per property), same time limit (default 120 s, the competition's)."""
    from surrogate.app.verify import verify_instance

    root = Path(cfg.vnncomp_dir) / "mnist_fc"
    csv = root / "instances_2022.csv"
    if not csv.is_file():
        raise InputError(f"mnist_fc instances not found at {csv}: pass --vnncomp DIR "
                         "(the folder holding mnist_fc/)")
    limit_s = cfg.limit_for(120.0)
    items = [line.split(",") for line in csv.read_text().split()
             if "256x2" in line]
    items = cfg.take(items)
    rows, bugs = [], []
    reused = cfg.reused_stock("mnist_fc", limit_s)
    for i, (onnx_rel, vnn_rel, _t) in enumerate(items):
        onnx_path = root / onnx_rel
        vnn_path = root / vnn_rel.replace("vnnlib/", "vnnlib_2022/")
        name = vnn_path.name
        fresh_highs_scheduler()
        c0 = time.process_time()
        res = verify_instance(onnx_path, vnn_path, time_limit_s=limit_s, bounds=cfg.bounds,
                              seed=cfg.seed)
        ours = {"verdict": res.result if res.result != "timeout" else "unknown",
                "total_s": res.wall_s, "cpu_s": time.process_time() - c0, "method": res.method,
                **_verify_breakdown(res.details)}
        stock = reused.get(name) or _stock_vnnlib(onnx_path, vnn_path, name, limit_s)
        stock_v = stock["verdict"]
        agreement = _compare_verdicts(ours["verdict"], stock_v)
        if agreement == "DISAGREE":
            bugs.append(_bug(cfg, "mnist_fc", name, ours["verdict"], stock_v))
        rows.append({"instance": name, "ours": ours, "stock": stock, "agreement": agreement})
        cfg.say(f"mnist_fc [{i + 1}/{len(items)}] {name}: ours {ours['verdict']} "
                f"{ours['total_s']:.2f} s (attack {ours['attack_s']:.2f}, bounds "
                f"{ours['bounds_s']:.2f}, solve {ours['solve_s']:.2f}) | stock {stock_v} "
                f"{stock['total_s']:.2f} s "
                f"(build {stock['build_s']:.2f}, HiGHS {stock['highs_s']:.2f})")
    return {"time_limit_s": limit_s, "network": "mnist-net_256x2.onnx", "rows": rows,
            "summary": _verification_summary(rows), "bugs": bugs}


def mnist_fc_problems(cfg: PerfConfig) -> list[tuple[str, Any]]:
    """Every case of the mnist_fc 256x2 properties as ``(name, VerificationProblem)``."""
    from surrogate.network.onnx_io import read_onnx
    from surrogate.problems.vnnlib_problem import problems_from_property
    from surrogate.vnnlib.parser import read_vnnlib

    root = Path(cfg.vnncomp_dir) / "mnist_fc"
    net = read_onnx(root / "onnx" / "mnist-net_256x2.onnx")
    out = []
    for eps in ("0.03", "0.05"):
        for i in range(15):
            path = root / "vnnlib_2022" / f"prop_{i}_{eps}.vnnlib"
            prop = read_vnnlib(path, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
            out += [(p.name, p) for p in problems_from_property(net, prop, name=path.name)]
    return cfg.take(out)


def digits_problems(cfg: PerfConfig) -> list[tuple[str, Any]]:
    """The digits grid as ``(name, problem)``: robustness against any other class (dense label),
    around test images of the digits split, for each shipped model and (norm, eps)."""
    from surrogate.data import load_digits
    from surrogate.problems import robustness_problem
    from surrogate.zoo import load_model

    data = load_digits()
    out = []
    for model in DIGITS_GRID["models"]:
        net = load_model(model)
        for img in DIGITS_GRID["images"]:
            for norm, eps in DIGITS_GRID["balls"]:
                name = f"{model}/img{img}/{norm}={eps:g}"
                out.append((name, robustness_problem(net, data.x_test[img], eps, norm=norm,
                                                     target="any", name=name)))
    return cfg.take(out)


def digits_suite(cfg: PerfConfig) -> dict[str, Any]:
    """Robustness of the shipped digits models (grid :data:`DIGITS_GRID`), ours vs stock."""
    limit_s = cfg.limit_for(60.0)
    items = digits_problems(cfg)
    rows, bugs = [], []
    reused = cfg.reused_stock("digits", limit_s)
    for i, (name, prob) in enumerate(items):
        fresh_highs_scheduler()
        ours = ours_verify(prob, limit_s, bounds=cfg.bounds, seed=cfg.seed)
        stock = reused.get(name) or _stock_row(prob, limit_s)
        agreement = _compare_verdicts(ours["verdict"], stock["verdict"])
        if agreement == "DISAGREE":
            bugs.append(_bug(cfg, "digits", name, ours["verdict"], stock["verdict"]))
        rows.append({"instance": name, "ours": ours, "stock": stock, "agreement": agreement})
        cfg.say(f"digits [{i + 1}/{len(items)}] {name}: ours {ours['verdict']} "
                f"{ours['total_s']:.3f} s ({ours['method']}) | stock {stock['verdict']} "
                f"{stock['total_s']:.3f} s")
    return {"time_limit_s": limit_s, "grid": _grid_json(DIGITS_GRID), "rows": rows,
            "summary": _verification_summary(rows), "bugs": bugs}


def _grid_json(grid: dict[str, Any]) -> dict[str, Any]:
    return {k: [list(v) if isinstance(v, tuple) else v for v in vals] for k, vals in grid.items()}


# ============================================================================= maximisation
def maximize_problems(cfg: PerfConfig) -> list[tuple[str, Any]]:
    """The maximisation grid as ``(name, problem)``: ``max f(x)`` over ``[0, 1]^n0``."""
    from surrogate.bench.networks import random_mlp
    from surrogate.problems import MaximizationProblem

    out = []
    for n0 in MAXIMIZE_GRID["inputs"]:
        for hidden in MAXIMIZE_GRID["hidden"]:
            for seed in MAXIMIZE_GRID["seeds"]:
                widths = (n0, *hidden, 1)
                net = random_mlp(widths, seed=seed)
                name = f"random:{'-'.join(map(str, widths))}:seed={seed}"
                box = Box(np.zeros(n0), np.ones(n0))
                out.append((name, MaximizationProblem(net, box, output=0, name=name)))
    return cfg.take(out)


def _stock_max_row(prob: Any, limit_s: float) -> dict[str, Any]:
    """The stock run of a maximisation problem, with the pipeline time at which HiGHS' log first
    shows its final value (``time_to_final_s``; its total time when the log does not say)."""
    run = stock_run(prob, limit_s)
    row = run.to_dict()
    if run.objective is not None:
        reached = run.time_to_value_s(run.objective, prob.maximize, _value_tol(run.objective))
        row["time_to_final_s"] = reached if reached is not None else run.total_s
    return row


def _value_tol(v: float) -> float:
    return 1e-6 * max(1.0, abs(v))


def maximize_suite(cfg: PerfConfig) -> dict[str, Any]:
    """Random-MLP maximisation (grid :data:`MAXIMIZE_GRID`): best dense objective of each
    pipeline, and the time each needed to reach the stock pipeline's final value."""
    limit_s = cfg.limit_for(60.0)
    items = maximize_problems(cfg)
    rows = []
    reused = cfg.reused_stock("maximize", limit_s)
    for i, (name, prob) in enumerate(items):
        fresh_highs_scheduler()
        ours = ours_maximize(prob, limit_s, bounds=cfg.bounds, seed=cfg.seed)
        stock = reused.get(name) or _stock_max_row(prob, limit_s)
        target = stock["objective"]
        row: dict[str, Any] = {"instance": name, "ours": ours, "stock": stock}
        if target is not None:
            tol = _value_tol(target)
            ours["time_to_stock_value_s"] = _time_to_value(ours["trace"], target, prob.maximize, tol)
            row["ours_minus_stock"] = (None if ours["best_objective"] is None
                                       else ours["best_objective"] - target)
        rows.append(row)
        cfg.say(f"maximize [{i + 1}/{len(items)}] {name}: ours {_fmt(ours['best_objective'])} "
                f"(reached stock value at {_fmt(ours.get('time_to_stock_value_s'))} s) | stock "
                f"{_fmt(target)} at {_fmt(stock.get('time_to_final_s'))} s, "
                f"{stock['termination']}")
    return {"time_limit_s": limit_s, "grid": _grid_json(MAXIMIZE_GRID), "rows": rows,
            "summary": _maximize_summary(rows, limit_s)}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _maximize_summary(rows: list[dict[str, Any]], limit_s: float) -> dict[str, Any]:
    n = len(rows)
    with_stock = [r for r in rows if r["stock"]["objective"] is not None]
    reached = [r for r in with_stock if r["ours"].get("time_to_stock_value_s") is not None]
    # a stock value ours never reached counts as the full time limit for ours
    ours_t = [r["ours"].get("time_to_stock_value_s") or limit_s for r in with_stock]
    stock_t = [r["stock"]["time_to_final_s"] for r in with_stock]
    diffs = [r["ours_minus_stock"] for r in with_stock if r.get("ours_minus_stock") is not None]
    return {
        "instances": n,
        "ours_with_incumbent": sum(r["ours"]["best_objective"] is not None for r in rows),
        "ours_with_incumbent_share": (sum(r["ours"]["best_objective"] is not None for r in rows)
                                      / n if n else None),
        "stock_with_incumbent": len(with_stock),
        "ours_reached_stock_value": len(reached),
        "ours_better": sum(d > _value_tol(r["stock"]["objective"])
                           for d, r in zip(diffs, with_stock, strict=False)),
        "ours_worse": sum(d < -_value_tol(r["stock"]["objective"])
                          for d, r in zip(diffs, with_stock, strict=False)),
        "ours_median_s": median(ours_t), "stock_median_s": median(stock_t),
        "stock_over_ours_median": ratio(median(stock_t), median(ours_t)),
        "median_of_instance_ratios": median([ratio(s, o) for s, o in zip(stock_t, ours_t,
                                                                          strict=True)]),
        "median_ours_minus_stock": median(diffs),
    }


# ============================================================================= presets
@contextmanager
def _registered_presets(names: Sequence[str]) -> Iterator[dict[str, str]]:
    """Make the candidate presets visible to ``run_milp`` (by name, ``perf:<name>``) for the
    duration of the suite, and remove them afterwards."""
    from surrogate.solve import highs

    keys = {name: f"perf:{name}" for name in names}
    for name, key in keys.items():
        # the cutoff is run_milp's own option (it must also read the proof), not a preset's
        highs.PRESETS[key] = {k: v for k, v in PRESET_CANDIDATES[name].items()
                              if k != "objective_bound"}
    try:
        yield keys
    finally:
        for key in keys.values():
            highs.PRESETS.pop(key, None)


def presets_suite(cfg: PerfConfig) -> dict[str, Any]:
    """Our MILP (no attack shortcut: the MILP always runs, warm-started from the PGD point) on
    the digits grid (or, with ``presets_on="mnist_fc"``, every case of the mnist_fc 256x2
    properties) under each HiGHS preset of ``cfg.presets``; the best preset answers the most
    instances, then has the lowest shifted geometric mean time."""
    from surrogate.problems.attack import pgd_attack

    limit_s = cfg.limit_for(30.0)
    items = digits_problems(cfg) if cfg.presets_on == "digits" else mnist_fc_problems(cfg)
    warm = {name: pgd_attack(p, seed=cfg.seed).x for name, p in items}
    table: dict[str, Any] = {}
    with _registered_presets(cfg.presets) as keys:
        for name, key in keys.items():
            times, answered, rows = [], 0, []
            for inst, prob in items:
                r = _preset_run(prob, limit_s, key, warm[inst], cfg)
                rows.append({"instance": inst, **r})
                answered += r["verdict"] in ("sat", "unsat")
                times.append(r["total_s"])
            table[name] = {"options": PRESET_CANDIDATES[name], "answered": answered,
                           "median_s": median(times), "mean_s": statistics.fmean(times),
                           "shifted_geomean_s": _shifted_geomean(times), "rows": rows}
            cfg.say(f"presets: {name:16s} answered {answered}/{len(items)}, median "
                    f"{median(times):.3f} s, mean {statistics.fmean(times):.3f} s")
    best = min(table, key=lambda k: (-table[k]["answered"], table[k]["shifted_geomean_s"]))
    return {"time_limit_s": limit_s, "instances": len(items), "problems": cfg.presets_on,
            "presets": table,
            "summary": {"best": best, "best_options": PRESET_CANDIDATES[best],
                        "ranking": sorted(table, key=lambda k: (-table[k]["answered"],
                                                                 table[k]["shifted_geomean_s"]))}}


def _preset_run(prob: Any, limit_s: float, key: str, warm: np.ndarray,
                cfg: PerfConfig) -> dict[str, Any]:
    from surrogate.app.run import run_milp

    fresh_highs_scheduler()
    t0 = time.perf_counter()
    b = _ours_bounds(prob, cfg.bounds, limit_s)
    cutoff = "objective_bound" in PRESET_CANDIDATES[key.split(":", 1)[1]]
    run = run_milp(prob, time_limit_s=limit_s, bounds=b, warm_start=warm, preset=key,
                   seed=cfg.seed, cutoff=cutoff)
    fresh_highs_scheduler()
    return {"verdict": run.verdict, "total_s": time.perf_counter() - t0,
            "solve_s": run.solve_s, "nodes": run.node_count, "status": run.status}


def _shifted_geomean(times: Sequence[float], shift: float = 1.0) -> float:
    """``exp(mean(log(t + shift))) - shift``: the MIP community's summary of solve times."""
    return float(np.exp(np.mean(np.log(np.asarray(times) + shift))) - shift)


# ============================================================================= driver
_SUITE_FUNCS: dict[str, Callable[[PerfConfig], dict[str, Any]]] = {
    "build": build_suite,
    "mnist_fc": mnist_fc_suite,
    "digits": digits_suite,
    "maximize": maximize_suite,
    "presets": presets_suite,
}


def _check_targets(suites: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for suite, key, op, threshold, meaning in TARGETS:
        if suite not in suites:
            continue
        value = suites[suite]["summary"].get(key)
        met = None if value is None else (value <= threshold if op == "<=" else value >= threshold)
        out.append({"suite": suite, "key": key, "target": f"{op} {threshold:g}",
                    "value": value, "met": met, "meaning": meaning})
    return out


def run_perf(suites: Sequence[str], cfg: PerfConfig, argv: Sequence[str] = ()) -> dict[str, Any]:
    """Run ``suites`` (names from :data:`SUITES`) and return the JSON-ready record."""
    unknown = [s for s in suites if s not in _SUITE_FUNCS]
    if unknown:
        raise InputError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    t0 = time.perf_counter()
    results: dict[str, Any] = {}
    with _blas_limit(cfg.blas_threads):
        machine = machine_info()
        for s in suites:
            cfg.say(f"== suite {s}")
            ts = time.perf_counter()
            results[s] = _SUITE_FUNCS[s](cfg)
            results[s]["suite_wall_s"] = time.perf_counter() - ts
    bugs = [b for r in results.values() for b in r.get("bugs", [])]
    cfg_json = {k: v for k, v in asdict(cfg).items() if k != "progress"}
    return {
        "command": " ".join(argv) if argv else None,
        "started": started,
        "wall_s": time.perf_counter() - t0,
        "machine": machine,
        "config": cfg_json,
        "suites": results,
        "targets": _check_targets(results),
        "bugs": bugs,
    }

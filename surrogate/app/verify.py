"""Verify one VNN-COMP instance (an ONNX network and a VNN-LIB property): ``sat``, ``unsat`` or
``timeout``, each answer checked.

Flow (the whole instance shares one wall-clock budget ``time_limit_s``, reading included):

1. read the network (:func:`~surrogate.network.onnx_io.read_onnx`) and the property
   (:func:`~surrogate.vnnlib.parser.read_vnnlib`, sizes checked against the network); one
   :class:`~surrogate.problems.verification.VerificationProblem` per case (input box); compare our
   float64 network with onnxruntime at the first box's centre (a misread file is an error);
2. optionally prune the network once (``prune_method`` / ``sparsity``): the *surrogate*;
3. PGD attacks on the dense network (:func:`~surrogate.problems.attack.pgd_attack`), all unsafe
   conjunctions of a case in one batch, case by case: one whole round, then
   more rounds with new seeds (at most :data:`ATTACK_ROUNDS`) while the attack has used less than
   :data:`ATTACK_SHARE` of the time. An attack point that passes the checks below settles ``sat``
   at once;
4. otherwise, case by case, a MILP (:func:`~surrogate.app.run.run_milp`) warm-started from the
   attack's best point, with an equal share of the remaining time (time a case leaves unused
   goes to the cases after it). With a surrogate, the surrogate's MILP runs first; when it ends
   without a counterexample and ``fallback_dense`` is true, the dense MILP gets the rest of the
   case's share (the surrogate gets :data:`SURROGATE_SHARE` of it), warm-started from the best
   dense point either run has seen. With ``search="portfolio"`` (the default) these MILPs run
   inside :func:`surrogate.app.portfolio.portfolio`, beside the local search over the dense
   network's linear regions (from the attack's point, an LP point and every MILP incumbent) and
   a few gradient rounds, all sharing the best dense point; the first checked counterexample
   from any of them ends the case, and only the dense MILP can prove. Which searches run
   before the MILP depends on ``strategy`` (see :func:`verify_instance`): input splitting on
   networks with few inputs; on deep ones a short ReLU-splitting probe, then, on the case's
   bounds (which the MILP reuses), a second probe; when those bounds leave more than
   :data:`MILP_MAX_UNSTABLE` neurons unstable, no MILP: after the second probe the bounds are
   refined neuron by neuron by small ReLU-splitting searches
   (:func:`~surrogate.search.refine.refine_bounds`, :data:`REFINE_SHARE` of the time left)
   and the ReLU splitting gets the rest of the case on them.

What the answers guarantee:

* ``sat``: the reported ``x`` (a) lies in the box of a case (it is clipped into the box, then
  checked with tolerance 0), (b) meets one of that case's unsafe conjunctions ``C y <= d`` exactly
  on our float64 forward pass, and (c) meets it on **onnxruntime**'s outputs at ``x`` up to
  :data:`ORT_TOL`. ``counterexample_y`` is onnxruntime's output, as VNN-COMP checks it.
* ``unsat`` from branch and bound: every box of the input splitting, or every domain of the ReLU
  splitting (``strategy="relu-split"``, :mod:`surrogate.search.relu_bab`), closed by a sound
  linear bound (float64, widened for rounding), so no LP or MILP tolerance is involved;
* ``unsat`` from the MILP: the MILP of the **dense** network proved every case beyond that model's numerical
  margin (dual bound ``> margin``, or, with HiGHS's proof cutoff ``objective_bound = margin``,
  no point at all with ``t <= margin``), solved as a prover: scaled by powers of two, relaxed by
  more than HiGHS's tolerances, with a margin that covers its dual tolerance, and never on a
  model too badly scaled for the solver to certify (:mod:`surrogate.solve.numerics`). A
  surrogate run never proves anything: pruning changes the function, so the absence of a
  counterexample on the surrogate says nothing about the network.
* ``unknown``: every run ended before the time limit without an answer, for a reason given in
  ``reason`` (e.g. a dual bound inside the model's numerical margin, a model too badly scaled
  for any HiGHS answer to be a proof: see :mod:`surrogate.solve.numerics` and docs/verify.md);
* ``timeout``: everything else (time ran out, or a candidate failed a check).

A time limit is a normal outcome; only bad inputs (missing files, sizes that do not match,
unsupported operators, bad options) raise :mod:`surrogate.errors` exceptions. The HiGHS time limit
of a run covers the solve only: the model build (under a second on the VNN-COMP fully connected
networks) comes on top, so ``wall_s`` may exceed ``time_limit_s`` by about that much.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from surrogate.app.build import build_milp
from surrogate.app.portfolio import MilpJob, portfolio
from surrogate.app.run import RunResult, Surrogate, make_surrogate, run_milp
from surrogate.bounds import ALPHA_SHARE, LP_SHARE, Bounds, compute_bounds, lp_start
from surrogate.bounds import METHODS as BOUNDS_METHODS
from surrogate.budget import Budget
from surrogate.errors import InputError, UnsupportedModelError
from surrogate.network.onnx_io import onnxruntime_forward, read_onnx
from surrogate.network.spec import Network
from surrogate.problems.attack import pgd_attack
from surrogate.problems.verification import VerificationProblem
from surrogate.problems.vnnlib_problem import problems_from_property
from surrogate.prune.checks import check_sparsity
from surrogate.search.bab import BabResult, LpBound, parallel_input_split_bab
from surrogate.search.refine import refine_bounds
from surrogate.search.relu_bab import relu_split_bab
from surrogate.sets import Box
from surrogate.solve.safe import safe_lp_bound
from surrogate.vnnlib.parser import Case, read_vnnlib

__all__ = [
    "ATTACK_EXTRA_MAX_S",
    "ATTACK_ROUNDS",
    "ATTACK_SHARE",
    "GAVE_UP_SHARE",
    "INPUT_SPLIT_MAX_INPUTS",
    "LP_BOUNDS_SHARE",
    "MILP_FIRST_MAX_S",
    "MILP_FIRST_SHARE",
    "MILP_MAX_UNSTABLE",
    "MIN_SOLVE_S",
    "ORT_TOL",
    "REFINE_SHARE",
    "SEARCHES",
    "STRATEGIES",
    "SURROGATE_SHARE",
    "VerifyResult",
    "check_counterexample",
    "verify_instance",
]

#: Largest violation of ``C y <= d`` accepted on onnxruntime's (float32) outputs.
ORT_TOL = 1e-6
#: Share of a case's time the surrogate MILP gets when the dense MILP may follow it.
SURROGATE_SHARE = 0.5
#: A MILP is not started with less solve time than this (seconds).
MIN_SOLVE_S = 0.05
#: Share of the instance's time after which no new PGD round starts (the first one always runs).
ATTACK_SHARE = 0.03
#: ... and no new round starts later than this many seconds after the attack began: on an ``unsat``
#: instance every second of attack is wasted (measured on mnist_fc 256x2: bounds + MILP proof take
#: ~0.1 s, while 3 % of a 120 s limit spent attacking made those instances take ~3.7 s). One
#: batched round takes ~0.15 s there, so mnist_fc gets one round; small nets (ACAS Xu, cartpole:
#: milliseconds per round) get all :data:`ATTACK_ROUNDS`.
ATTACK_EXTRA_MAX_S = 0.1
#: At most this many PGD rounds (each a new seed) over all cases.
ATTACK_ROUNDS = 10
#: The verification strategies (see :func:`verify_instance`).
STRATEGIES = ("auto", "bab", "milp", "relu-split")
#: How the MILP phase searches (see :func:`verify_instance`).
SEARCHES = ("portfolio", "milp")
#: ``strategy="auto"`` splits the input box of networks with at most this many inputs, after a
#: MILP with this share of each case's time, at most MILP_FIRST_MAX_S seconds (it finds narrow
#: counterexamples, e.g. a peak 2e-5 wide in a box 1e6 wide, in milliseconds where splitting
#: needs many thousands of boxes; uncapped, at 60 s it cost every ACAS Xu instance 6 s).
INPUT_SPLIT_MAX_INPUTS = 16
MILP_FIRST_SHARE = 0.1
MILP_FIRST_MAX_S = 2.0
#: ``strategy="auto"`` on deep networks with many inputs: before the MILP, a ReLU-splitting
#: probe (symbolic root bounds) with this share of the case's time, at most RELU_PROBE_MAX_S
#: seconds, branching near the output (``branching="output"``): the corners minimising its
#: optimised bounds are counterexamples the attack and the portfolio miss (mnist_fc 256x6
#: prop_1_0.05: 0.3 s, unanswered at 60 s without; 256x4 prop_6_0.05: 1 s, with the layer
#: order open after 742 domains), and easy proofs close at once. At most 3 s, not 2: mnist_fc
#: 2021 256x4 prop_1_0.05's counterexample comes after ~130 domains, which a loaded machine
#: (two instances at a time) did not reach in 2 s (103-120 domains, twice lost at 60 s), in
#: 2.6 s it did (142-163).
RELU_PROBE_SHARE = 0.05
RELU_PROBE_MAX_S = 3.0
RELU_PROBE_MIN_LAYERS = 3
#: ... and then, once the case's bounds (``--bounds``, computed once and shared with the MILP)
#: are known, a second probe on them with this share of what remains, at most
#: RELU_BOUNDS_PROBE_MAX_S seconds: on eran 9x200 the MILP did not finish its root node in 60 s
#: on any of the 17 instances it left open (300-1300 unstable neurons), while this search
#: proves idx_6998 in 0.2 s (3 domains) and idx_186 in 2.2 s (283 domains); given all the time
#: it answered no other of the 17.
RELU_BOUNDS_PROBE_SHARE = 0.25
RELU_BOUNDS_PROBE_MAX_S = 10.0
#: ... unless the case's bounds leave more than this many unstable neurons: then the ReLU
#: splitting gets the whole case. The MILP answered mnist_fc 256x4/6 instances with 138-165
#: unstable neurons in 28-43 s, but did not finish its root node in 60 s at 361 and more
#: (mnist_fc 256x4 prop_12_0.05, prop_6_0.03; eran 9x200: 437-1300), where the splitting,
#: with each domain's bounds recomputed under its splits, proves eran idx_2971, idx_1385,
#: idx_3539 in 6-17 s.
MILP_MAX_UNSTABLE = 300
#: ... and when it does, after a probe on those bounds (RELU_BOUNDS_PROBE_SHARE, at most
#: RELU_BOUNDS_PROBE_MAX_S), this share of what remains refines them neuron by neuron
#: (:func:`surrogate.search.refine.refine_bounds`) before the splitting gets the rest. eran
#: 9x200 idx_2954 (833 unstable neurons): 510 after three layers refined in 22 s, then
#: ``unsat`` in 49 domains; open at -1.46 after 561 domains on the bounds before.
REFINE_SHARE = 0.4
#: Share of a run's time that ``bounds="lp"`` may spend tightening bounds.
LP_BOUNDS_SHARE = LP_SHARE
#: An instance whose runs all ended with more than this share of its time left, without an
#: answer, is ``unknown`` (with the reason), not ``timeout``.
GAVE_UP_SHARE = 0.02

Progress = Callable[[str], None]


@dataclass(frozen=True)
class VerifyResult:
    """The checked answer for one instance (see the module docstring for the guarantees)."""

    result: str  # "sat" | "unsat" | "timeout" | "unknown"
    wall_s: float
    counterexample_x: tuple[float, ...] | None
    counterexample_y: tuple[float, ...] | None  # onnxruntime outputs at x
    # "attack" | "portfolio" (its local search or gradient rounds) | "milp" | "milp-surrogate" |
    # "bab" | "bab+milp" | "none"
    method: str
    cases: int
    details: dict = field(default_factory=dict)  # per-case runs, prune info, bounds
    reason: str | None = None  # why "unknown": what stopped the proof before the time limit

    def to_dict(self) -> dict:
        """Plain JSON-ready data (lists, floats, ints, strings, None)."""
        return _plain(asdict(self))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


# ----------------------------------------------------------------------------- checking
def check_counterexample(
    onnx_path: str | Path, network: Network, case: Case, x: np.ndarray
) -> tuple[bool, np.ndarray, np.ndarray]:
    """Check a candidate for one case; returns ``(ok, x_clipped, y_onnxruntime)``.

    ``x`` is clipped into the case's box; ``ok`` when the clipped point is in the box (tolerance
    0), some unsafe conjunction holds exactly on ``network.forward`` (float64) and holds up to
    :data:`ORT_TOL` on onnxruntime's outputs at the clipped point."""
    xc = case.box.project(np.asarray(x, dtype=np.float64))
    y_ort = onnxruntime_forward(onnx_path, xc)
    ok = (
        case.box.contains(xc, tol=0.0)
        and case.output_unsafe(network.forward(xc), tol=0.0)
        and case.output_unsafe(y_ort, tol=ORT_TOL)
    )
    return bool(ok), xc, y_ort


def _float32_error(network: Network, x: np.ndarray) -> np.ndarray:
    """The typical float32 evaluation error of each output at ``x`` (as onnxruntime computes
    it), as a standard deviation: rounding errors of size ``u = 2^-24`` times each term, assumed
    independent (the worst case, every error aligned, is orders of magnitude too pessimistic on
    deep nets); the input's own rounding first, then per layer
    ``s_k^2 = W^2 s'^2 + u^2 (W^2 h^2 + b^2 + z^2)``, where ``s'`` is the error after the ReLU
    (none for a neuron inactive by more than ten of its deviations)."""
    unit = 2.0**-24
    h = np.asarray(x, dtype=np.float64)
    var = (h * unit) ** 2
    for layer in network.layers:
        w2 = layer.weight**2
        z = layer.weight @ h + layer.bias
        var = w2 @ var + unit**2 * (w2 @ h**2 + layer.bias**2 + z**2)
        if layer.activation == "relu":
            var = np.where(z < -10.0 * np.sqrt(var), 0.0, var)
            h = np.maximum(z, 0.0)
        else:
            h = z
    return np.sqrt(var)


def _check_reading(onnx_path: Path, network: Network, box: Box) -> float:
    """Compare our float64 network with onnxruntime at the box centre, before trusting any proof.

    Returns the largest absolute difference; raises :class:`UnsupportedModelError` when it is
    beyond what float32 evaluation explains: ``1e-3 (1 + |y|)`` plus ten deviations of float32
    rounding at that point (:func:`_float32_error`; a network evaluated near ``x = 1.2e4``
    legitimately loses units in the last place of its large intermediate values). A graph read
    wrongly (a transposed weight, a missed normalisation) differs by the size of the outputs
    themselves."""
    x = box.center()
    y64, y_ort = network.forward(x), onnxruntime_forward(onnx_path, x)
    diff = np.abs(y64 - y_ort)
    tol = 1e-3 * (1.0 + np.abs(y64)) + 10.0 * _float32_error(network, x)
    if not np.all(diff <= tol):
        j = int(np.argmax(diff - tol))
        raise UnsupportedModelError(
            f"{onnx_path}: the network as read (float64) and onnxruntime disagree at the centre of "
            f"the first input box (largest output difference {float(np.max(diff)):.3g}, at output "
            f"{j}: {y64[j]:.6g} against {y_ort[j]:.6g}, beyond float32 rounding {tol[j]:.3g}); "
            "its graph is not read faithfully, so no verdict can be trusted: please report this "
            "file"
        )
    return float(np.max(diff, initial=0.0))


# ----------------------------------------------------------------------------- options
def _check_options(
    time_limit_s: float, prune_method: str | None, sparsity: float, bounds: str
) -> str | None:
    """Validate the options; returns the pruning method to use (``None``: dense only)."""
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)
            and time_limit_s > 0):
        raise InputError(
            f"time_limit_s must be a finite number of seconds > 0, got {time_limit_s!r}"
        )
    if bounds not in BOUNDS_METHODS:
        raise InputError(
            f"unknown bounds method {bounds!r}; choose one of {', '.join(BOUNDS_METHODS)}"
        )
    check_sparsity(sparsity)
    if prune_method is not None and float(sparsity) == 0.0:
        raise InputError(
            f"pruning method {prune_method!r} was given with sparsity 0: give a sparsity in "
            "(0, 1) (e.g. 0.5), or no pruning method to verify the dense network only"
        )
    if prune_method is None and float(sparsity) > 0.0:
        return "magnitude"
    return prune_method


# ----------------------------------------------------------------------------- the runs
@dataclass
class _Instance:
    """What every step of one verification needs."""

    onnx_path: Path
    network: Network
    cases: tuple[Case, ...]
    problems: list[VerificationProblem]
    budget: Budget  # the whole instance's
    bounds: str
    seed: int
    progress: Progress | None
    jobs: int = 1  # worker processes of the input-splitting branch and bound
    search: str = "portfolio"  # how the MILP phase searches: see SEARCHES
    surrogate: Surrogate | None = None  # the pruned network, made once for every case

    def remaining(self) -> float:
        return self.budget.remaining()

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def _attack_once(
    inst: _Instance, k: int, seed: int, record: dict, budget: Budget
) -> tuple[np.ndarray, np.ndarray] | None:
    """One PGD run on every unsafe conjunction of case ``k`` (batched, see
    :func:`~surrogate.problems.attack.pgd_attack`), within ``budget``; returns the checked
    ``(x, y_ort)`` or None. ``record["attack"]`` accumulates the attempts, ``record["_best"]``
    keeps the best dense point (the MILP's warm start)."""
    t0 = time.perf_counter()
    problem = inst.problems[k]
    res = pgd_attack(problem, seed=seed, budget=budget)
    ok, xc, y_ort = check_counterexample(inst.onnx_path, inst.network, inst.cases[k], res.x)
    objective = problem.objective_of_outputs(inst.network.forward(xc))
    if "_best" not in record or objective < record["_best"][0]:
        record["_best"] = (objective, xc)
    info = record.setdefault("attack", {"runs": 0, "iterations": 0, "time_s": 0.0})
    info["runs"] += 1
    info["iterations"] += int(res.iterations)
    info["time_s"] += time.perf_counter() - t0
    info["objective"] = record["_best"][0]
    info["confirmed"] = bool(ok)
    return (xc, y_ort) if ok else None


def _attack_all(
    inst: _Instance, records: list[dict], extra: Budget
) -> tuple[int, np.ndarray, np.ndarray] | None:
    """PGD rounds over every case (all its conjunctions at once), a new seed each round: the
    first round whole (within the instance's budget), more rounds (up to :data:`ATTACK_ROUNDS`)
    within ``extra``. Returns ``(case, x, y_ort)`` of the first checked counterexample, or
    None."""
    for rnd in range(ATTACK_ROUNDS):
        for k in range(len(inst.problems)):
            budget = inst.budget if rnd == 0 else extra
            if budget.expired():
                return None
            hit = _attack_once(inst, k, inst.seed + rnd, records[k], budget)
            if hit is not None:
                return (k, *hit)
    return None


def _bounds_for(inst: _Instance, net: Network, k: int, budget: Budget,
                method: str | None = None, initial: Bounds | None = None
                ) -> tuple[Bounds, dict]:
    """Bounds of case ``k`` on ``net`` by ``method`` (default ``--bounds``) with
    :data:`LP_BOUNDS_SHARE` of ``budget``'s time, and their record. ``method="start"``:
    with ``--bounds lp``, what the LP starts from (:func:`~surrogate.bounds.lp_start`, with
    its share of that time), which ``initial`` then passes back to the LP; otherwise the
    bounds of ``--bounds`` (``initial`` is ignored by the methods other than the LP)."""
    t0 = time.perf_counter()
    limit = LP_BOUNDS_SHARE * budget.remaining()
    input_set = inst.problems[k].input_set
    if method == "start":
        b = (lp_start(net, input_set, time_limit_s=ALPHA_SHARE * limit) if inst.bounds == "lp"
             else compute_bounds(net, input_set, inst.bounds))
    else:
        b = compute_bounds(net, input_set, method or inst.bounds, time_limit_s=limit,
                           initial=initial)
    return b, _bounds_record(b, net, t0)


def _bounds_record(b: Bounds, net: Network, t0: float) -> dict[str, Any]:
    """The record of bounds ``b`` of ``net`` computed since ``t0``: method, seconds, and the
    unstable / stably active / stably inactive neuron counts."""
    info: dict[str, Any] = {"method": b.method, "time_s": time.perf_counter() - t0}
    counts = b.counts(net)
    info.update({key: counts[key] for key in ("unstable", "active", "inactive")})
    return info


def _refined(inst: _Instance, k: int, case: Budget, known: tuple[Bounds, dict]
             ) -> tuple[Bounds, dict]:
    """The case's bounds ``known`` refined neuron by neuron
    (:func:`~surrogate.search.refine.refine_bounds`) with :data:`REFINE_SHARE` of what remains
    of ``case``, then carried to the later layers; the record keeps the bounds it started from
    (``start``) and the refinement's own (``refine``)."""
    t0 = time.perf_counter()
    b, start = known
    box = inst.problems[k].input_set
    if not isinstance(box, Box):  # (the ReLU splitting needs a box too)
        return known
    inst.say(f"case {k + 1}: refining the bounds of {start['unstable']} unstable neurons "
             f"(budget {REFINE_SHARE * case.remaining():.1f} s)")
    refined, stats = refine_bounds(inst.network, box, b,
                                   budget=case.share(REFINE_SHARE), then=case,
                                   threads=inst.jobs,
                                   progress=lambda m: inst.say(f"case {k + 1}: {m}"))
    info = _bounds_record(refined, inst.network, t0)
    info.update(start=start, refine=stats)
    inst.say(f"case {k + 1}: {stats['stable']} neurons made stable in {info['time_s']:.1f} s, "
             f"{info['unstable']} unstable")
    return refined, info


def _milp(
    inst: _Instance, k: int, net: Network | None, budget: Budget, warm: np.ndarray | None,
    label: str, sparsity: float, prove: bool = True, known: tuple[Bounds, dict] | None = None,
) -> tuple[RunResult, dict] | None:
    """One MILP of case ``k`` (``net=None``: dense) within ``budget`` (bounds included, unless
    ``known``: the dense network's bounds of the case, computed already);
    ``prove=False``: a search for a counterexample only (the exact model, HiGHS's defaults)."""
    model_net = net if net is not None else inst.network
    b, binfo = (known if known is not None and net is None
                else _bounds_for(inst, model_net, k, budget))
    limit = budget.remaining()
    if limit < MIN_SOLVE_S:
        return None
    case = inst.cases[k]

    def confirm(x: np.ndarray) -> bool:
        return check_counterexample(inst.onnx_path, inst.network, case, x)[0]

    inst.say(f"case {k + 1}: {label} MILP (budget {limit:.1f} s), {binfo['unstable']} unstable "
             "neurons")
    run = run_milp(
        inst.problems[k], net, label=label, sparsity=sparsity, time_limit_s=limit, bounds=b,
        warm_start=warm, confirm=confirm, seed=inst.seed, progress=inst.progress,
        cutoff=net is None and prove,  # the dense MILP, after the attack: HiGHS's proof cutoff
        prove=prove,
    )
    inst.say(f"case {k + 1}: {label} MILP ended after {run.total_s:.2f} s: {run.status}, "
             f"verdict {run.verdict}")
    d = run.to_dict()
    d.pop("trace", None)
    d["bounds"] = binfo
    return run, d


_Point = tuple[float, np.ndarray]  # (dense objective, x)


def _better(best: _Point | None, run: RunResult) -> _Point | None:
    """The better (lower dense objective) of the kept point and the run's best dense point."""
    if run.best_x is None or run.best_dense_objective is None:
        return best
    if best is None or run.best_dense_objective < best[0]:
        return (float(run.best_dense_objective), np.array(run.best_x))
    return best


def _solve_case(
    inst: _Instance, k: int, record: dict, surrogate: Network | None, sparsity: float,
    fallback_dense: bool, case: Budget, known: tuple[Bounds, dict] | None = None,
) -> tuple[str, str, np.ndarray | None]:
    """MILPs for case ``k`` within ``case``: returns ``(verdict, method, x)`` where verdict is
    ``"sat"`` (x checked), ``"unsat"`` (dense proof) or ``"unknown"``. With ``search="portfolio"``
    the MILPs run inside the portfolio (:func:`_portfolio_case`), else one after the other.
    ``known``: the dense network's bounds of the case, computed already (then not again)."""
    if inst.search == "portfolio":
        return _portfolio_case(inst, k, record, sparsity if surrogate is not None else 0.0,
                               fallback_dense, case, known)
    runs: list[dict] = record.setdefault("runs", [])
    best = record.get("_best")
    if surrogate is not None:
        share = case.share(SURROGATE_SHARE) if fallback_dense else case
        out = _milp(inst, k, surrogate, share, None if best is None else best[1], "surrogate",
                    sparsity)
        if out is not None:
            run, d = out
            runs.append(d)
            if run.verdict == "sat" and run.counterexample_x is not None:
                return "sat", "milp-surrogate", np.array(run.counterexample_x)
            best = _better(best, run)
        if not fallback_dense:
            record["note"] = ("the surrogate MILP found no counterexample, and without the dense "
                              "MILP (no fallback) nothing can be proved")
            return "unknown", "none", None
    out = _milp(inst, k, None, case, None if best is None else best[1], "dense", 0.0,
                known=known)
    if out is None:
        return "unknown", "none", None
    run, d = out
    runs.append(d)
    if run.verdict == "sat" and run.counterexample_x is not None:
        return "sat", "milp", np.array(run.counterexample_x)
    if run.verdict == "unsat":
        return "unsat", "milp", None
    if run.status in ("optimal", "infeasible", "error"):
        # the proof run ended early without an answer: its model is a relaxation (proof runs
        # widen every row, see solve/numerics.py) whose optimum need not be a real point, or
        # HiGHS failed; search the exact model for a counterexample with the time left
        best = _better(best, run)
        out = _milp(inst, k, None, case, None if best is None else best[1], "dense-search",
                    0.0, prove=False, known=known)
        if out is not None:
            run, d = out
            runs.append(d)
            if run.verdict == "sat" and run.counterexample_x is not None:
                return "sat", "milp", np.array(run.counterexample_x)
    return "unknown", "milp", None


#: How a MILP component of a portfolio maps to a verification method.
_METHOD_OF = {"surrogate": "milp-surrogate", "dense": "milp", "dense (search)": "milp"}


def _portfolio_case(
    inst: _Instance, k: int, record: dict, sparsity: float, fallback_dense: bool, case: Budget,
    known: tuple[Bounds, dict] | None = None,
) -> tuple[str, str, np.ndarray | None]:
    """The portfolio (:func:`surrogate.app.portfolio.portfolio`) on case ``k`` within ``case``:
    the local search from the attack's best point and from every MILP incumbent and LP point,
    gradient rounds, the surrogate's MILP (with a surrogate) and the dense MILP as the prover.
    ``known``: the dense network's bounds of the case, computed already (only without a
    surrogate: a surrogate's MILP needs its own)."""
    jobs = []
    if sparsity > 0:
        sur = inst.surrogate
        assert sur is not None
        jobs.append(MilpJob(sur.method, sparsity, SURROGATE_SHARE if fallback_dense else 1.0,
                            name="surrogate", prepared=sur))
    if sparsity == 0 or fallback_dense:
        jobs.append(MilpJob(None, name="dense"))
    best = record.get("_best")
    inst.say(f"case {k + 1}: portfolio (budget {case.remaining():.1f} s): local search, "
             f"gradient rounds, {' then '.join(j.label for j in jobs)} MILP")
    res = portfolio(
        inst.problems[k], budget=case, milps=jobs,
        bounds=known[0] if known is not None and sparsity == 0 else inst.bounds, seed=inst.seed,
        confirm=partial(_confirms, inst.onnx_path, inst.network, inst.cases[k]),
        progress=lambda m: inst.say(f"case {k + 1}: {m}"),
        start=None if best is None else best[1], attack=False,  # (its attack ran already)
    )
    record.setdefault("runs", []).extend(res.runs)
    record["portfolio"] = {
        # "time_limit" only when the case's time ran out (the portfolio's own word for "no
        # answer" is time_limit too; ended early without one, it is "ended")
        "status": (res.status if res.status != "time_limit"
                   else "time_limit" if case.expired() else "ended"),
        "total_s": res.total_s, "found_by": res.found_by, "components": res.components,
        "trace": [{"time_s": i.time_s, "t": i.value, "component": i.component}
                  for i in res.trace],
    }
    inst.say(f"case {k + 1}: portfolio ended after {res.total_s:.2f} s: {res.status}")
    if res.status == "sat":
        return "sat", _METHOD_OF.get(res.found_by or "", "portfolio"), res.best_x
    if res.status == "unsat":
        return "unsat", "milp", None
    if not fallback_dense and sparsity > 0:
        record["note"] = ("the surrogate MILP found no counterexample, and without the dense "
                          "MILP (no fallback) nothing can be proved")
    return "unknown", "none", None


# ----------------------------------------------------------------------------- entry point
def verify_instance(
    onnx_path: str | Path,
    vnnlib_path: str | Path,
    *,
    time_limit_s: float = 60.0,
    prune_method: str | None = None,
    sparsity: float = 0.0,
    attack: bool = True,
    bounds: str = "lp",
    seed: int = 0,
    progress: Progress | None = None,
    fallback_dense: bool = True,
    strategy: str = "auto",
    jobs: int = 1,
    search: str = "portfolio",
) -> VerifyResult:
    """Verify the property ``vnnlib_path`` on the network ``onnx_path`` within ``time_limit_s``.

    ``prune_method`` / ``sparsity``: search the pruned surrogate's MILP (``sparsity > 0`` alone
    means ``"magnitude"``); its counterexamples are checked on the dense network and onnxruntime,
    and it never answers ``unsat``. ``fallback_dense``: after a surrogate run without a
    counterexample, run the dense MILP for the rest of the case's time (so ``unsat`` is still
    possible); ``False`` keeps the surrogate's answer (``sat`` or ``timeout``). ``attack``: try
    PGD first. ``bounds``: ``"interval"``, ``"symbolic"`` or ``"lp"`` for the big-M constants.
    ``progress``: called with one-line messages. ``strategy``: ``"auto"`` (for networks with at
    most :data:`INPUT_SPLIT_MAX_INPUTS` inputs and box cases: a MILP with
    :data:`MILP_FIRST_SHARE` of each case's time, at most :data:`MILP_FIRST_MAX_S` seconds, then
    input splitting; the MILP otherwise,
    with more inputs and at least :data:`RELU_PROBE_MIN_LAYERS` ReLU layers after a short
    ReLU-splitting probe on symbolic bounds, branching near the output, then one on the
    case's own bounds, which the MILP then reuses; when those leave more than
    :data:`MILP_MAX_UNSTABLE` neurons unstable, the ReLU splitting takes the rest of the
    case instead, on bounds refined neuron by neuron after its probe), ``"bab"``, ``"milp"``
    or ``"relu-split"`` (branch and bound over ReLU signs with optimised linear bounds,
    :func:`surrogate.search.relu_bab.relu_split_bab`, for the whole case's time; the MILP
    follows only if it ends early). ``jobs``: worker processes for the
    input splitting (the pieces of :func:`surrogate.search.bab.parallel_input_split_bab`), torch
    threads for the ReLU splitting. ``search``: ``"portfolio"``
    (default) runs the MILPs inside the portfolio, beside the local search and gradient rounds
    on the dense network; ``"milp"`` runs them alone, one after the other. See the module
    docstring for the guarantees.
    """
    t_start = time.perf_counter()
    method_name = _check_options(time_limit_s, prune_method, sparsity, bounds)
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    if search not in SEARCHES:
        raise InputError(f"unknown search {search!r}; choose one of {', '.join(SEARCHES)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"jobs must be a whole number >= 1, got {jobs!r}")
    # The matrices here are small (one point or a few at a time): OpenBLAS threads only spin,
    # and on a loaded 2-core machine they made the attack ~25x slower.
    with threadpool_limits(limits=1, user_api="blas"):
        return _verify(
            Path(onnx_path), Path(vnnlib_path), t_start, float(time_limit_s), method_name,
            float(sparsity), bool(attack), bounds, int(seed), progress, bool(fallback_dense),
            strategy, jobs, search,
        )


def _verify(
    onnx_path: Path, vnnlib_path: Path, t_start: float, time_limit_s: float,
    method_name: str | None, sparsity: float, attack: bool, bounds: str, seed: int,
    progress: Progress | None, fallback_dense: bool, strategy: str = "auto", jobs: int = 1,
    search: str = "portfolio",
) -> VerifyResult:
    network = read_onnx(onnx_path)
    prop = read_vnnlib(vnnlib_path, n_inputs=network.n_inputs, n_outputs=network.n_outputs)
    problems = problems_from_property(network, prop, name=Path(vnnlib_path).name)
    inst = _Instance(onnx_path, network, prop.cases, problems,
                     Budget.since(t_start, time_limit_s),
                     bounds, int(seed), progress, jobs, search)
    n = len(problems)
    details: dict[str, Any] = {
        "onnx": str(onnx_path), "vnnlib": str(vnnlib_path), "time_limit_s": float(time_limit_s),
        "bounds": bounds, "attack": bool(attack), "fallback_dense": bool(fallback_dense),
        "search": search, "prune": None, "per_case": [{"case": k, "verdict": "unknown"} for k in range(n)],
        "onnxruntime_max_abs_diff": _check_reading(onnx_path, network, prop.cases[0].box),
    }

    def answer(result: str, method: str, x: np.ndarray | None = None,
               y: np.ndarray | None = None, reason: str | None = None) -> VerifyResult:
        for rec in details["per_case"]:
            rec.pop("_best", None)
        return VerifyResult(
            result=result, wall_s=time.perf_counter() - t_start,
            counterexample_x=None if x is None else tuple(map(float, x)),
            counterexample_y=None if y is None else tuple(map(float, y)),
            method=method, cases=n, details=details, reason=reason,
        )

    surrogate = None
    if method_name is not None:
        surrogate = _prune(inst, method_name, sparsity, details)
    chosen = _choose(network, problems, strategy, surrogate is not None)
    details["strategy"] = {"requested": strategy, "chosen": chosen,
                           "inputs": network.n_inputs, "relus": network.relu_count()}
    inst.say(f"strategy {chosen} ({network.n_inputs} inputs, {network.relu_count()} ReLUs)")
    if attack:
        extra = inst.budget.until(
            time.perf_counter() + min(ATTACK_SHARE * inst.remaining(), ATTACK_EXTRA_MAX_S))
        found = _attack_all(inst, details["per_case"], extra)
        if found is not None:
            k, xc, y_ort = found
            details["per_case"][k]["verdict"] = "sat"
            inst.say(f"case {k + 1}: PGD counterexample, confirmed by onnxruntime")
            return answer("sat", "attack", xc, y_ort)
    proved = 0
    finished = 0
    for k in range(n):
        remaining = inst.remaining()
        if remaining < MIN_SOLVE_S:
            break
        case = inst.budget.share(1.0 / (n - k))
        verdict, how, x = "unknown", "none", None
        record = details["per_case"][k]
        if chosen == "milp+bab":  # a short MILP first: it finds narrow counterexamples at once
            first = case.share(MILP_FIRST_SHARE)
            first = first.until(time.perf_counter() + MILP_FIRST_MAX_S)
            verdict, how, x = _solve_case(inst, k, record, surrogate, sparsity, fallback_dense,
                                          first)
        if chosen in ("bab", "milp+bab") and verdict == "unknown" and not case.expired():
            verdict, how, x = _bab_case(inst, k, record, case)
        if chosen == "relu-split" and verdict == "unknown" and not case.expired():
            verdict, how, x = _relu_case(inst, k, record, case)
        known: tuple[Bounds, dict] | None = None  # the case's bounds, once computed
        if (strategy == "auto" and chosen == "milp"
                and _probe_pays(network, problems[k], surrogate is not None)):
            import torch  # noqa: F401  (a cold import takes ~0.9 s: not the probe's time)

            probe = case.until(time.perf_counter() + min(RELU_PROBE_SHARE * case.remaining(),
                                                         RELU_PROBE_MAX_S))
            verdict, how, x = _relu_case(inst, k, record, probe, probe="relu_probe",
                                         branching="output")
            if verdict == "unknown" and not case.expired():
                known = _bounds_for(inst, network, k, case, "start")
                if inst.bounds == "lp" and known[1]["unstable"] <= MILP_MAX_UNSTABLE:
                    # the MILP's bounds: tightened by the LP (for the ReLU splitting, the LP
                    # after optimised back-substitution tightened at most one neuron on eran
                    # 9x200 in 13 s: its time goes to the splitting instead)
                    start = known
                    known = _bounds_for(inst, network, k, case, initial=start[0])
                    known[1]["start"] = start[1]
                probe = case.until(time.perf_counter() + min(
                    RELU_BOUNDS_PROBE_SHARE * case.remaining(), RELU_BOUNDS_PROBE_MAX_S))
                verdict, how, x = _relu_case(inst, k, record, probe,
                                             probe="relu_bounds_probe", known=known)
                if (known[1]["unstable"] > MILP_MAX_UNSTABLE  # the MILP would not get far:
                        and verdict == "unknown" and not case.expired()):
                    # the splitting on bounds refined neuron by neuron, with the rest
                    known = _refined(inst, k, case, known)
                    verdict, how, x = _relu_case(inst, k, record, case, known=known)
        if verdict == "unknown" and not case.expired():
            verdict, how, x = _solve_case(inst, k, record, surrogate, sparsity, fallback_dense,
                                          case, known)
        if verdict == "sat" and x is not None:
            ok, xc, y_ort = check_counterexample(onnx_path, network, prop.cases[k], x)
            if ok:
                details["per_case"][k]["verdict"] = "sat"
                return answer("sat", how, xc, y_ort)
            verdict = "unknown"
        proved += verdict == "unsat"
        finished += 1
        details["per_case"][k]["verdict"] = verdict
        details["per_case"][k]["method"] = how
    if proved == n:
        how_proved = sorted({rec["method"] for rec in details["per_case"]})
        return answer("unsat", "+".join(how_proved))
    timed_out = any(run.get("status") == "time_limit"
                    for rec in details["per_case"] for run in rec.get("runs", [])) or any(
        rec.get(part, {}).get("status") == "time_limit"
        for rec in details["per_case"] for part in ("bab", "relu_split", "portfolio"))
    if (finished == n and not timed_out
            and inst.remaining() > max(MIN_SOLVE_S, GAVE_UP_SHARE * time_limit_s)):
        return answer("unknown", "none", reason=_reason(details))
    return answer("timeout", "none")


def _reason(details: dict) -> str:
    """Why the runs of an instance ended before its time limit without an answer."""
    notes = []
    for rec in details["per_case"]:
        if rec.get("note"):
            notes.append(rec["note"])
        for run in rec.get("runs", []):
            if run.get("note") and run["note"] not in notes:
                notes.append(run["note"])
    if not notes:
        notes.append("the MILP ended without a proof or a checked counterexample")
    return "; ".join(notes)


def _choose(network: Network, problems: list[VerificationProblem], requested: str,
            pruned: bool) -> str:
    """The strategy for this instance (see :func:`verify_instance`)."""
    if requested != "auto":
        return requested
    boxes = all(isinstance(p.input_set, Box) for p in problems)
    if not pruned and boxes and network.n_inputs <= INPUT_SPLIT_MAX_INPUTS:
        return "milp+bab"
    return "milp"


def _probe_pays(network: Network, problem: VerificationProblem, pruned: bool) -> bool:
    """The short ReLU-splitting probe before the MILP: box cases of dense networks with more
    than :data:`INPUT_SPLIT_MAX_INPUTS` inputs and at least :data:`RELU_PROBE_MIN_LAYERS` ReLU
    layers (where the MILP is weakest; mnist_fc 256x2 answers in a third of a second without)."""
    return (not pruned and isinstance(problem.input_set, Box)
            and network.n_inputs > INPUT_SPLIT_MAX_INPUTS
            and network.relu_layer_count() >= RELU_PROBE_MIN_LAYERS)


def _bab_case(inst: _Instance, k: int, record: dict, case: Budget
              ) -> tuple[str, str, np.ndarray | None]:
    """Input-splitting branch and bound on case ``k`` within ``case``'s time."""
    problem = inst.problems[k]
    if not isinstance(problem.input_set, Box):
        return "unknown", "none", None

    confirm = partial(_confirms, inst.onnx_path, inst.network, inst.cases[k])
    inst.say(f"case {k + 1}: input splitting (budget {case.remaining():.1f} s"
             + (f", {inst.jobs} processes)" if inst.jobs > 1 else ")"))
    res = parallel_input_split_bab(problem, jobs=inst.jobs, budget=case, confirm=confirm,
                                   lp_bound_of=box_lp_bound)
    info = res.to_dict()
    info["status"] = "time_limit" if res.verdict == "unknown" and case.expired() else "ended"
    record["bab"] = info
    inst.say(f"case {k + 1}: input splitting ended after {res.time_s:.2f} s: {res.verdict}, "
             f"{res.nodes} boxes, depth {res.max_depth}")
    out = _tree_verdict(res, "bab")
    if out[0] == "unknown" and res.stats.get("undecided"):
        record["note"] = (f"input splitting left {res.stats['undecided']} boxes at float "
                          "resolution undecided")
    return out


def _tree_verdict(res: BabResult, method: str) -> tuple[str, str, np.ndarray | None]:
    """A branch and bound's ``(verdict, method, x)`` for the case loop."""
    if res.verdict == "sat" and res.x is not None:
        return "sat", method, res.x
    if res.verdict == "unsat":
        return "unsat", method, None
    return "unknown", "none", None


def _relu_case(inst: _Instance, k: int, record: dict, case: Budget, probe: str | None = None,
               known: tuple[Bounds, dict] | None = None, branching: str = "layers"
               ) -> tuple[str, str, np.ndarray | None]:
    """ReLU-splitting branch and bound on case ``k`` within ``case``'s time, on the root bounds
    ``known`` (bounds and their record) or else by ``inst.bounds`` (with
    :data:`LP_BOUNDS_SHARE` of the time at most; for ``lp``, only what the LP starts from:
    see :func:`_bounds_for`). ``probe``: a short run before the MILP,
    recorded under that name (``relu_probe``: on symbolic root bounds unless ``known``);
    otherwise the run is the case's search, recorded as ``relu_split``. ``branching``: see
    :func:`~surrogate.search.relu_bab.relu_split_bab`."""
    problem = inst.problems[k]
    if not isinstance(problem.input_set, Box):
        return "unknown", "none", None
    b, binfo = known or _bounds_for(inst, inst.network, k, case,
                                    "symbolic" if probe else "start")
    inst.say(f"case {k + 1}: ReLU splitting{' probe' if probe else ''} (budget "
             f"{case.remaining():.1f} s), {binfo['unstable']} unstable neurons")
    res = relu_split_bab(problem, b, budget=case, threads=inst.jobs, branching=branching,
                         confirm=partial(_confirms, inst.onnx_path, inst.network, inst.cases[k]),
                         progress=lambda m: inst.say(f"case {k + 1}: {m}"))
    info = res.to_dict()
    info["bounds"] = binfo
    info["status"] = ("ended" if probe else
                      "time_limit" if res.verdict == "unknown" and case.expired() else "ended")
    record[probe or "relu_split"] = info
    inst.say(f"case {k + 1}: ReLU splitting ended after {res.time_s:.2f} s: {res.verdict}, "
             f"{res.nodes} domains, depth {res.max_depth}")
    return _tree_verdict(res, "relu-split")


def _confirms(onnx_path: Path, network: Network, case: Case, x: np.ndarray) -> bool:
    """:func:`check_counterexample`'s verdict alone (picklable with ``functools.partial``: the
    branch and bound's workers confirm their points themselves)."""
    return check_counterexample(onnx_path, network, case, x)[0]


def box_lp_bound(problem: VerificationProblem) -> LpBound:
    """For branch and bound: a sound lower bound of ``t`` over one box, the smallest over the
    unsafe disjuncts of the safe (Neumaier-Shcherbina) bound of the LP relaxation of that
    disjunct's MILP, built on the box's own pre-activation bounds."""

    def bound(lo: np.ndarray, hi: np.ndarray, lowers: list, uppers: list) -> float | None:
        b = Bounds(tuple(lowers), tuple(uppers), "symbolic", 0.0)
        worst = np.inf
        for conj in problem.unsafe:
            piece = VerificationProblem(problem.network, Box(lo, hi), (conj,))
            value = safe_lp_bound(build_milp(piece, problem.network, b).model, time_limit_s=1.0)
            if value is None:
                return None
            worst = min(worst, value)
        return float(worst)

    return bound


def _prune(inst: _Instance, method: str, sparsity: float, details: dict) -> Network:
    """The surrogate: ``network`` pruned once by ``method`` (shared by every case, and kept in
    ``inst`` for the portfolio's MILP job)."""
    surrogate = make_surrogate(inst.network, method, sparsity)
    inst.surrogate = surrogate
    details["prune"] = surrogate.info
    inst.say(f"pruned with {method}: sparsity {surrogate.info['sparsity']:.1%} "
             f"in {surrogate.prune_s:.2f} s")
    return surrogate.network

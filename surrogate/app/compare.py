"""Dense against pruned: run one problem on the dense network and on pruned surrogates.

Every variant gets the same time limit, bounds method and warm start; pruning time is counted in
the surrogate's times and budget. The surrogate's incumbents are judged on the dense network (see
:func:`surrogate.app.run.run_milp`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from surrogate.app.portfolio import DEFAULT_MILPS, MilpJob, portfolio
from surrogate.app.run import RunResult, make_surrogate, run_problem
from surrogate.problems.base import Problem
from surrogate.prune.checks import check_sparsity

__all__ = ["PORTFOLIO_SURROGATE_SHARE", "compare", "format_table", "variant_label"]

#: The share of the portfolio's MILP time its surrogate MILP gets (as in
#: :data:`surrogate.app.portfolio.DEFAULT_MILPS`).
PORTFOLIO_SURROGATE_SHARE = DEFAULT_MILPS[0].share


def variant_label(method: str, sparsity: float) -> str:
    return "dense" if sparsity == 0 else f"{method}@{sparsity:g}"


def compare(
    problem: Problem,
    *,
    method: str = "magnitude",
    sparsities: Sequence[float] = (0.3, 0.5, 0.8, 0.9),
    time_limit_s: float = 30.0,
    bounds: str = "symbolic",
    warm_start: np.ndarray | str | None = "auto",
    prune_options: dict[str, Any] | None = None,
    stop_on_success: bool = True,
    confirm: Callable[[np.ndarray], bool] | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    with_portfolio: bool = True,
) -> list[RunResult]:
    """The dense run first, then one run per sparsity (pruned with ``method``), then (with
    ``with_portfolio``) the portfolio in the same time limit: the generators, the MILP of the
    lowest requested sparsity for :data:`PORTFOLIO_SURROGATE_SHARE` of the time, then the dense
    MILP (:func:`surrogate.app.portfolio.portfolio`).

    ``confirm(x)``: an extra check of every dense counterexample (e.g. onnxruntime on the original
    file), on top of the float64 forward pass."""
    for p in sparsities:
        check_sparsity(p, name="sparsities")
    results = []
    levels = [0.0] + [float(p) for p in sparsities if p > 0]
    total = len(levels) + int(with_portfolio)
    for i, p in enumerate(levels):
        label = variant_label(method, p)
        if progress:
            progress(f"[{i + 1}/{total}] {label}: solving (limit {time_limit_s:g} s)")
        surrogate = (make_surrogate(problem.network, method, p, **(prune_options or {}))
                     if p > 0 else None)
        r = run_problem(
            problem,
            surrogate,
            label=label,
            time_limit_s=time_limit_s,
            bounds=bounds,
            warm_start=warm_start,
            stop_on_success=stop_on_success,
            confirm=confirm,
            seed=seed,
        )
        results.append(r)
        if progress:
            progress(f"      {summary_line(r)}")
    if with_portfolio:
        pruned = levels[1:]
        jobs = ((MilpJob(method, min(pruned), PORTFOLIO_SURROGATE_SHARE),) if pruned else ()) + (
            MilpJob(None),)
        if progress:
            progress(f"[{total}/{total}] portfolio: solving (limit {time_limit_s:g} s; "
                     f"{' then '.join(j.label for j in jobs)})")
        res = portfolio(problem, time_limit_s=time_limit_s, milps=jobs, bounds=bounds, seed=seed,
                        confirm=confirm)
        r = res.as_run(problem, time_limit_s)
        results.append(r)
        if progress:
            progress(f"      {summary_line(r)}")
    return results


def _fmt(v: float | None, nd: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:.{nd}f}"


def summary_line(r: RunResult) -> str:
    if r.kind == "verification":
        what = (
            f"dense adversarial at {_fmt(r.time_to_first_success_s)} s"
            if r.time_to_first_success_s is not None
            else f"no dense adversarial ({r.verdict})"
        )
    else:
        what = f"best dense objective {_fmt(r.best_dense_objective, 4)} at {_fmt(r.best_dense_time_s)} s"
    return f"{what}; {r.status}, {r.size['binaries']} binaries, total {r.total_s:.2f} s"


def format_table(results: Sequence[RunResult], *, legend: bool = True) -> str:
    """A fixed-width table of the figures of each run, followed by a legend of its columns
    (``legend=False``: the table alone)."""
    if not results:
        return "(no runs)"
    verification = results[0].kind == "verification"
    headers = ["variant", "status"]
    headers += ["verdict", "t_adv_s"] if verification else []
    headers += [
        "best_dense", "t_best_s", "t_first_inc_s", "bound", "nodes",
        "setup_s", "solve_s", "vars", "bins", "cons", "nnz", "unstable",
    ]
    rows = []
    for r in results:
        row = [r.label, r.status]
        if verification:
            row += [r.verdict or "-", _fmt(r.time_to_first_success_s)]
        row += [
            _fmt(r.best_dense_objective, 4), _fmt(r.best_dense_time_s), _fmt(r.time_to_first_incumbent_s),
            _fmt(r.bound, 4), str(r.node_count), _fmt(r.setup_s), _fmt(r.solve_s),
            str(r.size["variables"]), str(r.size["binaries"]), str(r.size["constraints"]),
            str(r.size["nonzeros"]), str(r.neurons.get("unstable", "-")),  # (-: no MILP built)
        ]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if legend:
        out += ["", *_legend(verification)]
    return "\n".join(out)


def _legend(verification: bool) -> list[str]:
    """What the columns of :func:`format_table` mean (times in seconds from the run's start,
    pruning, bounds and model build included)."""
    lines = [
        "columns (times in s from the start of the run, pruning, bounds and build included;"
        " - = none):",
        "  status        how the solve ended: optimal, time_limit, stopped (ended early on purpose:"
        " at the first dense",
        "                adversarial unless --keep-going), cutoff (the dense MILP's proof), infeasible,"
        " error",
    ]
    if verification:
        lines += [
            "  verdict       sat: an input in the ball changes the DENSE network's predicted class"
            " (any class; checked",
            "                in float64 and by onnxruntime); unsat: the dense MILP proved none"
            " exists; unknown: neither",
            "  t_adv_s       time to the first dense adversarial (the first sat input)",
            "  best_dense    lowest MILP objective found, evaluated on the dense network: the margin"
            " y_label - y_target",
            "                of the targeted class (--target top2: the runner-up), negative when"
            " that class wins;",
            "                sat needs any class change, so best_dense > 0 can go with sat",
        ]
    else:
        lines += [
            "  best_dense    best objective found, evaluated on the dense network (the pruned rows'"
            " own optimum may differ)",
        ]
    lines += [
        "  t_best_s      time to best_dense;  t_first_inc_s: time to the first incumbent of any"
        " quality",
        "  bound         the solver's dual bound on its own MILP: for a pruned row it bounds the"
        " SURROGATE, not the",
        "                dense network, and proves nothing about it; only the dense row's bound"
        " can prove",
        "  nodes         branch-and-bound nodes;  setup_s: pruning + bounds + build;  solve_s:"
        " HiGHS",
        "  vars bins cons nnz  MILP size: variables, binaries, constraints, nonzeros;  unstable:"
        " ReLUs whose sign the",
        "                bounds leave open (one binary each)",
    ]
    return lines

"""``surrogate compare``: one problem, dense MILP against pruned-surrogate MILPs, same time limit."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from surrogate.app.compare import compare, format_table
from surrogate.commands._common import (
    check_output_file,
    check_positive,
    check_sparsity,
    float_list,
    load_x0,
    stderr_progress,
    write_json,
)
from surrogate.data import load_digits
from surrogate.errors import InputError
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.prune import apply, available
from surrogate.sets import Box
from surrogate.zoo import load_model, model_path

NAME = "compare"
HELP = (
    "Run one verification or maximisation problem on the dense network and on pruned surrogates "
    "(every incumbent judged on the dense network) and print a table of times and results."
)

DEFAULT_MODEL = "digits-2x64"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"shipped model name or path to an .onnx file (default {DEFAULT_MODEL})")
    p.add_argument("--task", choices=("verify", "maximize"), default="verify")
    p.add_argument("--image", type=int, default=0,
                   help="index of the digits test image used as x0 (64-input models; default 0)")
    p.add_argument("--x0", help="file (.npy or text) with the centre point instead of a digits image")
    p.add_argument("--eps", type=float, default=None,
                   help="perturbation budget (default 5.0 for l1 as in the paper, 0.05 for linf)")
    p.add_argument("--norm", choices=("l1", "linf"), default="l1")
    p.add_argument("--target", default="top2", help="top2 (default), any, or a class index")
    p.add_argument("--output", type=int, default=0, help="output to optimise (maximize task)")
    p.add_argument("--minimize", action="store_true", help="minimise instead (maximize task)")
    p.add_argument("--method", default="magnitude", help="pruning method (see `surrogate prune --list`)")
    p.add_argument("--sparsities", type=float_list, default=[0.3, 0.5, 0.8, 0.9],
                   help="comma-separated target sparsities (default 0.3,0.5,0.8,0.9)")
    p.add_argument("--time-limit", type=float, default=20.0, help="solver seconds per run (default 20)")
    p.add_argument("--bounds", choices=("interval", "symbolic", "lp"), default="symbolic",
                   help="bound method for the big-M constants (default symbolic)")
    p.add_argument("--no-warm-start", action="store_true", help="do not warm-start from x0 / box centre")
    p.add_argument("--keep-going", action="store_true",
                   help="do not stop a run at its first dense adversarial (see the anytime trace)")
    p.add_argument("--no-portfolio", action="store_true",
                   help="leave out the last row: the portfolio (local search, gradient rounds, "
                   "the MILP of the lowest sparsity, then the dense MILP, sharing the best point) "
                   "in the same time limit")
    p.add_argument("--seed", type=int, default=0, help="solver random seed")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (the problem and every run's full record) "
                   "instead of the table; progress stays on stderr")
    p.add_argument("--json-out", metavar="FILE",
                   help="also write that JSON object to FILE (missing folders are created)")


def _target(text: str) -> str | int:
    if text in ("top2", "any"):
        return text
    if text.lstrip("-").isdigit():
        return int(text)
    raise InputError(f"--target must be top2, any or a class index, got {text!r}")


def _check_arguments(args: argparse.Namespace) -> None:
    """Every check on the arguments alone (no file read yet)."""
    check_positive(args.time_limit, "--time-limit")
    if args.eps is not None and not (math.isfinite(args.eps) and args.eps >= 0):
        raise InputError(f"--eps must be a finite number >= 0, got {args.eps:g}")
    if not args.sparsities:
        raise InputError("--sparsities is empty: give comma-separated sparsities, e.g. 0.5,0.9")
    for p in args.sparsities:
        check_sparsity(p, "--sparsities")
    _target(args.target)
    if args.output < 0:
        raise InputError(f"--output must be an output index >= 0, got {args.output}")
    if args.json_out:
        check_output_file(args.json_out, "--json-out", "runs.json")


def _check_method(args: argparse.Namespace, net) -> None:
    """The pruning method exists and runs here (no data is passed to it): tried once on the
    network, so a bad method or option fails before the dense solve, not after it."""
    methods = available()
    if args.method not in methods:
        raise InputError(
            f"--method: unknown pruning method {args.method!r}; choose one of "
            f"{', '.join(methods)} (see `surrogate prune --list`)"
        )
    if "needs data" in methods[args.method]:
        raise InputError(
            f"--method {args.method} needs training data, which compare does not pass: choose a "
            "method that needs none, e.g. magnitude or structured"
        )
    levels = [p for p in args.sparsities if p > 0]
    if levels:
        try:
            apply(net, args.method, levels[0])
        except InputError as exc:
            raise InputError(
                f"--method {args.method} cannot prune here: {exc}; choose another method, e.g. "
                "magnitude"
            ) from None


def _problem(args: argparse.Namespace):
    net = load_model(args.model)
    _check_method(args, net)
    if args.task == "maximize":
        if args.output >= net.n_outputs:
            raise InputError(
                f"--output {args.output} is not an output of {args.model} (outputs 0 .. "
                f"{net.n_outputs - 1})"
            )
        box = Box(np.zeros(net.n_inputs), np.ones(net.n_inputs))
        return net, MaximizationProblem(net, box, output=args.output, maximize=not args.minimize), None
    if args.x0:
        x0 = load_x0(args.x0, net.n_inputs)
        where = args.x0
    else:
        data = load_digits()
        if net.n_inputs != data.n_features:
            raise InputError(
                f"{args.model} takes {net.n_inputs} inputs, digits images have {data.n_features}: "
                "pass --x0 FILE with a centre point"
            )
        if not 0 <= args.image < len(data.y_test):
            raise InputError(f"--image must be in [0, {len(data.y_test)}), got {args.image}")
        x0 = data.x_test[args.image]
        where = f"digits test image {args.image} (true class {int(data.y_test[args.image])})"
    eps = args.eps if args.eps is not None else (5.0 if args.norm == "l1" else 0.05)
    target = _target(args.target)
    if isinstance(target, int) and not 0 <= target < net.n_outputs:
        raise InputError(
            f"--target {target} is not a class of {args.model} (classes 0 .. {net.n_outputs - 1})"
        )
    prob = robustness_problem(net, x0, eps, norm=args.norm, target=target)
    return net, prob, where


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    net, problem, where = _problem(args)
    if args.task == "verify":
        problem_line = (f"{args.norm} ball, eps {problem.meta['eps']:g} around {where}; "
                        f"dense label {problem.label}, target {args.target}")
    else:
        problem_line = f"{problem.describe()} over [0, 1]^{net.n_inputs}"
    show = print if not args.json else stderr_progress
    show(f"network: {net.summary()}")
    show(f"problem: {problem_line}")
    show(f"pruning: {args.method} at {', '.join(f'{p:g}' for p in args.sparsities)}; "
         f"solver limit {args.time_limit:g} s per run; bounds {args.bounds}")
    ws = None if args.no_warm_start else "auto"
    results = compare(
        problem,
        confirm=_onnxruntime_check(args.model, problem) if args.task == "verify" else None,
        method=args.method,
        sparsities=args.sparsities,
        time_limit_s=args.time_limit,
        bounds=args.bounds,
        warm_start=ws,
        stop_on_success=not args.keep_going,
        seed=args.seed,
        progress=stderr_progress,
        with_portfolio=not args.no_portfolio,
    )
    record = {
        "model": str(args.model),
        "network": net.summary(),
        "task": args.task,
        "problem": problem_line,
        "method": args.method,
        "sparsities": list(args.sparsities),
        "time_limit_s": args.time_limit,
        "bounds": args.bounds,
        "conclusion": _conclusion(results, problem.maximize),
        "runs": [r.to_dict() for r in results],
    }
    if args.json_out:
        write_json(args.json_out, record)
    if args.json:
        print(json.dumps(record, default=float))
        return 0
    print()
    print(format_table(results))
    print()
    print(record["conclusion"])
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0


def _onnxruntime_check(model: str, problem):
    """Every dense adversarial is also confirmed by onnxruntime on the original ONNX file."""
    from surrogate.network.onnx_io import onnxruntime_forward  # lazy: pulls in onnx (CLI start-up)

    path = model_path(model)

    def confirm(x: np.ndarray) -> bool:
        return bool(problem.is_success(x, onnxruntime_forward(path, x)))

    return confirm


def _conclusion(results, maximize: bool) -> str:
    dense = results[0]
    pruned = [r for r in results[1:] if r.label != "portfolio"]
    port = [r for r in results[1:] if r.label == "portfolio"]
    if dense.kind == "verification":
        td = dense.time_to_first_success_s
        faster = [r.label for r in pruned if r.time_to_first_success_s is not None
                  and (td is None or r.time_to_first_success_s < td)]
        head = ("dense MILP: no dense adversarial within the limit" if td is None
                else f"dense MILP: first dense adversarial after {td:.2f} s")
        if dense.verdict == "unsat":
            head = "dense MILP proved the property (no adversarial exists in the ball)"
        lines = [head, f"pruned surrogates faster to a dense adversarial: {len(faster)}/"
                 f"{len(pruned)}" + (f" ({', '.join(faster)})" if faster else "")]
        for r in port:
            tp = r.time_to_first_success_s
            lines.append("portfolio: " + (
                f"first dense adversarial after {tp:.2f} s" if tp is not None
                else "proved the property" if r.verdict == "unsat"
                else "no dense adversarial within the limit"))
        return "\n".join(lines)
    found = [r for r in results if r.best_dense_objective is not None]
    if not found:
        return "no run found an incumbent"
    pick = max if maximize else min
    best = pick(found, key=lambda r: r.best_dense_objective)
    return f"best dense objective: {best.best_dense_objective:.6g} ({best.label})"

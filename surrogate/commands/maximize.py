"""``surrogate maximize NET.onnx``: the largest (or smallest) value of one output over a box.

Runs :func:`surrogate.app.maximize.maximize` (the portfolio by default) and prints the best value
found, judged on the network in float64, with the bound of the dense MILP when it ran; ``--json``
prints one JSON object instead (the last line of stdout). Progress (every improvement, with the
component that found it) goes to stderr.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from surrogate.app.maximize import STRATEGIES, maximize
from surrogate.commands._common import (
    check_input_file,
    check_interrupt,
    check_output_file,
    check_positive,
    load_x0,
    stderr_progress,
    write_json,
)
from surrogate.errors import InputError

NAME = "maximize"
HELP = (
    "Maximise (or minimise) one output of an ONNX network over a box: a portfolio of gradient "
    "ascent, local search over linear regions and MILPs of pruned and dense networks, every "
    "point judged on the network itself."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", metavar="NET.onnx", help="the network (ONNX)")
    p.add_argument("--output", type=int, default=0, metavar="K",
                   help="the output to optimise (default 0)")
    p.add_argument("--minimize", action="store_true", help="minimise instead of maximise")
    p.add_argument("--lower", default="0", metavar="L",
                   help="lower bound of every input: a number, or a file (.npy or text) with one "
                   "number per input (default 0)")
    p.add_argument("--upper", default="1", metavar="U",
                   help="upper bound of every input: a number or a file (default 1)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="wall-clock seconds (default 60)")
    p.add_argument("--strategy", choices=STRATEGIES, default="portfolio",
                   help="portfolio (default), milp (the dense MILP alone), or one generator "
                   "alone: gradient, local, lp")
    p.add_argument("--seed", type=int, default=0, help="seed of the generators and the solver")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (best_dense_objective, x, bound, status, trace, "
                   "components) instead of the human lines")
    p.add_argument("--json-out", metavar="FILE", help="also write that JSON object to FILE")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _bound_arg(text: str, n: int, arg: str) -> np.ndarray:
    try:
        return np.full(n, float(text))
    except ValueError:
        pass
    check_input_file(text, arg, "a file of input bounds (.npy or text)")
    return load_x0(text, n).copy()


def run(args: argparse.Namespace) -> int:
    from surrogate.network.onnx_read import read_onnx  # lazy: pulls in onnx (CLI start-up)

    check_positive(args.time_limit, "--time-limit")
    check_input_file(args.onnx, "NET.onnx", "an ONNX network", "net.onnx")
    if args.json_out:
        check_output_file(args.json_out, "--json-out", "best.json")
    net = read_onnx(args.onnx)
    if not 0 <= args.output < net.n_outputs:
        raise InputError(f"--output {args.output} out of range: the network has "
                         f"{net.n_outputs} outputs (0 to {net.n_outputs - 1})")
    lower = _bound_arg(args.lower, net.n_inputs, "--lower")
    upper = _bound_arg(args.upper, net.n_inputs, "--upper")
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise InputError("--lower and --upper must be finite numbers")
    bad = np.flatnonzero(lower > upper)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"--lower is above --upper at input {i} ({lower[i]:g} > {upper[i]:g})")
    sense = "min" if args.minimize else "max"
    if not args.quiet and not args.json:
        print(f"network: {net.summary()}")
        print(f"problem: {sense} output {args.output} over the box; strategy {args.strategy}, "
              f"limit {args.time_limit:g} s")

    def progress(message: str) -> None:
        check_interrupt()
        stderr_progress(message)

    res = maximize(net, output=args.output, minimize=args.minimize, lower=lower, upper=upper,
                   time_limit_s=args.time_limit, strategy=args.strategy, seed=args.seed,
                   progress=None if args.quiet else progress)
    payload = res.to_dict()
    if args.json_out:
        write_json(args.json_out, payload)
    if args.json:
        print(json.dumps(payload))
        return 0
    print(f"best {sense} of output {args.output}: {res.best_dense_objective:.6g} "
          f"(start {res.start_objective:.6g}), status {res.status}, {res.total_s:.2f} s")
    if res.bound is not None:
        print(f"dense MILP bound: {res.bound:.6g}")
    found: dict[str, int] = {}
    for item in res.trace:
        found[item["component"]] = found.get(item["component"], 0) + 1
    print("improvements by component: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0

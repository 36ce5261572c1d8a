"""``surrogate verify NET.onnx PROP.vnnlib``: a checked ``sat`` / ``unsat`` / ``timeout`` verdict.

The first line of stdout is exactly the verdict (as VNN-COMP tools print it), then human lines;
``--json`` prints one JSON object instead (``--json-out FILE`` writes it to a file as well). Progress
goes to stderr. Exit 0 for any of the three answers; a bad input (missing file, sizes that do not
match, bad option, an output path that cannot be written) exits 2 before any work starts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from surrogate._highs import new_highs
from surrogate.commands._common import (
    check_interrupt,
    check_output_file,
    check_positive,
    check_sparsity,
    stderr_progress,
    write_bytes_atomic,
    write_json,
)
from surrogate.errors import InputError
from surrogate.prune import available
from surrogate.vnnlib.counterexample import format_counterexample

NAME = "verify"
HELP = (
    "Verify one VNN-LIB property on an ONNX network: prints sat (with a counterexample checked "
    "by onnxruntime), unsat (proved by the dense MILP) or timeout."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", metavar="NET.onnx", help="the network (ONNX)")
    p.add_argument("vnnlib", metavar="PROP.vnnlib", help="the property (VNN-LIB: the unsafe set)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                   help="wall-clock seconds for the whole instance (default 60)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (result, wall_s, method, counterexample, "
                   "details) instead of the human lines")
    p.add_argument("--json-out", metavar="FILE",
                   help="also write that JSON object to FILE (missing folders are created)")
    p.add_argument("--counterexample", metavar="FILE",
                   help="on sat, write the counterexample in the VNN-COMP format to FILE "
                   "(missing folders are created)")
    p.add_argument("--prune", metavar="METHOD", default=None,
                   help="search a pruned surrogate's MILP first (see `surrogate prune --list`)")
    p.add_argument("--sparsity", type=float, default=0.0, metavar="P",
                   help="target sparsity of the surrogate, in (0, 1) (alone: magnitude pruning)")
    p.add_argument("--no-fallback", action="store_true",
                   help="with --prune: do not run the dense MILP after the surrogate (the answer "
                   "is then sat or timeout, never unsat)")
    p.add_argument("--no-attack", action="store_true", help="skip the PGD attack")
    p.add_argument("--bounds", choices=("interval", "symbolic", "lp"), default="lp",
                   help="bound method for the big-M constants (default lp)")
    p.add_argument("--strategy", choices=("auto", "bab", "milp", "relu-split"), default="auto",
                   help="auto (default): branch and bound over the input box for networks with "
                   "at most 16 inputs, the MILP otherwise; bab or milp to force one; "
                   "relu-split: branch and bound over ReLU signs with optimised linear bounds "
                   "(alpha/beta-CROWN), then the MILP with the time left")
    p.add_argument("--search", choices=("portfolio", "milp"), default="portfolio",
                   help="portfolio (default): the MILPs run beside a local search over the "
                   "dense network's linear regions and gradient rounds, sharing the best point; "
                   "milp: the MILPs alone")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="worker processes for the branch and bound over the input box (default "
                   "1; each takes pieces of the box as it comes free); torch threads for "
                   "--strategy relu-split")
    p.add_argument("--seed", type=int, default=0, help="seed of the attack and the solver")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _summary(x: tuple[float, ...], y: tuple[float, ...]) -> list[str]:
    def head(v: tuple[float, ...]) -> str:
        shown = ", ".join(f"{a:.6g}" for a in v[:6])
        return f"[{shown}{', ...' if len(v) > 6 else ''}]"

    return [f"counterexample x ({len(x)} values): {head(x)}",
            f"onnxruntime y ({len(y)} values): {head(y)}"]


def _check_arguments(args: argparse.Namespace) -> None:
    """Every check that needs no solving, before any work (a bad --counterexample path must not
    cost the whole solve and lose the verdict)."""
    check_positive(args.time_limit, "--time-limit")
    if args.jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {args.jobs}")
    if args.sparsity != 0.0:
        check_sparsity(args.sparsity, "--sparsity", allow_zero=False)
    if args.prune is not None:
        methods = available()
        if args.prune not in methods:
            raise InputError(
                f"--prune: unknown pruning method {args.prune!r}; choose one of "
                f"{', '.join(methods)} (see `surrogate prune --list`)"
            )
        if "needs data" in methods[args.prune]:
            raise InputError(
                f"--prune {args.prune} needs training data, which verify does not have: choose a "
                "method that needs none, e.g. magnitude or structured"
            )
        if args.sparsity == 0.0:
            raise InputError(f"--prune {args.prune} needs --sparsity P with P in (0, 1), e.g. 0.5")
    if args.no_fallback and args.prune is None and args.sparsity == 0.0:
        raise InputError(
            "--no-fallback only applies to a pruned search: add --prune METHOD --sparsity P, "
            "or drop --no-fallback"
        )
    if args.counterexample:
        check_output_file(args.counterexample, "--counterexample", "cex.txt")
    if args.json_out:
        check_output_file(args.json_out, "--json-out", "verdict.json")
    for a, b in (("counterexample", "json_out"),):
        pa, pb = getattr(args, a), getattr(args, b)
        if pa and pb and Path(pa).resolve() == Path(pb).resolve():
            raise InputError(f"--counterexample and --json-out name the same file {pa}: give two")


def run(args: argparse.Namespace) -> int:
    from surrogate.app.verify import verify_instance  # lazy: pulls in onnx (CLI start-up)

    _check_arguments(args)

    # HiGHS prints a banner on stdout the first time a solver object is made in a process (here,
    # unless that happens through new_highs, which hides it); stdout must start with the verdict.
    new_highs()
    res = verify_instance(
        args.onnx, args.vnnlib, time_limit_s=args.time_limit, prune_method=args.prune,
        sparsity=args.sparsity, attack=not args.no_attack, bounds=args.bounds, seed=args.seed,
        progress=check_interrupt if args.quiet else stderr_progress,
        fallback_dense=not args.no_fallback, strategy=args.strategy, jobs=args.jobs,
        search=args.search,
    )
    x, y = res.counterexample_x, res.counterexample_y
    if args.counterexample and x is not None and y is not None:
        write_bytes_atomic(args.counterexample, format_counterexample(x, y).encode("utf-8"))
    payload = res.to_dict()
    payload.pop("counterexample_x")
    payload.pop("counterexample_y")
    payload["counterexample"] = None if x is None else {"x": list(x), "y": list(y or ())}
    if args.json_out:
        write_json(args.json_out, payload)
    if args.json:
        print(json.dumps(payload))
        return 0
    print(res.result)
    if res.reason:
        print(f"reason: {res.reason}")
    print(f"wall time {res.wall_s:.2f} s (limit {args.time_limit:g} s), method {res.method}, "
          f"{res.cases} case{'s' if res.cases != 1 else ''}")
    if x is not None and y is not None:
        for line in _summary(x, y):
            print(line)
        if args.counterexample:
            print(f"counterexample written to {args.counterexample}")
    if args.json_out:
        print(f"wrote {args.json_out}")
    return 0

"""``surrogate perf``: our pipeline against stock OMLT + HiGHS, side by side, JSON with ratios."""

from __future__ import annotations

import argparse
from pathlib import Path

from surrogate.commands._common import (
    check_input_file,
    check_output_file,
    stderr_progress,
    write_json,
)
from surrogate.errors import InputError

NAME = "perf"
HELP = (
    "Benchmark our pipeline against the stock OMLT + Pyomo + HiGHS pipeline (build times, "
    "VNN-COMP mnist_fc, digits verification, random-MLP maximisation, HiGHS presets) and write "
    "per-instance rows, medians and target ratios as JSON."
)

CHOICES = ("build", "mnist_fc", "digits", "maximize", "presets", "all")
DEFAULT_VNNCOMP = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "vnncomp"


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(t) for t in text.replace("x", "-").split("-") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer widths like 784-512-512-10, got {text!r}") from None
    return sizes


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", choices=CHOICES, default="all",
                   help="which suite to run (default all: build, mnist_fc, digits, maximize; "
                        "'presets' runs only when named)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds per instance and pipeline (default per suite: mnist_fc 120, "
                        "digits 60, maximize 60, presets 30)")
    p.add_argument("--limit", type=int, default=None,
                   help="run at most this many instances per suite (quick checks)")
    p.add_argument("--repeats", type=int, default=3,
                   help="build suite: timings per Pyomo build, the median is kept (default 3; the "
                        "millisecond bounds and matrix builds are timed at least 15 times)")
    p.add_argument("--sizes", type=_sizes, default=(784, 512, 512, 10),
                   help="build suite: layer widths of the random MLP (default 784-512-512-10)")
    p.add_argument("--sparsity", type=float, default=0.9,
                   help="build suite: magnitude-pruning sparsity of the sparse variant (0.9)")
    p.add_argument("--bounds", choices=("symbolic", "lp"), default="symbolic",
                   help="bounds of our MILPs (default symbolic)")
    p.add_argument("--presets", default=None,
                   help="presets suite: comma-separated preset names (default: all candidates)")
    p.add_argument("--presets-on", choices=("digits", "mnist_fc"), default="digits",
                   help="presets suite: the problems to measure presets on (default digits)")
    p.add_argument("--vnncomp", default=str(DEFAULT_VNNCOMP),
                   help=f"VNN-COMP benchmark folder holding mnist_fc/ (default {DEFAULT_VNNCOMP})")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="limit numpy's BLAS threads for the run (default: leave as is)")
    p.add_argument("--reuse-stock", default="", metavar="FILE.json",
                   help="reuse the stock rows of an earlier perf JSON (same time limit): compare "
                        "variants of our pipeline without re-running the slow stock pipeline")
    p.add_argument("--seed", type=int, default=0, help="random seed (networks, attacks, HiGHS)")
    p.add_argument("--out", required=True, metavar="FILE.json",
                   help="write the JSON record to this file (checked before the benchmark starts; "
                   "missing folders are created)")


# the suites' default time limits (surrogate.bench.perf), to check --reuse-stock before the run
_SUITE_LIMITS = {"mnist_fc": 120.0, "digits": 60.0, "maximize": 60.0}


def _check_reuse_stock(args: argparse.Namespace) -> None:
    import json

    path = check_input_file(args.reuse_stock, "--reuse-stock", "a perf JSON file")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--reuse-stock {path} is not a perf JSON record ({exc}): give the --out file of an "
            "earlier `surrogate perf` run"
        ) from None
    suites = record.get("suites") if isinstance(record, dict) else None
    if not isinstance(suites, dict):
        raise InputError(
            f"--reuse-stock {path} has no 'suites': give the --out file of an earlier "
            "`surrogate perf` run"
        )
    for suite, default in _SUITE_LIMITS.items():
        data = suites.get(suite)
        if args.suite not in (suite, "all") or not isinstance(data, dict):
            continue
        limit = args.time_limit if args.time_limit is not None else default
        if float(data.get("time_limit_s", -1.0)) != limit:
            raise InputError(
                f"--reuse-stock {path} ran suite {suite} with a {data.get('time_limit_s')} s "
                f"limit, this run uses {limit:g} s: give the same --time-limit"
            )


def run(args: argparse.Namespace) -> int:
    from surrogate.bench.perf import PRESET_CANDIDATES, PerfConfig, run_perf

    check_output_file(args.out, "--out", "perf.json")
    presets = tuple(PRESET_CANDIDATES)
    if args.presets:
        presets = tuple(t.strip() for t in args.presets.split(",") if t.strip())
    cfg = PerfConfig(
        time_limit_s=args.time_limit, limit=args.limit, repeats=args.repeats,
        build_sizes=tuple(args.sizes), build_sparsity=args.sparsity, bounds=args.bounds,
        seed=args.seed, vnncomp_dir=args.vnncomp, presets=presets,
        blas_threads=args.blas_threads, reuse_stock=args.reuse_stock,
        presets_on=args.presets_on, progress=stderr_progress,
    )  # checks the options
    if args.reuse_stock:
        _check_reuse_stock(args)
    suites = ("build", "mnist_fc", "digits", "maximize") if args.suite == "all" else (args.suite,)
    needs_vnncomp = "mnist_fc" in suites or (args.suite == "presets" and args.presets_on == "mnist_fc")
    if needs_vnncomp and not (Path(args.vnncomp) / "mnist_fc").is_dir():
        raise InputError(f"no mnist_fc/ folder under {args.vnncomp}: pass --vnncomp DIR")
    record = run_perf(suites, cfg, argv=_command_line(args))
    write_json(args.out, record)
    _print_summary(record)
    print(f"wrote {args.out}")
    return 1 if record["bugs"] else 0


def _command_line(args: argparse.Namespace) -> list[str]:
    """The command that reproduces this run (every option spelled out)."""
    cmd = ["surrogate", "perf", "--suite", args.suite]
    if args.time_limit is not None:
        cmd += ["--time-limit", f"{args.time_limit:g}"]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    cmd += ["--repeats", str(args.repeats), "--sizes", "-".join(map(str, args.sizes)),
            "--sparsity", f"{args.sparsity:g}", "--bounds", args.bounds, "--seed", str(args.seed)]
    if args.presets:
        cmd += ["--presets", args.presets]
    if args.suite == "presets":
        cmd += ["--presets-on", args.presets_on]
    if args.blas_threads is not None:
        cmd += ["--blas-threads", str(args.blas_threads)]
    if args.reuse_stock:
        cmd += ["--reuse-stock", args.reuse_stock]
    return [*cmd, "--vnncomp", args.vnncomp, "--out", args.out]


def _print_summary(record: dict) -> None:
    for t in record["targets"]:
        value = t["value"]
        shown = "-" if value is None else f"{value:.4g}"
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"{t['suite']:9s} {t['meaning']}: {shown} (target {t['target']}) {mark}")
    for b in record["bugs"]:
        print(f"SOUNDNESS BUG: {b}")

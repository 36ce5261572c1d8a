"""``surrogate perf``: a performance suite as a campaign (ours against stock OMLT + HiGHS, side by
side), then its ratios (``perf.json``) and report (``perf.md``). See docs/performance.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from surrogate.commands._common import check_output_dir, check_positive
from surrogate.errors import InputError

if TYPE_CHECKING:
    from surrogate.bench.spec import CampaignSpec

NAME = "perf"
HELP = (
    "Run a performance suite (build times, VNN-COMP mnist_fc, digits verification, random-MLP "
    "maximisation, HiGHS presets) as a resumable campaign, our pipeline against stock OMLT + "
    "Pyomo + HiGHS, and write the side-by-side ratios (perf.json) and a report (perf.md)."
)

CHOICES = ("build", "mnist_fc", "digits", "maximize", "presets", "all")
ALL = ("build", "mnist_fc", "digits", "maximize")
DEFAULT_VNNCOMP = Path(__file__).resolve().parents[2].parent / "shared" / "bench" / "vnncomp"
QUICK_INSTANCES = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="mnist_fc", metavar="NAME|FILE",
                   help="build, mnist_fc (default), digits, maximize, presets (problems/perf-*.toml"
                        "; mnist_fc from --vnncomp), all (the first four, each into DIR/NAME), or a "
                        "sweep .toml / instances.csv with a 'pipelines' list")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="campaign folder (results.sqlite, spec.json, machine.json, perf.json, "
                        "perf.md); rerun the same command to resume")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="seconds per run, replacing the suite's (mnist_fc: caps the csv's 120 s)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="parallel runs (default: all cores; build: 1, for clean timings)")
    p.add_argument("--limit", type=int, default=None, metavar="K",
                   help="only the first K instances (every configuration and pipeline of each)")
    p.add_argument("--quick", action="store_true",
                   help=f"a few-second check: {QUICK_INSTANCES} instances, at most 5 s per run, a "
                        "64-32-32-10 network timed once for build")
    p.add_argument("--vnncomp", default=str(DEFAULT_VNNCOMP), metavar="DIR",
                   help=f"VNN-COMP folder holding mnist_fc/ (default {DEFAULT_VNNCOMP})")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def _check(args: argparse.Namespace) -> list[str]:
    """Every check on the arguments, before anything is read, run or written."""
    check_output_dir(args.out, "--out")
    check_positive(args.time_limit, "--time-limit")
    for flag, value in (("--jobs", args.jobs), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    suites = list(ALL) if args.suite == "all" else [args.suite]
    if args.suite not in CHOICES:
        p = Path(args.suite)
        if p.suffix not in (".toml", ".csv"):
            raise InputError(f"--suite {args.suite}: give one of {', '.join(CHOICES)}, or a sweep "
                             ".toml / instances.csv")
        if not p.is_file():
            raise InputError(f"--suite {p} not found: give one of {', '.join(CHOICES)}, or a "
                             "spec file")
    if "mnist_fc" in suites and not (Path(args.vnncomp) / "mnist_fc").is_dir():
        raise InputError(f"no mnist_fc/ folder under {args.vnncomp}: pass --vnncomp DIR")
    return suites


def run(args: argparse.Namespace) -> int:
    from surrogate.bench.suites import suite_spec  # lazy: as in _run_suite

    suites = _check(args)
    specs = [suite_spec(s, vnncomp=args.vnncomp, time_limit_s=args.time_limit, quick=args.quick)
             for s in suites]  # every spec read (and checked) before the first runs
    status = 0
    for suite, spec in zip(suites, specs, strict=True):
        out = Path(args.out) / suite if args.suite == "all" else Path(args.out)
        status = max(status, _run_suite(args, spec, out))
    return status


def _run_suite(args: argparse.Namespace, spec: CampaignSpec, out: Path) -> int:
    # lazy: importing the bench and report layers adds ~14 % to every CLI start (`surrogate --help`)
    from surrogate.bench.machine import machine_info, now, record_session
    from surrogate.bench.runner import run_campaign, stderr_progress
    from surrogate.bench.spec import SweepSpec
    from surrogate.bench.suites import first_instances
    from surrogate.bench.tasks import expand_tasks
    from surrogate.report.perf_md import write_perf_report

    build = isinstance(spec, SweepSpec) and spec.problem.kind == "build"
    jobs = args.jobs if args.jobs is not None else (1 if build else None)
    instances = args.limit if args.limit is not None else (QUICK_INSTANCES if args.quick else None)
    limit = first_instances(spec, instances)
    n = len(expand_tasks(spec))
    shown = f" (running the first {limit})" if limit is not None else ""
    print(f"perf {spec.name}: {n} tasks{shown} -> {out} [jobs {jobs or 'all cores'}]")
    started, machine = now(), machine_info()
    try:
        summary = run_campaign(spec, out, jobs=jobs, limit=limit,
                               progress=None if args.quiet else stderr_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished results are stored in {out}; run the same command to "
              "resume", file=sys.stderr)
        raise
    record_session(out, _command(args), started, machine)
    json_path, md_path, rec = write_perf_report(out, out)
    _print_summary(rec)
    print(f"{summary.total} tasks: {summary.skipped} already stored, {summary.ran} run now "
          f"({summary.failed} failed) in {summary.elapsed_s:.1f} s")
    print(f"wrote {json_path} and {md_path}")
    if rec["bugs"]:
        print(f"{len(rec['bugs'])} SOUNDNESS BUG(S): see {md_path}", file=sys.stderr)
    if summary.stored_errors:
        print(f"{summary.stored_errors} task(s) stored with an error: see `surrogate bench report "
              f"{out}`; rerun with `surrogate bench run ... --retry-errors`", file=sys.stderr)
    return 1 if rec["bugs"] or summary.stored_errors else 0


def _command(args: argparse.Namespace) -> str:
    cmd = ["surrogate", "perf", "--suite", args.suite, "--out", str(args.out)]
    if args.time_limit is not None:
        cmd += ["--time-limit", f"{args.time_limit:g}"]
    if args.jobs is not None:
        cmd += ["--jobs", str(args.jobs)]
    if args.limit is not None:
        cmd += ["--limit", str(args.limit)]
    if args.quick:
        cmd.append("--quick")
    if args.suite in ("mnist_fc", "all"):
        cmd += ["--vnncomp", args.vnncomp]
    return " ".join(cmd)


def _print_summary(rec: dict) -> None:
    for cfg, v in rec.get("versus_stock", {}).items():
        s = v["summary"]
        if rec["kind"] == "maximization":
            print(f"{cfg}: time to the stock's final value, stock / ours median "
                  f"{_x(s['stock_over_ours_median'])}; incumbents ours {s['ours_with_incumbent']}"
                  f", stock {s['stock_with_incumbent']} of {s['instances']}; ours better "
                  f"{s['ours_better']}, worse {s['ours_worse']}")
        else:
            print(f"{cfg}: answered ours {s['ours_answered']}, stock {s['stock_answered']} of "
                  f"{s['instances']}; median {_f(s['ours_median_s'])} s vs "
                  f"{_f(s['stock_median_s'])} s: stock / ours {_x(s['stock_over_ours_median'])};"
                  f" same answer {_x(s['same_answer_stock_over_ours_median'])}; "
                  f"{s['disagree']} disagreements")
    for net, d in rec.get("build", {}).items():
        for cfg, by in d["ratios"].items():
            parts = ", ".join(f"{k} {_f(r)}" for k, r in by.items())
            print(f"{net} {cfg}: {parts}")
    if rec.get("presets"):
        print(f"best HiGHS preset: {rec['presets']['best']} (ranking "
              f"{', '.join(rec['presets']['ranking'])})")


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}x"

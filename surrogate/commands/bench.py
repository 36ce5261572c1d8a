"""``surrogate bench``: run benchmark campaigns (``run``) and turn their results into a report
(``report``). See docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from surrogate.commands._common import (
    check_input_file,
    check_output_dir,
    check_output_file,
    check_positive,
    check_sparsity,
    float_list,
    stderr_progress,
)
from surrogate.errors import InputError

NAME = "bench"
HELP = (
    "Benchmark campaigns: `bench run SPEC --out DIR` runs a sweep file (problems/*.toml) or a "
    "VNN-COMP instances.csv into a resumable results store; `bench report DIR` writes a Markdown "
    "report with plots."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench_command", metavar="{run,report,record,check-record}")
    r = sub.add_parser(
        "run",
        help="run (or resume) a campaign",
        description=_RUN_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("spec", metavar="SPEC", help="sweep file (.toml), VNN-COMP instances.csv, or a "
                   "folder: every instances*.csv under it as one campaign")
    r.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="results folder (DIR/results.sqlite, DIR/spec.json); reused to resume",
    )
    r.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="solver seconds per run: replaces a sweep's time_limit_s, caps a csv's timeouts",
    )
    r.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel runs (default: number of cores)",
    )
    r.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local process pool (default) or a Ray cluster",
    )
    r.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray instance)",
    )
    r.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="K",
        help="only the first K tasks of the campaign (a quick try)",
    )
    r.add_argument("--retry-errors", action="store_true", help="rerun tasks stored with an error")
    r.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="NAME",
        help="instances.csv only: pruning method for nonzero --sparsities (repeatable)",
    )
    r.add_argument(
        "--sparsities",
        type=float_list,
        default=None,
        metavar="P,...",
        help="instances.csv only: sparsities to run every instance at (default 0)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress line")
    r.set_defaults(_bench=_run)

    rep = sub.add_parser("report", help="write report.md, plots and results.csv from a store")
    rep.add_argument("dir", metavar="DIR", help="a folder written by `surrogate bench run`")
    rep.add_argument(
        "--out", default=None, metavar="DIR", help="report folder (default DIR/report)"
    )
    rep.set_defaults(_bench=_report)

    rec = sub.add_parser(
        "record", help="build the soundness record from VNN-COMP campaign folders",
        description="Collect every dense sat/unsat answer of campaigns over VNN-COMP "
        "instances.csv files (each sat re-checked with float64 and onnxruntime) into a record "
        "file, so that `bench check-record` can catch a later change that flips one.",
    )
    rec.add_argument("dirs", nargs="+", metavar="DIR", help="folders written by `bench run`")
    rec.add_argument("--vnncomp", required=True, metavar="DIR",
                     help="the VNN-COMP folder the campaigns ran on (paths are kept relative)")
    rec.add_argument("-o", "--out", required=True, metavar="FILE",
                     help="record file to write (gzip'd JSON, e.g. tests/data/vnncomp_record.json.gz)")
    rec.set_defaults(_bench=_record)

    chk = sub.add_parser(
        "check-record", help="re-check a soundness record (exit 1 on a flipped answer)",
        description="Re-validate every sat point of a record with float64 and onnxruntime; with "
        "--rerun, verify the instances again with their recorded limits. Exit 1 when a sat "
        "point fails or an answer flips (sat <-> unsat); answers that are only lost (timeout, "
        "unknown) are listed but do not fail.",
    )
    chk.add_argument("record", metavar="FILE", help="a record written by `bench record`")
    chk.add_argument("--vnncomp", required=True, metavar="DIR", help="the VNN-COMP folder")
    chk.add_argument("--rerun", action="store_true", help="verify every instance again")
    chk.add_argument("--benchmark", action="append", default=None, metavar="NAME",
                     help="with --rerun: only this benchmark folder (repeatable)")
    chk.add_argument("--quiet", action="store_true", help="no progress lines")
    chk.set_defaults(_bench=_check_record)


_RUN_DOC = """Run every task of a campaign not yet stored in DIR/results.sqlite.

Results are committed one by one as tasks finish: after Ctrl-C or a crash, the same command
resumes where the run stopped. A task that fails is stored with its error message; rerun with
--retry-errors to try it again. Exit status: 0 when every task is stored without error, 1 when
some are stored as errors, 2 on bad input, 130 on Ctrl-C."""


def run(args: argparse.Namespace) -> int:
    fn = getattr(args, "_bench", None)
    if fn is None:
        raise InputError(
            "give a bench command: `surrogate bench run SPEC --out DIR` "
            "or `surrogate bench report DIR`"
        )
    return int(fn(args))


def _check_run(args: argparse.Namespace) -> None:
    """The checks on the arguments, before the spec is expanded or a header printed."""
    if not Path(args.spec).is_dir():  # a folder: every instances*.csv under it
        check_input_file(args.spec, "campaign spec", "a sweep .toml or an instances.csv",
                         "instances.csv")
    check_output_dir(args.out, "--out")
    check_positive(args.time_limit, "--time-limit")
    for flag, value in (("--jobs", args.jobs), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    for p in args.sparsities or ():
        check_sparsity(p, "--sparsities")
    if args.ray_address and args.backend != "ray":
        raise InputError("--ray-address goes with --backend ray: add --backend ray or drop it")


def _run(args: argparse.Namespace) -> int:
    # lazy (here and below): the bench and report layers stay out of every CLI start
    from surrogate.bench import load_spec, run_campaign
    from surrogate.bench.runner import stderr_progress as campaign_progress
    from surrogate.bench.tasks import expand_tasks

    _check_run(args)
    spec = load_spec(
        args.spec, time_limit_s=args.time_limit, methods=args.method, sparsities=args.sparsities
    )
    n = len(expand_tasks(spec))
    first = f" (running the first {args.limit})" if args.limit and args.limit < n else ""
    print(
        f"campaign {spec.name} ({spec.kind}): {n} tasks{first} -> {args.out} "
        f"[{args.backend}, jobs {args.jobs or 'all cores'}]"
    )
    try:
        summary = run_campaign(
            spec,
            args.out,
            jobs=args.jobs,
            backend=args.backend,
            limit=args.limit,
            retry_errors=args.retry_errors,
            ray_address=args.ray_address,
            progress=None if args.quiet else campaign_progress,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished results are stored in {args.out}; run the same command "
            "to resume",
            file=sys.stderr,
        )
        raise
    print(
        f"{summary.total} tasks: {summary.skipped} already stored, {summary.ran} run now "
        f"({summary.failed} failed) in {summary.elapsed_s:.1f} s; stored {summary.stored_ok} ok, "
        f"{summary.stored_errors} errors in {Path(args.out) / 'results.sqlite'}"
    )
    if summary.stored_errors:
        print(
            f"{summary.stored_errors} task(s) stored with an error: see the report "
            f"(`surrogate bench report {args.out}`) and rerun with --retry-errors",
            file=sys.stderr,
        )
        return 1
    print(f"report: surrogate bench report {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from surrogate.report import write_report

    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"DIR {folder} is a file, not a results folder: give the folder passed to "
            f"`surrogate bench run --out` (e.g. {folder.parent})"
        )
    if folder.is_dir() and not (folder / "results.sqlite").is_file():
        raise InputError(
            f"DIR {folder} holds no results.sqlite: give the folder passed to `surrogate bench "
            "run --out`, or run a campaign into it first"
        )
    check_output_dir(args.out or folder / "report", "--out")
    files = write_report(args.dir, args.out)
    print(f"wrote {files.markdown}")
    for f in files.figures:
        print(f"  {f}")
    print(f"  {files.csv}")
    return 0


def _record(args: argparse.Namespace) -> int:
    from surrogate.bench.record import build_record, write_record

    root = Path(args.vnncomp)
    if not root.is_dir():
        raise InputError(f"--vnncomp {root} is not a folder: give the VNN-COMP benchmark folder")
    for d in args.dirs:
        if not Path(d).is_dir():
            raise InputError(f"DIR {d} is not a folder: give folders written by `bench run`")
    check_output_file(args.out, "--out", "record.json.gz")
    entries = build_record(args.dirs, root)
    write_record(entries, args.out)
    sat = sum(e.result == "sat" for e in entries)
    print(f"wrote {args.out}: {len(entries)} answers ({sat} sat, each re-checked; "
          f"{len(entries) - sat} unsat)")
    return 0


def _check_record(args: argparse.Namespace) -> int:
    from surrogate.bench.record import check_record, read_record

    root = Path(args.vnncomp)
    if not root.is_dir():
        raise InputError(f"--vnncomp {root} is not a folder: give the VNN-COMP benchmark folder")
    entries = read_record(args.record)
    wanted = set(args.benchmark or ())
    report = check_record(
        entries, root, rerun=args.rerun,
        select=(lambda e: e.benchmark in wanted) if wanted else None,
        progress=None if args.quiet else stderr_progress,
    )
    print(f"{report.checked_sat} sat points re-checked: {len(report.bad_sat)} failed")
    for line in report.bad_sat:
        print(f"  FAILED {line}")
    if args.rerun:
        print(f"{report.rerun} instances verified again: {len(report.flips)} flipped, "
              f"{len(report.lost)} lost (timeout/unknown now)")
        for line in report.flips:
            print(f"  FLIP {line}")
        for line in report.lost:
            print(f"  lost {line}")
    return 0 if report.ok else 1

"""``surrogate prune-study``: accuracy and MILP size against sparsity for every pruning method."""

from __future__ import annotations

import argparse
from pathlib import Path

from surrogate.app.study import DEFAULT_METHODS, pruning_study, write_study
from surrogate.commands._common import check_output_dir, check_sparsity, float_list, stderr_progress
from surrogate.errors import InputError
from surrogate.prune import available
from surrogate.zoo import model_path

NAME = "prune-study"
HELP = ("Accuracy and MILP size against sparsity for every pruning method on the shipped digits "
        "models; writes a Markdown table, CSV and plots.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+",
                   default=["digits-2x32", "digits-2x64", "digits-4x32", "digits-4x64"])
    p.add_argument("--methods", nargs="+", default=None, help="default: every lossy method")
    p.add_argument("--sparsities", type=float_list, default=[0.3, 0.5, 0.8, 0.9, 0.95])
    p.add_argument("--out", default="docs/pruning-study", help="output folder (default docs/pruning-study)")


def run(args: argparse.Namespace) -> int:
    for p in args.sparsities:
        check_sparsity(p, "--sparsities")
    unknown = sorted(set(args.methods or ()) - set(available()))
    if unknown:
        raise InputError(
            f"--methods: {', '.join(unknown)} is not a pruning method: choose from "
            f"{', '.join(available())}"
        )
    for m in args.models:
        model_path(m)
    check_output_dir(args.out, "--out")
    rows = pruning_study(args.models, methods=args.methods or DEFAULT_METHODS,
                         sparsities=args.sparsities, progress=stderr_progress)
    path = write_study(rows, Path(args.out))
    print(f"wrote {path}")
    return 0

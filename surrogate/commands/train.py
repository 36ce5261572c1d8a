"""``surrogate train``: train a digits MLP to ONNX, or rebuild every shipped model.

    surrogate train --hidden 32 32 --seed 0 --epochs 20 -o OUT.onnx
    surrogate train --all [--models-dir DIR] [--only NAME ...] [--record]

``--all`` reads ``DIR/models.json`` (default: the shipped ``models/``), retrains each model from its
record and checks that the test accuracy matches the recorded one within
``surrogate.zoo.ACCURACY_TOLERANCE`` (0.01): bit-identical weights are not portable across CPUs,
the behaviour is. A file is (re)written only when it matches; ``--record`` writes it anyway and
stores the new accuracy in ``models.json`` (for a new or changed record).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from surrogate.commands._common import check_output_dir, check_output_file
from surrogate.data import Dataset, load_digits
from surrogate.errors import InputError, ModelFileError
from surrogate.zoo import (
    ACCURACY_TOLERANCE,
    MODELS_DIR,
    ModelRecord,
    accuracy_matches,
    read_records,
    write_records,
)

if TYPE_CHECKING:  # the CLI imports every command at start-up: keep torch out of that path
    from surrogate.train import EpochStats

NAME = "train"
HELP = "train a ReLU MLP on the 8x8 digits (to ONNX), or rebuild the shipped models with --all"

_PROGRESS_BLOCKS = 5  # progress lines per training run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", type=int, nargs="+", metavar="W", help="hidden widths")
    parser.add_argument("--seed", type=int, default=0, help="seed of init and batches (0)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (20)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--weight-decay", type=float, default=1e-3, help="Adam weight decay")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (64)")
    parser.add_argument("-o", "--output",
                        help="ONNX file to write (missing folders are created)")
    parser.add_argument("--all", action="store_true", help="rebuild every model in models.json")
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="folder with models.json (--all)"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="with --all: just these models")
    parser.add_argument(
        "--record", action="store_true", help="with --all: write and record new accuracies"
    )


def run(args: argparse.Namespace) -> int:
    if args.all:
        if args.hidden or args.output:
            raise InputError("--all rebuilds the listed models: do not give --hidden or -o")
        return _rebuild_all(args)
    if args.only or args.record or args.models_dir:
        raise InputError("--only, --record and --models-dir go with --all")
    if not args.hidden or args.output is None:
        raise InputError("give --hidden W [W ...] and -o OUT.onnx (or --all)")
    _check_hyper(args)
    check_output_file(args.output, "-o", "model.onnx")
    return _train_one(args)


def _check_hyper(args: argparse.Namespace) -> None:
    """The training options, named as on the command line (before any data is loaded)."""
    bad = [w for w in args.hidden if w < 1]
    if bad:
        raise InputError(f"--hidden widths must be >= 1, got {bad[0]}: give e.g. --hidden 32 32")
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise InputError(f"{flag} must be >= 1, got {value}")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    if not (np.isfinite(args.lr) and args.lr > 0):
        raise InputError(f"--lr must be a finite number > 0, got {args.lr:g}")
    if not (np.isfinite(args.weight_decay) and args.weight_decay >= 0):
        raise InputError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay:g}")


def _train_one(args: argparse.Namespace) -> int:
    # lazy: onnx and torch (CLI start-up)
    from surrogate.network.onnx_write import write_onnx
    from surrogate.train import train_mlp

    net = train_mlp(
        args.hidden,
        load_digits(),
        seed=args.seed,
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        progress=_printer("-".join(map(str, args.hidden))),
    )
    write_onnx(net, args.output)
    print(f"{net.name}: test accuracy {net.metadata['test_accuracy']:.4f} -> {args.output}")
    return 0


def _rebuild_all(args: argparse.Namespace) -> int:
    models_dir = Path(args.models_dir or MODELS_DIR)
    if models_dir.exists() and not models_dir.is_dir():
        raise InputError(
            f"--models-dir {models_dir} is a file, not a folder: give the folder holding "
            "models.json"
        )
    records = read_records(models_dir)
    check_output_dir(models_dir, "--models-dir")
    names = [r.name for r in records]
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        raise InputError(f"--only: no model {', '.join(unknown)} in models.json; listed: {names}")
    data = load_digits()
    failures = 0
    for i, rec in enumerate(records):
        if args.only and rec.name not in args.only:
            continue
        acc, ok = _rebuild(rec, models_dir, data, record=args.record)
        failures += not ok
        records[i] = replace(rec, test_accuracy=acc) if args.record else rec
    if args.record:
        print(f"recorded accuracies in {write_records(records, models_dir)}")
    return 1 if failures else 0


def _rebuild(
    rec: ModelRecord, models_dir: Path, data: Dataset, *, record: bool
) -> tuple[float, bool]:
    """Retrain one model; write it when its accuracy matches the record (or ``record``)."""
    # lazy: onnx and torch (CLI start-up)
    from surrogate.network.onnx_read import read_onnx
    from surrogate.network.onnx_write import write_onnx
    from surrogate.train import train_mlp

    net = train_mlp(
        rec.hidden,
        data,
        seed=rec.seed,
        epochs=rec.epochs,
        lr=rec.lr,
        weight_decay=rec.weight_decay,
        batch_size=rec.batch_size,
        progress=_printer(rec.name),
    )
    acc = float(net.metadata["test_accuracy"])  # type: ignore[arg-type]
    same = accuracy_matches(acc, rec.test_accuracy)
    if same or record:
        path = models_dir / rec.filename
        write_onnx(net.with_layers(net.layers, name=rec.name), path)
        acc_file = float(np.mean(read_onnx(path).predict(data.x_test) == data.y_test))
        if acc_file != acc:
            raise ModelFileError(
                f"{path}: the written model's test accuracy {acc_file} differs from the trained "
                f"network's {acc}; the ONNX writer lost precision"
            )
    if same and acc == rec.test_accuracy:
        verdict = "matches the record"
    elif same:
        verdict = (f"matches the record {rec.test_accuracy:.4f} within {ACCURACY_TOLERANCE:g}")
    elif rec.test_accuracy is None:
        verdict = "no recorded accuracy"
    else:
        verdict = f"recorded {rec.test_accuracy:.4f}, more than {ACCURACY_TOLERANCE:g} away"
    if not same and not record:
        verdict += " -- MISMATCH, file left unchanged (use --record to accept)"
    print(f"{rec.name}: test accuracy {acc:.4f} ({verdict})", flush=True)
    return acc, same or record


def _printer(net_label: str) -> Callable[[EpochStats], None]:
    """A progress callback printing a line every ``epochs / 5`` epochs."""

    def show(stats: EpochStats) -> None:
        block = max(1, stats.epochs // _PROGRESS_BLOCKS)
        if stats.epoch % block == 0 or stats.epoch == stats.epochs:
            print(
                f"  {net_label} epoch {stats.epoch}/{stats.epochs}: loss {stats.mean_loss:.4f}, "
                f"train accuracy {stats.train_accuracy:.4f}",
                flush=True,
            )

    return show

"""``surrogate prune``: prune a network (ONNX file or shipped model) and write it back to ONNX.

    surrogate prune IN.onnx|NAME --method M --sparsity P [--rounds R] [--seed S]
                    [--option KEY=VALUE ...] [-o OUT.onnx]
    surrogate prune --list

Prints the pruning report: per-layer weight sparsity, neurons removed, time taken; for a digits
network (64 inputs, 10 outputs) the accuracy before and after on the digits *test* split (methods
that use data, and ``--finetune``, get the *train* split); and, when :mod:`surrogate.bounds`
provides ``compute_bounds``, the stable / unstable ReLU counts over the input box (``metadata
["input_domain"]``, default ``[0, 1]``) before and after. The written file keeps the input
network's metadata and adds ``pruned_from``, ``method``, ``sparsity`` (and ``prune_options``);
``test_accuracy`` becomes the pruned network's, the input's moves to ``dense_test_accuracy``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from surrogate import bounds
from surrogate.commands._common import check_output_file, check_sparsity
from surrogate.data import Dataset, load_digits
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune import apply, available
from surrogate.prune.registry import PruneReport, PruneResult
from surrogate.sets import Box
from surrogate.zoo import load_model

NAME = "prune"
HELP = "prune a network (ONNX file or shipped model name) with a registered method"

_DIGITS_SHAPE = (64, 10)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", help="an .onnx file or a shipped model name")
    parser.add_argument("--method", default="magnitude", help="pruning method (see --list)")
    parser.add_argument("--sparsity", type=float, help="target sparsity in [0, 1)")
    parser.add_argument("--rounds", type=int, help="prune in R rounds (paper: 5)")
    parser.add_argument("--seed", type=int, help="seed of random methods")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another method option (VALUE read as JSON when it parses, else as text)",
    )
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="train-prune-rewind rounds on the digits train split (surrogate.prune.finetune)",
    )
    parser.add_argument("-o", "--output",
                        help="ONNX file to write (missing folders are created)")
    parser.add_argument("--list", action="store_true", help="list the pruning methods and exit")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, doc in available().items():
            print(f"{name:20s} {doc}")
        return 0
    if args.model is None or args.sparsity is None:
        raise InputError("give a model (file or name) and --sparsity P (or --list)")
    check_sparsity(args.sparsity, "--sparsity")
    methods = available()
    if args.method not in methods:
        raise InputError(
            f"--method: unknown pruning method {args.method!r}; choose one of "
            f"{', '.join(methods)} (see `surrogate prune --list`)"
        )
    if args.rounds is not None and args.rounds < 1:
        raise InputError(f"--rounds must be >= 1, got {args.rounds}")
    options = _options(args)
    if args.output is not None:
        check_output_file(args.output, "-o", "pruned.onnx")
    network = load_model(args.model)
    data = _digits_if_fits(network)
    train = None if data is None else (data.x_train, data.y_train)
    if args.finetune and train is None:
        raise InputError(
            "--finetune needs training data; only digits networks (64 inputs, 10 outputs) have "
            f"it here, this one has {network.n_inputs} inputs and {network.n_outputs} outputs"
        )
    extra: dict[str, object] = {"finetune": True} if args.finetune else {}
    run_apply: Callable[..., PruneResult] = apply
    result = run_apply(network, args.method, args.sparsity, data=train, **extra, **options)
    report = _with_test_accuracy(result.report, network, result.network, data)
    for line in report.lines():
        print(line)
    for line in _stability_lines(network, result.network):
        print(line)
    if args.output is not None:
        _write(args, result.network, network, report, options)
    return 0


def _options(args: argparse.Namespace) -> dict[str, object]:
    """``--rounds``, ``--seed`` (when given) and every ``--option KEY=VALUE``."""
    options: dict[str, object] = {}
    if args.rounds is not None:
        options["rounds"] = args.rounds
    if args.seed is not None:
        options["seed"] = args.seed
    for item in args.option:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise InputError(f"--option takes KEY=VALUE with KEY a name, got {item!r}")
        if key in options or key in ("data", "finetune", "finetune_options"):
            raise InputError(f"option {key!r} given twice (or reserved); give it once")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def _digits_if_fits(network: Network) -> Dataset | None:
    """The digits data when the network has digits' shape (64 inputs, 10 outputs)."""
    if (network.n_inputs, network.n_outputs) != _DIGITS_SHAPE:
        return None
    return load_digits()


def _with_test_accuracy(
    report: PruneReport, dense: Network, pruned: Network, data: Dataset | None
) -> PruneReport:
    """The report with accuracy before / after on the digits test split (or none)."""
    if data is None:
        return dataclasses.replace(report, accuracy_before=None, accuracy_after=None)
    return dataclasses.replace(
        report,
        accuracy_before=float(np.mean(dense.predict(data.x_test) == data.y_test)),
        accuracy_after=float(np.mean(pruned.predict(data.x_test) == data.y_test)),
        extra={**report.extra, "accuracy on": f"digits test split ({len(data.y_test)} images)"},
    )


def _input_box(network: Network) -> tuple[float, float]:
    domain = network.metadata.get("input_domain", [0.0, 1.0])
    try:
        lo, hi = (float(v) for v in domain)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(
            f"metadata input_domain must be [lower, upper], got {domain!r}"
        ) from None
    return lo, hi


def _stability_lines(dense: Network, pruned: Network) -> list[str]:
    """Stable / unstable ReLU counts before and after, if ``surrogate.bounds`` offers them."""
    lo, hi = _input_box(dense)
    box = Box(np.full(dense.n_inputs, lo), np.full(dense.n_inputs, hi))
    before = bounds.compute_bounds(dense, box, method="symbolic").counts(dense)
    after = bounds.compute_bounds(pruned, box, method="symbolic").counts(pruned)
    parts = ", ".join(
        f"{label} {before[key]} -> {after[key]}"
        for key, label in (
            ("unstable", "unstable"),
            ("active", "stably active"),
            ("inactive", "stably inactive"),
        )
    )
    return [f"  ReLUs over [{lo:g}, {hi:g}]^{dense.n_inputs} (symbolic bounds): {parts}"]


def _write(
    args: argparse.Namespace,
    pruned: Network,
    dense: Network,
    report: PruneReport,
    options: dict[str, object],
) -> None:
    from surrogate.network.onnx_write import write_onnx  # lazy: pulls in onnx (CLI start-up)

    meta: dict[str, object] = dict(dense.metadata)
    meta.update(pruned_from=str(args.model), method=args.method, sparsity=float(args.sparsity))
    if options:
        meta["prune_options"] = options
    if args.finetune:
        meta["finetuned"] = True
    if report.accuracy_after is not None:
        meta["dense_test_accuracy"] = report.accuracy_before
        meta["test_accuracy"] = report.accuracy_after
    base = dense.name or Path(str(args.model)).stem
    name = f"{base}-{args.method}-p{float(args.sparsity):g}"
    write_onnx(pruned.with_layers(pruned.layers, name=name, metadata=meta), args.output)
    print(f"wrote {args.output} ({pruned.nonzeros}/{pruned.n_weights} nonzero weights)")

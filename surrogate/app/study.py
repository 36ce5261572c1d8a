"""Pruning study: accuracy and MILP size against sparsity, for every pruning method, on the shipped
digits models (a table and a plot; ``surrogate prune-study``).

The MILP measured is the verification problem of ``surrogate compare`` (L1 budget 5 around a digits
test image, top-2 target) with symbolic bounds: variables, binaries (= unstable ReLUs left after
bounds), constraints and nonzeros. Exact compression is reported as its own row at sparsity 0 and,
composed first, under every lossy method (``exact+METHOD``), since it never changes the function on
the input set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.app.build import build_milp
from surrogate.app.problems import digits, digits_robustness
from surrogate.data import Dataset
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune import apply, available
from surrogate.prune.masks import Masks
from surrogate.zoo import load_model

__all__ = ["DEFAULT_METHODS", "live_neurons", "milp_size", "pruning_study", "write_study"]

DEFAULT_METHODS = (
    "magnitude", "magnitude-global", "structured", "random", "random-structured",
    "progressive", "bandit", "consensus",
)
DATA_METHODS = {"progressive", "bandit", "consensus"}


def milp_size(network: Network, problem: Any) -> dict[str, int]:
    """Size of the verification MILP of ``network`` over ``problem.input_set`` (symbolic
    bounds), as every run builds it (:func:`surrogate.app.build.build_milp`)."""
    built = build_milp(problem, network, "symbolic")
    size = built.size()
    size["unstable"] = built.neurons()["unstable"]
    return size


def live_neurons(network: Network) -> int:
    """Hidden neurons that are not removed (a removed neuron has a zero row and a zero bias)."""
    hidden = sum(network.widths[1:-1])
    return hidden - sum(Masks.from_zeros(network).removed_counts()[:-1])


def _row(model: str, method: str, p: float, net: Network, data: Dataset, problem: Any,
         prune_s: float) -> dict[str, Any]:
    return {
        "model": model, "method": method, "target_sparsity": p, "sparsity": round(net.sparsity, 4),
        "accuracy": float(np.mean(net.predict(data.x_test) == data.y_test)),
        "prune_s": round(prune_s, 3), "neurons": live_neurons(net), **milp_size(net, problem),
    }


def pruning_study(
    models: Sequence[str],
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    sparsities: Sequence[float] = (0.3, 0.5, 0.8, 0.9, 0.95),
    image: int = 0,
    eps: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    data = digits()
    unknown = [m for m in methods if m not in available()]
    if unknown:
        raise InputError(f"unknown pruning method(s) {unknown}; available: {sorted(available())}")
    rows = []
    for name in models:
        dense = load_model(name)
        problem = digits_robustness(dense, image, eps, norm="l1")
        rows.append(_row(name, "dense", 0.0, dense, data, problem, 0.0))
        t0 = time.perf_counter()
        exact = apply(dense, "exact", 0.0, input_set=problem.input_set).network
        rows.append(_row(name, "exact", 0.0, exact, data, problem, time.perf_counter() - t0))
        for method in methods:
            for p in sparsities:
                opts: dict[str, Any] = {}
                if method in DATA_METHODS:
                    opts["data"] = (data.x_train, data.y_train)
                t0 = time.perf_counter()
                net = apply(dense, method, p, **opts).network
                rows.append(_row(name, method, p, net, data, problem, time.perf_counter() - t0))
                if progress:
                    r = rows[-1]
                    progress(f"{name} {method}@{p:g}: accuracy {r['accuracy']:.3f}, "
                             f"binaries {r['binaries']}, nonzeros {r['nonzeros']}")
    return rows


def write_study(rows: list[dict[str, Any]], out_dir: Path) -> Path:
    """Write ``pruning-study.md``, ``pruning-study.csv`` and one PNG per model into ``out_dir``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(rows[0])
    with open(out_dir / "pruning-study.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    lines = ["# Pruning study: accuracy and MILP size against sparsity", "",
             "Made by `surrogate prune-study` (see `surrogate/app/study.py` for the protocol). "
             "MILP: L1 budget 5 around digits test image 0, top-2 target, symbolic bounds; "
             "`binaries` = unstable ReLUs.", ""]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        mrows = [r for r in rows if r["model"] == model]
        lines += [f"## {model}", "", f"![{model}](pruning-study-{model}.png)", "",
                  "| method | target | sparsity | accuracy | neurons | binaries | constraints "
                  "| nonzeros | prune s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in mrows:
            lines.append(
                f"| {r['method']} | {r['target_sparsity']:g} | {r['sparsity']:.3f} | {r['accuracy']:.3f} | "
                f"{r['neurons']} | {r['binaries']} | {r['constraints']} | {r['nonzeros']} | "
                f"{r['prune_s']:.2f} |"
            )
        lines.append("")
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for method in dict.fromkeys(r["method"] for r in mrows if r["method"] not in ("dense", "exact")):
            pts = [r for r in mrows if r["method"] == method]
            xs = [r["target_sparsity"] for r in pts]
            ax1.plot(xs, [r["accuracy"] for r in pts], marker="o", label=method)
            ax2.plot(xs, [r["binaries"] for r in pts], marker="o", label=method)
        dense = next(r for r in mrows if r["method"] == "dense")
        ax1.axhline(dense["accuracy"], color="k", ls="--", lw=1, label="dense")
        ax2.axhline(dense["binaries"], color="k", ls="--", lw=1, label="dense")
        ax1.set(xlabel="target sparsity", ylabel="test accuracy", title=f"{model}: accuracy")
        ax2.set(xlabel="target sparsity", ylabel="binaries (unstable ReLUs)", title=f"{model}: MILP binaries")
        ax2.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / f"pruning-study-{model}.png", dpi=90)
        plt.close(fig)
    path = out_dir / "pruning-study.md"
    path.write_text("\n".join(lines))
    return path

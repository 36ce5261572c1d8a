"""The registry of pruning methods and the one entry point, :func:`apply`.

A method is a function ``fn(network, sparsity, **options) -> Network`` registered under a name with
:func:`register`. It returns a network with the same layer shapes (pruned entries are exact zeros,
removed neurons have a zero row *and* a zero bias) unless it documents otherwise (exact
compression changes shapes). :func:`apply` validates the arguments, times the call and builds a
:class:`PruneReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = ["PruneMethod", "PruneReport", "PruneResult", "apply", "available", "register"]

PruneMethod = Callable[..., Network]

_REGISTRY: dict[str, PruneMethod] = {}
_DOCS: dict[str, str] = {}


def register(name: str, doc: str = "") -> Callable[[PruneMethod], PruneMethod]:
    """Decorator: register ``fn`` as pruning method ``name`` (a one-line ``doc`` for listings)."""

    def deco(fn: PruneMethod) -> PruneMethod:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise InputError(f"pruning method {name!r} is already registered")
        _REGISTRY[name] = fn
        _DOCS[name] = doc or (fn.__doc__ or "").strip().splitlines()[0] if (doc or fn.__doc__) else ""
        return fn

    return deco


def available() -> dict[str, str]:
    """Registered method names with a one-line description."""
    _load_builtin_methods()
    return dict(sorted(_DOCS.items()))


@dataclass(frozen=True)
class PruneReport:
    method: str
    target_sparsity: float
    sparsity: float
    layer_sparsity: list[float]
    neurons_removed: list[int]
    widths_before: list[int]
    widths_after: list[int]
    time_s: float
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"method {self.method}: target sparsity {self.target_sparsity:.1%}, "
            f"reached {self.sparsity:.1%} in {self.time_s:.2f} s"
        ]
        for i, (s, r) in enumerate(zip(self.layer_sparsity, self.neurons_removed, strict=True)):
            out.append(f"  layer {i}: sparsity {s:.1%}, neurons removed {r}")
        if self.widths_before != self.widths_after:
            out.append(f"  widths {self.widths_before} -> {self.widths_after}")
        if self.accuracy_before is not None and self.accuracy_after is not None:
            out.append(
                f"  accuracy {self.accuracy_before:.4f} -> {self.accuracy_after:.4f}"
            )
        for k, v in self.extra.items():
            out.append(f"  {k}: {v}")
        return out


@dataclass(frozen=True)
class PruneResult:
    network: Network
    report: PruneReport


def removed_neurons(network: Network) -> list[int]:
    """Per layer: neurons with an all-zero incoming row and zero bias (they output ``act(0)``)."""
    out = []
    for layer in network.layers:
        dead = np.all(layer.weight == 0, axis=1) & (layer.bias == 0)
        out.append(int(dead.sum()))
    return out


def apply(
    network: Network,
    method: str = "magnitude",
    sparsity: float = 0.5,
    *,
    data: tuple[np.ndarray, np.ndarray] | None = None,
    finetune: bool = False,
    finetune_options: dict[str, object] | None = None,
    **options: object,
) -> PruneResult:
    """Prune ``network`` with the registered ``method`` to the target ``sparsity``.

    ``data = (x, y)`` (optional) is passed to methods that use data and is used to report accuracy
    before and after. Extra ``options`` go to the method. ``finetune=True`` (needs ``data``) runs
    the finetuning-with-rewinding protocol around the method
    (:func:`surrogate.prune.finetune.finetune_with_rewinding`; ``finetune_options``: rounds,
    epochs_per_round, final_epochs, lr, momentum, batch_size, seed).
    """
    _load_builtin_methods()
    if method not in _REGISTRY:
        raise InputError(
            f"unknown pruning method {method!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    if not (isinstance(sparsity, int | float) and 0.0 <= float(sparsity) < 1.0):
        raise InputError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    fn = _REGISTRY[method]
    t0 = time.perf_counter()
    if finetune:
        from surrogate.prune.finetune import run_finetune

        pruned = run_finetune(
            network, method, float(sparsity), data, finetune_options, options
        )
    else:
        if data is not None:
            options = {**options, "data": data}
        pruned = fn(network, float(sparsity), **options)
    elapsed = time.perf_counter() - t0
    acc_before = acc_after = None
    if data is not None:
        x, y = data
        acc_before = float(np.mean(network.predict(x) == y))
        acc_after = float(np.mean(pruned.predict(x) == y))
    report = PruneReport(
        method=method,
        target_sparsity=float(sparsity),
        sparsity=pruned.sparsity,
        layer_sparsity=[1.0 - lay.nonzeros / lay.weight.size for lay in pruned.layers],
        neurons_removed=removed_neurons(pruned),
        widths_before=network.widths,
        widths_after=pruned.widths,
        time_s=elapsed,
        accuracy_before=acc_before,
        accuracy_after=acc_after,
    )
    return PruneResult(pruned, report)


def _load_builtin_methods() -> None:
    # importing the modules registers their methods
    import surrogate.prune.methods  # noqa: F401

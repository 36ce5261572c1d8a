"""The registry of pruning methods and the one entry point, :func:`apply`.

A method is a function ``fn(network, sparsity, *, data=None, masks=None, **options) ->
MaskedNetwork`` registered under a name with :func:`register`. It *computes masks*
(:class:`~surrogate.prune.masks.Masks`: per layer, which weights and biases survive; a removed
neuron has its row *and* its bias masked) and returns them with the weights they apply to (the
given network, or the network it trained; exact compression returns a smaller network). Entries
masked by ``masks`` (entries already pruned) stay masked and count towards the target.

:func:`apply` validates the arguments, runs the method (or the finetuning protocol around it),
applies the masks, times the call and builds a :class:`PruneReport` from the masks: the
sparsity it reports counts masked weights, not zeros.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.checks import check_sparsity
from surrogate.prune.finetune import run_finetune
from surrogate.prune.masks import MaskedNetwork, Masks

__all__ = [
    "FINETUNED",
    "PruneMethod",
    "PruneReport",
    "PruneResult",
    "apply",
    "available",
    "finetuned_method",
    "register",
]

#: A campaign's method name ``"M+finetune"``: method ``M`` inside finetuning with rewinding.
FINETUNED = "+finetune"

PruneMethod = Callable[..., MaskedNetwork]

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


def finetuned_method(name: str, options: dict[str, object]) -> tuple[str, dict[str, object]]:
    """A configuration name and its options as :func:`apply` takes them: ``"M+finetune"`` is
    method ``M`` run inside finetuning with rewinding (``finetune=True``), the table under its
    options' key ``"finetune"`` being the ``finetune_options``; any other name is itself."""
    if not name.endswith(FINETUNED):
        return name, dict(options)
    opts = dict(options)
    fopts = opts.pop("finetune", None) or {}
    if not isinstance(fopts, dict):
        raise InputError(f"{name}: 'finetune' must be a table of finetuning options, got "
                         f"{fopts!r}")
    return name[: -len(FINETUNED)], {**opts, "finetune": True, "finetune_options": fopts}


@dataclass(frozen=True)
class PruneReport:
    """What :func:`apply` did. ``sparsity`` / ``layer_sparsity``: share of weights *masked*
    (a weight that was already zero is not counted); ``neurons_removed``: per layer, neurons
    whose row and bias are masked."""

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
    """``network``: the pruned network (masks applied and made permanent); ``masks``: what was
    pruned, per layer, the shapes of ``network``'s weights and biases."""

    network: Network
    report: PruneReport
    masks: Masks


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
    before and after. Extra ``options`` go to the method; ``masks=`` (a
    :class:`~surrogate.prune.masks.Masks` of ``network``, e.g. an earlier result's) marks entries
    as already pruned: they stay pruned and count towards the target (every method but
    ``exact``). ``finetune=True`` (needs ``data``) runs the finetuning-with-rewinding protocol
    around the method (:func:`surrogate.prune.finetune.finetune_with_rewinding`;
    ``finetune_options``: rounds, epochs_per_round, final_epochs, lr, momentum, batch_size, seed).
    The result carries the masks the method computed.
    """
    _load_builtin_methods()
    if method not in _REGISTRY:
        raise InputError(
            f"unknown pruning method {method!r}; available: {', '.join(sorted(_REGISTRY))}"
        )
    sparsity = check_sparsity(sparsity)
    fn = _REGISTRY[method]
    t0 = time.perf_counter()
    if finetune:
        if "masks" in options:
            raise InputError("finetune=True runs from the dense network: drop masks=")
        outcome = run_finetune(
            network, functools.partial(fn, **options), sparsity, data, finetune_options,
            name=method,
        )
    else:
        if data is not None:
            options = {**options, "data": data}
        outcome = fn(network, sparsity, **options)
    if not isinstance(outcome, MaskedNetwork):
        raise InputError(
            f"pruning method {method!r} returned {type(outcome).__name__}, not a "
            "surrogate.prune.MaskedNetwork (its weights with the masks it computed)"
        )
    pruned = outcome.remove()
    elapsed = time.perf_counter() - t0
    acc_before = acc_after = None
    if data is not None:
        x, y = data
        acc_before = float(np.mean(network.predict(x) == y))
        acc_after = float(np.mean(pruned.predict(x) == y))
    masks = outcome.masks
    report = PruneReport(
        method=method,
        target_sparsity=sparsity,
        sparsity=masks.sparsity,
        layer_sparsity=masks.layer_sparsity(),
        neurons_removed=masks.removed_counts(),
        widths_before=network.widths,
        widths_after=pruned.widths,
        time_s=elapsed,
        accuracy_before=acc_before,
        accuracy_after=acc_after,
    )
    return PruneResult(pruned, report, masks)


def _load_builtin_methods() -> None:
    # importing the modules registers their methods; lazy: they import this module (register),
    # so a module-level import would be a cycle
    import surrogate.prune.methods  # noqa: F401

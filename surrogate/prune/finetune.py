"""Finetuning with rewinding (the paper's ablation protocol) and masked training in torch.

The protocol (Pham et al., arXiv 2505.01985, read from the authors' code): to reach sparsity ``p``
in ``R`` rounds, each round

1. trains the network ``epochs_per_round`` epochs with SGD (cross-entropy, ``lr``) under the
   current mask (masked weights stay exactly zero: the mask multiplies gradients and weights);
2. prunes the trained network with a registered method to the cumulative sparsity
   ``s_r = 1 - (1 - p)^(r/R)``, i.e. a share ``q = 1 - (1 - p)^(1/R)`` more of what remains
   (the last round asks for ``p`` itself, so the end point is the method's exact target);
3. rewinds the surviving weights (and biases) to the given, trained dense network.

After the last round the network trains ``final_epochs`` more with the final mask.

The helpers here are shared by the data-driven methods of this package (``progressive``,
``bandit``, ``consensus``): data validation (:func:`require_data`), option checking, masks
(:func:`masks_of`) and a masked SGD step (:func:`masked_sgd_step`). torch is imported lazily so
that importing this module (e.g. in a worker process) stays light.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FINETUNE_OPTIONS",
    "check_options",
    "check_sparsity",
    "finetune_with_rewinding",
    "masked_sgd_step",
    "masks_of",
    "one_blas_thread",
    "one_thread",
    "require_data",
    "rewind",
    "run_finetune",
    "train_masked",
]

Masks = tuple[list[np.ndarray], list[np.ndarray]]

FINETUNE_OPTIONS = (
    "rounds",
    "epochs_per_round",
    "final_epochs",
    "lr",
    "momentum",
    "batch_size",
    "seed",
)


# ------------------------------------------------------------------------------------ validation
def check_sparsity(sparsity: object) -> float:
    """``sparsity`` as a float in ``[0, 1)``; InputError otherwise."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, int | float):
        raise InputError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if not 0.0 <= float(sparsity) < 1.0:
        raise InputError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def check_options(method: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """InputError naming the unknown options of ``method`` and the ones it takes."""
    known = sorted(known)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(
            f"method {method!r} got unknown option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(known)}"
        )


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def check_float(name: str, value: object, low: float, high: float = np.inf) -> float:
    """A float in ``[low, high]``; InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise InputError(f"{name} must be a number, got {value!r}")
    if not (low <= float(value) <= high):
        raise InputError(f"{name} must be in [{low}, {high}], got {value!r}")
    return float(value)


def require_data(method: str, data: object, network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``data = (x, y)`` for ``network``: ``x`` float ``(N, n_inputs)``, ``y`` int labels.

    Raises InputError (``method ... needs training data``) when ``data`` is None.
    """
    how = (
        f"pass data=(x, y) with x of shape (N, {network.n_inputs}) and integer class labels "
        f"y of shape (N,) in [0, {network.n_outputs})"
    )
    if data is None:
        raise InputError(f"method {method!r} needs training data: {how}")
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise InputError(f"method {method!r}: data must be a pair (x, y); {how}")
    x = np.asarray(data[0], dtype=np.float64)
    y = np.asarray(data[1])
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[1] != network.n_inputs or x.shape[0] == 0:
        raise InputError(f"method {method!r}: x has shape {x.shape}; {how}")
    if y.shape != (x.shape[0],):
        raise InputError(f"method {method!r}: y has shape {y.shape} for {x.shape[0]} inputs; {how}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"method {method!r}: x contains NaN or inf")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
            raise InputError(f"method {method!r}: y must hold integer class labels; {how}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= network.n_outputs:
        raise InputError(
            f"method {method!r}: labels range over [{y.min()}, {y.max()}] but the network has "
            f"{network.n_outputs} outputs; {how}"
        )
    return x, y


# ------------------------------------------------------------------------------------ masks
def masks_of(network: Network) -> Masks:
    """Weight masks (nonzero pattern) and bias masks (False only for a removed neuron).

    A neuron is removed when its incoming row and its bias are both exactly zero.
    """
    weight_masks = [layer.weight != 0 for layer in network.layers]
    bias_masks = [
        ~(np.all(layer.weight == 0, axis=1) & (layer.bias == 0)) for layer in network.layers
    ]
    return weight_masks, bias_masks


def apply_masks(network: Network, masks: Masks) -> Network:
    """``network`` with weights and biases multiplied by ``masks``."""
    wm, bm = masks
    layers = [
        layer.replace(weight=layer.weight * w, bias=layer.bias * b)
        for layer, w, b in zip(network.layers, wm, bm, strict=True)
    ]
    return network.with_layers(layers)


def rewind(dense: Network, masks: Masks) -> Network:
    """The surviving entries of ``masks`` reset to the weights of ``dense`` (the rest zero)."""
    return apply_masks(dense, masks)


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy ``logsumexp(z) - z_y`` (numerically stable), float64."""
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    return lse - logits[np.arange(len(y)), y]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run numpy's BLAS on one thread: many small products thrash a loaded multi-thread BLAS."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ------------------------------------------------------------------------------------ torch
@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread (reproducible, fair on a shared machine); restore afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def to_module(network: Network) -> tuple[nn.Sequential, list[nn.Linear]]:
    """A float64 ``nn.Sequential`` of ``network`` and its Linear layers in order."""
    import torch
    from torch import nn

    from surrogate.network.torch_io import to_torch

    model = to_torch(network, dtype=torch.float64)
    return model, [m for m in model if isinstance(m, nn.Linear)]


def from_module(linears: Sequence[nn.Linear], like: Network) -> Network:
    """The network ``like`` with the weights of ``linears`` (activations kept)."""
    layers = [
        DenseLayer(
            lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy(), old.activation
        )
        for lin, old in zip(linears, like.layers, strict=True)
    ]
    return like.with_layers(layers)


def torch_masks(masks: Masks) -> list[tuple[torch.Tensor, torch.Tensor]]:
    import torch

    return [
        (torch.from_numpy(w.astype(np.float64)), torch.from_numpy(b.astype(np.float64)))
        for w, b in zip(*masks, strict=True)
    ]


def masked_sgd_step(
    model: nn.Module,
    linears: Sequence[nn.Linear],
    optimizer: torch.optim.Optimizer,
    masks: Sequence[tuple[torch.Tensor, torch.Tensor]],
    xb: torch.Tensor,
    yb: torch.Tensor,
) -> float:
    """One optimizer step on the cross-entropy of ``(xb, yb)`` with ``masks`` enforced.

    The masks multiply the gradients before the step (a pruned entry gets no update) and the
    parameters after it (momentum or weight decay cannot revive a pruned entry). Returns the loss.
    """
    import torch
    from torch.nn import functional

    optimizer.zero_grad(set_to_none=False)
    loss = functional.cross_entropy(model(xb), yb)
    loss.backward()
    with torch.no_grad():
        for lin, (wm, bm) in zip(linears, masks, strict=True):
            lin.weight.grad.mul_(wm)  # type: ignore[union-attr]
            lin.bias.grad.mul_(bm)  # type: ignore[union-attr]
    optimizer.step()
    with torch.no_grad():
        for lin, (wm, bm) in zip(linears, masks, strict=True):
            lin.weight.mul_(wm)
            lin.bias.mul_(bm)
    return float(loss.detach())


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded shuffle of ``range(n)`` cut into mini-batches."""
    import torch

    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_masked(
    network: Network,
    data: tuple[np.ndarray, np.ndarray],
    masks: Masks | None = None,
    *,
    epochs: int,
    lr: float = 1e-2,
    momentum: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
) -> Network:
    """Train ``network`` with SGD on cross-entropy for ``epochs`` epochs under ``masks``.

    ``masks`` defaults to the network's own pattern (:func:`masks_of`): zeros stay zeros. Use
    all-True masks to train densely. Deterministic for a given ``seed`` (one torch thread).
    """
    import torch

    x, y = require_data("train_masked", data, network)
    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    if epochs == 0:
        return network
    masks = masks_of(network) if masks is None else masks
    with one_thread():
        model, linears = to_module(network)
        tmasks = torch_masks(masks)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        gen = torch.Generator().manual_seed(int(seed))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for _ in range(epochs):
            for idx in batches(len(y), batch_size, gen):
                masked_sgd_step(model, linears, opt, tmasks, xt[idx], yt[idx])
        return from_module(linears, network)


# ------------------------------------------------------------------------------------ protocol
def round_sparsity(sparsity: float, r: int, rounds: int) -> float:
    """Cumulative sparsity after round ``r`` of ``rounds``: ``1 - (1 - p)^(r/R)``; p at R."""
    return sparsity if r == rounds else 1.0 - (1.0 - sparsity) ** (r / rounds)


def finetune_with_rewinding(
    network: Network,
    method: str,
    sparsity: float,
    data: tuple[np.ndarray, np.ndarray],
    *,
    rounds: int = 5,
    epochs_per_round: int = 5,
    final_epochs: int = 5,
    lr: float = 1e-2,
    momentum: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
    method_options: Mapping[str, object] | None = None,
) -> Network:
    """Prune ``network`` with ``method`` to ``sparsity`` in ``rounds`` train-prune-rewind rounds.

    See the module docstring for the protocol. ``method_options`` go to the method at each round
    (through :func:`surrogate.prune.apply`, which also receives ``data``). Masks are monotone:
    an entry pruned in one round stays pruned. Returns the finetuned pruned network.
    """
    from surrogate.prune.registry import apply

    sparsity = check_sparsity(sparsity)
    x, y = require_data(f"finetune ({method})", data, network)
    rounds = check_int("rounds", rounds, 1)
    epochs_per_round = check_int("epochs_per_round", epochs_per_round, 0)
    final_epochs = check_int("final_epochs", final_epochs, 0)
    lr = check_float("lr", lr, 0.0)
    momentum = check_float("momentum", momentum, 0.0, 1.0)
    batch_size = check_int("batch_size", batch_size, 1)
    opts: dict[str, Any] = dict(method_options or {})

    def train(net: Network, masks: Masks, epochs: int, round_seed: int) -> Network:
        return train_masked(
            net,
            (x, y),
            masks,
            epochs=epochs,
            lr=lr,
            momentum=momentum,
            batch_size=batch_size,
            seed=round_seed,
        )

    masks = masks_of(network)
    current = network
    for r in range(1, rounds + 1):
        trained = train(current, masks, epochs_per_round, seed + r)
        pruned = apply(trained, method, round_sparsity(sparsity, r, rounds), data=(x, y), **opts)
        new_w, new_b = masks_of(pruned.network)
        masks = (
            [a & b for a, b in zip(masks[0], new_w, strict=True)],
            [a & b for a, b in zip(masks[1], new_b, strict=True)],
        )
        current = rewind(network, masks)
    return train(current, masks, final_epochs, seed + rounds + 1)


def run_finetune(
    network: Network,
    method: str,
    sparsity: float,
    data: object,
    finetune_options: Mapping[str, object] | None,
    method_options: Mapping[str, object],
) -> Network:
    """The entry used by ``surrogate.prune.apply(..., finetune=True)``: options validated."""
    if data is None:
        raise InputError(
            "finetune=True needs training data: pass data=(x, y) to apply (or drop finetune)"
        )
    fopts = dict(finetune_options or {})
    check_options("finetune", fopts, FINETUNE_OPTIONS)
    return finetune_with_rewinding(
        network,
        method,
        sparsity,
        data,  # type: ignore[arg-type]
        method_options=method_options,
        **fopts,  # type: ignore[arg-type]
    )

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

The masks are data (:class:`~surrogate.prune.masks.Masks`): each round's method returns its masks,
they are intersected with the running ones (monotone) and passed to the next round's method as
the entries already pruned; nothing is re-read from zeros, so a weight trained to exactly 0 stays
trainable. The pruning step is an argument (:data:`PruneStep`), so this module does not depend on
the registry (:func:`surrogate.prune.apply` calls it with the registered method).

The torch helpers here are shared by the data-driven methods of this package (``progressive``,
``bandit``, ``consensus``): a masked SGD step (:func:`masked_sgd_step`), masked training
(:func:`train_masked`), thread limits. torch is imported lazily so that importing this module
(e.g. in a worker process) stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.prune.checks import (
    check_float,
    check_int,
    check_options,
    check_sparsity,
    require_data,
)
from surrogate.prune.masks import MaskedNetwork, Masks

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "FINETUNE_OPTIONS",
    "PruneStep",
    "finetune_with_rewinding",
    "masked_sgd_step",
    "one_blas_thread",
    "one_thread",
    "run_finetune",
    "train_masked",
]

#: One pruning step: ``step(network, sparsity, *, data=(x, y), masks=masks) -> MaskedNetwork``,
#: masking (at least) ``masks`` -- a registered method with its options bound.
PruneStep = Callable[..., MaskedNetwork]

FINETUNE_OPTIONS = (
    "rounds",
    "epochs_per_round",
    "final_epochs",
    "lr",
    "momentum",
    "batch_size",
    "seed",
)


# ------------------------------------------------------------------------------------ numpy
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

    from surrogate.network.torch_io import to_torch  # lazy: pulls in torch (see the module docstring)

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
    """Per layer, the weight and bias masks as float64 tensors (1 kept, 0 pruned)."""
    import torch

    return [
        (torch.from_numpy(w.astype(np.float64)), torch.from_numpy(b.astype(np.float64)))
        for w, b in zip(masks.weight, masks.bias, strict=True)
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
    masks: Masks,
    *,
    epochs: int,
    lr: float = 1e-2,
    momentum: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
) -> Network:
    """Train ``network`` with SGD on cross-entropy for ``epochs`` epochs under ``masks``.

    Masked entries get no update and stay exactly zero (they start at zero: the network is
    trained as ``masks`` prune it); ``Masks.ones(network)`` trains densely. Deterministic for a
    given ``seed`` (one torch thread).
    """
    import torch

    x, y = require_data("train_masked", data, network)
    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    if not isinstance(masks, Masks):
        raise InputError(f"masks must be a surrogate.prune.Masks, got {type(masks).__name__}")
    network = MaskedNetwork(network, masks).network
    if epochs == 0:
        return network
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
    prune: PruneStep,
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
    name: str | None = None,
) -> MaskedNetwork:
    """Prune ``network`` with ``prune`` to ``sparsity`` in ``rounds`` train-prune-rewind rounds.

    See the module docstring for the protocol. ``prune`` is called as ``prune(trained,
    s_r, data=(x, y), masks=masks)`` (a registered method, e.g.
    :func:`surrogate.prune.methods.magnitude.magnitude`, with its options bound); ``name`` names
    it in errors. Masks are monotone: an entry pruned in one round stays pruned. Returns the
    finetuned weights with the final masks.
    """
    name = name or getattr(prune, "__name__", "method")
    sparsity = check_sparsity(sparsity)
    x, y = require_data(f"finetune ({name})", data, network)
    rounds = check_int("rounds", rounds, 1)
    epochs_per_round = check_int("epochs_per_round", epochs_per_round, 0)
    final_epochs = check_int("final_epochs", final_epochs, 0)
    lr = check_float("lr", lr, 0.0)
    momentum = check_float("momentum", momentum, 0.0, 1.0)
    batch_size = check_int("batch_size", batch_size, 1)

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

    masks = Masks.ones(network)
    current = network
    for r in range(1, rounds + 1):
        trained = train(current, masks, epochs_per_round, seed + r)
        step = prune(trained, round_sparsity(sparsity, r, rounds), data=(x, y), masks=masks)
        if not isinstance(step, MaskedNetwork) or step.original.widths != network.widths:
            raise InputError(
                f"{name} cannot be finetuned: it must keep the network's widths "
                f"{network.widths} and return its masks"
            )
        masks = masks & step.masks
        current = MaskedNetwork(network, masks).network  # rewind the survivors
    return MaskedNetwork(train(current, masks, final_epochs, seed + rounds + 1), masks)


def run_finetune(
    network: Network,
    prune: PruneStep,
    sparsity: float,
    data: object,
    finetune_options: Mapping[str, object] | None,
    *,
    name: str,
) -> MaskedNetwork:
    """The entry used by ``surrogate.prune.apply(..., finetune=True)``: options validated."""
    if data is None:
        raise InputError(
            "finetune=True needs training data: pass data=(x, y) to apply (or drop finetune)"
        )
    fopts = dict(finetune_options or {})
    check_options("finetuning", fopts, FINETUNE_OPTIONS)
    return finetune_with_rewinding(
        network,
        prune,
        sparsity,
        data,  # type: ignore[arg-type]
        name=name,
        **fopts,  # type: ignore[arg-type]
    )

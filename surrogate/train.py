"""Train small ReLU MLPs on a :class:`~surrogate.data.Dataset` (the paper's protocol, in torch).

Architecture ``[Linear(n_in, w_1) -> ReLU] ... [Linear(w_L, n_classes)]``, PyTorch default
initialisation, cross-entropy loss, Adam (``lr = 1e-3``, ``weight_decay = 1e-3``), batch 64,
shuffled each epoch (Pham et al. 2025, section 1 of RESEARCH.md; they train 5 epochs on MNIST,
the much smaller digits set needs about 20). Training is deterministic for a given seed on one
CPU thread of one machine: the seed fixes the initial weights (``torch.manual_seed``) and the batch
order (a dedicated ``torch.Generator``). Another CPU may round differently (other BLAS / SIMD
kernels) and end with slightly different weights (up to ~0.006 after 100 epochs) of the same
accuracy: rebuilds are checked by behaviour, see :data:`surrogate.zoo.ACCURACY_TOLERANCE`.
Test accuracy is measured with the exact float64 forward pass of the returned
:class:`~surrogate.network.Network`, the same one every other module uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from surrogate.data import Dataset
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.network.torch_io import from_torch

__all__ = ["DATASET_DESCRIPTION", "EpochStats", "model_name", "train_mlp"]

#: How the shipped models' data is described in their metadata.
DATASET_DESCRIPTION = "sklearn digits 8x8, pixels/16, split seed 0"


@dataclass(frozen=True)
class EpochStats:
    """What a progress callback receives after each epoch."""

    epoch: int
    epochs: int
    mean_loss: float
    train_accuracy: float


def model_name(hidden: Sequence[int], prefix: str = "digits") -> str:
    """``digits-2x32`` for equal widths, ``digits-64-32`` otherwise."""
    widths = [int(w) for w in hidden]
    if len(set(widths)) == 1:
        return f"{prefix}-{len(widths)}x{widths[0]}"
    return f"{prefix}-" + "-".join(str(w) for w in widths)


def train_mlp(
    hidden: Sequence[int],
    data: Dataset,
    *,
    seed: int = 0,
    epochs: int = 20,
    lr: float = 1e-3,
    weight_decay: float = 1e-3,
    batch_size: int = 64,
    progress: Callable[[EpochStats], None] | None = None,
) -> Network:
    """Train an MLP with hidden widths ``hidden`` on ``data``; return it as a float64 Network.

    ``progress`` (optional) is called after every epoch. The result's ``metadata`` records the
    architecture, the hyper-parameters, the test accuracy, the data set and the input domain
    ``[0, 1]`` (the digits pixels), enough to rebuild the same weights.
    """
    widths = _check_hidden(hidden)
    _check_hyper(seed=seed, epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG as it was
            torch.manual_seed(seed)
            model = _build([data.n_features, *widths, data.n_classes])
            _fit(model, data, seed, epochs, lr, weight_decay, batch_size, progress)
    finally:
        torch.set_num_threads(threads)
    name = model_name(widths, data.name)
    network = from_torch(model, input_shape=(data.n_features,), name=name)
    accuracy = float(np.mean(network.predict(data.x_test) == data.y_test))
    metadata: dict[str, object] = {
        "architecture": network.widths,
        "seed": int(seed),
        "epochs": int(epochs),
        "lr": float(lr),
        "weight_decay": float(weight_decay),
        "batch_size": int(batch_size),
        "test_accuracy": accuracy,
        "dataset": DATASET_DESCRIPTION if data.name == "digits" else data.name,
        "input_domain": [0.0, 1.0],
    }
    return network.with_layers(network.layers, metadata=metadata)


def _fit(
    model: nn.Sequential,
    data: Dataset,
    seed: int,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    progress: Callable[[EpochStats], None] | None,
) -> None:
    """Adam on the cross-entropy; the batch order comes from a generator seeded with ``seed``."""
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(1, epochs + 1):
        total, correct = 0.0, 0
        for idx in torch.randperm(len(y), generator=gen).split(batch_size):
            opt.zero_grad()
            logits = model(x[idx])
            loss = loss_fn(logits, y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        if progress is not None:
            progress(EpochStats(epoch, epochs, total / len(y), correct / len(y)))
    model.eval()


def _build(widths: list[int]) -> nn.Sequential:
    """``Linear -> ReLU`` for every hidden width, then a final ``Linear`` (PyTorch init)."""
    mods: list[nn.Module] = []
    for i in range(len(widths) - 1):
        mods.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def _check_hidden(hidden: Sequence[int]) -> list[int]:
    try:
        widths = [int(w) for w in hidden]
    except (TypeError, ValueError):
        raise InputError(f"hidden must be a list of layer widths, got {hidden!r}") from None
    if not widths or any(w < 1 for w in widths) or widths != list(hidden):
        raise InputError(
            f"hidden must be one or more positive integer widths (e.g. [32, 32]), got {hidden!r}"
        )
    return widths


def _check_hyper(
    *, seed: int, epochs: int, lr: float, weight_decay: float, batch_size: int
) -> None:
    for name, value in (("seed", seed), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"{name} must be an integer, got {value!r}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if epochs < 1:
        raise InputError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(weight_decay, int | float) and np.isfinite(weight_decay)
            and weight_decay >= 0):
        raise InputError(f"weight_decay must be a number >= 0, got {weight_decay!r}")

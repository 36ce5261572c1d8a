"""Networks a sweep can name: shipped models, ONNX files and random MLPs (the paper's Task 2).

``random:64-50-50-1:seed=50`` is ``[Linear(64, 50), ReLU, Linear(50, 50), ReLU, Linear(50, 1)]``
with PyTorch's default initialisation after ``torch.manual_seed(50)`` (as in the paper's function
maximisation experiments, seeds 50-54): weights and biases of a ``Linear(n_in, n_out)`` are drawn
from ``U(-1/sqrt(n_in), 1/sqrt(n_in))``. The float32 parameters are read exactly into float64.
"""

from __future__ import annotations

from functools import lru_cache

from surrogate.bench.spec import parse_random_name
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.zoo import load_model

__all__ = ["random_mlp", "resolve_network"]


def random_mlp(widths: tuple[int, ...] | list[int], seed: int) -> Network:
    """A PyTorch-default-initialised ReLU MLP with layer widths ``widths`` (input to output)."""
    import torch
    from torch import nn

    # lazy: pulls in torch; surrogate.bench stays light (the report imports it)
    from surrogate.network.torch_io import from_torch

    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise InputError(
            f"a random MLP needs >= 2 positive widths (input ... output), got {widths}"
        )
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        mods: list[nn.Module] = []
        for i in range(len(widths) - 1):
            mods.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                mods.append(nn.ReLU())
        name = f"random:{'-'.join(map(str, widths))}:seed={seed}"
        return from_torch(nn.Sequential(*mods), name=name)
    finally:
        torch.random.set_rng_state(gen_state)


@lru_cache(maxsize=32)
def resolve_network(name: str) -> Network:
    """The network a sweep names: ``random:...``, an ``.onnx`` path or a shipped model name."""
    parsed = parse_random_name(name)
    if parsed is not None:
        return random_mlp(*parsed)
    return load_model(name)

"""Conversion between :class:`~surrogate.network.Network` and ``torch.nn.Sequential``.

Supported modules: ``Linear`` (with or without bias), ``ReLU``, ``Flatten``, ``Identity``,
``Dropout`` (ignored: inference semantics). torch is imported here only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from surrogate.errors import UnsupportedModelError
from surrogate.network.spec import DenseLayer, Network

__all__ = ["from_torch", "to_torch"]


def from_torch(
    module: nn.Module, input_shape: tuple[int, ...] | None = None, name: str = ""
) -> Network:
    """Read an ``nn.Sequential`` of Linear/ReLU/Flatten into a :class:`Network` (float64)."""
    mods = list(module) if isinstance(module, nn.Sequential) else [module]
    layers: list[DenseLayer] = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Linear):
            w = m.weight.detach().cpu().double().numpy()
            b = (
                m.bias.detach().cpu().double().numpy()
                if m.bias is not None
                else np.zeros(w.shape[0])
            )
            layers.append(DenseLayer(w, b, "linear"))
        elif isinstance(m, nn.ReLU):
            if not layers or layers[-1].activation == "relu":
                raise UnsupportedModelError(
                    f"module {i} (ReLU) must follow a Linear layer to be encoded"
                )
            layers[-1] = layers[-1].replace(activation="relu")
        elif isinstance(m, nn.Flatten | nn.Identity | nn.Dropout):
            if isinstance(m, nn.Flatten) and layers:
                raise UnsupportedModelError(f"module {i} (Flatten) is only supported before the first Linear")
            continue
        else:
            raise UnsupportedModelError(
                f"module {i} ({type(m).__name__}) is not supported; use Linear, ReLU, Flatten"
            )
    if not layers:
        raise UnsupportedModelError("the module has no Linear layer")
    return Network(tuple(layers), input_shape=input_shape or (layers[0].n_in,), name=name)


def to_torch(network: Network, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """An ``nn.Sequential`` computing the same function (flattened input)."""
    mods: list[nn.Module] = []
    for layer in network.layers:
        lin = nn.Linear(layer.n_in, layer.n_out, bias=True)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(layer.weight)))
            lin.bias.copy_(torch.from_numpy(np.array(layer.bias)))
        mods.append(lin)
        if layer.activation == "relu":
            mods.append(nn.ReLU())
    return nn.Sequential(*mods).to(dtype)

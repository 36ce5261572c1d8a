"""The network as framework-free data, with an exact float64 forward pass.

A :class:`Network` is a stack of affine layers, each followed by an activation (``"relu"`` or
``"linear"``). Input normalisation read from ONNX files (``Sub``/``Div`` by constants) is folded into
the first layer, so a network always works in the raw input space of its file. Pruning is expressed
as zeros in the weights (and the bias of a removed neuron); :meth:`Network.mask` gives the nonzero
pattern. Nothing here imports torch, ONNX or Pyomo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from surrogate.errors import InputError

__all__ = ["Activation", "DenseLayer", "Network"]

Activation = Literal["relu", "linear"]
_ACTIVATIONS = ("relu", "linear")


@dataclass(frozen=True)
class DenseLayer:
    """``y = act(W x + b)`` with ``W`` of shape ``(n_out, n_in)``; arrays are float64, read-only."""

    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = "relu"

    def __post_init__(self) -> None:
        w = np.array(self.weight, dtype=np.float64, copy=True, order="C")
        b = np.array(self.bias, dtype=np.float64, copy=True).reshape(-1)
        if w.ndim != 2:
            raise InputError(f"layer weight must be 2-D (n_out, n_in), got shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise InputError(
                f"layer bias has shape {b.shape}, expected ({w.shape[0]},) to match weight {w.shape}"
            )
        if self.activation not in _ACTIVATIONS:
            raise InputError(
                f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}"
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise InputError("layer weights and biases must be finite (found NaN or inf)")
        w.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def nonzeros(self) -> int:
        return int(self.csr.nnz)

    @cached_property
    def csr(self) -> Any:
        """The weight as a ``scipy.sparse.csr_matrix`` of its nonzeros (computed once: the
        weight is read-only), so encodings and bounds cost time in the nonzeros, not the shape."""
        import scipy.sparse as sp

        m = sp.csr_matrix(self.weight)
        m.sort_indices()
        return m

    @property
    def density(self) -> float:
        """Share of weight entries that are nonzero."""
        return self.csr.nnz / max(1, self.weight.size)

    def replace(
        self,
        *,
        weight: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        activation: Activation | None = None,
    ) -> DenseLayer:
        return DenseLayer(
            self.weight if weight is None else weight,
            self.bias if bias is None else bias,
            self.activation if activation is None else activation,
        )


@dataclass(frozen=True)
class Network:
    """A feed-forward ReLU network: ``layers`` applied in order to a flattened input.

    ``input_shape`` is the shape the original model expects (e.g. ``(1, 784, 1)`` for a VNN-COMP
    MNIST net); the network itself always takes the flattened vector of ``n_inputs`` entries in
    C order.
    """

    layers: tuple[DenseLayer, ...]
    input_shape: tuple[int, ...] = ()
    name: str = ""
    metadata: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        if not layers:
            raise InputError("a network needs at least one layer")
        for i in range(1, len(layers)):
            if layers[i].n_in != layers[i - 1].n_out:
                raise InputError(
                    f"layer {i} takes {layers[i].n_in} inputs but layer {i - 1} gives "
                    f"{layers[i - 1].n_out} outputs"
                )
        shape = tuple(int(s) for s in self.input_shape) or (layers[0].n_in,)
        if int(np.prod(shape)) != layers[0].n_in:
            raise InputError(
                f"input_shape {shape} has {int(np.prod(shape))} entries but the first layer "
                f"takes {layers[0].n_in}"
            )
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "input_shape", shape)

    # ------------------------------------------------------------------ sizes
    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n_out

    @property
    def widths(self) -> list[int]:
        """``[n_in, n_hidden_1, ..., n_out]``."""
        return [self.n_inputs] + [layer.n_out for layer in self.layers]

    @property
    def n_weights(self) -> int:
        return sum(layer.weight.size for layer in self.layers)

    @property
    def nonzeros(self) -> int:
        return sum(layer.nonzeros for layer in self.layers)

    @property
    def sparsity(self) -> float:
        """Share of weight entries that are exactly zero (biases not counted)."""
        return 1.0 - self.nonzeros / self.n_weights

    def mask(self) -> list[np.ndarray]:
        """Boolean nonzero pattern of each layer's weight."""
        return [layer.weight != 0 for layer in self.layers]

    def relu_count(self) -> int:
        return sum(layer.n_out for layer in self.layers if layer.activation == "relu")

    def relu_layer_count(self) -> int:
        """Layers followed by a ReLU."""
        return sum(layer.activation == "relu" for layer in self.layers)

    # ---------------------------------------------------------------- compute
    def _as_batch(self, x: np.ndarray | Sequence[float]) -> tuple[np.ndarray, bool]:
        arr = np.asarray(x, dtype=np.float64)
        single = arr.ndim == 1 or arr.shape == self.input_shape
        if arr.shape == self.input_shape and arr.ndim != 1:
            arr = arr.reshape(1, -1)
        elif arr.ndim == 1:
            arr = arr.reshape(1, -1)
        elif arr.ndim > 2:
            arr = arr.reshape(arr.shape[0], -1)
        if arr.shape[1] != self.n_inputs:
            raise InputError(
                f"input has {arr.shape[1]} entries per sample, the network takes {self.n_inputs}"
            )
        return arr, single

    def forward(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        """Exact float64 forward pass; ``x`` is one input ``(n_in,)`` or a batch ``(N, n_in)``."""
        h, single = self._as_batch(x)
        for layer in self.layers:
            h = h @ layer.weight.T + layer.bias
            if layer.activation == "relu":
                h = np.maximum(h, 0.0)
        return h[0] if single else h

    __call__ = forward

    def pre_activations(self, x: np.ndarray | Sequence[float]) -> list[np.ndarray]:
        """Pre-activation values ``W h + b`` of every layer, each ``(N, n_out)`` (batched)."""
        h, _ = self._as_batch(x)
        out = []
        for layer in self.layers:
            z = h @ layer.weight.T + layer.bias
            out.append(z)
            h = np.maximum(z, 0.0) if layer.activation == "relu" else z
        return out

    def predict(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        """Argmax class of each input (ties go to the lowest index, as numpy does)."""
        return np.argmax(np.atleast_2d(self.forward(x)), axis=1)

    # ---------------------------------------------------------------- rebuild
    def with_layers(self, layers: Sequence[DenseLayer], **changes: object) -> Network:
        """A copy with other layers (same input shape, name and metadata unless changed)."""
        kw: dict[str, object] = {
            "input_shape": self.input_shape,
            "name": self.name,
            "metadata": dict(self.metadata),
        }
        kw.update(changes)
        return Network(tuple(layers), **kw)  # type: ignore[arg-type]

    def summary(self) -> str:
        arch = "-".join(str(w) for w in self.widths)
        return (
            f"{self.name or 'network'}: {arch}, {self.relu_count()} ReLUs, "
            f"{self.nonzeros}/{self.n_weights} nonzero weights (sparsity {self.sparsity:.1%})"
        )

"""Pruning masks as data, after ``torch.nn.utils.prune``: compute, apply, remove.

* **compute**: a pruning method computes :class:`Masks` from the network (and data): per layer a
  boolean array the shape of the weight (``True``: kept) and one the shape of the bias (``False``
  only for a removed neuron). The masks are what was pruned; zeros are not. A weight that is (or
  was trained to) exactly 0 is not pruned unless a mask says so.
* **apply**: :func:`apply_masks` pairs the weights with their masks in a :class:`MaskedNetwork`
  (torch: ``weight_orig`` + ``weight_mask``); its :attr:`~MaskedNetwork.network` is the pruned
  network, masked entries exact zeros (what torch's forward pre-hook computes).
* **remove**: :meth:`MaskedNetwork.remove` makes the pruning permanent: a plain
  :class:`~surrogate.network.spec.Network` without masks.

The one rule for a *removed neuron* lives here (:meth:`Masks.removed_neurons`): all its incoming
weights and its bias are masked, so it outputs ``act(0)``. A network that carries no masks (read
from a file, made elsewhere) only has its zeros to go by: :meth:`Masks.from_zeros` reads them as
masks, for such networks only; pruning code never calls it on its own results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = ["MaskedNetwork", "Masks", "apply_masks"]


def _frozen_bool(a: object) -> np.ndarray:
    arr = np.array(a, copy=True)
    if arr.dtype != np.bool_:
        raise InputError(f"masks must be boolean arrays, got dtype {arr.dtype}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Masks:
    """Per layer: ``weight[i]`` (bool, the shape of layer ``i``'s weight) and ``bias[i]`` (bool,
    ``(n_out,)``); ``True`` keeps the entry, ``False`` prunes it. Read-only copies."""

    weight: tuple[np.ndarray, ...]
    bias: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        weight = tuple(_frozen_bool(w) for w in self.weight)
        bias = tuple(_frozen_bool(b) for b in self.bias)
        if len(weight) != len(bias):
            raise InputError(f"masks have {len(weight)} weight and {len(bias)} bias layers")
        for i, (w, b) in enumerate(zip(weight, bias, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise InputError(
                    f"masks of layer {i}: weight {w.shape} and bias {b.shape} do not fit a "
                    "layer (need (n_out, n_in) and (n_out,))"
                )
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "bias", bias)

    # ------------------------------------------------------------------ construction
    @classmethod
    def ones(cls, network: Network) -> Masks:
        """Nothing pruned."""
        return cls(
            tuple(np.ones(lay.weight.shape, dtype=bool) for lay in network.layers),
            tuple(np.ones(lay.n_out, dtype=bool) for lay in network.layers),
        )

    @classmethod
    def from_zeros(cls, network: Network) -> Masks:
        """The masks a network without recorded masks implies: zero weights pruned, a bias pruned
        only with its whole row (a removed neuron). Only for networks that carry no masks."""
        weight = tuple(lay.weight != 0 for lay in network.layers)
        bias = tuple(w.any(axis=1) | (lay.bias != 0) for w, lay in zip(weight, network.layers,
                                                                         strict=True))
        return cls(weight, bias)

    @classmethod
    def without_neurons(cls, network: Network, removed: Sequence[np.ndarray]) -> Masks:
        """Masks removing, per layer, the neurons ``removed[i]`` (indices or a bool vector) of
        layer ``i``: their rows and biases masked. Layers beyond ``len(removed)`` keep all."""
        weight = [np.ones(lay.weight.shape, dtype=bool) for lay in network.layers]
        bias = [np.ones(lay.n_out, dtype=bool) for lay in network.layers]
        for i, r in enumerate(removed):
            weight[i][r, :] = False
            bias[i][r] = False
        return cls(tuple(weight), tuple(bias))

    def __and__(self, other: Masks) -> Masks:
        """Pruned by either (masks only shrink)."""
        if self.shapes != other.shapes:
            raise InputError(f"masks of shapes {other.shapes} cannot combine with {self.shapes}")
        return Masks(
            tuple(a & b for a, b in zip(self.weight, other.weight, strict=True)),
            tuple(a & b for a, b in zip(self.bias, other.bias, strict=True)),
        )

    # ------------------------------------------------------------------ reading
    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [w.shape for w in self.weight]

    def check_fits(self, network: Network) -> Masks:
        """These masks, or InputError if their shapes are not ``network``'s weight shapes."""
        want = [lay.weight.shape for lay in network.layers]
        if self.shapes != want:
            raise InputError(f"masks of shapes {self.shapes} do not fit the network's {want}")
        return self

    def removed_neurons(self) -> list[np.ndarray]:
        """Per layer, the removed neurons (bool): every incoming weight *and* the bias masked."""
        return [~w.any(axis=1) & ~b for w, b in zip(self.weight, self.bias, strict=True)]

    def removed_counts(self) -> list[int]:
        return [int(r.sum()) for r in self.removed_neurons()]

    def pruned_weights(self) -> list[int]:
        """Per layer, the number of masked weights."""
        return [int(w.size - np.count_nonzero(w)) for w in self.weight]

    def layer_sparsity(self) -> list[float]:
        """Per layer, the share of weights masked."""
        return [n / max(1, w.size) for n, w in zip(self.pruned_weights(), self.weight, strict=True)]

    @property
    def sparsity(self) -> float:
        """The share of all weights masked (biases not counted)."""
        total = sum(w.size for w in self.weight)
        return sum(self.pruned_weights()) / max(1, total)


@dataclass(frozen=True, eq=False)
class MaskedNetwork:
    """Weights and the masks that prune them (torch: ``weight_orig`` with ``weight_mask``).

    ``original`` holds the weights the masks apply to (for a method that trains, the trained
    weights); :attr:`network` is the pruned network; :meth:`remove` makes it permanent.
    """

    original: Network
    masks: Masks

    def __post_init__(self) -> None:
        self.masks.check_fits(self.original)

    @cached_property
    def network(self) -> Network:
        """The pruned network: masked weights and biases are exact (positive) zeros."""
        layers = [
            lay.replace(weight=np.where(w, lay.weight, 0.0), bias=np.where(b, lay.bias, 0.0))
            for lay, w, b in zip(self.original.layers, self.masks.weight, self.masks.bias,
                                 strict=True)
        ]
        return self.original.with_layers(layers)

    def remove(self) -> Network:
        """Make the pruning permanent: the pruned network, with no masks attached (torch's
        ``prune.remove``). From here on its zeros are just zeros."""
        return self.network

    def rewind(self, weights: Network) -> MaskedNetwork:
        """The same masks on other weights of the same shapes (e.g. the dense network)."""
        return MaskedNetwork(weights, self.masks)


def apply_masks(network: Network, masks: Masks | None = None) -> MaskedNetwork:
    """Pair ``network`` with ``masks`` (default: nothing pruned); InputError if they do not fit."""
    if masks is None:
        return MaskedNetwork(network, Masks.ones(network))
    if not isinstance(masks, Masks):
        raise InputError(
            f"masks must be a surrogate.prune.Masks (e.g. a PruneResult's masks), "
            f"got {type(masks).__name__}"
        )
    return MaskedNetwork(network, masks)

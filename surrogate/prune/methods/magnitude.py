"""Magnitude pruning, unstructured: zero the weights of smallest absolute value.

Score of weight ``w_ij`` is ``|w_ij|`` (``torch.nn.utils.prune.l1_unstructured``). With
``scope="layer"`` (the paper's verification task) every Linear layer, the output layer included,
ends with exactly ``round(p * n_weights)`` masked (zeroed) weights; with ``scope="global"`` (the
paper's function maximisation task, ``global_unstructured``) one threshold ranks all weights of all
layers together and the whole network ends with ``round(p * total_weights)`` masked weights. A
weight that is already zero scores 0, so it is masked first. ``rounds=R`` follows
the paper's protocol of ``R`` rounds each pruning ``1 - (1-p)^(1/R)`` of the remaining weights;
without finetuning between rounds the magnitudes do not change, so the result equals one shot
(the option exists for protocol fidelity and for callers that retrain between rounds).
"""

from __future__ import annotations

import numpy as np

from surrogate.network.spec import Network
from surrogate.prune.checks import check_options
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register
from surrogate.prune.schedule import unstructured_masks

__all__ = ["magnitude", "magnitude_global", "weight_magnitudes"]

_OPTIONS = ("scope", "rounds")


def weight_magnitudes(network: Network) -> list[np.ndarray]:
    """``|W|`` of every layer (the unstructured L1 importance score)."""
    return [np.abs(layer.weight) for layer in network.layers]


@register(
    "magnitude",
    "unstructured L1 magnitude, per layer (scope='layer') or global (scope='global'); rounds=R",
)
def magnitude(
    network: Network,
    sparsity: float,
    *,
    scope: str = "layer",
    rounds: int = 1,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """Mask the smallest-|w| weights until each layer (or the whole net) reaches ``sparsity``.

    ``data`` is accepted and ignored (``apply`` passes it to every method).
    """
    check_options("pruning method 'magnitude'", unknown, _OPTIONS)
    return apply_masks(network, unstructured_masks(
        network, sparsity, rounds=rounds, scope=scope, scorer=weight_magnitudes, masks=masks
    ))


@register("magnitude-global", "unstructured L1 magnitude with one threshold over all weights")
def magnitude_global(
    network: Network,
    sparsity: float,
    *,
    rounds: int = 1,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """``magnitude`` with ``scope="global"``: the whole network reaches ``sparsity``."""
    check_options("pruning method 'magnitude-global'", unknown, ("rounds",))
    return apply_masks(network, unstructured_masks(
        network, sparsity, rounds=rounds, scope="global", scorer=weight_magnitudes, masks=masks
    ))

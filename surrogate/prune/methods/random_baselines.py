"""Random baselines: the same counts as magnitude / structured pruning, with random choices.

``random`` masks ``round(p * n_weights)`` weights per layer (or over the whole network with
``scope="global"``) chosen uniformly among the unmasked ones (a zero weight is not pruned: it may
be chosen like any other); ``random-structured`` removes
``round(p * width)`` neurons per hidden layer (row and bias), never the output layer. Both are
reproducible: the choice depends only on ``seed`` (``numpy.random.default_rng``), drawn afresh
in each of the ``rounds`` rounds from one generator.
"""

from __future__ import annotations

import numpy as np

from surrogate.network.spec import Network
from surrogate.prune.checks import check_int, check_options
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register
from surrogate.prune.schedule import neuron_masks, unstructured_masks

__all__ = ["random_structured", "random_unstructured"]


@register("random", "unstructured random baseline: same counts as magnitude; seed=S, rounds=R")
def random_unstructured(
    network: Network,
    sparsity: float,
    *,
    seed: int = 0,
    scope: str = "layer",
    rounds: int = 1,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """Mask uniformly random unmasked weights until each layer (or the net) reaches
    ``sparsity``."""
    check_options("pruning method 'random'", unknown, ("seed", "scope", "rounds"))
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))

    def scorer(net: Network) -> list[np.ndarray]:
        return [rng.random(lay.weight.shape) for lay in net.layers]

    return apply_masks(network, unstructured_masks(
        network, sparsity, rounds=rounds, scope=scope, scorer=scorer, masks=masks
    ))


@register("random-structured", "random neurons per hidden layer: same counts as structured; seed=S")
def random_structured(
    network: Network,
    sparsity: float,
    *,
    seed: int = 0,
    rounds: int = 1,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """Remove ``round(sparsity * width)`` uniformly random neurons of each hidden layer."""
    check_options("pruning method 'random-structured'", unknown, ("seed", "rounds"))
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))

    def scorer(net: Network) -> list[np.ndarray]:
        return [rng.random(lay.n_out) for lay in net.layers[:-1]]

    return apply_masks(
        network, neuron_masks(network, sparsity, rounds=rounds, scorer=scorer, masks=masks)
    )

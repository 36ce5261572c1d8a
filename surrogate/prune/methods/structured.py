"""Structured pruning by neuron: remove the hidden neurons whose incoming row has the smallest norm.

Score of neuron ``i`` of a hidden layer is ``||W[i, :]||_q`` with ``q = norm`` in {1, 2}
(``torch.nn.utils.prune.ln_structured`` on dim 0). In every hidden layer of width ``m`` exactly
``round(p * m)`` neurons end up removed (at most ``m - 1``: a layer keeps one neuron, or the
network would be a constant); the output layer is never pruned (removing a class row
breaks the task). A removed neuron has its row *and* its bias masked: with the bias kept it would
still output ``ReLU(b)`` (the paper's released code left it in). ``rounds=R`` as for magnitude.
"""

from __future__ import annotations

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.checks import check_options
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register
from surrogate.prune.schedule import neuron_masks

__all__ = ["row_norms", "structured"]

_NORMS = (1, 2)


def row_norms(network: Network, norm: int = 1) -> list[np.ndarray]:
    """The ``norm`` of each hidden neuron's incoming weight row, one vector per hidden layer."""
    return [np.linalg.norm(lay.weight, ord=norm, axis=1) for lay in network.layers[:-1]]


@register("structured", "by neuron: remove hidden neurons with the smallest L1 (norm=2: L2) row")
def structured(
    network: Network,
    sparsity: float,
    *,
    norm: int = 1,
    rounds: int = 1,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """Remove ``round(sparsity * width)`` neurons of each hidden layer, smallest row norm first.

    ``data`` is accepted and ignored (``apply`` passes it to every method).
    """
    check_options("pruning method 'structured'", unknown, ("norm", "rounds"))
    if isinstance(norm, bool) or norm not in _NORMS:
        raise InputError(f"norm must be 1 or 2, got {norm!r}")
    return apply_masks(network, neuron_masks(
        network, sparsity, rounds=rounds, scorer=lambda net: row_norms(net, int(norm)),
        masks=masks,
    ))

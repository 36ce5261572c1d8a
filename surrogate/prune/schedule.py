"""Shared pieces of the pruning methods: round schedules, deterministic selection, mask engines.

How much to prune per round
    The paper's protocol (after ``torch.nn.utils.prune`` applied repeatedly) reaches a target
    sparsity ``p`` in ``R`` rounds, each removing the share ``q = 1 - (1 - p)^(1/R)`` of the weights
    that are *still there*. After ``r`` rounds the pruned share is ``1 - (1 - q)^r =
    1 - (1 - p)^(r/R)``, which is exactly ``p`` at ``r = R``. :func:`round_fractions` gives the
    ``q`` of each round, :func:`cumulative_counts` the integer number of zeros a group of ``n``
    entries must hold after each round; the last count is always ``round(p * n)``, so the end
    result is exact whatever the number of rounds.

Which entries to prune
    :func:`smallest_k` picks the ``k`` lowest scores among eligible entries; equal scores are broken
    by position (lower flat index first), so the choice is a pure function of the scores.

Engines
    :func:`unstructured_masks` (weights, per layer or global) and :func:`neuron_masks` (hidden
    neurons, row and bias) run the rounds for any scorer: magnitude, random, or a method of
    your own that only has to say which entries matter least. They *compute masks*
    (:class:`~surrogate.prune.masks.Masks`), a pure function of the network and the scores;
    applying them is :func:`~surrogate.prune.masks.apply_masks`. Entries masked by the ``masks``
    given to an engine (torch's ``default_mask``) stay masked and count towards the target; a
    weight that is merely zero does not count.

Argument checks are in :mod:`surrogate.prune.checks`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.checks import check_rounds, check_sparsity
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks

__all__ = [
    "NeuronScorer",
    "SCOPES",
    "WeightScorer",
    "check_scope",
    "cumulative_counts",
    "neuron_masks",
    "removable_neurons",
    "round_fractions",
    "smallest_k",
    "unstructured_masks",
]


def round_fractions(p: float, rounds: int) -> list[float]:
    """Share of the *remaining* weights pruned in each of ``rounds`` rounds: ``1 - (1-p)^(1/R)``.

    ``1 - prod(1 - q_r)`` over the rounds equals ``p`` (up to float rounding).
    """
    p = check_sparsity(p)
    rounds = check_rounds(rounds)
    q = 1.0 - (1.0 - p) ** (1.0 / rounds)
    return [q] * rounds


def cumulative_counts(n: int, p: float, rounds: int) -> list[int]:
    """Zeros that ``n`` entries must hold after each round: ``round(n (1 - (1-p)^(r/R)))``.

    Non-decreasing; the last entry is exactly ``round(p * n)``.
    """
    p = check_sparsity(p)
    rounds = check_rounds(rounds)
    counts = [int(round(n * (1.0 - (1.0 - p) ** (r / rounds)))) for r in range(1, rounds)]
    counts.append(int(round(p * n)))
    return counts


def smallest_k(scores: np.ndarray, k: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """Flat indices of the ``k`` smallest ``scores`` among ``eligible`` entries, ties by index.

    ``scores`` is any array (flattened in C order); ``eligible`` a boolean array of the same size
    (default: all). ``k`` is clipped to ``[0, n_eligible]``. The result is sorted by score, then
    by index, so the same scores always give the same choice.
    """
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    idx = np.arange(flat.size)
    if eligible is not None:
        idx = idx[np.asarray(eligible, dtype=bool).reshape(-1)]
    k = max(0, min(int(k), idx.size))
    order = np.argsort(flat[idx], kind="stable")
    return idx[order[:k]]


# ----------------------------------------------------------------------------- pruning engines
#: Scores for unstructured pruning: one array per layer, the shape of that layer's weight.
WeightScorer = Callable[[Network], list[np.ndarray]]
#: Scores for neuron pruning: one vector per hidden layer (length = that layer's width).
NeuronScorer = Callable[[Network], list[np.ndarray]]

SCOPES = ("layer", "global")


def check_scope(scope: object) -> str:
    """``"layer"`` (each layer reaches the target) or ``"global"`` (one threshold for all)."""
    if scope not in SCOPES:
        raise InputError(f"scope must be one of {', '.join(map(repr, SCOPES))}, got {scope!r}")
    return str(scope)


def unstructured_masks(
    network: Network,
    sparsity: float,
    *,
    rounds: int,
    scope: str,
    scorer: WeightScorer,
    masks: Masks | None = None,
) -> Masks:
    """Mask the lowest-scored weights in ``rounds`` rounds (see the module docstring).

    ``scope="layer"``: after round ``r`` every layer of ``n`` weights holds
    ``cumulative_counts(n, p, R)[r]`` masked weights. ``scope="global"``: the count applies to all
    weights together, ranked on one scale (ties: earlier layer, then lower flat index). Weights
    masked by ``masks`` (default: none) count towards the target and stay masked (if a layer
    already holds more than the target, it keeps them). ``scorer`` is called once per round on
    the network pruned so far, so a score may depend on what earlier rounds removed. Biases are
    not touched.
    """
    p = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    scope = check_scope(scope)
    start = apply_masks(network, masks)
    keep = [np.array(w) for w in start.masks.weight]  # writable, C order: reshape(-1) is a view
    sizes = [k.size for k in keep]
    targets = [cumulative_counts(n, p, rounds) for n in sizes]
    total_targets = cumulative_counts(sum(sizes), p, rounds)
    current = start.network
    for r in range(rounds):
        scores = _checked_scores(scorer(current), [k.shape for k in keep], "weight")
        if scope == "layer":
            for k, s, t in zip(keep, scores, targets, strict=True):
                _mask_lowest(k.reshape(-1), s, t[r])
        else:
            flat = np.concatenate([k.reshape(-1) for k in keep])
            _mask_lowest(flat, np.concatenate([s.reshape(-1) for s in scores]), total_targets[r])
            for k, part in zip(keep, np.split(flat, np.cumsum(sizes)[:-1]), strict=True):
                k[...] = part.reshape(k.shape)
        current = MaskedNetwork(network, Masks(tuple(keep), start.masks.bias)).network
    return Masks(tuple(keep), start.masks.bias)


def removable_neurons(count: int, width: int) -> int:
    """``count`` capped at ``width - 1``: a hidden layer always keeps one neuron (a layer with
    none would make the network a constant)."""
    return min(count, width - 1)


def neuron_masks(
    network: Network,
    sparsity: float,
    *,
    rounds: int,
    scorer: NeuronScorer,
    masks: Masks | None = None,
) -> Masks:
    """Remove the lowest-scored neurons of every hidden layer in ``rounds`` rounds.

    After round ``r`` a hidden layer of width ``m`` holds ``cumulative_counts(m, p, R)[r]``
    removed neurons (those removed by ``masks`` count), but never more than ``m - 1``
    (:func:`removable_neurons`). Removing a neuron masks its incoming row *and* its bias, so it
    outputs ``act(0) = 0``; the next layer's column is left as it is (it multiplies a zero). The
    output layer is never touched. ``scorer`` is called once per round on the network pruned so
    far.
    """
    p = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    hidden = network.layers[:-1]
    if p > 0 and not hidden:
        raise InputError(
            "neuron pruning removes hidden neurons, but this network has no hidden layer "
            f"(widths {network.widths}); use an unstructured method such as 'magnitude'"
        )
    targets = [[removable_neurons(t, lay.n_out) for t in cumulative_counts(lay.n_out, p, rounds)]
               for lay in hidden]
    current = apply_masks(network, masks)
    for r in range(rounds):
        scores = _checked_scores(
            scorer(current.network), [(lay.n_out,) for lay in hidden], "neuron"
        )
        removed = current.masks.removed_neurons()
        chosen = [
            smallest_k(s, t[r] - int(removed[i].sum()), eligible=~removed[i])
            for i, (s, t) in enumerate(zip(scores, targets, strict=True))
        ]
        current = MaskedNetwork(network, current.masks & Masks.without_neurons(network, chosen))
    return current.masks


def _mask_lowest(flat_keep: np.ndarray, scores: np.ndarray, target: int) -> None:
    """In place: mask more entries of ``flat_keep`` (lowest scores first) until ``target`` are
    masked."""
    k = target - (flat_keep.size - int(np.count_nonzero(flat_keep)))
    flat_keep[smallest_k(scores, k, eligible=flat_keep)] = False


def _checked_scores(
    scores: list[np.ndarray], shapes: list[tuple[int, ...]], kind: str
) -> list[np.ndarray]:
    got = [np.asarray(s, dtype=np.float64) for s in scores]
    if [s.shape for s in got] != [tuple(sh) for sh in shapes]:
        raise InputError(
            f"{kind} scorer returned shapes {[s.shape for s in got]}, expected {shapes}"
        )
    if not all(np.all(np.isfinite(s)) for s in got):
        raise InputError(f"{kind} scorer returned NaN or inf scores")
    return got

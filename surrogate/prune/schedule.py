"""Shared pieces of every pruning method: validation, round schedules, deterministic selection.

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
    :func:`prune_unstructured` (weights, per layer or global) and :func:`prune_neurons` (hidden
    neurons, row and bias) run the rounds for any scorer: magnitude, random, or a method of
    your own that only has to say which entries matter least.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from numbers import Integral, Real

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = [
    "NeuronScorer",
    "SCOPES",
    "WeightScorer",
    "check_int",
    "check_rounds",
    "check_scope",
    "check_sparsity",
    "cumulative_counts",
    "prune_neurons",
    "prune_unstructured",
    "reject_unknown_options",
    "removed_mask",
    "round_fractions",
    "smallest_k",
]


def check_sparsity(sparsity: object) -> float:
    """``sparsity`` as a float in ``[0, 1)``; InputError otherwise (same words as ``apply``)."""
    if (
        isinstance(sparsity, bool)
        or not isinstance(sparsity, Real)
        or not 0.0 <= float(sparsity) < 1.0
    ):
        raise InputError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an int (``>= minimum`` when given); InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and int(value) < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def check_rounds(rounds: object) -> int:
    """The number of pruning rounds: an integer >= 1."""
    return check_int("rounds", rounds, minimum=1)


def reject_unknown_options(
    method: str, unknown: Mapping[str, object], known: Iterable[str]
) -> None:
    """InputError when a method got options it does not take (instead of a bare TypeError)."""
    if unknown:
        names = ", ".join(sorted(unknown))
        raise InputError(
            f"pruning method {method!r} does not take option(s) {names}; "
            f"its options are: {', '.join(sorted(known))}"
        )


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


def prune_unstructured(
    network: Network, sparsity: float, *, rounds: int, scope: str, scorer: WeightScorer
) -> Network:
    """Zero the lowest-scored weights in ``rounds`` rounds (see the module docstring).

    ``scope="layer"``: after round ``r`` every layer of ``n`` weights holds
    ``cumulative_counts(n, p, R)[r]`` zeros. ``scope="global"``: the count applies to all weights
    together, ranked on one scale (ties: earlier layer, then lower flat index). Weights that are
    already zero count towards the target and stay zero (if a layer already holds more zeros than
    the target, it keeps them). ``scorer`` is called once per round on the current network, so
    a score may depend on what earlier rounds removed. Biases are not touched.
    """
    p = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    scope = check_scope(scope)
    weights = [np.array(layer.weight) for layer in network.layers]
    sizes = [w.size for w in weights]
    targets = [cumulative_counts(n, p, rounds) for n in sizes]
    total_targets = cumulative_counts(sum(sizes), p, rounds)
    current = network
    for r in range(rounds):
        scores = _checked_scores(scorer(current), [w.shape for w in weights], "weight")
        if scope == "layer":
            for w, s, t in zip(weights, scores, targets, strict=True):
                _zero_lowest(w.reshape(-1), s, t[r])
        else:
            flat_w = np.concatenate([w.reshape(-1) for w in weights])
            _zero_lowest(flat_w, np.concatenate([s.reshape(-1) for s in scores]), total_targets[r])
            for w, part in zip(weights, np.split(flat_w, np.cumsum(sizes)[:-1]), strict=True):
                w[...] = part.reshape(w.shape)
        current = network.with_layers(
            [lay.replace(weight=w) for lay, w in zip(network.layers, weights, strict=True)]
        )
    return current


def removed_mask(network: Network) -> list[np.ndarray]:
    """Per layer, the neurons already removed: zero incoming row *and* zero bias."""
    return [np.all(lay.weight == 0, axis=1) & (lay.bias == 0) for lay in network.layers]


def prune_neurons(
    network: Network, sparsity: float, *, rounds: int, scorer: NeuronScorer
) -> Network:
    """Remove the lowest-scored neurons of every hidden layer in ``rounds`` rounds.

    After round ``r`` a hidden layer of width ``m`` holds ``cumulative_counts(m, p, R)[r]``
    removed neurons (already-removed ones count), but never more than ``m - 1``: every hidden
    layer keeps at least one neuron (a layer with none would make the network a constant).
    Removing a neuron zeroes its incoming row *and* its bias, so it outputs ``act(0) = 0``; the
    next layer's column is left as it is (it multiplies a zero). The output layer is never
    touched. ``scorer`` is called once per round.
    """
    p = check_sparsity(sparsity)
    rounds = check_rounds(rounds)
    hidden = network.layers[:-1]
    if p > 0 and not hidden:
        raise InputError(
            "neuron pruning removes hidden neurons, but this network has no hidden layer "
            f"(widths {network.widths}); use an unstructured method such as 'magnitude'"
        )
    targets = [[min(t, lay.n_out - 1) for t in cumulative_counts(lay.n_out, p, rounds)]
               for lay in hidden]
    weights = [np.array(lay.weight) for lay in hidden]
    biases = [np.array(lay.bias) for lay in hidden]
    current = network
    for r in range(rounds):
        scores = _checked_scores(scorer(current), [(lay.n_out,) for lay in hidden], "neuron")
        removed = removed_mask(current)
        for i, (s, t) in enumerate(zip(scores, targets, strict=True)):
            k = t[r] - int(removed[i].sum())
            chosen = smallest_k(s, k, eligible=~removed[i])
            weights[i][chosen, :] = 0.0
            biases[i][chosen] = 0.0
        new_hidden = [
            lay.replace(weight=w, bias=b)
            for lay, w, b in zip(hidden, weights, biases, strict=True)
        ]
        current = network.with_layers([*new_hidden, network.layers[-1]])
    return current


def _zero_lowest(flat_weight: np.ndarray, scores: np.ndarray, target_zeros: int) -> None:
    """In place: zero more entries of ``flat_weight`` until it holds ``target_zeros`` zeros."""
    nonzero = flat_weight != 0
    k = target_zeros - (flat_weight.size - int(nonzero.sum()))
    flat_weight[smallest_k(scores, k, eligible=nonzero)] = 0.0


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

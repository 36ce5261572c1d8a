"""Structured pruning by consensus of binary masks (after MPFL, Gez & Cohen, arXiv 2312.03889).

Adapted from the federated setting to data parallelism: the data is split into ``E`` shards
(``workers``); in each round every worker scores the hidden neurons of the current (masked)
network on its own shard,

    ``importance_j = ||W[j, :]||_2 * ||a_j||_2``

(``W[j, :]`` the neuron's incoming weights, ``a_j`` its activations over the shard), and keeps the
``width - round(s_r * width)`` most important neurons still active: a binary mask. The votes are
the mean of the workers' masks (in ``[0, 1]``, multiples of ``1/E``). Per layer the consensus mask
is ``votes >= theta`` for the highest threshold ``theta`` that still keeps at least
``width - round(s_r * width)`` neurons; neurons at exactly ``theta`` are admitted by decreasing
summed importance (then index) so the count is exact. Equivalently: keep the top neurons ordered
by (vote, summed importance, -index).

Rounds raise the sparsity by ``step`` (default 0.1: ``0.1, 0.2, ...``) up to the target; a neuron
removed in one round stays removed (workers only choose among active neurons). A removed neuron's
row and bias are masked; the output layer is never pruned. Workers run in separate processes
(:class:`concurrent.futures.ProcessPoolExecutor`) when ``parallel`` and ``workers > 1``; the
result is the same either way.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.checks import (
    check_float,
    check_int,
    check_options,
    check_sparsity,
    require_data,
)
from surrogate.prune.finetune import one_blas_thread
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register

__all__ = ["ConsensusHistory", "consensus_prune", "round_targets", "worker_masks"]

OPTIONS = ("workers", "step", "parallel", "seed")

# (weight, bias, is_relu) per layer: plain numpy so it pickles cheaply to worker processes
LayerArrays = list[tuple[np.ndarray, np.ndarray, bool]]


@dataclass
class ConsensusHistory:
    """Per round: the sparsity asked, the votes and the consensus keep-masks per hidden layer."""

    sparsity: list[float] = field(default_factory=list)
    votes: list[list[np.ndarray]] = field(default_factory=list)
    masks: list[list[np.ndarray]] = field(default_factory=list)


def round_targets(sparsity: float, step: float) -> list[float]:
    """``step, 2 step, ...`` below ``sparsity``, then ``sparsity`` itself (empty for 0)."""
    if sparsity <= 0.0:
        return []
    n = int(np.ceil(sparsity / step - 1e-9))
    return [r * step for r in range(1, n)] + [sparsity]


def top_k(keys: tuple[np.ndarray, ...], eligible: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` eligible entries ranking highest by ``keys`` (most significant
    first), ties going to the lower index."""
    idx = np.arange(eligible.size)
    # lexsort sorts ascending by its last key first: negate to rank high values first
    order = np.lexsort((idx, *[-key for key in reversed(keys)], ~eligible))
    keep = np.zeros(eligible.size, dtype=bool)
    keep[order[:k]] = True
    return keep & eligible


def worker_masks(
    layers: LayerArrays, x: np.ndarray, active: list[np.ndarray], keep: list[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One worker's round (numpy only, picklable): per hidden layer the binary keep-mask of the
    ``keep[l]`` most important active neurons on shard ``x``, and the importances."""
    masks, importances = [], []
    h = x
    with one_blas_thread():
        for (w, b, relu), act, k in zip(layers[:-1], active, keep, strict=True):
            z = h @ w.T + b
            h = np.maximum(z, 0.0) if relu else z
            imp = np.linalg.norm(w, axis=1) * np.linalg.norm(h, axis=0)
            importances.append(imp)
            masks.append(top_k((imp,), act, k))
    return masks, importances


def _layer_arrays(network: Network, active: list[np.ndarray]) -> LayerArrays:
    out: LayerArrays = []
    for i, layer in enumerate(network.layers):
        w, b = np.array(layer.weight), np.array(layer.bias)
        if i < len(active):
            w[~active[i]] = 0.0
            b[~active[i]] = 0.0
        out.append((w, b, layer.activation == "relu"))
    return out


def _shards(x: np.ndarray, workers: int, seed: int) -> list[np.ndarray]:
    if workers > len(x):
        raise InputError(f"workers={workers} exceeds the {len(x)} samples: each shard needs one")
    order = np.random.default_rng(seed).permutation(len(x))
    return [x[np.sort(part)] for part in np.array_split(order, workers)]


def _run_round(
    pool: Executor | None,
    layers: LayerArrays,
    shards: list[np.ndarray],
    active: list[np.ndarray],
    keep: list[int],
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    if pool is None:
        return [worker_masks(layers, s, active, keep) for s in shards]
    futures = [pool.submit(worker_masks, layers, s, active, keep) for s in shards]
    return [f.result() for f in futures]


def consensus_prune(
    network: Network,
    sparsity: float,
    data: tuple[np.ndarray, np.ndarray] | None,
    *,
    workers: int = 2,
    step: float = 0.1,
    parallel: bool = True,
    seed: int = 0,
    masks: Masks | None = None,
    return_votes: bool = False,
) -> MaskedNetwork | tuple[MaskedNetwork, ConsensusHistory]:
    """Remove ``round(sparsity * width)`` neurons per hidden layer by mask voting of ``workers``.

    ``data = (x, y)`` (only ``x`` is used; shards are a seeded split). Neurons removed by
    ``masks`` count and stay removed. With ``return_votes`` also returns the
    :class:`ConsensusHistory` (votes and masks of every round).
    """
    sparsity = check_sparsity(sparsity)
    x, _ = require_data("consensus", data, network)
    workers = check_int("workers", workers, 1)
    step = check_float("step", step, 1e-6, 1.0)
    if len(network.layers) < 2:
        raise InputError("consensus prunes hidden neurons; this network has no hidden layer")
    shards = _shards(x, workers, seed)
    start = apply_masks(network, masks)
    network = start.network
    widths = [layer.n_out for layer in network.layers[:-1]]
    active = [~r for r in start.masks.removed_neurons()[:-1]]
    history = ConsensusHistory()
    pool = (
        ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1))
        if parallel and workers > 1
        else None
    )
    try:
        for s in round_targets(sparsity, step):
            keep = [w - int(round(s * w)) for w in widths]
            results = _run_round(pool, _layer_arrays(network, active), shards, active, keep)
            votes, new_active = [], []
            for li, k in enumerate(keep):
                v = np.mean([r[0][li] for r in results], axis=0)
                imp = np.sum([r[1][li] for r in results], axis=0)
                votes.append(v)
                new_active.append(top_k((v, imp), active[li], k))
            active = new_active
            history.sparsity.append(s)
            history.votes.append(votes)
            history.masks.append([a.copy() for a in active])
    finally:
        if pool is not None:
            pool.shutdown()
    pruned = MaskedNetwork(
        start.original, start.masks & Masks.without_neurons(network, [~a for a in active])
    )
    return (pruned, history) if return_votes else pruned


@register(
    "consensus",
    "structured neuron pruning by data-parallel voting of binary L2 masks in +10% rounds, "
    "needs data (MPFL, Gez & Cohen, arXiv 2312.03889)",
)
def consensus(
    network: Network,
    sparsity: float,
    *,
    data: object = None,
    masks: Masks | None = None,
    **options: object,
) -> MaskedNetwork:
    """Registry entry of :func:`consensus_prune` (options: workers, step, parallel, seed)."""
    check_options("pruning method 'consensus'", options, OPTIONS)
    # return_votes is not among the options, so the result is a MaskedNetwork
    return cast(
        MaskedNetwork,
        consensus_prune(network, sparsity, data, masks=masks, **options),  # type: ignore[arg-type]
    )

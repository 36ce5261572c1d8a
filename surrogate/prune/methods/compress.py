"""Exact (lossless) compression of a ReLU network on an input set, by ReLU stability.

Serra, Kumar & Ramalingam, "Lossless Compression of Deep Neural Networks" (CPAIOR 2020); Serra, Yu,
Kumar & Ramalingam, "Scaling Up Exact Neural Network Compression by ReLU Stability" (NeurIPS 2021).
With pre-activation bounds ``l <= z <= u`` valid on the input set (:mod:`surrogate.bounds`):

* a **stably inactive** neuron (``u <= 0``) outputs 0 on the set: delete its row (and bias) in its
  layer and its column in the next layer;
* a **stably active** neuron (``l >= 0``) is linear on the set (``relu(z) = z``). Split the active rows
  of layer ``i`` into a numerically safe row basis ``B`` (QR with column pivoting of ``W_A^T``) and the
  rest ``D`` with ``W_D = K W_B``. Then ``h_D = z_D = K (h_B - b_B) + b_D`` on the set and the next
  layer becomes ``W'_{:,B} = W_{:,B} + W_{:,D} K``, ``b' = b + W_{:,D} (b_D - K b_B)``, with ``D``
  deleted. (``B`` stays: its neurons are still ReLUs, the identity on the set.)
* a layer left with only stably active neurons is affine on the set; it is merged into the next one
  (``W' = W_{i+1} W_i``, ``b' = W_{i+1} b_i + b_{i+1}``) when that does not add weights.

The output layer's neurons are never removed. The compressed network equals the original on the input
set (up to float rounding); outside the set it may differ. Deleting neurons does not change the other
neurons' pre-activations on the set, so the bounds of the original network stay valid for every layer
and one bound computation serves all layers.

Also :func:`drop_dead_neurons`: neurons that are exact no-ops *everywhere* (a zero incoming row: the
neuron is the constant ``act(b)``, folded into the next bias; or a zero outgoing column: unused).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from surrogate.bounds import Bounds, compute_bounds
from surrogate.bounds.interval import check_input_set
from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.prune.checks import check_options
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register
from surrogate.sets import Box, L1Ball

__all__ = ["compress_exact", "drop_dead_neurons", "exact", "row_basis"]

#: relative tolerance of the numerical rank (QR diagonal) and of the fold residual check
_RANK_RTOL = 1e-10
_RESIDUAL_RTOL = 1e-11


@dataclass
class _Layer:
    """A mutable layer while compressing."""

    weight: np.ndarray
    bias: np.ndarray
    activation: str
    source: int  # index of the layer in the original network (for its bounds)

    def freeze(self) -> DenseLayer:
        # C order: fancy column indexing may leave Fortran-ordered arrays, and DenseLayer keeps the
        # order it is given (code that prunes through ``weight.reshape(-1)`` views needs C order)
        return DenseLayer(
            np.ascontiguousarray(self.weight), np.ascontiguousarray(self.bias),
            self.activation,  # type: ignore[arg-type]
        )


def row_basis(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the rows of ``w`` into a basis ``B`` and dependent rows ``D`` with ``w[D] = K w[B]``.

    Uses QR with column pivoting of ``w.T`` (pivoted columns = well-conditioned rows); the numerical
    rank counts the ``|R_jj| > 1e-10 |R_00|``. Dependent rows whose least-squares fit leaves a residual
    above ``1e-11 * max(1, max |w|)`` are moved into the basis (and ``K`` refitted), so every fold is
    exact to that level. Returns ``(B, D, K)``: sorted row indices and ``K`` of shape ``(|D|, |B|)``.
    """
    m = w.shape[0]
    if not np.any(w):  # all rows zero (or none): every row is the constant bias
        return np.zeros(0, dtype=int), np.arange(m), np.zeros((m, 0))
    _, r, piv = scipy.linalg.qr(w.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > _RANK_RTOL * diag[0]))
    basis, dependent = np.sort(piv[:rank]), np.sort(piv[rank:])
    tol = _RESIDUAL_RTOL * max(1.0, float(np.max(np.abs(w))))
    while True:
        if dependent.size == 0:
            return basis, dependent, np.zeros((0, basis.size))
        k = np.linalg.lstsq(w[basis].T, w[dependent].T, rcond=None)[0].T
        bad = np.max(np.abs(k @ w[basis] - w[dependent]), axis=1) > tol
        if not np.any(bad):
            return basis, dependent, k
        # keep the rows that do not fold exactly (near-rank-deficient data): rare
        basis = np.sort(np.concatenate([basis, dependent[bad]]))
        dependent = dependent[~bad]


def _delete(layers: list[_Layer], i: int, drop: np.ndarray) -> None:
    """Remove neurons ``drop`` (bool mask) of layer ``i``: rows of ``i``, columns of ``i+1``.

    A layer is never left empty: if every neuron goes, one neuron with a zero row, bias and outgoing
    column stays (the exact constant 0), so that the network keeps its depth."""
    keep = ~drop
    if not np.any(keep):
        keep[0] = True
        layers[i].weight[0] = 0.0
        layers[i].bias[0] = 0.0
        layers[i + 1].weight[:, 0] = 0.0
    layers[i].weight = layers[i].weight[keep]
    layers[i].bias = layers[i].bias[keep]
    layers[i + 1].weight = layers[i + 1].weight[:, keep]


def _fold_active(layers: list[_Layer], i: int, active: np.ndarray) -> int:
    """Fold the linearly dependent stably active neurons of layer ``i`` into layer ``i+1``."""
    idx = np.flatnonzero(active)
    basis, dependent, k = row_basis(layers[i].weight[idx])
    if dependent.size == 0:
        return 0
    b_idx, d_idx = idx[basis], idx[dependent]
    cur, nxt = layers[i], layers[i + 1]
    w_d = nxt.weight[:, d_idx]
    nxt.bias = nxt.bias + w_d @ (cur.bias[d_idx] - k @ cur.bias[b_idx])
    nxt.weight[:, b_idx] += w_d @ k
    drop = np.zeros(cur.weight.shape[0], dtype=bool)
    drop[d_idx] = True
    _delete(layers, i, drop)
    return int(d_idx.size)


def _merge_if_smaller(layers: list[_Layer], i: int) -> bool:
    """Merge the affine layer ``i`` into layer ``i+1`` when that does not add weights."""
    cur, nxt = layers[i], layers[i + 1]
    n_in, width, n_out = cur.weight.shape[1], cur.weight.shape[0], nxt.weight.shape[0]
    if n_out * n_in > width * (n_in + n_out):
        return False
    nxt.bias = nxt.weight @ cur.bias + nxt.bias
    nxt.weight = nxt.weight @ cur.weight
    del layers[i]
    return True


def _stability(bounds: Bounds, layer: _Layer) -> tuple[np.ndarray, np.ndarray]:
    """``(inactive, active)`` masks of a layer; a linear layer is all 'active' (affine)."""
    n = layer.weight.shape[0]
    if layer.activation != "relu":
        return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    return bounds.stable_inactive(layer.source).copy(), bounds.stable_active(layer.source).copy()


def compress_exact(
    network: Network,
    input_set: Box | L1Ball,
    *,
    bounds: Bounds | None = None,
    method: str = "lp",
) -> Network:
    """The network with its stable neurons removed, equal to ``network`` on ``input_set``.

    ``bounds`` (valid on ``input_set`` for this network) are computed with ``method`` (``"lp"``,
    ``"symbolic"`` or ``"interval"``) when not given; tighter bounds find more stable neurons. The
    result's metadata gets ``exact_compression``: per original hidden layer the neurons deleted as
    inactive and folded as active, and the merged layers."""
    input_set = check_input_set(network, input_set)
    if bounds is None:
        bounds = compute_bounds(network, input_set, method)
    else:
        if not isinstance(bounds, Bounds):
            raise InputError(
                f"bounds must be a surrogate.bounds.Bounds, got {type(bounds).__name__}"
            )
        bounds.check_matches(network)
    layers = [
        _Layer(np.array(lay.weight), np.array(lay.bias), lay.activation, k)
        for k, lay in enumerate(network.layers)
    ]
    deleted, folded, merged = {}, {}, []
    i = 0
    while i < len(layers) - 1:
        source = layers[i].source
        inactive, active = _stability(bounds, layers[i])
        if np.any(inactive):
            _delete(layers, i, inactive.copy())
        deleted[source] = int(inactive.sum())
        active = active[~inactive]
        folded[source] = _fold_active(layers, i, active) if np.any(active) else 0
        if active.size and np.all(active) and _merge_if_smaller(layers, i):
            merged.append(source)
            continue  # position i now holds the next layer (whose bounds are still valid)
        i += 1
    info = {
        "inactive_deleted": [deleted[k] for k in sorted(deleted)],
        "active_folded": [folded[k] for k in sorted(folded)],
        "merged_layers": merged,
        "bounds": bounds.method,
    }
    return network.with_layers(
        [lay.freeze() for lay in layers],
        metadata={**network.metadata, "exact_compression": info},
    )


def drop_dead_neurons(network: Network) -> Network:
    """Remove hidden neurons that are exact no-ops for every input (repeated until none is left).

    * zero incoming row: the neuron is the constant ``act(b)``; it is deleted and
      ``W_{:,j} act(b_j)`` is added to the next layer's bias (exact: a removed-by-pruning neuron has
      ``b = 0`` and simply disappears);
    * zero outgoing column: nothing reads the neuron.

    The output layer keeps all its neurons; a layer never becomes empty (see :func:`compress_exact`).
    """
    layers = [
        _Layer(np.array(lay.weight), np.array(lay.bias), lay.activation, k)
        for k, lay in enumerate(network.layers)
    ]
    changed = True
    while changed:
        changed = False
        for i in range(len(layers) - 1):
            cur, nxt = layers[i], layers[i + 1]
            const = ~np.any(cur.weight != 0.0, axis=1)
            unused = ~np.any(nxt.weight != 0.0, axis=0)
            drop = const | unused
            if not np.any(drop):
                continue
            value = np.maximum(cur.bias, 0.0) if cur.activation == "relu" else cur.bias
            fold = const & ~unused
            nxt.bias = nxt.bias + nxt.weight[:, fold] @ value[fold]
            before = cur.weight.shape[0]
            _delete(layers, i, drop.copy())
            changed = changed or cur.weight.shape[0] < before
    return network.with_layers([lay.freeze() for lay in layers])


def _domain_box(network: Network) -> Box:
    """The input box declared by ``metadata["input_domain"]``: ``[lower, upper]`` (scalars for every
    input, or two arrays of ``n_inputs`` entries)."""
    domain = network.metadata.get("input_domain")
    if domain is None:
        raise InputError(
            "exact compression needs the input set on which the network must stay unchanged: "
            "pass input_set=Box(lower, upper) (or an L1Ball), or set the network's "
            "metadata['input_domain'] = [lower, upper]"
        )
    try:
        lo, hi = (np.broadcast_to(np.asarray(v, dtype=np.float64), (network.n_inputs,))
                  for v in domain)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(
            f"metadata input_domain must be [lower, upper] (scalars or {network.n_inputs} entries "
            f"each), got {domain!r}"
        ) from None
    return Box(lo, hi)


@register("exact", "exact compression of stable neurons (Serra et al. 2020/2021)")
def exact(
    network: Network,
    sparsity: float,
    *,
    input_set: Box | L1Ball | None = None,
    bounds: Bounds | str | None = None,
    data: object = None,
    masks: Masks | None = None,
    **unknown: object,
) -> MaskedNetwork:
    """Lossless: delete stably inactive and fold stably active neurons on ``input_set``.

    ``sparsity`` must be 0 (nothing is traded for size); to prune further, compose: compress first,
    then prune the result with another method. ``input_set`` defaults to the box of
    ``metadata["input_domain"]`` when the network declares one. ``bounds`` is a
    :class:`~surrogate.bounds.Bounds` for this network and set, or a method name (default ``"lp"``).
    ``data`` is accepted and ignored. The result masks nothing: compression deletes neurons
    (the widths shrink) instead of masking them. ``masks`` must be None (masks cannot follow a
    change of shapes): to compress a pruned network, pass the pruned network.
    """
    check_options("pruning method 'exact'", unknown, ("input_set", "bounds"))
    if masks is not None:
        raise InputError(
            "exact compression changes the network's shapes, so it takes no masks: compress "
            "the pruned network itself (e.g. apply(result.network, 'exact', 0.0, ...))"
        )
    if sparsity != 0.0:
        raise InputError(
            f"exact compression is lossless and takes sparsity 0, got {sparsity!r}; to reach a "
            "target sparsity compose: apply(net, 'exact', 0.0, input_set=...) first, then prune "
            "its result with another method (e.g. 'magnitude')"
        )
    if input_set is None:
        input_set = _domain_box(network)
    if bounds is None or isinstance(bounds, str):
        small = compress_exact(network, input_set, method=bounds or "lp")
    else:
        small = compress_exact(network, input_set, bounds=bounds)
    return apply_masks(small)

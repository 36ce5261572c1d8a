"""Symbolic bounds by back-substitution of linear ReLU relaxations (DeepPoly / CROWN).

For every layer ``i`` the pre-activation ``z_i = W_i h_{i-1} + b_i`` is bounded by linear functions of
the input, obtained by replacing each earlier activation with a linear relaxation and substituting
backwards, layer by layer, down to ``x``; the resulting linear function is then bounded exactly over
the input set (:func:`surrogate.bounds.interval.linear_bounds`: box formula or L1 knapsack).

Relaxation of ``h = relu(z)`` for ``l <= z <= u`` (Singh et al., "An abstract domain for certifying
neural networks", POPL 2019; Zhang et al., "CROWN", NeurIPS 2018):

* stably active (``l >= 0``): ``h = z``; stably inactive (``u <= 0``): ``h = 0``;
* unstable: upper line ``h <= u/(u-l) (z - l)`` and lower line ``h >= alpha z`` with
  ``alpha = 1`` if ``u > -l`` else ``0`` (the choice of smaller area).

Back-substituting an upper bound ``Lambda h_k + c`` uses the upper line where ``Lambda > 0`` and the
lower line where ``Lambda < 0`` (and the reverse for a lower bound). Every layer's result is
intersected with an interval step from the (already tightened) layer before, so the bounds are never
looser than interval propagation.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from surrogate.bounds.interval import (
    Bounds,
    InputSetT,
    check_input_set,
    intersect,
    interval_step,
    linear_max,
    magnitudes,
    post_activation,
    propagate_interval,
    widen,
)
from surrogate.network.spec import DenseLayer, Network

__all__ = ["refine_layer", "relaxation", "symbolic_bounds"]


def relaxation(
    layer: DenseLayer, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slopes and offset of ``a_lo z <= act(z) <= a_up z + c_up`` valid for ``lo <= z <= hi``.

    Returns ``(a_lo, a_up, c_up)``; the lower line has no offset."""
    n = lo.size
    if layer.activation != "relu":
        return np.ones(n), np.ones(n), np.zeros(n)
    active = lo >= 0.0
    inactive = hi <= 0.0
    unstable = ~(active | inactive)
    a_up = np.where(active, 1.0, 0.0)
    c_up = np.zeros(n)
    a_lo = a_up.copy()
    if np.any(unstable):
        lu, uu = lo[unstable], hi[unstable]
        slope = uu / (uu - lu)
        a_up[unstable] = slope
        c_up[unstable] = -slope * lu
        a_lo[unstable] = np.where(uu > -lu, 1.0, 0.0)
    return a_lo, a_up, c_up


#: A layer whose weight has at most this share of nonzeros is back-substituted with sparse
#: products, so symbolic bounds of a pruned network cost time in its nonzeros.
SPARSE_DENSITY = 0.3


def _relax_dense(
    coef: np.ndarray, const: np.ndarray, is_upper: np.ndarray,
    a_lo: np.ndarray, a_up: np.ndarray, c_up: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Replace ``h_k`` in the rows ``coef @ h_k + const`` by its relaxation lines."""
    pos = np.maximum(coef, 0.0)
    neg = np.minimum(coef, 0.0)
    # upper rows: positive coefficients take the upper line, negative ones the lower line
    upper_side = np.where(is_upper[:, None], pos, neg)
    const = const + upper_side @ c_up
    coef = np.where(is_upper[:, None], pos * a_up + neg * a_lo, pos * a_lo + neg * a_up)
    return coef, const


def _relax_sparse(
    coef: sp.csr_matrix, const: np.ndarray, is_upper: np.ndarray,
    a_lo: np.ndarray, a_up: np.ndarray, c_up: np.ndarray,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """:func:`_relax_dense` on the nonzeros of a CSR ``coef`` (same arithmetic, entry by entry)."""
    n_rows = coef.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(coef.indptr))
    cols, v = coef.indices, coef.data
    upper_line = (v > 0.0) == is_upper[rows]  # upper row & positive, or lower row & negative
    const = const + np.bincount(
        rows, weights=np.where(upper_line, v * c_up[cols], 0.0), minlength=n_rows
    )
    new = v * np.where(upper_line, a_up[cols], a_lo[cols])
    out = sp.csr_matrix((new, cols.copy(), coef.indptr.copy()), shape=coef.shape)
    out.eliminate_zeros()  # dead neurons (slope 0) drop out
    return out, const


def _back_substitute(
    network: Network,
    i: int,
    relax: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    input_set: InputSetT,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw lower and upper bounds of ``z_i`` by back-substitution through layers ``i-1 .. 0``.

    The upper-bound rows (``m`` of them) and lower-bound rows are stacked into one ``(2m, n)``
    coefficient matrix so that each layer costs a single matrix product. While the coefficients
    are sparse (a pruned layer ``i``) they are kept in CSR form; a product with a sparse layer
    weight is a sparse product."""
    layer = network.layers[i]
    m = layer.n_out
    coef: np.ndarray | sp.csr_matrix
    if layer.density <= SPARSE_DENSITY:
        coef = sp.vstack([layer.csr, layer.csr], format="csr")
    else:
        coef = np.vstack([layer.weight, layer.weight])  # rows 0..m-1: upper, m..2m-1: lower
    const = np.concatenate([layer.bias, layer.bias])
    is_upper = np.arange(2 * m) < m
    for k in range(i - 1, -1, -1):
        lk = network.layers[k]
        if sp.issparse(coef):
            coef, const = _relax_sparse(coef, const, is_upper, *relax[k])
            const = const + coef @ lk.bias
            coef = np.asarray(coef @ lk.weight)  # sparse @ dense: a dense array
        else:
            coef, const = _relax_dense(coef, const, is_upper, *relax[k])
            keep = np.flatnonzero(np.any(coef != 0.0, axis=0))  # drop dead neurons' columns
            const = const + coef[:, keep] @ lk.bias[keep]
            if lk.density <= SPARSE_DENSITY:
                coef = np.asarray(lk.csr[keep].T @ coef[:, keep].T).T  # dense @ sparse
            else:
                coef = coef[:, keep] @ lk.weight[keep]
    hi = linear_max(coef[:m], const[:m], input_set)
    lo = -linear_max(-coef[m:], -const[m:], input_set)
    return lo, hi


def refine_layer(
    network: Network,
    i: int,
    lowers: list[np.ndarray],
    uppers: list[np.ndarray],
    input_set: InputSetT,
) -> tuple[np.ndarray, np.ndarray]:
    """Widened symbolic bounds of layer ``i >= 1`` from the bounds of layers ``< i``, intersected
    with the interval step from layer ``i-1`` and with the current ``lowers[i], uppers[i]`` (if
    given: ``len(lowers) > i``)."""
    relax = [
        relaxation(network.layers[k], lowers[k], uppers[k]) for k in range(i)
    ]
    mag = magnitudes(network, input_set, uppers[:i])[i]
    lo, hi = widen(*_back_substitute(network, i, relax, input_set), mag)
    h_lo, h_hi = post_activation(network.layers[i - 1], lowers[i - 1], uppers[i - 1])
    ilo, ihi = widen(*interval_step(network.layers[i], h_lo, h_hi), mag)
    lo, hi = intersect(lo, hi, ilo, ihi)
    if len(lowers) > i:
        lo, hi = intersect(lo, hi, lowers[i], uppers[i])
    return lo, hi


def symbolic_bounds(network: Network, input_set: InputSetT) -> Bounds:
    """DeepPoly/CROWN-style bounds of every layer, never looser than :func:`interval_bounds`.

    Layer 0 is exact over the set; layer ``i`` is computed from the (final) bounds of layers
    ``< i``. Cost: ``O(L^2)`` matrix products of the layer widths (vectorised numpy)."""
    t0 = time.perf_counter()
    input_set = check_input_set(network, input_set)
    lowers, uppers = propagate_interval(network, input_set)
    for i in range(1, len(network.layers)):
        lowers[i], uppers[i] = refine_layer(network, i, lowers, uppers, input_set)
    return Bounds(tuple(lowers), tuple(uppers), "symbolic", time.perf_counter() - t0)

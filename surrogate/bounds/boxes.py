"""Symbolic bounds for many input boxes at once: the bounding step of input-splitting branch and
bound on low-dimensional networks (ACAS Xu, reach_prob_density, rl_benchmarks).

The same DeepPoly/CROWN back-substitution as :mod:`surrogate.bounds.symbolic`, vectorised over a
batch of ``B`` boxes (coefficient tensors ``(B, rows, n)``), with the same float64 soundness:
every intermediate bound is widened by ``WIDEN_REL * max(1, |b|) + ROUND_REL * m``
(:func:`surrogate.bounds.interval.widen`, ``m`` the neuron's magnitude over the box), and the
final lower bounds of the objective rows too.

:func:`objective_lower_bounds` returns, for each box, a sound lower bound of every row
``g . f(x) - h`` of the objective pieces, and the linear function ``a . x + b`` behind it (valid
below the row on the box), whose coefficients rank the input dimensions for splitting and whose
minimising corner is a natural candidate point.
"""

from __future__ import annotations

import numpy as np

from surrogate.bounds.interval import widen
from surrogate.network.spec import DenseLayer, Network

__all__ = ["batch_bounds", "mixed_lower_bounds", "objective_lower_bounds"]


def _linear_min(coef: np.ndarray, const: np.ndarray, lo: np.ndarray, hi: np.ndarray
                ) -> np.ndarray:
    """``min`` over each box of ``coef . x + const``: coef ``(B, R, n)``, boxes ``(B, n)``."""
    pos, neg = np.maximum(coef, 0.0), np.minimum(coef, 0.0)
    return (np.einsum("brn,bn->br", pos, lo) + np.einsum("brn,bn->br", neg, hi) + const)


def _relax(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DeepPoly slopes ``(a_lo, a_up, c_up)`` of ``relu`` for pre-activation bounds ``(B, w)``."""
    active = lo >= 0.0
    inactive = hi <= 0.0
    unstable = ~(active | inactive)
    a_up = np.where(active, 1.0, 0.0)
    c_up = np.zeros_like(lo)
    den = np.where(unstable, hi - lo, 1.0)
    slope = np.where(unstable, hi / den, 0.0)
    a_up = np.where(unstable, slope, a_up)
    c_up = np.where(unstable, -slope * lo, c_up)
    a_lo = np.where(active, 1.0, np.where(unstable & (hi > -lo), 1.0, 0.0))
    return a_lo, a_up, c_up


def _back(
    network: Network, k: int, coef: np.ndarray, const: np.ndarray, relax: list,
    upper: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Back-substitute rows ``coef . h_{k-1} + const`` (``(B, R, w)``) down to the input; with
    ``upper`` the result bounds the rows from above, else from below."""
    for j in range(k - 1, -1, -1):
        a_lo, a_up, c_up = relax[j]
        pos = np.maximum(coef, 0.0)
        neg = np.subtract(coef, pos)  # exactly min(coef, 0)
        if upper:
            const = const + np.einsum("brw,bw->br", pos, c_up)
            a_pos, a_neg = a_up, a_lo
        else:
            const = const + np.einsum("brw,bw->br", neg, c_up)
            a_pos, a_neg = a_lo, a_up
        # pos * a_pos + neg * a_neg, in place (the same float64 operations, fewer arrays)
        np.multiply(pos, a_pos[:, None, :], out=pos)
        np.multiply(neg, a_neg[:, None, :], out=neg)
        coef = np.add(pos, neg, out=pos)
        layer = network.layers[j]
        const = const + coef @ layer.bias
        coef = coef @ layer.weight
    return coef, const


def _interval_step(layer: DenseLayer, prev_lo: np.ndarray, prev_hi: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Raw interval bounds ``(B, w)`` of a layer's pre-activations from bounds of its inputs."""
    w_pos, w_neg = np.maximum(layer.weight, 0.0), np.minimum(layer.weight, 0.0)
    lo = prev_lo @ w_pos.T + prev_hi @ w_neg.T + layer.bias
    hi = prev_hi @ w_pos.T + prev_lo @ w_neg.T + layer.bias
    return lo, hi


def batch_bounds(network: Network, lo: np.ndarray, hi: np.ndarray
                 ) -> tuple[list[np.ndarray], list[np.ndarray], list, list[np.ndarray]]:
    """Widened pre-activation bounds of every layer for every box (``(B, n)`` corners); returns
    ``(lowers, uppers, relaxations, magnitudes)`` per layer.

    Each layer is first bounded by interval arithmetic from the layer before (widened like every
    bound); only the rows that this leaves unstable in some box are back-substituted (per box,
    the unstable rows first, padded to the batch's largest count with stable ones), and their
    back-substituted bounds are intersected with the interval ones. The intersection is what
    pays: ACAS Xu property 1 on net 1_1 took 26905 boxes (48 s) with back-substitution alone and
    1717 boxes (3.3 s) with it; the rows skipped save little there (about 41 of 50 neurons per
    layer stay unstable under the interval bounds on net 3_7's boxes)."""
    B = lo.shape[0]
    lowers: list[np.ndarray] = []
    uppers: list[np.ndarray] = []
    relax: list = []
    mags: list[np.ndarray] = []
    mag_prev = np.maximum(np.abs(lo), np.abs(hi))
    post_lo, post_hi = lo, hi
    rows = np.arange(B)[:, None]
    for k, layer in enumerate(network.layers):
        mag = mag_prev @ np.abs(layer.weight).T + np.abs(layer.bias)
        lk, uk = widen(*_interval_step(layer, post_lo, post_hi), mag)
        if k > 0:
            open_ = (lk < 0.0) & (uk > 0.0) if layer.activation == "relu" else \
                np.ones_like(lk, dtype=bool)
            R = int(open_.sum(axis=1).max())
            if R:
                idx = np.argsort(~open_, axis=1, kind="stable")[:, :R]  # (B, R): open rows first
                coef = layer.weight[idx]
                const = layer.bias[idx]
                c_lo, k_lo = _back(network, k, coef, const, relax, upper=False)
                c_hi, k_hi = _back(network, k, coef, const, relax, upper=True)
                l_raw = _linear_min(c_lo, k_lo, lo, hi)
                u_raw = -_linear_min(-c_hi, -k_hi, lo, hi)
                l_back, u_back = widen(l_raw, u_raw, mag[rows, idx])
                lk[rows, idx] = np.maximum(lk[rows, idx], l_back)
                uk[rows, idx] = np.minimum(uk[rows, idx], u_back)
        lowers.append(lk)
        uppers.append(uk)
        mags.append(mag)
        if layer.activation == "relu":
            relax.append(_relax(lk, uk))
            mag_prev = np.where(uk <= 0.0, 0.0, mag)
            post_lo, post_hi = np.maximum(lk, 0.0), np.maximum(uk, 0.0)
        else:
            relax.append((np.ones_like(lk), np.ones_like(lk), np.zeros_like(lk)))
            mag_prev = mag
            post_lo, post_hi = lk, uk
    return lowers, uppers, relax, mags


def objective_lower_bounds(
    network: Network, G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray,
    pre: tuple[list[np.ndarray], list[np.ndarray], list, list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sound lower bounds ``(B, R)`` of the rows ``G f(x) - h`` over every box, the linear
    functions ``coef (B, R, n)``, ``const (B, R)`` they come from (raw: valid below each row up
    to float rounding) and the rows' magnitudes ``(B, R)`` that bound that rounding (see the
    module docstring). ``pre``: :func:`batch_bounds` of the same boxes, when already computed."""
    lowers, uppers, relax, mags = pre if pre is not None else batch_bounds(network, lo, hi)
    last = network.layers[-1]
    B = lo.shape[0]
    G = np.atleast_2d(G)
    # y = act(z_L): rows G y - h, back-substituted through the output activation and layer L
    # (G (R, m) for every box, or (B, R, m) with h (B, R): rows of their own per box)
    coef = np.broadcast_to(G, (B, *G.shape[-2:])).copy()
    const = np.broadcast_to(-np.asarray(h, dtype=np.float64), coef.shape[:2]).copy()
    if last.activation == "relu":
        a_lo, a_up, c_up = relax[-1]
        pos, neg = np.maximum(coef, 0.0), np.minimum(coef, 0.0)
        const = const + np.einsum("brw,bw->br", neg, c_up)
        coef = pos * a_lo[:, None, :] + neg * a_up[:, None, :]
    const = const + coef @ last.bias
    coef = coef @ last.weight
    coef, const = _back(network, len(network.layers) - 1, coef, const, relax, upper=False)
    raw = _linear_min(coef, const, lo, hi)
    out_mag = np.maximum(np.abs(lowers[-1]), np.abs(uppers[-1]))
    if last.activation == "relu":
        out_mag = np.maximum(out_mag, 0.0)
    absG = np.broadcast_to(np.abs(G), (B, *G.shape[-2:]))
    row_mag = (np.einsum("bm,brm->br", out_mag + mags[-1], absG)
               + np.abs(np.broadcast_to(h, absG.shape[:2])))
    low, _ = widen(raw, raw, row_mag)
    return low, coef, const, row_mag


def _rows_under_mixed(network: Network, G: np.ndarray, h: np.ndarray, mu: np.ndarray,
                      relax: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Back-substitute the mixed row ``mu . (G y - h)`` (per box) down to the input, and every
    row of ``G`` along with it **under the mixed row's relaxation choices** (the lower or the
    upper line of each neuron, by the sign of the mixed row's coefficient there). The rows'
    functions are not bounds of their own: at the input point minimising the mixed row they are
    the rows' values at the relaxation's minimiser, a supergradient of the mixed bound in ``mu``.
    Returns the mixed row's ``(coef (B, n), const (B,))`` and the rows' ``(B, R, n)``, ``(B, R)``.
    """
    B, R = mu.shape
    rows = np.broadcast_to(G, (B, *G.shape)).copy()
    rconst = np.broadcast_to(-h, (B, R)).copy()
    for j in range(len(network.layers) - 1, -1, -1):
        layer = network.layers[j]
        if layer.activation == "relu":
            a_lo, a_up, c_up = relax[j]
            mixed = np.einsum("br,brw->bw", mu, rows)
            use_lo = mixed > 0.0  # the lower line where the mixed coefficient is positive
            rconst = rconst + np.einsum("brw,bw->br", rows, np.where(use_lo, 0.0, c_up))
            rows = rows * np.where(use_lo, a_lo, a_up)[:, None, :]
        rconst = rconst + rows @ layer.bias
        rows = rows @ layer.weight
    return (np.einsum("br,brn->bn", mu, rows), np.einsum("br,br->b", mu, rconst), rows, rconst)


def mixed_lower_bounds(
    network: Network, G: np.ndarray, h: np.ndarray, lo: np.ndarray, hi: np.ndarray,
    pre: tuple[list[np.ndarray], list[np.ndarray], list, list[np.ndarray]],
    mu0: np.ndarray, steps: int = 8, rate: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a conjunction ``G y <= h`` of several rows: a sound lower bound per box of a **mixed
    row** ``mu . (G y - h)``, ``mu >= 0`` summing to 1. Every point of the conjunction makes it
    ``<= 0``, so a positive bound proves the conjunction empty on the box even where no single
    row's bound does (the rows are smallest at different points). ``mu`` (per box, from ``mu0``)
    is raised by ``steps`` exponentiated supergradient steps (step ``rate / sqrt(k + 1)`` over
    the largest row value) on the back-substitution bound, which is concave in ``mu``; the best
    ``mu`` is bounded again soundly (:func:`objective_lower_bounds` on the box's own row).
    Returns ``(lower (B,), mu (B, R), coef (B, n))``, ``coef`` the mixed row's linear function
    (for splitting)."""
    relax = pre[2]
    G = np.atleast_2d(G)
    h = np.asarray(h, dtype=np.float64)
    mu = np.asarray(mu0, dtype=np.float64).copy()
    best_mu, best = mu.copy(), np.full(mu.shape[0], -np.inf)
    for k in range(max(int(steps), 1)):
        coef, const, rows, rconst = _rows_under_mixed(network, G, h, mu, relax)
        x = np.where(coef > 0.0, lo, hi)  # the box corner minimising the mixed row
        value = np.einsum("bn,bn->b", coef, x) + const
        better = value > best
        best = np.where(better, value, best)
        best_mu[better] = mu[better]
        g = np.einsum("brn,bn->br", rows, x) + rconst  # rows at the minimiser: a supergradient
        scale = np.maximum(np.abs(g).max(axis=1, keepdims=True), 1e-12)
        mu = mu * np.exp(rate / np.sqrt(k + 1.0) * g / scale)
        mu = mu / mu.sum(axis=1, keepdims=True)
    low, coef, _, _ = objective_lower_bounds(
        network, (best_mu @ G)[:, None, :], (best_mu @ h)[:, None], lo, hi, pre)
    return low[:, 0], best_mu, coef[:, 0, :]


r"""Pruning-aware big-M encoding of a ReLU network into a :class:`MatrixBuilder`.

For layer ``i`` with weights ``W``, bias ``b`` and pre-activation bounds ``l <= z <= u`` (valid on the
input set), each *needed* neuron ``j`` is encoded as

* stably inactive (``u_j <= 0``): nothing -- its output is the constant 0, and the next layer gets no
  term for it;
* stably active (``l_j >= 0``): one continuous ``h_j`` in ``[l_j, u_j]`` with ``h_j = W_j h + b_j``
  (no binary);
* unstable: ``z_j in [l_j, u_j]``, ``h_j in [0, u_j]``, binary ``d_j`` and

  .. math::  z_j = W_j h + b_j,\quad h_j \ge z_j,\quad h_j \le z_j - l_j (1 - d_j),\quad h_j \le u_j d_j

  (the big-M formulation of OMLT's ``ReluBigMFormulation``, with bounds from
  :mod:`surrogate.bounds` instead of interval arithmetic).

Linear layers get ``y = W h + b``. Only nonzero weights become terms. A neuron is *needed* when a
nonzero weight connects it to a needed neuron of the next layer (all outputs are needed); neurons
that are not needed (e.g. whose outgoing column was pruned to zero) get no variables at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from surrogate.bounds import compute_bounds
from surrogate.budget import Budget
from surrogate.encode.inputs import add_input_set
from surrogate.encode.matrix import MatrixBuilder
from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = [
    "NetworkEncoding",
    "NetworkRows",
    "encode_network",
    "encode_over",
    "needed_neurons",
    "reaches_output",
    "resolve_bounds",
]


def resolve_bounds(
    network: Network, input_set: object, bounds: Any = "symbolic",
    *, time_limit_s: float | None = None, budget: Budget | None = None,
) -> Any:
    """``bounds`` as given (an object with ``lower``/``upper``) or computed by method name (the
    LP phase of ``"lp"`` within ``time_limit_s`` and ``budget``, see
    :func:`surrogate.bounds.compute_bounds`)."""
    if isinstance(bounds, str):
        return compute_bounds(network, input_set, method=bounds,  # type: ignore[arg-type]
                              time_limit_s=time_limit_s, budget=budget)
    if not (hasattr(bounds, "lower") and hasattr(bounds, "upper")):
        raise InputError("bounds must be a method name ('interval', 'symbolic', 'lp') or a Bounds")
    return bounds


@dataclass(frozen=True)
class NetworkEncoding:
    """Where each neuron lives in the matrix model (column index, ``-1`` where there is none)."""

    input_cols: np.ndarray
    output_cols: np.ndarray
    post_cols: tuple[np.ndarray, ...]
    pre_cols: tuple[np.ndarray, ...]
    binary_cols: tuple[np.ndarray, ...]
    layer_stats: tuple[dict[str, int], ...] = field(default=())

    @property
    def n_binaries(self) -> int:
        return int(sum(np.count_nonzero(c >= 0) for c in self.binary_cols))

    def stats(self) -> dict[str, int]:
        keys = ("unstable", "active", "inactive", "unneeded")
        return {k: int(sum(s.get(k, 0) for s in self.layer_stats)) for k in keys}

    def fill(self, network: Network, x: np.ndarray, out: np.ndarray) -> None:
        """Write the values of every encoding column at input ``x`` into ``out`` (a full column
        vector of the model), from a forward pass of ``network`` (the encoded one)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        out[self.input_cols] = x
        h = x
        for i, layer in enumerate(network.layers):
            z = layer.weight @ h + layer.bias
            h = np.maximum(z, 0.0) if layer.activation == "relu" else z
            for cols, vals in (
                (self.pre_cols[i], z),
                (self.post_cols[i], h),
                (self.binary_cols[i], (z > 0).astype(np.float64)),
            ):
                m = cols >= 0
                out[cols[m]] = vals[m]


def needed_neurons(network: Network) -> list[np.ndarray]:
    """Per layer, the neurons whose output can reach the network's outputs through nonzero weights."""
    n = len(network.layers)
    needed = [np.ones(layer.n_out, dtype=bool) for layer in network.layers]
    for i in range(n - 1, 0, -1):
        w = network.layers[i].csr[np.flatnonzero(needed[i])]
        reach = np.zeros(network.layers[i].n_in, dtype=bool)
        reach[w.indices] = True
        needed[i - 1] = reach
    return needed


def reaches_output(network: Network) -> bool:
    """Does any input still reach the outputs through nonzero weights? (A pruned network that
    has lost every path computes a constant: its MILP says nothing about the dense one.)"""
    needed = needed_neurons(network)
    return bool(np.any(needed[0] & (network.layers[0].csr.getnnz(axis=1) > 0)))


def _affine_rows(
    W: sp.csr_matrix, sel: np.ndarray, prev_cols: np.ndarray, own_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates of rows ``own - W[sel] h_prev`` (row ids local, ``0..len(sel)-1``); terms on a
    previous neuron without a column (``prev_cols < 0``: constant 0) are left out."""
    sub = W[sel]
    counts = np.diff(sub.indptr)
    row = np.repeat(np.arange(sel.size), counts)
    col = prev_cols[sub.indices]
    ok = col >= 0
    rows = np.concatenate([row[ok], np.arange(sel.size)])
    cols = np.concatenate([col[ok], own_cols])
    vals = np.concatenate([-sub.data[ok], np.ones(sel.size)])
    return rows, cols, vals


def encode_network(
    builder: MatrixBuilder,
    network: Network,
    input_cols: np.ndarray,
    lower: Sequence[np.ndarray],
    upper: Sequence[np.ndarray],
    *,
    prefix: str = "",
) -> NetworkEncoding:
    """Append the encoding of ``network`` to ``builder``; ``input_cols`` are its input columns and
    ``lower``/``upper`` the pre-activation bounds of every layer (valid on the input set)."""
    if len(lower) != len(network.layers) or len(upper) != len(network.layers):
        raise InputError(
            f"bounds given for {len(lower)} layers, the network has {len(network.layers)}"
        )
    input_cols = np.asarray(input_cols, dtype=np.int64)
    if input_cols.size != network.n_inputs:
        raise InputError(
            f"{input_cols.size} input columns given, the network takes {network.n_inputs}"
        )
    needed = needed_neurons(network)
    prev_cols = input_cols
    post_all, pre_all, bin_all, stats_all = [], [], [], []
    last = len(network.layers) - 1
    for i, layer in enumerate(network.layers):
        lo = np.asarray(lower[i], dtype=np.float64)
        hi = np.asarray(upper[i], dtype=np.float64)
        if lo.shape != (layer.n_out,) or hi.shape != (layer.n_out,):
            raise InputError(f"bounds of layer {i} have shape {lo.shape}, expected ({layer.n_out},)")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise InputError(f"bounds of layer {i} are not finite")
        gap = lo - hi
        if np.any(gap > 1e-9 * (1.0 + np.abs(lo))):
            j = int(np.argmax(gap))
            raise InputError(f"bounds of layer {i} are inverted at neuron {j}: {lo[j]} > {hi[j]}")
        # a constant neuron can come out with upper < lower by float rounding (~1e-17): same value
        hi = np.maximum(hi, lo)
        W = layer.csr
        pcols = prev_cols
        b = layer.bias
        n = layer.n_out
        post = np.full(n, -1, dtype=np.int64)
        pre = np.full(n, -1, dtype=np.int64)
        binary = np.full(n, -1, dtype=np.int64)
        need = needed[i] if i < last else np.ones(n, dtype=bool)
        tag = f"{prefix}L{i}"
        stats = {"unneeded": int(n - need.sum())}
        if layer.activation == "linear":
            sel = np.flatnonzero(need)
            post[sel] = builder.add_columns(lo[sel], hi[sel], name=f"{tag}.y")
            r, c, v = _affine_rows(W, sel, pcols, post[sel])
            builder.add_rows(r, c, v, b[sel], b[sel], n=sel.size)
        else:
            active = need & (lo >= 0)
            inactive = need & (hi <= 0)
            unstable = need & ~active & ~inactive
            stats.update(
                active=int(active.sum()), inactive=int(inactive.sum()), unstable=int(unstable.sum())
            )
            sel = np.flatnonzero(active)
            if sel.size:
                post[sel] = builder.add_columns(lo[sel], hi[sel], name=f"{tag}.h")
                r, c, v = _affine_rows(W, sel, pcols, post[sel])
                builder.add_rows(r, c, v, b[sel], b[sel], n=sel.size)
            if i == last:
                dead = np.flatnonzero(inactive)
                if dead.size:  # outputs always get a column, here fixed at 0
                    post[dead] = builder.add_columns(0.0, 0.0, n=dead.size, name=f"{tag}.h")
            sel = np.flatnonzero(unstable)
            if sel.size:
                k = sel.size
                l_, u_ = lo[sel], hi[sel]
                z = pre[sel] = builder.add_columns(l_, u_, name=f"{tag}.z")
                h = post[sel] = builder.add_columns(0.0, u_, n=k, name=f"{tag}.h")
                d = binary[sel] = builder.add_columns(0.0, 1.0, n=k, integer=True, name=f"{tag}.d")
                r, c, v = _affine_rows(W, sel, pcols, z)
                builder.add_rows(r, c, v, b[sel], b[sel], n=k)
                ar = np.arange(k)
                # h - z >= 0
                builder.add_rows(np.r_[ar, ar], np.r_[h, z], np.r_[np.ones(k), -np.ones(k)],
                                 0.0, np.inf, n=k)
                # h - z - l d <= -l
                builder.add_rows(np.r_[ar, ar, ar], np.r_[h, z, d],
                                 np.r_[np.ones(k), -np.ones(k), -l_], -np.inf, -l_, n=k)
                # h - u d <= 0
                builder.add_rows(np.r_[ar, ar], np.r_[h, d], np.r_[np.ones(k), -u_],
                                 -np.inf, 0.0, n=k)
        post_all.append(post)
        pre_all.append(pre)
        bin_all.append(binary)
        stats_all.append(stats)
        prev_cols = post
    return NetworkEncoding(
        input_cols=input_cols,
        output_cols=post_all[-1],
        post_cols=tuple(post_all),
        pre_cols=tuple(pre_all),
        binary_cols=tuple(bin_all),
        layer_stats=tuple(stats_all),
    )


@dataclass(frozen=True)
class NetworkRows:
    """A network encoded over an input set, ready for an objective (:func:`encode_over`)."""

    builder: MatrixBuilder
    inputs: Any  # surrogate.encode.inputs.InputColumns
    encoding: NetworkEncoding
    bounds: Any  # surrogate.bounds.Bounds
    out_lower: np.ndarray  # bounds of the network's outputs (post-activation)
    out_upper: np.ndarray


def encode_over(network: Network, input_set: Any, bounds: Any) -> NetworkRows:
    """The one build chain of every MILP of the project: the input set's columns and rows, then
    the pruning-aware encoding of ``network`` under ``bounds`` (a :class:`~surrogate.bounds.Bounds`
    already computed), and the bounds of the outputs (clipped at 0 after an output ReLU). Callers
    add an objective (:func:`surrogate.app.build.build_milp`) or write the rows into a Pyomo block
    (:func:`surrogate.encode.add_network`)."""
    builder = MatrixBuilder()
    cols = add_input_set(builder, input_set)
    enc = encode_network(builder, network, cols.x, bounds.lower, bounds.upper)
    out_lo = np.asarray(bounds.lower[-1], dtype=np.float64)
    out_hi = np.asarray(bounds.upper[-1], dtype=np.float64)
    if network.layers[-1].activation == "relu":
        out_lo, out_hi = np.maximum(out_lo, 0.0), np.maximum(out_hi, 0.0)
    return NetworkRows(builder, cols, enc, bounds, out_lo, out_hi)

"""LP bound tightening with HiGHS (the middle step of MIPVerify's interval -> LP -> MIP ladder).

For each ReLU layer ``i >= 1``, an LP relaxation of layers ``0 .. i-1`` is built once
(:func:`build_layer_lp`) and every neuron of layer ``i`` still unstable is minimised and maximised over
it, only the objective changing between solves (HiGHS keeps its basis: a warm start). Layers are done in
order; after each, the next layer's symbolic bounds are recomputed from the tightened ones
(:func:`surrogate.bounds.symbolic.refine_layer`), so gains propagate. Layer 0 is already exact over the
input set and the output layer (linear) only gets the symbolic refresh.

LP of layers ``< i`` (variables ``x``, ``h_0 .. h_{i-1}``; stably inactive neurons have no variable):

* input: ``lower <= x <= upper``; for an L1 ball ``x = center + p - q``, ``p, q >= 0`` within the
  box, ``sum (p + q) <= eps`` (equivalent to ``t >= +-(x - center)``, ``sum t <= eps``, with one row
  instead of ``2 n``);
* stably active or linear: ``h = W h_{k-1} + b`` and ``l <= h <= u``;
* unstable: ``h >= 0``, ``h >= W h_{k-1} + b``, ``h <= u/(u-l) (W h_{k-1} + b - l)``, ``h <= u``
  (the triangle relaxation, which also implies ``l <= z <= u``);
* stably inactive, layers ``k >= 1``: ``W h_{k-1} + b <= u`` (no variable: ``h = 0``); in layer 0 this
  is implied by the input set, so the LP has no dense row per dead first-layer neuron.

Soundness. The value used is not HiGHS's objective but a *safe dual bound* (Neumaier & Shcherbina,
"Safe bounds in linear and mixed-integer programming", Math. Prog. 2004): for ``min c.v`` s.t.
``L <= A v <= U``, ``lv <= v <= uv`` (all column bounds finite here) and *any* row multipliers ``y``,
``c.v >= sum_r min(y_r L_r, y_r U_r) + sum_j min(d_j lv_j, d_j uv_j)`` with ``d = c - A^T y``. With
HiGHS's optimal duals this equals the LP optimum up to rounding; with inexact duals it is still a valid
(looser) bound. Bounds are kept only when the solve reports optimal and dual values are valid;
otherwise the neuron keeps its previous bound. Finally every bound is widened as in
:func:`surrogate.bounds.interval.widen` and intersected with the previous ones.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from surrogate._highs import highs_lp, new_highs
from surrogate.bounds.interval import (
    ROUND_REL,
    Bounds,
    InputSetT,
    check_input_set,
    intersect,
    magnitudes,
    widen_down,
    widen_up,
)
from surrogate.bounds.symbolic import refine_layer, symbolic_bounds
from surrogate.budget import Budget
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box

__all__ = ["LayerLP", "build_layer_lp", "lp_bounds"]


@dataclass
class LayerLP:
    """The LP relaxation of the layers before layer ``i``, ready to bound ``W_i h_{i-1}``.

    ``a`` (CSR, rows x cols) with ``row_lo/row_hi`` and ``col_lo/col_hi`` is the LP; ``last`` holds
    the column index of each neuron of layer ``i-1`` (``-1`` for a stably inactive one, fixed at 0).
    """

    a: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    last: np.ndarray


class _Builder:
    """Accumulates LP columns and rows as COO triplets."""

    def __init__(self) -> None:
        self.col_lo: list[np.ndarray] = []
        self.col_hi: list[np.ndarray] = []
        self.n_col = 0
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.row_lo: list[np.ndarray] = []
        self.row_hi: list[np.ndarray] = []
        self.n_row = 0

    def add_cols(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        idx = np.arange(self.n_col, self.n_col + lo.size)
        self.col_lo.append(np.asarray(lo, dtype=np.float64))
        self.col_hi.append(np.asarray(hi, dtype=np.float64))
        self.n_col += lo.size
        return idx

    def add_rows(self, dense: np.ndarray, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        """Rows ``lo <= dense @ v[cols] <= hi`` (``dense`` of shape (n_rows, cols.size))."""
        r, c = np.nonzero(dense)
        self.rows.append(r + self.n_row)
        self.cols.append(cols[c])
        self.vals.append(dense[r, c])
        self.row_lo.append(np.asarray(lo, dtype=np.float64))
        self.row_hi.append(np.asarray(hi, dtype=np.float64))
        self.n_row += dense.shape[0]

    def matrix(self) -> sp.csr_matrix:
        def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

        data = (cat(self.vals, float), (cat(self.rows, int), cat(self.cols, int)))
        return sp.csr_matrix(data, shape=(self.n_row, self.n_col))


def _add_input(
    b: _Builder, input_set: InputSetT
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Input columns as an affine map ``x = offset + M v[cols]``; returns ``(cols, M, offset)``
    with ``M = None`` for the identity.

    Box: ``x`` itself. L1 ball: ``x = center + p - q`` with ``0 <= p <= upper - center``,
    ``0 <= q <= center - lower`` and ``sum (p + q) <= eps`` -- one row instead of the two rows per
    coordinate of ``t >= +-(x - center)`` (the same set: at an optimum ``p_j q_j = 0``)."""
    if isinstance(input_set, Box):
        cols = b.add_cols(input_set.lower, input_set.upper)
        return cols, None, np.zeros(cols.size)
    c = input_set.center
    n = c.size
    p = b.add_cols(np.zeros(n), np.maximum(input_set.upper - c, 0.0))
    q = b.add_cols(np.zeros(n), np.maximum(c - input_set.lower, 0.0))
    cols = np.concatenate([p, q])
    b.add_rows(np.ones((1, 2 * n)), cols, np.array([-np.inf]), np.array([input_set.eps]))
    return cols, np.hstack([np.eye(n), -np.eye(n)]), c


def build_layer_lp(
    network: Network, i: int, bounds: Bounds, input_set: InputSetT
) -> LayerLP:
    """The LP relaxation of layers ``0 .. i-1`` under ``bounds`` (see the module docstring)."""
    b = _Builder()
    pcols, m_in, offset = _add_input(b, input_set)
    prev = np.zeros(0, dtype=int)  # column of each neuron of layer k-1; -1: fixed at 0
    for k in range(i):
        layer = network.layers[k]
        lo, hi = bounds.lower[k], bounds.upper[k]
        bias = layer.bias
        if k == 0:  # W x + b = (W M) v + (W offset + b)
            w = layer.weight if m_in is None else layer.weight @ m_in
            bias = bias + layer.weight @ offset
        else:
            live = prev >= 0
            w = layer.weight[:, live]
            pcols = prev[live]
        if layer.activation == "relu":
            inactive = bounds.stable_inactive(k)
            active = bounds.stable_active(k)
        else:
            inactive = np.zeros(layer.n_out, dtype=bool)
            active = np.ones(layer.n_out, dtype=bool)
        unstable = ~(inactive | active)
        if k > 0:  # z <= u of a dead neuron (layer 0: implied by the input set)
            dead = np.flatnonzero(inactive & np.any(w != 0.0, axis=1))
            b.add_rows(w[dead], pcols, np.full(dead.size, -np.inf), (hi - bias)[dead])
        cur = np.full(layer.n_out, -1)
        keep = np.flatnonzero(~inactive)
        col_lo = np.where(active, lo, 0.0)[keep]
        col_hi = np.where(active, hi, np.maximum(hi, 0.0))[keep]
        cur[keep] = b.add_cols(col_lo, col_hi)
        for rows, scale, r_lo, r_hi in _neuron_rows(bias, lo, hi, active, unstable):
            eye_part = np.zeros((rows.size, keep.size))
            eye_part[np.arange(rows.size), np.searchsorted(keep, rows)] = 1.0
            dense = np.hstack([eye_part, -scale[:, None] * w[rows]])
            b.add_rows(dense, np.concatenate([cur[keep], pcols]), r_lo, r_hi)
        prev = cur
    return LayerLP(
        b.matrix(),
        np.concatenate(b.row_lo) if b.row_lo else np.zeros(0),
        np.concatenate(b.row_hi) if b.row_hi else np.zeros(0),
        np.concatenate(b.col_lo),
        np.concatenate(b.col_hi),
        prev,
    )


def _neuron_rows(
    bias: np.ndarray, lo: np.ndarray, hi: np.ndarray, active: np.ndarray, unstable: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Rows ``r_lo <= h_j - s_j W_j h_prev <= r_hi`` linking each live neuron to its inputs."""
    out = []
    act = np.flatnonzero(active)
    if act.size:  # h = W h_prev + b
        out.append((act, np.ones(act.size), bias[act], bias[act]))
    un = np.flatnonzero(unstable)
    if un.size:
        slope = hi[un] / (hi[un] - lo[un])
        # h >= W h_prev + b
        out.append((un, np.ones(un.size), bias[un], np.full(un.size, np.inf)))
        # h <= slope (W h_prev + b - l)
        out.append((un, slope, np.full(un.size, -np.inf), slope * (bias[un] - lo[un])))
    return out


def _highs_for(lp: LayerLP) -> highspy.Highs:
    h = new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("presolve", "off")  # keep the basis between objectives (warm start)
    # Measured on mnist_fc 256x2: without scaling the warm-started dual simplex needs ~25 instead of
    # 150-1600 iterations per objective on the L1-ball LP (same on the box LP). Validity does not
    # depend on it: the bound used is the safe dual bound.
    h.setOptionValue("simplex_scale_strategy", 0)
    h.passModel(highs_lp(np.zeros(lp.a.shape[1]), lp.col_lo, lp.col_hi, lp.a, lp.row_lo,
                         lp.row_hi))
    return h


def _safe_min(lp: LayerLP, cost: np.ndarray, row_dual: np.ndarray) -> float:
    """Neumaier-Shcherbina lower bound of ``min cost.v`` over the LP for multipliers ``row_dual``,
    less a majorant of the float64 rounding of its own evaluation (``ROUND_REL`` times the
    magnitude of every term: the products ``A^T y``, the reduced costs and both sums)."""
    y = np.asarray(row_dual, dtype=np.float64)
    # a multiplier whose sign would meet an infinite row bound is replaced by 0 (still valid)
    y = np.where((y > 0) & ~np.isfinite(lp.row_lo), 0.0, y)
    y = np.where((y < 0) & ~np.isfinite(lp.row_hi), 0.0, y)
    row_lo = np.where(np.isfinite(lp.row_lo), lp.row_lo, 0.0)
    row_hi = np.where(np.isfinite(lp.row_hi), lp.row_hi, 0.0)
    rows = np.where(y > 0, y * row_lo, y * row_hi)
    aty = lp.a.T @ y
    d = cost - aty
    cols = np.minimum(d * lp.col_lo, d * lp.col_hi)
    vmax = np.maximum(np.abs(lp.col_lo), np.abs(lp.col_hi))
    scale = (
        np.abs(rows).sum() + np.abs(cols).sum()
        + (np.abs(cost) + abs(lp.a).T @ np.abs(y)) @ vmax
    )
    return float(rows.sum() + cols.sum() - ROUND_REL * scale)


def _solve_min(h: highspy.Highs, lp: LayerLP, cost: np.ndarray, time_limit_s: float) -> float | None:
    """Safe lower bound of ``min cost.v`` (None if HiGHS did not prove optimality)."""
    h.changeColsCost(cost.size, np.arange(cost.size, dtype=np.int32), cost)
    h.setOptionValue("time_limit", max(time_limit_s, 1e-3))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    value = _safe_min(lp, cost, np.asarray(sol.row_dual))
    return value if np.isfinite(value) else None


def _tighten_layer(
    network: Network, i: int, bounds: Bounds, input_set: InputSetT, budget: Budget
) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw LP bounds of the unstable neurons of layer ``i`` (others: ``-inf, +inf``)."""
    lo = np.full(network.layers[i].n_out, -np.inf)
    hi = np.full(network.layers[i].n_out, np.inf)
    todo = np.flatnonzero(bounds.unstable(i))
    if todo.size == 0 or budget.expired():
        return lo, hi, 0
    lp = build_layer_lp(network, i, bounds, input_set)
    h = _highs_for(lp)
    live = lp.last >= 0
    w = network.layers[i].weight[:, live]
    bias = network.layers[i].bias
    n_solved = 0
    for j in todo:
        for sign in (-1.0, 1.0):  # maximise first: a neuron proved inactive needs no minimum
            left = budget.remaining()
            if left <= 0:
                return lo, hi, n_solved
            cost = np.zeros(lp.a.shape[1])
            cost[lp.last[live]] = sign * w[j]
            value = _solve_min(h, lp, cost, left)
            n_solved += 1
            if value is None:
                continue
            if sign < 0:
                hi[j] = -value + bias[j]
                if hi[j] <= 0.0:
                    break
            else:
                lo[j] = value + bias[j]
    return lo, hi, n_solved


def lp_bounds(
    network: Network,
    input_set: InputSetT,
    *,
    time_limit_s: float | None = 10.0,
    initial: Bounds | None = None,
    budget: Budget | None = None,
) -> Bounds:
    """Tighten ``initial`` (default: :func:`symbolic_bounds`) by LP, layer by layer.

    ``time_limit_s`` bounds the LP phase (``None`` or ``math.inf``: no limit); when it is spent, the
    neurons not yet done keep their previous bounds, and later layers still get the symbolic refresh.
    The result is never looser than ``initial``. Cost: one LP pair per unstable neuron of the hidden
    ReLU layers after the first (about 1-5 ms each on mnist_fc 256x2; far more on deep nets, whose
    LPs hold every earlier layer -- keep a budget there). ``budget``: a caller's budget that
    ends the LP phase too (at its deadline or when it is cancelled)."""
    t0 = time.perf_counter()
    input_set = check_input_set(network, input_set)
    if time_limit_s is not None and not (
        isinstance(time_limit_s, int | float) and time_limit_s >= 0
    ):
        raise InputError(
            f"time_limit_s must be a number >= 0 (math.inf or None: no limit), got "
            f"{time_limit_s!r}"
        )
    if initial is None:
        initial = symbolic_bounds(network, input_set)
        changed = False  # symbolic bounds need no symbolic refresh until the LP tightens something
    else:
        initial.check_matches(network)
        changed = True
    own = Budget(t0 + (math.inf if time_limit_s is None else float(time_limit_s)), t0)
    budget = own if budget is None else budget.until(own.deadline)
    lowers, uppers = list(initial.lower), list(initial.upper)
    for i in range(1, len(network.layers)):
        if changed:
            lowers[i], uppers[i] = refine_layer(network, i, lowers, uppers, input_set)
        if network.layers[i].activation != "relu":
            continue
        current = Bounds(tuple(lowers), tuple(uppers), "lp", 0.0)
        lo, hi, _ = _tighten_layer(network, i, current, input_set, budget)
        mag = magnitudes(network, input_set, uppers[:i])[i]
        new_lo, new_hi = intersect(lowers[i], uppers[i], widen_down(lo, mag), widen_up(hi, mag))
        changed = changed or bool(np.any(new_lo > lowers[i]) or np.any(new_hi < uppers[i]))
        lowers[i], uppers[i] = new_lo, new_hi
    return Bounds(tuple(lowers), tuple(uppers), "lp", time.perf_counter() - t0,
                  None if initial is None else initial.slopes)

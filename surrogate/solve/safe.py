"""A lower bound on a model's LP relaxation that does not depend on the LP solver's tolerances.

For ``min c.x`` s.t. ``L <= A x <= U``, ``l <= x <= u`` (every column bounded) and *any* row
multipliers ``y``, weak duality gives (Neumaier & Shcherbina, "Safe bounds in linear and
mixed-integer programming", Math. Prog. 2004)::

    c.x >= sum_r min(y_r L_r, y_r U_r) + sum_j min(d_j l_j, d_j u_j),    d = c - A^T y

HiGHS's duals make this the LP optimum up to rounding; wrong duals only make it looser. The
evaluation's own float64 rounding is subtracted (``ROUND_REL`` times the magnitude of every term),
so the value is a sound lower bound on the LP relaxation, hence on the MILP, whatever HiGHS's
tolerances did. Branch and bound closes a box with it (:mod:`surrogate.search.bab`).
"""

from __future__ import annotations

import highspy
import numpy as np

from surrogate._highs import new_highs
from surrogate.bounds.interval import ROUND_REL
from surrogate.encode.matrix import MatrixModel
from surrogate.solve.highs import _to_highs_lp

__all__ = ["safe_dual_bound", "safe_lp_bound"]


def safe_dual_bound(model: MatrixModel, row_dual: np.ndarray) -> float:
    """The Neumaier-Shcherbina bound of ``min c.x + offset`` for multipliers ``row_dual``
    (``-inf`` if a column with a nonzero reduced cost is unbounded)."""
    y = np.asarray(row_dual, dtype=np.float64)
    lo_ok, hi_ok = np.isfinite(model.row_lower), np.isfinite(model.row_upper)
    y = np.where((y > 0) & ~lo_ok, 0.0, y)  # a multiplier meeting an infinite side is dropped
    y = np.where((y < 0) & ~hi_ok, 0.0, y)
    rows = np.where(y > 0, y * np.where(lo_ok, model.row_lower, 0.0),
                    y * np.where(hi_ok, model.row_upper, 0.0))
    aty = model.A.T @ y
    d = model.c - aty
    lo, hi = model.col_lower, model.col_upper
    with np.errstate(invalid="ignore"):
        cols = np.minimum(d * lo, d * hi)
    cols = np.where(d == 0.0, 0.0, cols)
    if not np.all(np.isfinite(cols)):
        return -np.inf
    vmax = np.maximum(np.abs(np.where(np.isfinite(lo), lo, 0.0)),
                      np.abs(np.where(np.isfinite(hi), hi, 0.0)))
    scale = (np.abs(rows).sum() + np.abs(cols).sum()
             + (np.abs(model.c) + abs(model.A).T @ np.abs(y)) @ vmax + abs(model.offset))
    return float(rows.sum() + cols.sum() + model.offset - ROUND_REL * scale)


def safe_lp_bound(model: MatrixModel, *, time_limit_s: float = 10.0) -> float | None:
    """A sound lower bound on ``min c.x`` over the LP relaxation of ``model`` (integrality
    dropped), or None when HiGHS did not solve the LP. Minimisation models only."""
    relaxed = MatrixModel(model.col_lower, model.col_upper, np.zeros_like(model.integer),
                          model.A, model.row_lower, model.row_upper, model.c, model.offset,
                          False, model.col_names)
    h = new_highs()
    h.setOptionValue("time_limit", max(float(time_limit_s), 1e-3))
    h.setOptionValue("threads", 1)
    h.passModel(_to_highs_lp(relaxed))
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    if not sol.dual_valid:
        return None
    value = safe_dual_bound(relaxed, np.asarray(sol.row_dual))
    return value if np.isfinite(value) else None

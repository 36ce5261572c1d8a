"""How far a HiGHS answer about a model can be trusted: the numerical contract of a MILP proof.

HiGHS works with absolute tolerances in float64. Three steps make what it proves about *our*
models true of the networks:

1. **Scaling by powers of two** (:func:`scale_for_highs`, done by every solve): a column whose
   range exceeds 1 is divided by the power of two just above its range, and a row whose terms
   reach more than :data:`ROW_MAGNITUDE` in size is divided down to that size. Powers of two are
   exact in float64, so the scaled model is the same model; but HiGHS's absolute tolerances now
   act *relative* to each quantity's size: a row summing terms of 1e12 can no longer look
   infeasible because float64 rounding (~1e-4 there) exceeds its tolerance.
2. **Tiny entries** below HiGHS's ``small_matrix_value`` (1e-9), which HiGHS would silently drop,
   are removed by us with their largest effect moved into the row bounds
   (:func:`relax_tiny_terms`): a relaxation, so nothing proved about it is false.
3. **Tight tolerances, a relaxation wider than them, and the proof margin.** Proof runs set
   HiGHS's primal, dual and MIP tolerances to :data:`PROOF_TOL` (1e-9; measured on mnist_fc
   256x2 and ACAS Xu: no slower than the defaults 1e-7/1e-7/1e-6). Tolerances can err both ways:

   * primal decisions taken "within tolerance" (forcing rows, bound tightening: HiGHS 1.16's
     presolve called a feasible model with output weights ~5e-7 infeasible at its default MIP
     tolerance 1e-6) cut the feasible set by up to the tolerance per row or bound. Proof runs
     therefore hand HiGHS a *relaxation*: every row and every continuous column bound of the
     scaled model widened by :data:`PROOF_RELAX` = 10 x the tolerance (:func:`scale_for_highs`
     with ``relax``). What HiGHS may cut stays inside what was added, so its answer about the
     relaxation, hence about the model, is not made wrong by it;
   * the dual tolerance can make a bound too high: an LP of the branch and bound may stop with
     reduced costs wrong by up to ``tol``, so its objective, hence the bound a node is pruned
     with, may be too high by ``tol`` times the range of every column (``sum_j (u_j - l_j)`` of
     the scaled model); a presolve reduction that fixes a column whose cost effect is below the
     tolerance errs alike (HiGHS's dominated-column rule, shown wrong on a badly scaled model,
     is also switched off on proof runs). So a bound counts as a proof only beyond
     ``margin = PROOF_MARGIN + tol * (1 + sum_j (u_j - l_j))`` (:func:`proof_margin`; the ``1``
     for the cutoff comparison); a true minimum inside ``(0, margin]`` is answered ``unknown``,
     never ``unsat``.

A scaled model whose float64 rounding could still reach the proof tolerance (a row of thousands
of terms each near :data:`ROW_MAGNITUDE`) is *untrusted*: no HiGHS answer on it is read as a
proof, and the caller says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from surrogate.encode.matrix import MatrixModel

__all__ = [
    "PROOF_MARGIN",
    "PROOF_RELAX",
    "PROOF_TOL",
    "ROUNDING_LIMIT",
    "ROW_MAGNITUDE",
    "SMALL_MATRIX_VALUE",
    "ProofMargin",
    "proof_margin",
    "proof_options",
    "relax_tiny_terms",
    "scale_for_highs",
]

#: The smallest margin a dual bound must exceed to count as a proof, on a perfectly scaled model.
PROOF_MARGIN = 1e-6
#: HiGHS's primal, dual and MIP feasibility tolerances on proof runs.
PROOF_TOL = 1e-9
#: Proof runs widen every row and continuous column bound of the scaled model by this much.
PROOF_RELAX = 10 * PROOF_TOL
#: A row whose float64 rounding may exceed this is beyond what the proof tolerance can certify.
ROUNDING_LIMIT = PROOF_TOL / 4
#: HiGHS treats matrix entries below this as zero (its ``small_matrix_value``).
SMALL_MATRIX_VALUE = 1e-9
#: rows whose terms are larger than this are scaled down to it (by a power of two)
ROW_MAGNITUDE = 1e3
#: float64 unit roundoff
_UNIT = 2.0**-53


@dataclass(frozen=True)
class ProofMargin:
    """What a HiGHS run on one model can prove: ``min t > margin`` reads as ``min t > 0``.

    ``trusted`` is False when the model is too badly scaled for any HiGHS answer to be a proof;
    ``reason`` then says why, in words a user can act on."""

    margin: float
    trusted: bool
    reason: str | None
    dual_term: float
    rounding: float


def _pow2_above(v: np.ndarray) -> np.ndarray:
    """The smallest power of two >= ``v`` (``v > 0``)."""
    return np.exp2(np.ceil(np.log2(v)))


def _column_magnitude(model: MatrixModel) -> np.ndarray:
    mag = np.maximum(np.abs(model.col_lower), np.abs(model.col_upper))
    return np.where(np.isfinite(mag), mag, 0.0)


def _rhs_magnitude(model: MatrixModel) -> np.ndarray:
    return np.maximum(np.where(np.isfinite(model.row_lower), np.abs(model.row_lower), 0.0),
                      np.where(np.isfinite(model.row_upper), np.abs(model.row_upper), 0.0))


def scale_with_rows(
    model: MatrixModel, relax: float = 0.0
) -> tuple[MatrixModel, np.ndarray, np.ndarray]:
    """``(scaled model, column scales, row scales)``: ``x = col * x'``, row ``i`` divided by
    ``row[i]``; with ``relax > 0`` every row and continuous column bound of the scaled model is
    then moved out by ``relax`` (see the module docstring).

    Columns with range above 1 get range in (0.5, 1]; then rows whose terms
    ``sum_j |a_ij| max|x'_j| + |rhs|`` exceed :data:`ROW_MAGNITUDE` are divided down to at most it.
    Every factor is a power of two, so no number changes but its exponent; objective values are
    unchanged (``c' = c * col``). Tiny entries are then relaxed away (:func:`relax_tiny_terms`)."""
    rng = model.col_upper - model.col_lower
    wide = np.isfinite(rng) & (rng > 1.0)
    col = np.where(wide, _pow2_above(np.where(wide, rng, 1.0)), 1.0)
    A = sp.csr_matrix(model.A.tocsr() @ sp.diags(col))
    lo, hi = model.col_lower / col, model.col_upper / col
    mag = np.maximum(np.abs(lo), np.abs(hi))
    mag = np.where(np.isfinite(mag), mag, 0.0)
    row_mag = np.asarray(abs(A) @ mag).reshape(-1) + _rhs_magnitude(model)
    big = row_mag > ROW_MAGNITUDE
    row = np.where(big, _pow2_above(np.where(big, row_mag / ROW_MAGNITUDE, 1.0)), 1.0)
    cont = ~model.integer
    scaled = MatrixModel(
        col_lower=np.where(cont, lo - relax, lo),
        col_upper=np.where(cont, hi + relax, hi),
        integer=model.integer,
        A=sp.csr_matrix(sp.diags(1.0 / row) @ A),
        row_lower=model.row_lower / row - relax,
        row_upper=model.row_upper / row + relax,
        c=model.c * col,
        offset=model.offset,
        maximize=model.maximize,
        col_names=model.col_names,
    )
    return relax_tiny_terms(scaled), col, row


def scale_for_highs(model: MatrixModel, relax: float = 0.0) -> tuple[MatrixModel, np.ndarray]:
    """The model HiGHS is given and its column scales (:func:`scale_with_rows`)."""
    scaled, col, _ = scale_with_rows(model, relax)
    return scaled, col


def proof_margin(model: MatrixModel) -> ProofMargin:
    """The proof threshold of ``model`` (a minimisation) as HiGHS will see it on a proof run
    (:func:`scale_with_rows` with :data:`PROOF_RELAX`); see the module docstring."""
    lo, hi = model.col_lower, model.col_upper
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return ProofMargin(math.inf, False, "the model has an unbounded variable", math.inf,
                           math.inf)
    scaled, _, _ = scale_with_rows(model, PROOF_RELAX)
    dual_term = PROOF_TOL * float(np.sum(scaled.col_upper - scaled.col_lower))
    margin = PROOF_MARGIN + PROOF_TOL + dual_term
    a = abs(scaled.A.tocsr())
    row_mag = np.asarray(a @ _column_magnitude(scaled)).reshape(-1) + _rhs_magnitude(scaled)
    terms = np.diff(a.indptr) + 1
    rounding_rows = _UNIT * terms * row_mag
    rounding = float(np.max(rounding_rows, initial=0.0))
    if rounding > ROUNDING_LIMIT:
        i = int(np.argmax(rounding_rows))
        reason = (
            f"badly scaled model: a row sums {terms[i] - 1} terms up to {row_mag[i]:.3g} in "
            f"magnitude even after scaling, so float64 rounding (~{rounding:.2g}) is beyond what "
            f"the solver's tolerance ({PROOF_TOL:g}) can certify; no MILP answer on it is read "
            "as a proof"
        )
        return ProofMargin(margin, False, reason, dual_term, rounding)
    return ProofMargin(margin, True, None, dual_term, rounding)


def proof_options(margin: ProofMargin, *, cutoff: bool) -> dict[str, object]:
    """HiGHS options of a proof run: the tolerances :func:`proof_margin` assumed, HiGHS's
    dominated-column presolve rule off (it returned a wrong optimum on a badly scaled model:
    HiGHS 1.16, bit 5 of ``presolve_rule_off``) and, with ``cutoff``, the objective cutoff
    ``t <= margin``."""
    opts: dict[str, object] = {
        "primal_feasibility_tolerance": PROOF_TOL,
        "dual_feasibility_tolerance": PROOF_TOL,
        "mip_feasibility_tolerance": PROOF_TOL,
        "presolve_rule_off": 1 << 5,
    }
    if cutoff:
        opts["objective_bound"] = margin.margin
    return opts


def relax_tiny_terms(model: MatrixModel, threshold: float = SMALL_MATRIX_VALUE) -> MatrixModel:
    """``model`` without the matrix entries ``0 < |a_ij| < threshold``, each row's bounds widened
    by ``sum |a_ij| max(|l_j|, |u_j|)`` over the entries removed: a relaxation (every point
    feasible before stays feasible), so proofs on it hold for ``model``. Returns ``model`` itself
    when there is nothing to remove."""
    A = model.A.tocsr()
    tiny = (np.abs(A.data) < threshold) & (A.data != 0.0)
    if not np.any(tiny):
        return model
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    effect = np.abs(A.data) * _column_magnitude(model)[A.indices]
    touched = np.zeros(A.shape[0], dtype=bool)
    touched[rows[tiny]] = True
    slack = np.bincount(rows[tiny], weights=effect[tiny], minlength=A.shape[0])
    slack = np.where(touched, slack * (1.0 + 1e-12) + 1e-300, 0.0)  # rounded outwards
    kept = sp.csr_matrix(
        (np.where(tiny, 0.0, A.data), A.indices.copy(), A.indptr.copy()), shape=A.shape
    )
    kept.eliminate_zeros()
    return MatrixModel(
        col_lower=model.col_lower,
        col_upper=model.col_upper,
        integer=model.integer,
        A=kept,
        row_lower=np.where(touched, model.row_lower - slack, model.row_lower),
        row_upper=np.where(touched, model.row_upper + slack, model.row_upper),
        c=model.c,
        offset=model.offset,
        maximize=model.maximize,
        col_names=model.col_names,
    )

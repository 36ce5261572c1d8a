"""How far a HiGHS answer about a model can be trusted: the numerical contract of a MILP proof.

HiGHS works with absolute tolerances (primal and dual feasibility 1e-7, MIP feasibility 1e-6) and
in float64. A proof "``min t > 0``" read off its dual bound (or off an infeasible run under the
cutoff ``t <= margin``) is only as good as those tolerances allow on *this* model. Two effects
matter, and :func:`proof_margin` bounds both from the model alone, before it is solved:

* **Dual tolerance.** An LP of the branch and bound may stop with reduced costs wrong by up to
  ``dual_feasibility_tolerance``; its objective, hence the bound a node is pruned with, is then too
  high by up to that times the range of every column it moves (``sum_j (u_j - l_j)``). A presolve
  reduction that fixes a column whose cost effect is below the tolerance (HiGHS's dominated-column
  rule) errs by the same amount. So a bound is a proof only beyond
  ``margin = PROOF_MARGIN + tol_dual * sum_j (u_j - l_j) + tol_mip * max(1, |t|)``, where the last
  term covers objective comparisons made with the MIP tolerance relative to the objective's size.
  A network with a weight of 5e-8 on a neuron ranging over 6.7e5 gets a margin of about 0.25: an
  "optimal" 0.025 there is no proof (HiGHS 1.16 returns exactly that on a sat instance).
* **Rounding.** HiGHS decides feasibility of a row to 1e-7 absolute; when the row's terms are so
  large that float64 rounding alone reaches that size (``u * n_i * max_i |a_ij| |x_j|``, ``u`` the
  unit roundoff), it can call a feasible model infeasible. Such a model is *untrusted*: no HiGHS
  answer on it is read as a proof (the caller answers ``unknown`` and says why).

HiGHS also drops matrix entries below ``small_matrix_value`` (1e-9): :func:`relax_tiny_terms`
removes them itself and widens each row by the term's largest effect, a relaxation of the model,
so nothing HiGHS proves about the relaxed model is false about the original one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from surrogate.encode.matrix import MatrixModel

__all__ = [
    "DUAL_TOL",
    "MIP_TOL",
    "PRIMAL_TOL",
    "PROOF_MARGIN",
    "ROUNDING_LIMIT",
    "SMALL_MATRIX_VALUE",
    "ProofMargin",
    "proof_margin",
    "proof_options",
    "relax_tiny_terms",
]

#: The smallest margin a dual bound must exceed to count as a proof, on a perfectly scaled model.
PROOF_MARGIN = 1e-6
#: HiGHS tolerances, set explicitly on every proof run (they are HiGHS 1.x's defaults).
PRIMAL_TOL = 1e-7
DUAL_TOL = 1e-7
MIP_TOL = 1e-6
#: HiGHS treats matrix entries below this as zero (its ``small_matrix_value``).
SMALL_MATRIX_VALUE = 1e-9
#: A row whose float64 rounding may exceed this is beyond what HiGHS's 1e-7 tolerance can certify.
ROUNDING_LIMIT = 1e-2 * PRIMAL_TOL
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

    def to_dict(self) -> dict[str, object]:
        return {"margin": self.margin, "trusted": self.trusted, "reason": self.reason,
                "dual_term": self.dual_term, "rounding": self.rounding}


def _column_magnitude(model: MatrixModel) -> np.ndarray:
    return np.maximum(np.abs(model.col_lower), np.abs(model.col_upper))


def proof_margin(model: MatrixModel, objective_col: int | None = None) -> ProofMargin:
    """The proof threshold of ``model`` (a minimisation of one column ``t``; see the module
    docstring). ``objective_col``: the column of ``t`` (its bounds give the objective's size);
    default the column with the largest cost."""
    lo, hi = model.col_lower, model.col_upper
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return ProofMargin(math.inf, False, "the model has an unbounded variable", math.inf,
                           math.inf)
    dual_term = DUAL_TOL * float(np.sum(hi - lo))
    if objective_col is None:
        objective_col = int(np.argmax(np.abs(model.c))) if model.c.size else 0
    t_size = float(max(1.0, abs(lo[objective_col]), abs(hi[objective_col]))) if lo.size else 1.0
    margin = PROOF_MARGIN + dual_term + MIP_TOL * t_size
    a = abs(model.A.tocsr())
    row_bound = np.maximum(
        np.where(np.isfinite(model.row_lower), np.abs(model.row_lower), 0.0),
        np.where(np.isfinite(model.row_upper), np.abs(model.row_upper), 0.0),
    )
    row_mag = np.asarray(a @ _column_magnitude(model)).reshape(-1) + row_bound
    terms = np.diff(a.indptr) + 1
    rounding = float(np.max(_UNIT * terms * row_mag, initial=0.0))
    if rounding > ROUNDING_LIMIT:
        i = int(np.argmax(_UNIT * terms * row_mag))
        reason = (
            f"badly scaled model: a row sums terms up to {row_mag[i]:.3g} in magnitude, so "
            f"float64 rounding (~{rounding:.2g}) is beyond what HiGHS's feasibility tolerance "
            f"({PRIMAL_TOL:g}) can certify; no MILP answer on it is read as a proof"
        )
        return ProofMargin(margin, False, reason, dual_term, rounding)
    return ProofMargin(margin, True, None, dual_term, rounding)


def proof_options(margin: ProofMargin, *, cutoff: bool) -> dict[str, object]:
    """HiGHS options of a proof run: the tolerances :func:`proof_margin` assumed, HiGHS's
    dominated-column presolve rule off (it returned a wrong optimum on a badly scaled model:
    HiGHS 1.16, rule bit 5 of ``presolve_rule_off``) and, with ``cutoff``, the objective cutoff
    ``t <= margin``."""
    opts: dict[str, object] = {
        "primal_feasibility_tolerance": PRIMAL_TOL,
        "dual_feasibility_tolerance": DUAL_TOL,
        "mip_feasibility_tolerance": MIP_TOL,
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

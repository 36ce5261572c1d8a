"""Solving: HiGHS runs under a time limit (callbacks, warm starts, presets) and the numerical
contract that makes their proofs trustworthy (:mod:`surrogate.solve.numerics`). The use case
"run one problem on a network" is :func:`surrogate.app.run_milp`."""

from surrogate.solve.highs import PRESETS, SolveResult, TracePoint, solve_matrix
from surrogate.solve.numerics import PROOF_MARGIN

__all__ = ["PRESETS", "PROOF_MARGIN", "SolveResult", "TracePoint", "solve_matrix"]

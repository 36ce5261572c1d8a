"""Solving: HiGHS runs under a time limit with dense re-evaluation of every incumbent."""

from surrogate.solve.highs import PRESETS, SolveResult, TracePoint, solve_matrix
from surrogate.solve.run import PROOF_MARGIN, RunResult, TraceEntry, run_milp

__all__ = [
    "PRESETS",
    "PROOF_MARGIN",
    "RunResult",
    "SolveResult",
    "TraceEntry",
    "TracePoint",
    "run_milp",
    "solve_matrix",
]

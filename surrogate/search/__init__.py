"""Candidate generators judged on the dense network: gradient descent, local search over linear
regions (and, in time, the portfolio that runs them beside the MILPs)."""

from surrogate.search.ascent import DescentResult, gradient_descent
from surrogate.search.objective import OutputObjective
from surrogate.search.region import LocalResult, activation_pattern, local_search, region_lp

__all__ = [
    "DescentResult",
    "LocalResult",
    "OutputObjective",
    "activation_pattern",
    "gradient_descent",
    "local_search",
    "region_lp",
]

"""Search engines judged on the dense network: multi-start gradient descent, the local search over
linear regions, and input-splitting branch and bound (complete verification of low-dimensional
networks). The portfolio that runs the generators beside the MILPs is a use case:
:mod:`surrogate.app.portfolio`."""

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

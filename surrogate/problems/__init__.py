"""Problems over a dense reference network: verification and function maximisation."""

from surrogate.problems.base import Problem
from surrogate.problems.maximize import MaximizationProblem
from surrogate.problems.verification import Conjunction, VerificationProblem, robustness_problem

__all__ = [
    "Conjunction",
    "MaximizationProblem",
    "Problem",
    "VerificationProblem",
    "robustness_problem",
]

"""What every problem provides to a run: objective columns, warm-start values, dense judgement."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from surrogate.encode.matrix import MatrixBuilder
from surrogate.network.spec import Network
from surrogate.sets import InputSet

__all__ = ["Problem"]


class Problem(Protocol):
    """A problem over a dense reference network; the MILP may encode a (pruned) surrogate of it."""

    @property
    def network(self) -> Network: ...

    @property
    def input_set(self) -> InputSet: ...

    @property
    def maximize(self) -> bool: ...

    @property
    def kind(self) -> str: ...

    def add_objective(
        self,
        builder: MatrixBuilder,
        output_cols: np.ndarray,
        out_lower: np.ndarray,
        out_upper: np.ndarray,
    ) -> object:
        """Add objective columns/rows over the encoded outputs, set the builder's objective and
        return a handle for :meth:`fill_objective`."""

    def fill_objective(self, handle: object, outputs: np.ndarray, out: np.ndarray) -> None:
        """Write warm-start values of the objective's own columns, given the encoded outputs."""

    def objective_of_outputs(self, outputs: np.ndarray) -> float:
        """The MILP objective as a function of the network's outputs (used on the dense net)."""

    def is_success(self, x: np.ndarray, y_dense: np.ndarray) -> bool:
        """Is ``x`` (with dense outputs ``y_dense``) what the user is looking for (e.g. a dense
        counterexample)? Maximisation problems have no such notion and return False."""

    def proves(self, bound: float) -> bool:
        """Does a MILP dual bound on the *dense* network prove that no success exists?"""

"""Function maximisation: ``max (or min) f_k(x)`` over an input set (the paper's Task 2)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from surrogate.encode.matrix import MatrixBuilder
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import InputSet

__all__ = ["MaximizationProblem"]


@dataclass(frozen=True)
class MaximizationProblem:
    network: Network
    input_set: InputSet
    output: int = 0
    maximize: bool = True
    name: str = ""
    kind: str = "maximization"
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.output < self.network.n_outputs:
            raise InputError(
                f"output index {self.output} out of range: the network has {self.network.n_outputs} outputs"
            )
        if self.input_set.dim != self.network.n_inputs:
            raise InputError(
                f"input set has {self.input_set.dim} entries, the network takes {self.network.n_inputs}"
            )

    def add_objective(
        self, builder: MatrixBuilder, output_cols: np.ndarray, out_lower: np.ndarray, out_upper: np.ndarray
    ) -> object:
        builder.set_objective({int(output_cols[self.output]): 1.0}, maximize=self.maximize)
        return None

    def fill_objective(self, handle: object, outputs: np.ndarray, out: np.ndarray) -> None:
        return None

    def objective_of_outputs(self, outputs: np.ndarray) -> float:
        return float(outputs[self.output])

    def is_success(self, x: np.ndarray, y_dense: np.ndarray) -> bool:
        return False

    def proves(self, bound: float) -> bool:
        return False

    def describe(self) -> str:
        return self.name or f"{'max' if self.maximize else 'min'} output {self.output}"

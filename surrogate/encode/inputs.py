"""Input-set constraints in a :class:`MatrixBuilder`: a box as column bounds; an L1 ball linearised
with ``a_i >= +-(x_i - c_i)``, ``sum a_i <= eps`` (the paper's encoding)."""

from __future__ import annotations

import numpy as np

from surrogate.encode.matrix import MatrixBuilder
from surrogate.sets import Box, InputSet, L1Ball

__all__ = ["add_input_set", "InputColumns"]


class InputColumns:
    """Column indices of the inputs, and of the L1 auxiliaries ``a`` (empty for a box)."""

    def __init__(self, x: np.ndarray, abs_dev: np.ndarray, input_set: InputSet):
        self.x = x
        self.abs_dev = abs_dev
        self.input_set = input_set

    def fill(self, x: np.ndarray, out: np.ndarray) -> None:
        out[self.x] = x
        if self.abs_dev.size and isinstance(self.input_set, L1Ball):
            out[self.abs_dev] = np.abs(x - self.input_set.center)


def add_input_set(builder: MatrixBuilder, input_set: InputSet, name: str = "x") -> InputColumns:
    if isinstance(input_set, Box):
        x = builder.add_columns(input_set.lower, input_set.upper, name=name)
        return InputColumns(x, np.zeros(0, dtype=np.int64), input_set)
    if not isinstance(input_set, L1Ball):
        raise TypeError(f"input_set must be a Box or an L1Ball, got {type(input_set).__name__}")
    lo, hi, c = input_set.lower, input_set.upper, input_set.center
    n = input_set.dim
    x = builder.add_columns(lo, hi, name=name)
    a = builder.add_columns(0.0, np.maximum(hi - c, c - lo), name=f"{name}.absdev")
    ar = np.arange(n)
    ones = np.ones(n)
    builder.add_rows(np.r_[ar, ar], np.r_[a, x], np.r_[ones, -ones], -c, np.inf, n=n)  # a - x >= -c
    builder.add_rows(np.r_[ar, ar], np.r_[a, x], np.r_[ones, ones], c, np.inf, n=n)  # a + x >= c
    builder.add_rows(np.zeros(n, dtype=np.int64), a, ones, -np.inf, input_set.eps, n=1)
    return InputColumns(x, a, input_set)

"""A mixed-integer linear model as sparse matrices, built incrementally with numpy.

This is the one internal representation of every MILP ``surrogate`` builds: encodings append
columns (variables) and rows (linear constraints ``row_lower <= A x <= row_upper``) in blocks, never
one term at a time, so build time scales with the number of nonzeros. The same model is handed to
HiGHS directly (:mod:`surrogate.solve`) or written into a Pyomo block
(:mod:`surrogate.encode.pyomo_block`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from surrogate.errors import InputError

__all__ = ["MatrixModel", "MatrixBuilder", "INF"]

INF = float("inf")


@dataclass(frozen=True)
class MatrixModel:
    """``min/max c.x + offset`` s.t. ``row_lower <= A x <= row_upper``, ``col_lower <= x <= col_upper``,
    ``x_j`` integer where ``integer[j]``."""

    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    c: np.ndarray
    offset: float = 0.0
    maximize: bool = False
    col_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def n_cols(self) -> int:
        return int(self.col_lower.size)

    @property
    def n_rows(self) -> int:
        return int(self.row_lower.size)

    @property
    def n_integer(self) -> int:
        return int(np.count_nonzero(self.integer))

    @property
    def nnz(self) -> int:
        return int(self.A.nnz)

    def size(self) -> dict[str, int]:
        return {
            "variables": self.n_cols,
            "binaries": self.n_integer,
            "constraints": self.n_rows,
            "nonzeros": self.nnz,
        }

    def objective_value(self, x: np.ndarray) -> float:
        return float(self.c @ x + self.offset)

    def max_violation(self, x: np.ndarray) -> float:
        """Largest violation of any bound, row or integrality at ``x`` (0 when feasible)."""
        ax = self.A @ x
        viol = [
            np.max(self.col_lower - x, initial=0.0),
            np.max(x - self.col_upper, initial=0.0),
            np.max(self.row_lower - ax, initial=0.0),
            np.max(ax - self.row_upper, initial=0.0),
        ]
        if self.n_integer:
            xi = x[self.integer]
            viol.append(float(np.max(np.abs(xi - np.round(xi)), initial=0.0)))
        return float(max(viol))


class MatrixBuilder:
    """Accumulates column and row blocks; :meth:`build` returns a :class:`MatrixModel`."""

    def __init__(self) -> None:
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._names: list[str] = []
        self._n_cols = 0
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rhi: list[np.ndarray] = []
        self._n_rows = 0
        self.c: dict[int, float] = {}
        self.offset = 0.0
        self.maximize = False

    @property
    def n_cols(self) -> int:
        return self._n_cols

    @property
    def n_rows(self) -> int:
        return self._n_rows

    def add_columns(
        self,
        lower: np.ndarray | float,
        upper: np.ndarray | float,
        *,
        n: int | None = None,
        integer: bool = False,
        name: str = "x",
    ) -> np.ndarray:
        """Append ``n`` columns (inferred from the bound arrays); returns their indices."""
        lo = np.atleast_1d(np.asarray(lower, dtype=np.float64))
        hi = np.atleast_1d(np.asarray(upper, dtype=np.float64))
        if n is None:
            n = max(lo.size, hi.size)
        lo = np.broadcast_to(lo, (n,)).copy()
        hi = np.broadcast_to(hi, (n,)).copy()
        if np.any(lo > hi):
            i = int(np.flatnonzero(lo > hi)[0])
            raise InputError(f"column block {name!r}: lower bound {lo[i]} > upper {hi[i]} at {i}")
        idx = np.arange(self._n_cols, self._n_cols + n)
        self._lb.append(lo)
        self._ub.append(hi)
        self._int.append(np.full(n, integer))
        self._names.extend(f"{name}[{k}]" for k in range(n))
        self._n_cols += n
        return idx

    def add_rows(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        lower: np.ndarray | float,
        upper: np.ndarray | float,
        *,
        n: int,
    ) -> np.ndarray:
        """Append ``n`` rows given in coordinate form (row ids local to the block, ``0..n-1``)."""
        rows = np.asarray(rows, dtype=np.int64)
        keep = np.asarray(vals) != 0.0
        lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy()
        hi = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy()
        self._rows.append(rows[keep] + self._n_rows)
        self._cols.append(np.asarray(cols, dtype=np.int64)[keep])
        self._vals.append(np.asarray(vals, dtype=np.float64)[keep])
        self._rlo.append(lo)
        self._rhi.append(hi)
        idx = np.arange(self._n_rows, self._n_rows + n)
        self._n_rows += n
        return idx

    def set_objective(self, coefs: dict[int, float], offset: float = 0.0, maximize: bool = False):
        self.c = dict(coefs)
        self.offset = float(offset)
        self.maximize = bool(maximize)

    def build(self) -> MatrixModel:
        def cat(parts: list[np.ndarray], dt: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dt)

        n, m = self._n_cols, self._n_rows
        A = sp.csr_matrix(
            (cat(self._vals, np.float64), (cat(self._rows, np.int64), cat(self._cols, np.int64))),
            shape=(m, n),
        )
        A.sum_duplicates()
        c = np.zeros(n)
        for j, v in self.c.items():
            c[j] += v
        return MatrixModel(
            col_lower=cat(self._lb, np.float64),
            col_upper=cat(self._ub, np.float64),
            integer=cat(self._int, bool),
            A=A,
            row_lower=cat(self._rlo, np.float64),
            row_upper=cat(self._rhi, np.float64),
            c=c,
            offset=self.offset,
            maximize=self.maximize,
            col_names=tuple(self._names),
        )

"""VNN-LIB properties as plain data: the unsafe set of a verification query.

A :class:`Property` on a network ``y = f(x)`` with ``n_inputs`` inputs and ``n_outputs`` outputs
is a union of :class:`Case` s; each case is an input box with a disjunction of output polytopes
(:class:`OutputConstraint`, ``C y <= d``)::

    U = union over cases c of  { (x, y) : x in box_c  and  OR_k  C_ck y <= d_ck }.

``sat`` means some ``x`` in the input set has ``(x, f(x))`` in ``U``. The arrays are float64 and
read-only; every constructor checks shapes and finiteness (:class:`InputError`). The reader of
``.vnnlib`` files that builds these is :mod:`surrogate.vnnlib.parser`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from surrogate.errors import InputError
from surrogate.sets import Box

__all__ = ["Case", "OutputConstraint", "Property"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _point(name: str, v: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise InputError(f"{name} has {arr.size} entries, expected {n}")
    return arr


@dataclass(frozen=True)
class OutputConstraint:
    """One conjunction of linear inequalities on the outputs: ``C @ y <= d``.

    ``C`` has shape ``(k, n_outputs)`` and ``d`` shape ``(k,)``; ``k = 0`` means "always holds"
    (the outputs are unsafe anywhere in the case's box)."""

    C: np.ndarray
    d: np.ndarray

    def __post_init__(self) -> None:
        c = np.array(self.C, dtype=np.float64, copy=True)
        d = np.array(self.d, dtype=np.float64, copy=True)
        if c.ndim != 2:
            raise InputError(f"C must be 2-D (k, n_outputs), got shape {c.shape}")
        if d.shape != (c.shape[0],):
            raise InputError(f"d has shape {d.shape}, expected ({c.shape[0]},) to match C {c.shape}")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(d))):
            raise InputError("output constraint C @ y <= d must have finite C and d (found NaN/inf)")
        object.__setattr__(self, "C", _readonly(c))
        object.__setattr__(self, "d", _readonly(d))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputConstraint):
            return NotImplemented
        return bool(np.array_equal(self.C, other.C) and np.array_equal(self.d, other.d))

    @property
    def n_outputs(self) -> int:
        return int(self.C.shape[1])

    def holds(self, y: ArrayLike, tol: float = 0.0) -> bool:
        """``all(C @ y <= d + tol)`` (true for ``k = 0``)."""
        yv = _point("y", y, self.n_outputs)
        return bool(np.all(self.C @ yv <= self.d + tol))


@dataclass(frozen=True)
class Case:
    """One input box with a disjunction of output conjunctions.

    The pair ``(x, y)`` is unsafe in this case when ``x`` lies in ``box`` and ANY of ``unsafe``
    holds at ``y``."""

    box: Box
    unsafe: tuple[OutputConstraint, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.box, Box):
            raise InputError(f"Case.box must be a surrogate.sets.Box, got {type(self.box).__name__}")
        object.__setattr__(self, "unsafe", tuple(self.unsafe))
        if not self.unsafe:
            raise InputError("a Case needs at least one OutputConstraint (use C of shape (0, n))")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Case):
            return NotImplemented
        return bool(
            np.array_equal(self.box.lower, other.box.lower)
            and np.array_equal(self.box.upper, other.box.upper)
            and self.unsafe == other.unsafe
        )

    def output_unsafe(self, y: ArrayLike, tol: float = 0.0) -> bool:
        """Whether ANY of this case's output conjunctions holds at ``y``."""
        return any(u.holds(y, tol) for u in self.unsafe)


@dataclass(frozen=True)
class Property:
    """A VNN-LIB property: the unsafe set is the union over ``cases``."""

    n_inputs: int
    n_outputs: int
    cases: tuple[Case, ...]
    path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cases", tuple(self.cases))
        if self.n_inputs < 1 or self.n_outputs < 1:
            raise InputError(
                f"a property needs at least one input and one output, got n_inputs="
                f"{self.n_inputs}, n_outputs={self.n_outputs}"
            )
        if not self.cases:
            raise InputError("a property needs at least one Case (its unsafe set is empty)")
        for k, case in enumerate(self.cases):
            if case.box.dim != self.n_inputs:
                raise InputError(
                    f"case {k}: the input box has {case.box.dim} entries, expected n_inputs="
                    f"{self.n_inputs}"
                )
            for u in case.unsafe:
                if u.n_outputs != self.n_outputs:
                    raise InputError(
                        f"case {k}: an output constraint has {u.n_outputs} columns, expected "
                        f"n_outputs={self.n_outputs}"
                    )

    def cases_containing(self, x: ArrayLike, tol: float = 1e-9) -> list[int]:
        """Indices of the cases whose box contains ``x`` (up to ``tol`` per entry)."""
        xv = _point("x", x, self.n_inputs)
        return [k for k, c in enumerate(self.cases) if c.box.contains(xv, tol)]

    def is_counterexample(self, x: ArrayLike, y: ArrayLike, tol: float = 1e-6) -> bool:
        """Whether ``(x, y)`` lies in the unsafe set: ``x`` in some case's box (up to ``tol``) and
        ``y`` meeting one of that case's output conjunctions (up to ``tol``).

        ``y`` should be the network's output at ``x`` (computed by the caller)."""
        yv = _point("y", y, self.n_outputs)
        return any(self.cases[k].output_unsafe(yv, tol) for k in self.cases_containing(x, tol))

"""The objective every search engine minimises: ``t(x) = min_k max_r (G_kr . f(x) - h_kr)``.

One form covers both tasks of the project:

* maximising output ``j`` is minimising ``-y_j`` (one piece, one row ``G = -e_j``); minimising it
  is ``G = e_j``;
* a verification problem's unsafe set ``OR_k (C_k y <= d_k)`` gives one piece per disjunct,
  ``G_k = C_k``, ``h_k = d_k``: ``t <= 0`` exactly when some disjunct holds.

Engines judge points on the **dense** network in float64 with :meth:`OutputObjective.values`;
:meth:`OutputObjective.to_problem_units` turns a value back into the problem's own objective
(the output value for maximisation, ``t`` for verification).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrogate.errors import InputError

__all__ = ["OutputObjective"]


@dataclass(frozen=True)
class OutputObjective:
    """``min_k max_r (G_k y - h_k)_r`` (see the module docstring); ``sign`` maps values back to
    the problem's units (``-1`` for a maximisation)."""

    pieces: tuple[tuple[np.ndarray, np.ndarray], ...]
    sign: float = 1.0

    def __post_init__(self) -> None:
        if not self.pieces:
            raise InputError("an objective needs at least one piece")
        fixed = []
        for G, h in self.pieces:
            G = np.atleast_2d(np.asarray(G, dtype=np.float64))
            h = np.asarray(h, dtype=np.float64).reshape(-1)
            if h.shape != (G.shape[0],):
                raise InputError(f"objective piece: G has {G.shape[0]} rows, h has {h.size}")
            fixed.append((G, h))
        object.__setattr__(self, "pieces", tuple(fixed))

    @classmethod
    def of_output(cls, n_outputs: int, output: int, *, maximize: bool = True) -> OutputObjective:
        g = np.zeros((1, n_outputs))
        g[0, output] = -1.0 if maximize else 1.0
        return cls(((g, np.zeros(1)),), sign=-1.0 if maximize else 1.0)

    @classmethod
    def of_problem(cls, problem: object) -> OutputObjective:
        """From a :class:`~surrogate.problems.MaximizationProblem` or a
        :class:`~surrogate.problems.VerificationProblem`."""
        unsafe = getattr(problem, "unsafe", None)
        if unsafe is not None:
            return cls(tuple((c.C, c.d) for c in unsafe))
        network = problem.network  # type: ignore[attr-defined]
        return cls.of_output(network.n_outputs, problem.output,  # type: ignore[attr-defined]
                             maximize=problem.maximize)  # type: ignore[attr-defined]

    @property
    def n_outputs(self) -> int:
        return int(self.pieces[0][0].shape[1])

    def piece_values(self, Y: np.ndarray) -> np.ndarray:
        """``(N, K)``: ``max_r (G_k y - h_k)_r`` for every point and piece."""
        Y = np.atleast_2d(Y)
        return np.stack([np.max(Y @ G.T - h, axis=1) for G, h in self.pieces], axis=1)

    def values(self, Y: np.ndarray) -> np.ndarray:
        """``t`` of every row of ``Y`` (outputs)."""
        return np.min(self.piece_values(Y), axis=1)

    def value(self, y: np.ndarray) -> float:
        return float(self.values(np.asarray(y)[None, :])[0])

    def to_problem_units(self, t: float) -> float:
        return float(self.sign * t)

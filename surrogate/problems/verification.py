r"""Verification: is there an input in the input set whose outputs lie in an unsafe set?

The unsafe set is a disjunction of conjunctions ``C_k y <= d_k`` (the VNN-LIB shape). The MILP is

.. math::  \min t \quad\text{s.t.}\quad t \ge C_{k,r} y - d_{k,r} - M_{k,r} (1 - s_k),\ \sum_k s_k = 1

so ``t* <= 0`` iff some disjunct holds: a run whose dual bound is ``> 0`` on the dense network
*proves* the property (``unsat``); an incumbent with ``t <= 0`` is a candidate counterexample, which
counts only once the dense network confirms it (:meth:`VerificationProblem.is_success`).

Robustness problems (:func:`robustness_problem`) take their label from the **dense** network at
``x0`` and, as in the paper, judge an input adversarial when the dense argmax is no longer the label,
whatever the MILP objective targets (the runner-up class, a given class, or any class).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from surrogate.encode.matrix import MatrixBuilder
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, InputSet, l1_ball, linf_ball

__all__ = ["Conjunction", "VerificationProblem", "robustness_problem"]


@dataclass(frozen=True)
class Conjunction:
    """``C @ y <= d`` (every row)."""

    C: np.ndarray
    d: np.ndarray

    def __post_init__(self) -> None:
        C = np.atleast_2d(np.asarray(self.C, dtype=np.float64))
        d = np.asarray(self.d, dtype=np.float64).reshape(-1)
        if d.shape != (C.shape[0],):
            raise InputError(f"unsafe conjunction: C has {C.shape[0]} rows but d has {d.size}")
        object.__setattr__(self, "C", C)
        object.__setattr__(self, "d", d)

    def violation(self, y: np.ndarray) -> float:
        """``max_r (C y - d)_r``: <= 0 exactly when the conjunction holds."""
        return float(np.max(self.C @ y - self.d))


@dataclass(frozen=True)
class VerificationProblem:
    network: Network
    input_set: InputSet
    unsafe: tuple[Conjunction, ...]
    label: int | None = None
    x0: np.ndarray | None = None
    judge: str = "unsafe"  # "unsafe": a disjunct holds; "argmax": dense argmax != label
    name: str = ""
    maximize: bool = False
    kind: str = "verification"
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.unsafe:
            raise InputError("a verification problem needs at least one unsafe conjunction")
        for conj in self.unsafe:
            if conj.C.shape[1] != self.network.n_outputs:
                raise InputError(
                    f"unsafe conjunction has {conj.C.shape[1]} columns, the network has "
                    f"{self.network.n_outputs} outputs"
                )
        if self.input_set.dim != self.network.n_inputs:
            raise InputError(
                f"input set has {self.input_set.dim} entries, the network takes {self.network.n_inputs}"
            )
        if self.judge not in ("unsafe", "argmax"):
            raise InputError(f"judge must be 'unsafe' or 'argmax', got {self.judge!r}")
        if self.judge == "argmax" and self.label is None:
            raise InputError("judge='argmax' needs the label")

    # ------------------------------------------------------------ MILP parts
    def add_objective(
        self, builder: MatrixBuilder, output_cols: np.ndarray, out_lower: np.ndarray, out_upper: np.ndarray
    ) -> object:
        # bounds of every row expression e = C y - d over the output box
        lo_rows, hi_rows = [], []
        for conj in self.unsafe:
            Cp, Cn = np.maximum(conj.C, 0), np.minimum(conj.C, 0)
            lo_rows.append(Cp @ out_lower + Cn @ out_upper - conj.d)
            hi_rows.append(Cp @ out_upper + Cn @ out_lower - conj.d)
        t_lo = min(float(np.max(lo)) for lo in lo_rows)
        t_hi = max(float(np.max(hi)) for hi in hi_rows)
        t_col = int(builder.add_columns(t_lo, t_hi, name="t")[0])
        k = len(self.unsafe)
        sel: np.ndarray | None = (
            builder.add_columns(0.0, 1.0, n=k, integer=True, name="s") if k > 1 else None
        )
        for i, conj in enumerate(self.unsafe):
            m = conj.C.shape[0]
            nz_r, nz_c = np.nonzero(conj.C)
            rows = [nz_r, np.arange(m)]
            cols = [output_cols[nz_c], np.full(m, t_col)]
            vals = [-conj.C[nz_r, nz_c], np.ones(m)]
            # t - C y >= -d - M (1 - s)   <=>   t - C y - M s >= -d - M
            big_m = np.maximum(hi_rows[i] - t_lo, 0.0)
            lo = -conj.d
            if sel is not None:
                rows.append(np.arange(m))
                cols.append(np.full(m, sel[i]))
                vals.append(-big_m)
                lo = -conj.d - big_m
            builder.add_rows(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
                             lo, np.inf, n=m)
        if sel is not None:
            builder.add_rows(np.zeros(k, dtype=np.int64), sel, np.ones(k), 1.0, 1.0, n=1)
        builder.set_objective({t_col: 1.0})
        return (t_col, sel)

    def fill_objective(self, handle: object, outputs: np.ndarray, out: np.ndarray) -> None:
        t_col: int = handle[0]  # type: ignore[index]
        sel: np.ndarray | None = handle[1]  # type: ignore[index]
        viol = [conj.violation(outputs) for conj in self.unsafe]
        best = int(np.argmin(viol))
        out[t_col] = viol[best]
        if sel is not None:
            out[sel] = 0.0
            out[sel[best]] = 1.0

    def objective_of_outputs(self, outputs: np.ndarray) -> float:
        return min(conj.violation(outputs) for conj in self.unsafe)

    def is_success(self, x: np.ndarray, y_dense: np.ndarray) -> bool:
        if not self.input_set.contains(x, tol=1e-9):
            return False
        if self.judge == "argmax":
            return int(np.argmax(y_dense)) != self.label
        return self.objective_of_outputs(y_dense) <= 0.0

    def proves(self, bound: float) -> bool:
        return bound is not None and bound > 0.0

    def describe(self) -> str:
        return self.name or f"verification ({len(self.unsafe)} unsafe disjuncts)"


def _pair(n_out: int, label: int, other: int) -> Conjunction:
    """``y_label - y_other <= 0``: class ``other`` scores at least as high as the label."""
    c = np.zeros((1, n_out))
    c[0, label], c[0, other] = 1.0, -1.0
    return Conjunction(c, np.zeros(1))


def robustness_problem(
    network: Network,
    x0: np.ndarray | Sequence[float],
    eps: float,
    *,
    norm: str = "linf",
    target: str | int = "top2",
    domain: Box | None = None,
    name: str = "",
) -> VerificationProblem:
    """Adversarial search around ``x0``: inputs within ``eps`` of ``x0`` (L-inf ball or L1 budget,
    intersected with ``domain``, default ``[0, 1]^n``), label = dense argmax at ``x0``.

    ``target``: ``"top2"`` (the dense runner-up class: the paper's setting), ``"any"`` (any other
    class) or a class index. Success is judged by the dense argmax changing.
    """
    x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
    if x0.size != network.n_inputs:
        raise InputError(f"x0 has {x0.size} entries, the network takes {network.n_inputs}")
    if not (isinstance(eps, int | float) and np.isfinite(eps) and eps >= 0):
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    if network.n_outputs < 2:
        raise InputError("a robustness problem needs a network with at least 2 outputs (classes)")
    domain = domain or Box(np.zeros(x0.size), np.ones(x0.size))
    if norm == "linf":
        input_set: InputSet = linf_ball(x0, eps, domain)
    elif norm == "l1":
        input_set = l1_ball(x0, eps, domain)
    else:
        raise InputError(f"norm must be 'linf' or 'l1', got {norm!r}")
    y0 = network.forward(x0)
    order = np.argsort(-y0, kind="stable")
    label = int(order[0])
    n_out = network.n_outputs
    if target == "top2":
        targets = [int(order[1])]
    elif target == "any":
        targets = [j for j in range(n_out) if j != label]
    elif isinstance(target, int | np.integer) and not isinstance(target, bool):
        if not 0 <= int(target) < n_out or int(target) == label:
            raise InputError(
                f"target class must be in [0, {n_out}) and differ from the label {label}, got {target}"
            )
        targets = [int(target)]
    else:
        raise InputError(f"target must be 'top2', 'any' or a class index, got {target!r}")
    return VerificationProblem(
        network=network,
        input_set=input_set,
        unsafe=tuple(_pair(n_out, label, j) for j in targets),
        label=label,
        x0=x0,
        judge="argmax",
        name=name or f"{norm} eps={eps:g} target={target}",
        meta={"eps": float(eps), "norm": norm, "target": target, "targets": targets},
    )

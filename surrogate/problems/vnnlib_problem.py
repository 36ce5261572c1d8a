"""VNN-LIB properties as verification problems: one :class:`VerificationProblem` per case.

A :class:`~surrogate.vnnlib.spec.Property` is the unsafe set

.. math::  U = \\bigcup_c \\{(x, y) : x \\in B_c,\\ \\bigvee_k C_{ck} y \\le d_{ck}\\}

(:mod:`surrogate.vnnlib.spec`). A counterexample exists iff it exists for some case ``c``, and
each case is exactly a :class:`VerificationProblem` over the box ``B_c`` whose unsafe disjuncts are
the conjunctions ``C_ck y <= d_ck``. So a property with several input boxes (ACAS Xu property 6)
is handled exactly by one MILP per box: ``sat`` if any case is sat, ``unsat`` only if every case is.

A conjunction with no rows (``k = 0``: "the outputs are unsafe wherever x is in the box") becomes
the always-true row ``0 . y <= 0``, so every point of its box is a counterexample.
"""

from __future__ import annotations

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.problems.verification import Conjunction, VerificationProblem
from surrogate.vnnlib.spec import OutputConstraint, Property

__all__ = ["conjunction_of", "problems_from_property"]


def conjunction_of(constraint: OutputConstraint) -> Conjunction:
    """``C y <= d`` as a :class:`Conjunction`; an empty constraint becomes ``0 . y <= 0``."""
    if constraint.C.shape[0] == 0:
        return Conjunction(np.zeros((1, constraint.n_outputs)), np.zeros(1))
    return Conjunction(np.array(constraint.C), np.array(constraint.d))


def problems_from_property(
    network: Network, prop: Property, *, name: str = ""
) -> list[VerificationProblem]:
    """One verification problem per case of ``prop`` (judge ``"unsafe"``), in the file's order.

    Raises :class:`InputError` when the property's sizes differ from the network's."""
    if prop.n_inputs != network.n_inputs or prop.n_outputs != network.n_outputs:
        where = f" ({prop.path})" if prop.path else ""
        raise InputError(
            f"the property{where} declares {prop.n_inputs} inputs and {prop.n_outputs} outputs, "
            f"the network takes {network.n_inputs} inputs and gives {network.n_outputs} outputs: "
            "check that the .vnnlib file belongs to this .onnx network"
        )
    base = name or (prop.path or "vnnlib")
    n = len(prop.cases)
    problems = []
    for k, case in enumerate(prop.cases):
        problems.append(
            VerificationProblem(
                network=network,
                input_set=case.box,
                unsafe=tuple(conjunction_of(u) for u in case.unsafe),
                judge="unsafe",
                name=f"{base} case {k + 1}/{n}" if n > 1 else base,
                meta={"case": k, "cases": n},
            )
        )
    return problems

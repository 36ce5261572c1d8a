"""The public embedding API: a (pruned) network as MILP constraints in any Pyomo model, via OMLT.

>>> import pyomo.environ as pyo
>>> from surrogate.encode import add_network
>>> m = pyo.ConcreteModel()
>>> m.nn = add_network(m, network, Box(lower, upper))        # an omlt.OmltBlock
>>> m.obj = pyo.Objective(expr=m.nn.outputs[3], sense=pyo.maximize)

``m.nn.inputs[i]`` and ``m.nn.outputs[k]`` are the network's flattened inputs and outputs; tie them
to your own variables with ordinary constraints. Two formulations:

* ``"sparse-bigm"`` (default): :class:`SparseBigMFormulation`, our OMLT formulation -- bounds from
  :mod:`surrogate.bounds` (symbolic by default), no binary for a stable neuron, no variable for a
  dead or unneeded neuron, no term for a zero weight, built from sparse matrices;
* ``"omlt-bigm"``: stock OMLT (``ReluBigMFormulation`` on an OMLT ``NetworkDefinition``, interval
  bounds, a binary and four constraints per neuron): the baseline the benchmarks compare against.

The input set is enforced inside the block (box bounds on ``inputs``; an L1 ball as linear
constraints), because the big-M constants are only valid on it.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np
import pyomo.environ as pyo
from omlt import OmltBlock
from omlt.formulation import _PyomoFormulation
from pyomo.core.expr.numeric_expr import LinearExpression

from surrogate.encode.inputs import add_input_set
from surrogate.encode.matrix import MatrixBuilder, MatrixModel
from surrogate.encode.network import NetworkEncoding, encode_network
from surrogate.encode.network import resolve_bounds as network_bounds
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, InputSet, L1Ball

__all__ = [
    "FORMULATIONS",
    "SparseBigMFormulation",
    "add_network",
    "network_bounds",
    "omlt_definition",
    "write_rows",
]

FORMULATIONS = ("sparse-bigm", "omlt-bigm")


def write_rows(block: pyo.Block, model: MatrixModel, col_vars: list[Any], name: str = "rows") -> None:
    """Add every row of ``model`` to ``block`` as a Pyomo constraint over ``col_vars``."""
    A = model.A
    indptr, indices, data = A.indptr, A.indices, A.data
    lo = [None if not np.isfinite(v) else float(v) for v in model.row_lower]
    hi = [None if not np.isfinite(v) else float(v) for v in model.row_upper]

    def rule(_b: Any, r: int) -> Any:
        s, e = indptr[r], indptr[r + 1]
        expr = LinearExpression(
            constant=0.0,
            linear_coefs=data[s:e].tolist(),
            linear_vars=[col_vars[j] for j in indices[s:e]],
        )
        if lo[r] is not None and lo[r] == hi[r]:
            return expr == lo[r]
        return (lo[r], expr, hi[r])

    block.add_component(name, pyo.Constraint(range(model.n_rows), rule=rule))


class SparseBigMFormulation(_PyomoFormulation):
    """OMLT formulation: pruning-aware big-M with tight bounds (see :mod:`surrogate.encode.network`)."""

    def __init__(self, network: Network, input_set: InputSet, bounds: Any = "symbolic"):
        super().__init__()
        _check_set(network, input_set)
        self.network = network
        self.input_set = input_set
        t0 = time.perf_counter()
        self.bounds = network_bounds(network, input_set, bounds)
        self.bounds_time_s = time.perf_counter() - t0
        self.encoding: NetworkEncoding | None = None
        self.matrix: MatrixModel | None = None
        self.build_time_s = 0.0

    @property
    def input_indexes(self) -> list[int]:
        return list(range(self.network.n_inputs))

    @property
    def output_indexes(self) -> list[int]:
        return list(range(self.network.n_outputs))

    def _build_formulation(self) -> None:
        # Pyomo creates several objects per term; the cyclic garbage collector would scan the
        # growing heap again and again (about 80 % of the build time on a 784-512-512-10 net).
        # Nothing built here is garbage, so collection is paused and restored afterwards.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build_rows()
        finally:
            if was_enabled:
                gc.enable()

    def _build_rows(self) -> None:
        t0 = time.perf_counter()
        blk = self.block
        builder = MatrixBuilder()
        cols = add_input_set(builder, self.input_set)
        enc = encode_network(builder, self.network, cols.x, self.bounds.lower, self.bounds.upper)
        model = builder.build()
        col_vars: list[Any] = [None] * model.n_cols
        for i, j in enumerate(cols.x):
            v = blk.inputs[i]
            v.setlb(float(model.col_lower[j]))
            v.setub(float(model.col_upper[j]))
            col_vars[j] = v
        for k, j in enumerate(enc.output_cols):
            v = blk.outputs[k]
            v.setlb(float(model.col_lower[j]))
            v.setub(float(model.col_upper[j]))
            col_vars[j] = v
        aux = np.array([j for j in range(model.n_cols) if col_vars[j] is None], dtype=np.int64)
        lb, ub, integer = model.col_lower, model.col_upper, model.integer
        names = model.col_names

        blk.aux_set = pyo.Set(initialize=range(aux.size), ordered=True)
        blk.aux = pyo.Var(
            blk.aux_set,
            within=lambda _b, k: pyo.Binary if integer[aux[k]] else pyo.Reals,
            bounds=lambda _b, k: (float(lb[aux[k]]), float(ub[aux[k]])),
        )
        blk.aux_names = {k: names[aux[k]] for k in range(aux.size)} if names else {}
        for k, j in enumerate(aux):
            col_vars[j] = blk.aux[k]
        write_rows(blk, model, col_vars, name="rows")
        self.encoding, self.matrix = enc, model
        self.build_time_s = time.perf_counter() - t0


def _check_set(network: Network, input_set: InputSet) -> None:
    if not isinstance(input_set, Box | L1Ball):
        raise InputError(
            "input_set must be a surrogate.sets.Box or L1Ball with finite bounds for every input, "
            f"got {type(input_set).__name__}"
        )
    if input_set.dim != network.n_inputs:
        raise InputError(
            f"the input set has {input_set.dim} entries, the network takes {network.n_inputs}"
        )


def omlt_definition(network: Network, box: Box):
    """Stock OMLT ``NetworkDefinition`` of ``network`` with input bounds ``box``."""
    from omlt.neuralnet import NetworkDefinition
    from omlt.neuralnet.layer import DenseLayer as OmltDense
    from omlt.neuralnet.layer import InputLayer

    bounds = {i: (float(lo), float(hi)) for i, (lo, hi) in enumerate(zip(box.lower, box.upper, strict=True))}
    net = NetworkDefinition(scaled_input_bounds=bounds)
    prev: Any = InputLayer([network.n_inputs])
    net.add_layer(prev)
    for layer in network.layers:
        dense = OmltDense(
            [layer.n_in],
            [layer.n_out],
            activation=layer.activation,
            weights=np.array(layer.weight.T),
            biases=np.array(layer.bias),
        )
        net.add_layer(dense)
        net.add_edge(prev, dense)
        prev = dense
    return net


def add_network(
    parent: pyo.Block,
    network: Network,
    input_set: InputSet,
    *,
    name: str = "nn",
    formulation: str = "sparse-bigm",
    bounds: Any = "symbolic",
) -> OmltBlock:
    """Add ``network`` to ``parent`` as an OMLT block named ``name`` and return the block.

    ``input_set`` (a :class:`~surrogate.sets.Box` or :class:`~surrogate.sets.L1Ball`) is where the
    inputs may lie; it is enforced in the block. ``bounds`` is ``"interval"``, ``"symbolic"``,
    ``"lp"`` or a precomputed :class:`surrogate.bounds.Bounds` (sparse-bigm only).
    """
    if formulation not in FORMULATIONS:
        raise InputError(f"unknown formulation {formulation!r}; choose one of {FORMULATIONS}")
    if not isinstance(network, Network):
        raise InputError(f"network must be a surrogate Network, got {type(network).__name__}")
    _check_set(network, input_set)
    if parent.component(name) is not None:
        raise InputError(f"the model already has a component named {name!r}; pass another name=")
    blk = OmltBlock()
    parent.add_component(name, blk)
    if formulation == "sparse-bigm":
        blk.build_formulation(SparseBigMFormulation(network, input_set, bounds))
    else:
        from omlt.neuralnet import ReluBigMFormulation

        blk.build_formulation(ReluBigMFormulation(omlt_definition(network, input_set.box)))
        if isinstance(input_set, L1Ball):
            _add_l1_pyomo(blk, input_set)
    return blk


def _add_l1_pyomo(blk: pyo.Block, ball: L1Ball) -> None:
    idx = list(range(ball.dim))
    c = ball.center
    blk.l1_abs = pyo.Var(idx, bounds=(0.0, None))
    blk.l1_pos = pyo.Constraint(idx, rule=lambda b, i: b.l1_abs[i] >= b.inputs[i] - float(c[i]))
    blk.l1_neg = pyo.Constraint(idx, rule=lambda b, i: b.l1_abs[i] >= float(c[i]) - b.inputs[i])
    blk.l1_budget = pyo.Constraint(expr=sum(blk.l1_abs[i] for i in idx) <= ball.eps)
    for i in idx:
        v = blk.inputs[i]
        v.setlb(float(ball.lower[i]))
        v.setub(float(ball.upper[i]))

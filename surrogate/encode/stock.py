"""Stock OMLT: the baseline the performance benchmark compares our encoding against (internal).

Not part of the public API (``surrogate.encode`` does not export it): :func:`add_stock_network`
builds what an OMLT user writes by hand -- an OMLT ``NetworkDefinition`` of the dense weights with
the input box as its input bounds, OMLT's interval bounds, and ``ReluBigMFormulation`` (a binary
and four constraints per neuron, a term per weight, zero or not) in an ``OmltBlock``. Only OMLT's
public names are used. An L1 ball is added on top with the same linearisation as ours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, InputSet, L1Ball

__all__ = ["add_stock_network", "omlt_definition"]


def omlt_definition(network: Network, box: Box) -> Any:
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


def add_stock_network(parent: pyo.Block, network: Network, input_set: InputSet, *, name: str = "nn") -> Any:
    """Add ``network`` to ``parent`` as stock OMLT (``ReluBigMFormulation``) in an ``OmltBlock``
    named ``name``; returns the block (``block.inputs[i]``, ``block.outputs[k]``)."""
    from omlt import OmltBlock
    from omlt.neuralnet import ReluBigMFormulation

    if not isinstance(input_set, Box | L1Ball):
        raise InputError(
            "input_set must be a surrogate.sets.Box or L1Ball with finite bounds for every input, "
            f"got {type(input_set).__name__}"
        )
    if input_set.dim != network.n_inputs:
        raise InputError(f"the input set has {input_set.dim} entries, the network takes {network.n_inputs}")
    if parent.component(name) is not None:
        raise InputError(f"the model already has a component named {name!r}; pass another name=")
    blk = OmltBlock()
    parent.add_component(name, blk)
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

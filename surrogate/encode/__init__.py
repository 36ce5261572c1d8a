"""Encodings of networks as MILP constraints: sparse matrices, and Pyomo/OMLT blocks (public API).

The Pyomo/OMLT part (``add_network``, ``SparseBigMFormulation``, ``omlt_definition``) is imported on
first use, so code that only builds matrix models does not pay for importing Pyomo.
"""

from typing import TYPE_CHECKING

from surrogate.encode.inputs import InputColumns, add_input_set
from surrogate.encode.matrix import MatrixBuilder, MatrixModel
from surrogate.encode.network import NetworkEncoding, encode_network, needed_neurons, resolve_bounds

__all__ = [
    "FORMULATIONS",
    "InputColumns",
    "MatrixBuilder",
    "MatrixModel",
    "NetworkEncoding",
    "SparseBigMFormulation",
    "add_input_set",
    "add_network",
    "encode_network",
    "needed_neurons",
    "omlt_definition",
    "resolve_bounds",
]

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use
    from surrogate.encode.pyomo_block import (
        FORMULATIONS,
        SparseBigMFormulation,
        add_network,
        omlt_definition,
    )

_PYOMO = {"FORMULATIONS", "SparseBigMFormulation", "add_network", "omlt_definition"}


def __getattr__(name: str) -> object:
    if name in _PYOMO:
        from surrogate.encode import pyomo_block

        return getattr(pyomo_block, name)
    raise AttributeError(f"module 'surrogate.encode' has no attribute {name!r}")

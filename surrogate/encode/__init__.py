"""Encodings of networks as MILP constraints: sparse matrices, and Pyomo/OMLT blocks (public API)."""

from surrogate.encode.inputs import InputColumns, add_input_set
from surrogate.encode.matrix import MatrixBuilder, MatrixModel
from surrogate.encode.network import NetworkEncoding, encode_network, needed_neurons
from surrogate.encode.pyomo_block import (
    FORMULATIONS,
    SparseBigMFormulation,
    add_network,
    omlt_definition,
)

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
]

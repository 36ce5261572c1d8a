"""VNN-LIB verification properties: reading ``.vnnlib`` files and writing counterexamples.

See :mod:`surrogate.vnnlib.parser` for the supported syntax and the data model, and
:mod:`surrogate.vnnlib.counterexample` for the VNN-COMP result format.
"""

from surrogate.vnnlib.counterexample import (
    format_counterexample,
    read_counterexample,
    write_counterexample,
)
from surrogate.vnnlib.parser import (
    MAX_DISJUNCTS,
    Case,
    OutputConstraint,
    Property,
    parse_vnnlib,
    read_vnnlib,
)

__all__ = [
    "MAX_DISJUNCTS",
    "Case",
    "OutputConstraint",
    "Property",
    "format_counterexample",
    "parse_vnnlib",
    "read_counterexample",
    "read_vnnlib",
    "write_counterexample",
]

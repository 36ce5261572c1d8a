"""VNN-LIB verification properties: reading ``.vnnlib`` files and writing counterexamples.

See :mod:`surrogate.vnnlib.spec` for the data model, :mod:`surrogate.vnnlib.parser` for the
supported syntax, and :mod:`surrogate.vnnlib.counterexample` for the VNN-COMP result format.
"""

from surrogate.vnnlib.counterexample import (
    format_counterexample,
    read_counterexample,
    write_counterexample,
)
from surrogate.vnnlib.parser import MAX_DISJUNCTS, parse_vnnlib, read_vnnlib
from surrogate.vnnlib.spec import Case, OutputConstraint, Property

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

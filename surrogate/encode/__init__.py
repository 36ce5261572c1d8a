"""Embedding a (pruned) network in your own Pyomo model: :func:`add_network` (public API).

``add_network`` returns a :class:`NetworkEmbedding` (the block, the input and output variables,
the encoding's size, ``get_error()``); see :mod:`surrogate.encode.pyomo_block`. It is imported on
first use, so code that only builds matrix models does not pay for importing Pyomo.

The internals are imported from their modules: :mod:`surrogate.encode.matrix` (``MatrixBuilder``,
``MatrixModel``), :mod:`surrogate.encode.network` (``encode_network``, ``NetworkEncoding``,
``needed_neurons``, ``resolve_bounds``), :mod:`surrogate.encode.inputs` (``add_input_set``,
``InputColumns``). :mod:`surrogate.encode.stock` (stock OMLT, the benchmark's baseline) is
internal.
"""

from typing import TYPE_CHECKING

__all__ = ["NetworkEmbedding", "STATS_KEYS", "add_network"]

if TYPE_CHECKING:  # the real names for type checkers; at run time they load on first use
    from surrogate.encode.pyomo_block import STATS_KEYS, NetworkEmbedding, add_network


def __getattr__(name: str) -> object:
    if name in __all__:
        from surrogate.encode import pyomo_block

        return getattr(pyomo_block, name)
    raise AttributeError(f"module 'surrogate.encode' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

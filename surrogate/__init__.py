"""surrogate: optimization over trained (and pruned) ReLU networks.

What a user needs, from one place (loaded on first use: ``import surrogate`` imports neither
torch, Pyomo, OMLT nor onnxruntime):

* networks: :class:`Network`, :class:`DenseLayer`, :func:`read_onnx`, :func:`write_onnx`;
* input sets: :class:`Box`, :class:`L1Ball`, :func:`linf_ball`, :func:`l1_ball`;
* embedding in your Pyomo model: :func:`add_network` -> :class:`NetworkEmbedding`;
* pruning: ``surrogate.prune`` (the subpackage: ``prune.apply``, ``prune.available``), and the
  same two as :func:`prune_network` and :func:`pruning_methods`;
* problems and runs: :func:`robustness_problem`, :class:`MaximizationProblem`,
  :func:`run_milp`, :func:`compare`, :func:`verify_instance`;
* errors: :class:`SurrogateError` and its subclasses.

(The pruning function is not called ``surrogate.prune``: that name is the subpackage, and Python
binds a subpackage to its parent's attribute once it is imported, which would hide a function.)
"""

from typing import TYPE_CHECKING

from surrogate.errors import (
    InputError,
    ModelFileError,
    ParseError,
    SolverError,
    SurrogateError,
    UnsupportedModelError,
)

__version__ = "0.1.0"

# public name -> (module, attribute in it); loaded by __getattr__ on first use
_LAZY = {
    "Network": ("surrogate.network.spec", "Network"),
    "DenseLayer": ("surrogate.network.spec", "DenseLayer"),
    "read_onnx": ("surrogate.network.onnx_io", "read_onnx"),
    "write_onnx": ("surrogate.network.onnx_io", "write_onnx"),
    "Box": ("surrogate.sets", "Box"),
    "L1Ball": ("surrogate.sets", "L1Ball"),
    "linf_ball": ("surrogate.sets", "linf_ball"),
    "l1_ball": ("surrogate.sets", "l1_ball"),
    "add_network": ("surrogate.encode.pyomo_block", "add_network"),
    "NetworkEmbedding": ("surrogate.encode.pyomo_block", "NetworkEmbedding"),
    "prune_network": ("surrogate.prune.registry", "apply"),
    "pruning_methods": ("surrogate.prune.registry", "available"),
    "robustness_problem": ("surrogate.problems.verification", "robustness_problem"),
    "MaximizationProblem": ("surrogate.problems.maximize", "MaximizationProblem"),
    "run_milp": ("surrogate.app.run", "run_milp"),
    "compare": ("surrogate.app.compare", "compare"),
    "verify_instance": ("surrogate.app.verify", "verify_instance"),
}

__all__ = [
    "Box",
    "DenseLayer",
    "InputError",
    "L1Ball",
    "MaximizationProblem",
    "ModelFileError",
    "Network",
    "NetworkEmbedding",
    "ParseError",
    "SolverError",
    "SurrogateError",
    "UnsupportedModelError",
    "__version__",
    "add_network",
    "compare",
    "l1_ball",
    "linf_ball",
    "prune_network",
    "prune",
    "pruning_methods",
    "read_onnx",
    "robustness_problem",
    "run_milp",
    "verify_instance",
    "write_onnx",
]

if TYPE_CHECKING:  # the real names for type checkers
    from surrogate import prune
    from surrogate.app.compare import compare
    from surrogate.app.run import run_milp
    from surrogate.app.verify import verify_instance
    from surrogate.encode.pyomo_block import NetworkEmbedding, add_network
    from surrogate.network.onnx_io import read_onnx, write_onnx
    from surrogate.network.spec import DenseLayer, Network
    from surrogate.problems.maximize import MaximizationProblem
    from surrogate.problems.verification import robustness_problem
    from surrogate.prune.registry import apply as prune_network
    from surrogate.prune.registry import available as pruning_methods
    from surrogate.sets import Box, L1Ball, l1_ball, linf_ball


# subpackages reachable as attributes after a bare ``import surrogate`` (``surrogate.prune.apply``)
_SUBPACKAGES = ("app", "bounds", "encode", "network", "problems", "prune", "search", "sets", "solve")


def __getattr__(name: str) -> object:
    import importlib

    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"surrogate.{name}")
    raise AttributeError(f"module 'surrogate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""surrogate: optimization over trained (and pruned) ReLU networks."""

from surrogate.errors import (
    InputError,
    ModelFileError,
    ParseError,
    SolverError,
    SurrogateError,
    UnsupportedModelError,
)
from surrogate.network.spec import DenseLayer, Network

__version__ = "0.1.0"

__all__ = [
    "DenseLayer",
    "InputError",
    "ModelFileError",
    "Network",
    "ParseError",
    "SolverError",
    "SurrogateError",
    "UnsupportedModelError",
    "__version__",
]

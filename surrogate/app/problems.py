"""The problems the commands, sweeps and benchmarks pose, built in one place.

* :func:`digits_robustness`: the paper's Task 1 on the built-in data: an L1 (or L-inf) budget
  around a digits test image, the label and the target taken from the dense network;
* :func:`box_maximization`: the paper's Task 2: the extreme of one output over a box.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from surrogate.data import load_digits
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.problems.verification import VerificationProblem
from surrogate.sets import Box

__all__ = ["box_maximization", "digits", "digits_robustness"]


@lru_cache(maxsize=1)
def digits() -> Any:
    """scikit-learn's 8x8 digits, split as the shipped models were trained (cached)."""
    return load_digits()


def digits_robustness(
    network: Network, image: int, eps: float, *, norm: str = "l1", target: str | int = "top2",
    name: str = "",
) -> VerificationProblem:
    """Adversarial search around digits test image ``image`` (inputs in ``[0, 1]``)."""
    data = digits()
    if network.n_inputs != data.n_features:
        raise InputError(
            f"{network.name or 'the network'} takes {network.n_inputs} inputs; digits images have "
            f"{data.n_features} (robustness problems on the digits data need 64-input networks)"
        )
    if not 0 <= int(image) < len(data.y_test):
        raise InputError(
            f"image {image} out of range: the digits test split has {len(data.y_test)} images"
        )
    return robustness_problem(network, data.x_test[int(image)], float(eps), norm=norm,
                              target=target, name=name)


def box_maximization(
    network: Network, output: int = 0, *, lower: float | np.ndarray = 0.0,
    upper: float | np.ndarray = 1.0, minimize: bool = False, name: str = "",
) -> MaximizationProblem:
    """``max`` (or ``min``) of output ``output`` over the box ``[lower, upper]^n``."""
    n = network.n_inputs
    box = Box(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)),
              np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)))
    return MaximizationProblem(network, box, output=int(output), maximize=not minimize, name=name)

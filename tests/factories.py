"""Networks built from a seed, shared by the tests of every layer (``from factories import ...``).

Plain functions rather than fixtures: tests call them at module level, inside parametrised
fixtures and from their own helpers. ``tests/conftest.py`` puts this folder on ``sys.path``.
For a PyTorch-initialised MLP (the paper's random networks) use the library's
:func:`surrogate.bench.networks.random_mlp`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from surrogate.network.spec import DenseLayer, Network

__all__ = ["random_net", "tiny_net"]


def random_net(
    widths: Sequence[int],
    seed: int | np.random.Generator = 0,
    *,
    weight_scale: float | None = None,
    bias_scale: float = 0.3,
    linear_hidden: int | None = None,
    last: str = "linear",
    float32: bool = False,
    input_shape: tuple[int, ...] = (),
    name: str = "random_net",
) -> Network:
    """A ReLU MLP with layer widths ``widths`` (input to output), Gaussian weights and biases.

    Each layer draws its weight ``(n_out, n_in)`` and then its bias from ``seed`` (an int, or a
    ``numpy`` generator whose stream is continued): weights ``N(0, 1/n_in)`` (or ``N(0,
    weight_scale^2)``), biases ``N(0, bias_scale^2)``. Hidden layers are ReLU except layer
    ``linear_hidden``; the last layer's activation is ``last``. ``float32`` rounds the parameters
    to float32 values (so an ONNX file, which stores float32, holds exactly this network).
    """
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = rng.normal(size=(n_out, n_in))
        w = w / np.sqrt(n_in) if weight_scale is None else w * weight_scale
        b = bias_scale * rng.normal(size=n_out)
        if float32:
            w, b = w.astype(np.float32), b.astype(np.float32)
        act = last if i == len(widths) - 2 else "linear" if i == linear_hidden else "relu"
        layers.append(DenseLayer(w, b, act))  # type: ignore[arg-type]
    return Network(tuple(layers), input_shape=input_shape, name=name)


def tiny_net() -> Network:
    """2 inputs -> 3 ReLUs -> 1 linear output, with each kind of neuron on ``[0, 1]^2``.

    ``h0 = relu(x0 + x1 - 0.5)`` unstable; ``h1 = relu(x0 + 1)`` stably active;
    ``h2 = relu(-x0 - 1)`` stably inactive; ``y = h0 + 2 h1 + 3 h2`` (the x1 weight of h1 is 0).
    """
    w1 = np.array([[1.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    b1 = np.array([-0.5, 1.0, -1.0])
    w2 = np.array([[1.0, 2.0, 3.0]])
    return Network((DenseLayer(w1, b1, "relu"), DenseLayer(w2, np.zeros(1), "linear")))

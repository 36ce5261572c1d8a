"""How each ONNX op on the input chain changes the reader's pending affine map.

The reader (:mod:`surrogate.network.onnx_read`) walks the graph and hands every node on the chain
from the input to the output to the handler registered here for its op type. A handler sees the
walk through :class:`Walk` and either reshapes the tracked tensor (``Flatten``, ``Reshape``,
``Squeeze``, ``Unsqueeze``, ``Identity``, ``Transpose``), folds an elementwise affine map into the
pending :class:`Affine` (``Add``/``Sub``/``Mul``/``Div`` by a constant, ``BatchNormalization``),
composes a weight into it (``Gemm``, ``MatMul``) or closes it as a layer (``Relu``). The algebra of
the pending map is described in :mod:`surrogate.network.onnx_read`.

To support one more op: write ``@_handles("Op") def _op(walk, node, label)`` below; it joins
:data:`SUPPORTED_OPS` and the reader's error messages by itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnx
from onnx import helper

from surrogate.errors import ModelFileError, UnsupportedModelError
from surrogate.network.spec import Activation, DenseLayer

__all__ = ["HANDLERS", "SUPPORTED_OPS", "Affine", "Handler", "Walk", "int_attr", "product"]


# ======================================================================= the pending affine map
@dataclass(frozen=True)
class Affine:
    """Pending map ``t = scale * (matrix @ h) + shift`` from the last layer's output ``h``.

    ``matrix`` is ``None`` for the identity; ``has_weights`` tells whether a Gemm/MatMul is in it.
    """

    matrix: np.ndarray | None
    scale: np.ndarray
    shift: np.ndarray
    has_weights: bool = False

    @classmethod
    def identity(cls, n: int) -> Affine:
        return cls(None, np.ones(n), np.zeros(n))

    @property
    def is_identity(self) -> bool:
        return self.matrix is None and bool(np.all(self.scale == 1.0)) and not np.any(self.shift)

    def times_plus(self, factor: np.ndarray, offset: np.ndarray) -> Affine:
        """``t -> factor * t + offset`` (elementwise, flattened)."""
        return Affine(
            self.matrix, self.scale * factor, self.shift * factor + offset, self.has_weights
        )

    def divided(self, divisor: np.ndarray) -> Affine:
        """``t -> t / divisor`` (divides instead of multiplying by a rounded reciprocal)."""
        return Affine(self.matrix, self.scale / divisor, self.shift / divisor, self.has_weights)

    def permuted(self, index: np.ndarray) -> Affine:
        """``t -> t[index]`` (a Transpose that really moves entries)."""
        base = np.eye(self.scale.size) if self.matrix is None else self.matrix
        return Affine(base[index], self.scale[index], self.shift[index], self.has_weights)

    def then_linear(self, weight: np.ndarray, bias: np.ndarray) -> Affine:
        """``t -> weight @ t + bias`` with ``weight`` of shape ``(n, len(t))``."""
        combined = weight * self.scale
        if self.matrix is not None:
            combined = combined @ self.matrix
        return Affine(combined, np.ones(weight.shape[0]), weight @ self.shift + bias, True)

    def dense_weight(self) -> np.ndarray:
        return np.diag(self.scale) if self.matrix is None else self.scale[:, None] * self.matrix


def product(shape: Iterable[int]) -> int:
    """The number of entries of a tensor of this shape (1 for a scalar)."""
    return math.prod(int(s) for s in shape)


# ======================================================================= the walk, as handlers see it
class Walk(Protocol):
    """What a handler reads and changes of the reader's graph walk (:mod:`surrogate.network.onnx_read`)."""

    constants: dict[str, np.ndarray]  # values known without the input (initializers, folded nodes)
    current: str  # name of the tracked tensor (the handler's node reads it)
    shape: tuple[int, ...]  # its shape; a handler sets the shape of its output
    pending: Affine  # the map from the last layer's output to the tracked tensor, flattened
    layers: list[DenseLayer]  # layers closed so far

    def unsupported(self, message: str) -> UnsupportedModelError: ...

    def invalid(self, message: str) -> ModelFileError: ...

    def constant(self, name: str) -> np.ndarray: ...

    def close_layer(self, activation: Activation) -> None: ...

    def apply_linear(
        self, weight: np.ndarray, bias: np.ndarray, out_shape: tuple[int, ...]
    ) -> None: ...

    def broadcast_constant(
        self, node: onnx.NodeProto, label: str, value: np.ndarray
    ) -> np.ndarray: ...


Handler = Callable[[Walk, onnx.NodeProto, str], None]
HANDLERS: dict[str, Handler] = {}
"""Op type -> the handler that reads a node of that type on the input chain."""


def _handles(*ops: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = func
        return func

    return register


# ======================================================================= node attributes
def int_attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(helper.get_attribute_value(attr))
    return default


def _float_attr(node: onnx.NodeProto, name: str, default: float) -> float:
    for attr in node.attribute:
        if attr.name == name:
            return float(helper.get_attribute_value(attr))
    return default


def _ints_attr(node: onnx.NodeProto, name: str) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == name:
            return [int(v) for v in helper.get_attribute_value(attr)]
    return None


# ======================================================================= op handlers
@_handles("Relu")
def _relu(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    if walk.pending.is_identity and walk.layers:
        return  # a second Relu on a layer's output: that layer already ends in a ReLU
    walk.close_layer("relu")


@_handles("Identity")
def _identity(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    """Nothing changes."""


@_handles("Flatten")
def _flatten(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    rank = len(walk.shape)
    axis = int_attr(node, "axis", 1)
    if not -rank <= axis <= rank:
        raise walk.invalid(f"node {label} (Flatten): axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    walk.shape = (product(walk.shape[:axis]), product(walk.shape[axis:]))


@_handles("Reshape")
def _reshape(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    if len(node.input) < 2 or node.input[1] not in walk.constants:
        raise walk.unsupported(f"node {label} (Reshape): the target shape must be a constant")
    target = [int(s) for s in np.asarray(walk.constants[node.input[1]]).reshape(-1)]
    allow_zero = int_attr(node, "allowzero", 0)
    sizes: list[int] = []
    for axis, size in enumerate(target):
        if size == 0 and not allow_zero:
            if axis >= len(walk.shape):
                raise walk.invalid(f"node {label} (Reshape): 0 at axis {axis} copies no input axis")
            size = walk.shape[axis]
        sizes.append(size)
    total = product(walk.shape)
    if sizes.count(-1) == 1:
        known = product(s for s in sizes if s != -1)
        if known == 0 or total % known:
            raise walk.invalid(
                f"node {label} (Reshape): cannot reshape {walk.shape} to {tuple(target)}"
            )
        sizes[sizes.index(-1)] = total // known
    if sizes.count(-1) > 1 or any(s < 0 for s in sizes) or product(sizes) != total:
        raise walk.invalid(
            f"node {label} (Reshape): cannot reshape {walk.shape} to {tuple(target)}"
        )
    walk.shape = tuple(sizes)


def _axes(walk: Walk, node: onnx.NodeProto, label: str) -> list[int] | None:
    """Axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional input since."""
    axes = _ints_attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        if node.input[1] not in walk.constants:
            raise walk.unsupported(f"node {label} ({node.op_type}): the axes must be a constant")
        axes = [int(a) for a in np.asarray(walk.constants[node.input[1]]).reshape(-1)]
    return axes


@_handles("Squeeze")
def _squeeze(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    rank = len(walk.shape)
    axes = _axes(walk, node, label)
    if axes is None:
        walk.shape = tuple(s for s in walk.shape if s != 1)
        return
    normal = {a + rank if a < 0 else a for a in axes}
    if any(not 0 <= a < rank or walk.shape[a] != 1 for a in normal):
        raise walk.invalid(
            f"node {label} (Squeeze): axes {axes} are not size-1 axes of shape {walk.shape}"
        )
    walk.shape = tuple(s for a, s in enumerate(walk.shape) if a not in normal)


@_handles("Unsqueeze")
def _unsqueeze(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    axes = _axes(walk, node, label)
    rank = len(walk.shape) + len(axes or [])
    normal = {a + rank if a < 0 else a for a in axes or []}
    if not axes or len(normal) != len(axes) or any(not 0 <= a < rank for a in normal):
        raise walk.invalid(f"node {label} (Unsqueeze): invalid axes {axes} for shape {walk.shape}")
    sizes = iter(walk.shape)
    walk.shape = tuple(1 if a in normal else next(sizes) for a in range(rank))


@_handles("Transpose")
def _transpose(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    rank = len(walk.shape)
    perm = _ints_attr(node, "perm") or list(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise walk.invalid(
            f"node {label} (Transpose): perm {perm} is not a permutation of {rank} axes"
        )
    index = np.arange(product(walk.shape)).reshape(walk.shape).transpose(perm).reshape(-1)
    if np.any(index != np.arange(index.size)):
        walk.pending = walk.pending.permuted(index)
    walk.shape = tuple(walk.shape[p] for p in perm)


@_handles("Add", "Sub", "Mul", "Div")
def _arithmetic(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    left, right = node.input[0], node.input[1]
    if left not in walk.constants and right not in walk.constants:
        raise walk.unsupported(
            f"node {label} ({node.op_type}) combines two tensors computed from the input; only "
            "arithmetic with constants is supported"
        )
    tensor_first = right in walk.constants
    value = walk.broadcast_constant(node, label, walk.constant(right if tensor_first else left))
    op = node.op_type
    if op == "Add":
        walk.pending = walk.pending.times_plus(np.ones_like(value), value)
    elif op == "Mul":
        walk.pending = walk.pending.times_plus(value, np.zeros_like(value))
    elif op == "Sub" and tensor_first:
        walk.pending = walk.pending.times_plus(np.ones_like(value), -value)
    elif op == "Sub":
        walk.pending = walk.pending.times_plus(-np.ones_like(value), value)
    elif not tensor_first:
        raise walk.unsupported(
            f"node {label} (Div) divides a constant by the tensor, which is not affine"
        )
    elif np.any(value == 0):
        raise walk.unsupported(f"node {label} (Div) divides by a constant with zero entries")
    else:
        walk.pending = walk.pending.divided(value)


@_handles("BatchNormalization")
def _batch_norm(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    """Inference-mode ``y = scale (x - mean) / sqrt(var + eps) + B`` per channel (axis 1)."""
    if int_attr(node, "training_mode", 0):
        raise walk.unsupported(f"node {label} (BatchNormalization) is in training mode")
    names = list(node.input[1:5])
    if len(names) != 4 or any(n not in walk.constants for n in names):
        raise walk.unsupported(
            f"node {label} (BatchNormalization): scale, bias, mean and variance must be constants"
        )
    scale, bias, mean, var = (walk.constant(n).reshape(-1) for n in names)
    if len(walk.shape) < 2 or not scale.size == bias.size == mean.size == var.size == walk.shape[1]:
        raise walk.invalid(
            f"node {label} (BatchNormalization): {scale.size} channels do not match the tensor "
            f"of shape {walk.shape} (channels on axis 1)"
        )
    factor = scale / np.sqrt(var + _float_attr(node, "epsilon", 1e-5))
    offset = bias - mean * factor
    channel_shape = (walk.shape[1],) + (1,) * (len(walk.shape) - 2)
    factor_flat = walk.broadcast_constant(node, label, factor.reshape(channel_shape))
    offset_flat = walk.broadcast_constant(node, label, offset.reshape(channel_shape))
    walk.pending = walk.pending.times_plus(factor_flat, offset_flat)


@_handles("Gemm")
def _gemm(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    """``Y = alpha * A' B' + beta * C`` with A the tracked tensor (one row) and B, C constants."""
    a_name, b_name = node.input[0], node.input[1]
    if a_name != walk.current or b_name not in walk.constants:
        raise walk.unsupported(
            f"node {label} (Gemm) must take the tensor as A and a constant weight as B "
            "(non-constant weights are not supported)"
        )
    if len(walk.shape) != 2:
        raise walk.invalid(f"node {label} (Gemm): A has shape {walk.shape}, expected 2-D")
    rows, k = walk.shape[::-1] if int_attr(node, "transA", 0) else walk.shape
    if rows != 1:
        raise walk.unsupported(
            f"node {label} (Gemm): A holds {rows} rows; only a single sample (one row) is supported"
        )
    b = walk.constant(b_name)
    if b.ndim != 2:
        raise walk.invalid(f"node {label} (Gemm): B has shape {b.shape}, expected 2-D")
    b = b.T if int_attr(node, "transB", 0) else b
    if b.shape[0] != k:
        raise walk.invalid(
            f"node {label} (Gemm): A has {k} columns but B' has shape {b.shape} "
            f"(transB={int_attr(node, 'transB', 0)})"
        )
    n = b.shape[1]
    bias = np.zeros(n)
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in walk.constants:
            raise walk.unsupported(f"node {label} (Gemm): the bias C must be a constant")
        c = walk.constant(node.input[2])
        try:
            bias = _float_attr(node, "beta", 1.0) * np.broadcast_to(c, (1, n)).reshape(-1)
        except ValueError as exc:
            raise walk.invalid(
                f"node {label} (Gemm): C of shape {c.shape} does not broadcast to (1, {n})"
            ) from exc
    walk.apply_linear(_float_attr(node, "alpha", 1.0) * b.T, bias, (1, n))


@_handles("MatMul")
def _matmul(walk: Walk, node: onnx.NodeProto, label: str) -> None:
    """``x @ W`` or ``W @ x`` (numpy rules), constant 1-D/2-D ``W``, single-sample ``x``."""
    left, right = node.input[0], node.input[1]
    if left not in walk.constants and right not in walk.constants:
        raise walk.unsupported(
            f"node {label} (MatMul) multiplies two tensors computed from the input; only constant "
            "weights are supported"
        )
    tensor_first = right in walk.constants
    w = walk.constant(right if tensor_first else left)
    if w.ndim not in (1, 2):
        raise walk.unsupported(
            f"node {label} (MatMul): batched weight of shape {w.shape}; only 1-D/2-D weights"
        )
    x = walk.shape
    if not x:
        raise walk.invalid(f"node {label} (MatMul): the tensor is a scalar")
    if tensor_first:
        weight, out_shape, k, rows = _matmul_right_weight(w, x)
    else:
        weight, out_shape, k, rows = _matmul_left_weight(w, x)
    if k != weight.shape[1]:
        raise walk.invalid(
            f"node {label} (MatMul): tensor of shape {x} does not match weight of shape {w.shape}"
        )
    if rows != 1:
        raise walk.unsupported(
            f"node {label} (MatMul) applies the weight to {rows} rows/columns of a tensor of "
            f"shape {x}; only a single sample is supported"
        )
    walk.apply_linear(weight, np.zeros(weight.shape[0]), out_shape)


def _matmul_right_weight(
    w: np.ndarray, x: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...], int, int]:
    """``x @ w`` with x of shape ``(..., k)``.

    Returns the weight ``T`` (n, k) with ``y = T x``, the output shape, the contracted size of x
    and how many rows x holds besides (must be 1).
    """
    n_out = () if w.ndim == 1 else (w.shape[1],)
    weight = w[None, :] if w.ndim == 1 else w.T
    return weight, x[:-1] + n_out, x[-1], product(x[:-1])


def _matmul_left_weight(
    w: np.ndarray, x: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...], int, int]:
    """``w @ x``, x of shape ``(k,)`` or ``(..., k, p)``; returns like `_matmul_right_weight`."""
    n_out = () if w.ndim == 1 else (w.shape[0],)
    weight = w[None, :] if w.ndim == 1 else w
    if len(x) == 1:
        return weight, n_out, x[0], 1
    return weight, x[:-2] + n_out + (x[-1],), x[-2], product(x[:-2]) * x[-1]


SUPPORTED_OPS: tuple[str, ...] = tuple(sorted({*HANDLERS, "Constant", "Shape"}))
"""Op types the reader follows on the input chain (any op is fine on constants only)."""

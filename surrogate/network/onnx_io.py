"""ONNX reader and writer for feed-forward ReLU networks, and onnxruntime evaluation.

Reading (:func:`read_onnx`)
    The graph is walked from its single input to its single output. Every node on the way must be
    an affine map of the tracked tensor (``Gemm``, ``MatMul``, ``Add``/``Sub``/``Mul``/``Div`` by a
    constant, ``BatchNormalization``), a ``Relu``, or a reshuffle of its entries (``Flatten``,
    ``Reshape``, ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Transpose``). Side computations on
    constants only (``Constant``, ``Shape`` of a tracked tensor and whatever is computed from
    those, e.g. the ``Shape -> Gather -> Concat`` target of a PyTorch ``x.view(x.size(0), -1)``)
    are evaluated once with the ONNX reference implementation.

    Between two ReLUs the walk keeps one pending affine map from the last layer's output ``h``
    (or the flattened input) to the flattened tracked tensor ``t`` (C order)::

        t = s * (M h) + c        (M = identity until a Gemm/MatMul or Transpose is met)

    An elementwise ``t -> a * t + d`` sets ``s <- a * s`` and ``c <- a * c + d``; a
    ``Gemm``/``MatMul`` with weight ``T`` (n x k) and bias ``b`` sets ``M <- (T diag(s)) M``,
    ``s <- 1``, ``c <- T c + b``. So input normalisation ``(x - mean) / std`` before the first
    layer becomes ``W' = W diag(1/std)``, ``b' = b - W (mean/std)``: exact up to float64 rounding.
    A ``Relu`` closes the pending map as a :class:`DenseLayer` with ``"relu"`` activation; what is
    pending at the output becomes a ``"linear"`` layer (a ``Relu`` on the output makes the last
    layer ``"relu"``). Two Gemm/MatMul without a ReLU between them stay two layers (the first one
    ``"linear"``).

Writing (:func:`write_onnx`)
    Input ``"input"`` of shape ``network.input_shape`` (float32), a ``Reshape`` to ``(1, n_in)``
    when that shape differs, then ``Gemm(transB=1)`` (+ ``Relu``) per layer, output ``"output"``
    of shape ``(1, n_out)``. Weights are stored as float32, so writing rounds them to float32
    (zeros stay exact zeros). ``network.metadata`` goes to ``metadata_props`` as JSON strings.

Evaluating (:func:`onnxruntime_forward`)
    Runs the file itself with onnxruntime, as VNN-COMP does to confirm a counterexample.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

from surrogate.errors import InputError, ModelFileError, UnsupportedModelError
from surrogate.network.spec import Activation, DenseLayer, Network

__all__ = [
    "SUPPORTED_OPS",
    "network_from_onnx",
    "network_to_onnx",
    "network_to_onnx_bytes",
    "onnxruntime_forward",
    "read_onnx",
    "write_onnx",
]

# Graph names that exporters write by default; the file stem names such a network better.
_GENERIC_GRAPH_NAMES = frozenset(
    {
        "",
        "torch-jit-export",
        "torch_jit",
        "main_graph",
        "tf2onnx",
        "Network",
        "network",
        "graph",
        "nnet2onnx_Model",
        "OnnxRelu",
    }
)
_FLOAT_TYPES = frozenset(
    {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
)
_REEXPORT = "the file is inconsistent: re-export the network"
_DAMAGED = "the file is damaged, truncated or not ONNX: copy it again whole or re-export it"
_MIN_WRITE_OPSET = 7  # Gemm with numpy broadcasting of C (no `broadcast` attribute)


# ======================================================================= reading: affine algebra
@dataclass(frozen=True)
class _Affine:
    """Pending map ``t = scale * (matrix @ h) + shift`` from the last layer's output ``h``.

    ``matrix`` is ``None`` for the identity; ``has_weights`` tells whether a Gemm/MatMul is in it.
    """

    matrix: np.ndarray | None
    scale: np.ndarray
    shift: np.ndarray
    has_weights: bool = False

    @classmethod
    def identity(cls, n: int) -> _Affine:
        return cls(None, np.ones(n), np.zeros(n))

    @property
    def is_identity(self) -> bool:
        return self.matrix is None and bool(np.all(self.scale == 1.0)) and not np.any(self.shift)

    def times_plus(self, factor: np.ndarray, offset: np.ndarray) -> _Affine:
        """``t -> factor * t + offset`` (elementwise, flattened)."""
        return _Affine(
            self.matrix, self.scale * factor, self.shift * factor + offset, self.has_weights
        )

    def divided(self, divisor: np.ndarray) -> _Affine:
        """``t -> t / divisor`` (divides instead of multiplying by a rounded reciprocal)."""
        return _Affine(self.matrix, self.scale / divisor, self.shift / divisor, self.has_weights)

    def permuted(self, index: np.ndarray) -> _Affine:
        """``t -> t[index]`` (a Transpose that really moves entries)."""
        base = np.eye(self.scale.size) if self.matrix is None else self.matrix
        return _Affine(base[index], self.scale[index], self.shift[index], self.has_weights)

    def then_linear(self, weight: np.ndarray, bias: np.ndarray) -> _Affine:
        """``t -> weight @ t + bias`` with ``weight`` of shape ``(n, len(t))``."""
        combined = weight * self.scale
        if self.matrix is not None:
            combined = combined @ self.matrix
        return _Affine(combined, np.ones(weight.shape[0]), weight @ self.shift + bias, True)

    def dense_weight(self) -> np.ndarray:
        return np.diag(self.scale) if self.matrix is None else self.scale[:, None] * self.matrix


def _product(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


# ======================================================================= reading: graph walk
_Handler = Callable[["_GraphWalk", onnx.NodeProto, str], None]
_HANDLERS: dict[str, _Handler] = {}


def _handles(*ops: str) -> Callable[[_Handler], _Handler]:
    def register(func: _Handler) -> _Handler:
        for op in ops:
            _HANDLERS[op] = func
        return func

    return register


class _GraphWalk:
    """State of one walk along the chain: constants, the tracked tensor, layers found so far."""

    def __init__(self, model: onnx.ModelProto, source: str) -> None:
        self.source = source
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.constants: dict[str, np.ndarray] = {
            t.name: self._initializer(t) for t in self.graph.initializer
        }
        self.input_name, self.input_shape = self._graph_input()
        self.output_name = self._graph_output()
        self.shapes: dict[str, tuple[int, ...]] = {self.input_name: self.input_shape}
        self.current = self.input_name
        self.shape = self.input_shape
        self.pending = _Affine.identity(_product(self.input_shape))
        self.layers: list[DenseLayer] = []
        self.consumers = self._consumers()
        self.at = ("", "")  # (label, op type) of the node being read, for error messages

    # -------------------------------------------------------------- errors
    def unsupported(self, message: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.source}: {message}")

    def invalid(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.source} is not a valid ONNX model: {message}; {_REEXPORT}")

    def _initializer(self, tensor: onnx.TensorProto) -> np.ndarray:
        """A stored constant as an array (a damaged one names the tensor)."""
        try:
            return np.asarray(numpy_helper.to_array(tensor))
        except Exception as exc:  # onnx raises KeyError, ValueError, TypeError... for bad data
            raise self.invalid(
                f"initializer '{tensor.name}' cannot be decoded (data type {tensor.data_type}, "
                f"dims {list(tensor.dims)}: {type(exc).__name__}: {exc})"
            ) from exc

    # -------------------------------------------------------------- graph ends
    def _graph_input(self) -> tuple[str, tuple[int, ...]]:
        inputs = [i for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise self.unsupported(
                f"the graph has {len(inputs)} inputs ({names}); only networks with exactly one "
                "input tensor are supported"
            )
        value = inputs[0]
        tensor_type = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor_type.elem_type not in _FLOAT_TYPES:
            raise self.unsupported(
                f"input '{value.name}' is not a floating-point tensor; only float inputs "
                "are supported: export the network with a float input"
            )
        if not tensor_type.HasField("shape"):
            raise self.unsupported(f"input '{value.name}' has no declared shape")
        shape = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(int(dim.dim_value))
            elif axis == 0:
                shape.append(1)  # symbolic batch axis: the network takes one sample
            else:
                raise self.unsupported(
                    f"input '{value.name}' has an unknown size at axis {axis} "
                    f"({dim.dim_param or '?'}); only the batch axis 0 may be symbolic"
                )
        return value.name, tuple(shape)

    def _graph_output(self) -> str:
        outputs = list(self.graph.output)
        if len(outputs) != 1:
            names = ", ".join(repr(o.name) for o in outputs) or "none"
            raise self.unsupported(
                f"the graph has {len(outputs)} outputs ({names}); only networks with exactly one "
                "output tensor are supported"
            )
        return outputs[0].name

    def _consumers(self) -> dict[str, list[str]]:
        """Nodes reading each value (``Shape`` excluded: it reads only the static shape)."""
        consumers: dict[str, list[str]] = {}
        for index, node in enumerate(self.graph.node):
            if node.op_type == "Shape":
                continue
            for name in dict.fromkeys(n for n in node.input if n):
                consumers.setdefault(name, []).append(_node_label(node, index))
        return consumers

    # -------------------------------------------------------------- walk
    def run(self) -> list[DenseLayer]:
        for index, node in enumerate(self.graph.node):
            label = _node_label(node, index)
            dynamic = [n for n in node.input if n and n not in self.constants]
            if node.domain not in ("", "ai.onnx"):
                raise self.unsupported(
                    f"node {label} ({node.op_type}) is from the custom domain '{node.domain}'; "
                    f"supported ops: {', '.join(SUPPORTED_OPS)}"
                )
            if not dynamic:
                self._fold_constant(node, label)
            elif node.op_type == "Shape":
                self._shape_of(node, label, dynamic[0])
            else:
                self._step(node, label, dynamic)
        return self._finish()

    def _step(self, node: onnx.NodeProto, label: str, dynamic: list[str]) -> None:
        handler = _HANDLERS.get(node.op_type)
        if handler is None:
            raise self.unsupported(
                f"node {label} ({node.op_type}) is not supported; supported ops: "
                f"{', '.join(SUPPORTED_OPS)}. Only chains of affine layers and ReLUs can be read"
            )
        for name in dynamic:
            if name not in self.shapes:
                raise self.invalid(
                    f"node {label} ({node.op_type}) reads '{name}', which no node makes"
                )
            if name != self.current:
                raise self.unsupported(
                    f"node {label} ({node.op_type}) reads '{name}', an earlier tensor of the chain "
                    "(a branch or skip connection); only a plain chain of layers is supported"
                )
        readers = self.consumers.get(self.current, [])
        if len(readers) > 1:
            raise self.unsupported(
                f"tensor '{self.current}' feeds {len(readers)} nodes ({', '.join(readers)}); "
                "only a plain chain of layers (no branches or skip connections) is supported"
            )
        if len([o for o in node.output if o]) != 1:
            raise self.unsupported(f"node {label} ({node.op_type}) has several outputs in use")
        self.at = (label, node.op_type)
        with np.errstate(all="ignore"):  # overflow is checked when a layer is closed
            handler(self, node, label)
        self.current = node.output[0]
        self.shapes[self.current] = self.shape

    def _fold_constant(self, node: onnx.NodeProto, label: str) -> None:
        """Evaluate a node whose inputs are all constants (ONNX reference implementation)."""
        from onnx.reference import ReferenceEvaluator

        feeds = {n: self.constants[n] for n in node.input if n}
        try:
            with np.errstate(all="ignore"):  # e.g. 1/0: a NaN/inf result is refused where used
                results = ReferenceEvaluator(node, opsets={"": self.opset}).run(None, feeds)
        except Exception as exc:  # the reference runtime raises many kinds; report them all alike
            raise self.unsupported(
                f"node {label} ({node.op_type}) works on constants only but could not be "
                f"evaluated: {exc}"
            ) from exc
        for name, value in zip(node.output, results, strict=False):
            if name:
                self.constants[name] = np.asarray(value)

    def _shape_of(self, node: onnx.NodeProto, label: str, name: str) -> None:
        if name not in self.shapes:
            raise self.invalid(f"node {label} (Shape) reads '{name}', which no node makes")
        shape = self.shapes[name]
        start = _int_attr(node, "start", 0)
        end = _int_attr(node, "end", len(shape))
        self.constants[node.output[0]] = np.array(shape[start:end], dtype=np.int64)

    def _finish(self) -> list[DenseLayer]:
        if self.current != self.output_name:
            raise self.unsupported(
                f"graph output '{self.output_name}' is not the end of the chain from input "
                f"'{self.input_name}' (the chain ends at '{self.current}')"
            )
        if not self.pending.is_identity:
            self.at = ("at the output", "end of the graph")
            self.close_layer("linear")
        if not self.layers:
            raise self.unsupported(
                "the graph contains no layer (no Gemm, MatMul or arithmetic): give a network "
                "with at least one dense layer"
            )
        declared = _static_shape(self.graph.output[0])
        if declared is not None and _product(declared) != self.layers[-1].n_out:
            raise self.invalid(
                f"output '{self.output_name}' is declared with shape {declared} but the layers "
                f"give {self.layers[-1].n_out} values"
            )
        return self.layers

    # -------------------------------------------------------------- helpers for handlers
    def constant(self, name: str) -> np.ndarray:
        """A constant used as a weight, bias or operand: must be finite (a NaN or inf weight
        names the file, the node, the layer and the tensor)."""
        value = np.asarray(self.constants[name], dtype=np.float64)
        finite = np.isfinite(value)
        if not finite.all():
            label, op = self.at
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            kinds = " and ".join(
                k for k, bad in (("NaN", np.isnan(value).any()), ("inf", np.isinf(value).any()))
                if bad
            )
            raise ModelFileError(
                f"{self.source}: node {label} ({op}, layer {self.layer_index(op)}): constant "
                f"'{name}' holds {int((~finite).sum())} {kinds} value(s) of {value.size} (first "
                f"at index {first}): the network's weights are broken; re-export it with finite "
                "weights"
            )
        return value

    def layer_index(self, op: str) -> int:
        """The index of the layer the current node contributes to (counting from 0)."""
        closes = op in ("Gemm", "MatMul") and self.pending.has_weights
        return len(self.layers) + int(closes)

    def close_layer(self, activation: Activation) -> None:
        """The pending map becomes a layer (it must stay finite: huge weights may overflow)."""
        with np.errstate(all="ignore"):
            weight = self.pending.dense_weight()
        if not (np.isfinite(weight).all() and np.isfinite(self.pending.shift).all()):
            label, op = self.at
            raise UnsupportedModelError(
                f"{self.source}: node {label} ({op}): layer {len(self.layers)} overflows float64 "
                "when its nodes are combined (weights beyond 1e308): rescale the network"
            )
        self.layers.append(DenseLayer(weight, self.pending.shift, activation))
        self.pending = _Affine.identity(self.pending.shift.size)

    def close_layer_if_weighted(self) -> None:
        """Before a second Gemm/MatMul without ReLU between: keep the first as a linear layer."""
        if self.pending.has_weights:
            self.close_layer("linear")

    def apply_linear(
        self, weight: np.ndarray, bias: np.ndarray, out_shape: tuple[int, ...]
    ) -> None:
        self.close_layer_if_weighted()
        self.pending = self.pending.then_linear(weight, bias)
        self.shape = out_shape

    def broadcast_constant(self, node: onnx.NodeProto, label: str, value: np.ndarray) -> np.ndarray:
        """``value`` broadcast to the tracked shape, flattened; the shape may only gain 1-axes."""
        try:
            out_shape = tuple(np.broadcast_shapes(self.shape, value.shape))
        except ValueError as exc:
            raise self.invalid(
                f"node {label} ({node.op_type}): constant of shape {value.shape} does not "
                f"broadcast with the tensor of shape {self.shape}"
            ) from exc
        if _product(out_shape) != _product(self.shape):
            raise self.unsupported(
                f"node {label} ({node.op_type}): constant of shape {value.shape} broadcasts the "
                f"tensor of shape {self.shape} to {out_shape}; only a single sample is supported"
            )
        self.shape = out_shape
        return np.broadcast_to(value, out_shape).reshape(-1)


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"'{node.name}'" if node.name else f"#{index}"


def _int_attr(node: onnx.NodeProto, name: str, default: int) -> int:
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


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    """The declared shape when every size is a positive number, else ``None``."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)


# ======================================================================= reading: op handlers
@_handles("Relu")
def _relu(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    if walk.pending.is_identity and walk.layers:
        return  # a second Relu on a layer's output: that layer already ends in a ReLU
    walk.close_layer("relu")


@_handles("Identity")
def _identity(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    """Nothing changes."""


@_handles("Flatten")
def _flatten(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    rank = len(walk.shape)
    axis = _int_attr(node, "axis", 1)
    if not -rank <= axis <= rank:
        raise walk.invalid(f"node {label} (Flatten): axis {axis} is out of range for rank {rank}")
    axis = axis + rank if axis < 0 else axis
    walk.shape = (_product(walk.shape[:axis]), _product(walk.shape[axis:]))


@_handles("Reshape")
def _reshape(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    if len(node.input) < 2 or node.input[1] not in walk.constants:
        raise walk.unsupported(f"node {label} (Reshape): the target shape must be a constant")
    target = [int(s) for s in np.asarray(walk.constants[node.input[1]]).reshape(-1)]
    allow_zero = _int_attr(node, "allowzero", 0)
    sizes: list[int] = []
    for axis, size in enumerate(target):
        if size == 0 and not allow_zero:
            if axis >= len(walk.shape):
                raise walk.invalid(f"node {label} (Reshape): 0 at axis {axis} copies no input axis")
            size = walk.shape[axis]
        sizes.append(size)
    total = _product(walk.shape)
    if sizes.count(-1) == 1:
        known = _product(s for s in sizes if s != -1)
        if known == 0 or total % known:
            raise walk.invalid(
                f"node {label} (Reshape): cannot reshape {walk.shape} to {tuple(target)}"
            )
        sizes[sizes.index(-1)] = total // known
    if sizes.count(-1) > 1 or any(s < 0 for s in sizes) or _product(sizes) != total:
        raise walk.invalid(
            f"node {label} (Reshape): cannot reshape {walk.shape} to {tuple(target)}"
        )
    walk.shape = tuple(sizes)


def _axes(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> list[int] | None:
    """Axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional input since."""
    axes = _ints_attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        if node.input[1] not in walk.constants:
            raise walk.unsupported(f"node {label} ({node.op_type}): the axes must be a constant")
        axes = [int(a) for a in np.asarray(walk.constants[node.input[1]]).reshape(-1)]
    return axes


@_handles("Squeeze")
def _squeeze(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
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
def _unsqueeze(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    axes = _axes(walk, node, label)
    rank = len(walk.shape) + len(axes or [])
    normal = {a + rank if a < 0 else a for a in axes or []}
    if not axes or len(normal) != len(axes) or any(not 0 <= a < rank for a in normal):
        raise walk.invalid(f"node {label} (Unsqueeze): invalid axes {axes} for shape {walk.shape}")
    sizes = iter(walk.shape)
    walk.shape = tuple(1 if a in normal else next(sizes) for a in range(rank))


@_handles("Transpose")
def _transpose(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    rank = len(walk.shape)
    perm = _ints_attr(node, "perm") or list(reversed(range(rank)))
    if sorted(perm) != list(range(rank)):
        raise walk.invalid(
            f"node {label} (Transpose): perm {perm} is not a permutation of {rank} axes"
        )
    index = np.arange(_product(walk.shape)).reshape(walk.shape).transpose(perm).reshape(-1)
    if np.any(index != np.arange(index.size)):
        walk.pending = walk.pending.permuted(index)
    walk.shape = tuple(walk.shape[p] for p in perm)


@_handles("Add", "Sub", "Mul", "Div")
def _arithmetic(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
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
def _batch_norm(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    """Inference-mode ``y = scale (x - mean) / sqrt(var + eps) + B`` per channel (axis 1)."""
    if _int_attr(node, "training_mode", 0):
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
def _gemm(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
    """``Y = alpha * A' B' + beta * C`` with A the tracked tensor (one row) and B, C constants."""
    a_name, b_name = node.input[0], node.input[1]
    if a_name != walk.current or b_name not in walk.constants:
        raise walk.unsupported(
            f"node {label} (Gemm) must take the tensor as A and a constant weight as B "
            "(non-constant weights are not supported)"
        )
    if len(walk.shape) != 2:
        raise walk.invalid(f"node {label} (Gemm): A has shape {walk.shape}, expected 2-D")
    rows, k = walk.shape[::-1] if _int_attr(node, "transA", 0) else walk.shape
    if rows != 1:
        raise walk.unsupported(
            f"node {label} (Gemm): A holds {rows} rows; only a single sample (one row) is supported"
        )
    b = walk.constant(b_name)
    if b.ndim != 2:
        raise walk.invalid(f"node {label} (Gemm): B has shape {b.shape}, expected 2-D")
    b = b.T if _int_attr(node, "transB", 0) else b
    if b.shape[0] != k:
        raise walk.invalid(
            f"node {label} (Gemm): A has {k} columns but B' has shape {b.shape} "
            f"(transB={_int_attr(node, 'transB', 0)})"
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
def _matmul(walk: _GraphWalk, node: onnx.NodeProto, label: str) -> None:
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
    return weight, x[:-1] + n_out, x[-1], _product(x[:-1])


def _matmul_left_weight(
    w: np.ndarray, x: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, ...], int, int]:
    """``w @ x``, x of shape ``(k,)`` or ``(..., k, p)``; returns like `_matmul_right_weight`."""
    n_out = () if w.ndim == 1 else (w.shape[0],)
    weight = w[None, :] if w.ndim == 1 else w
    if len(x) == 1:
        return weight, n_out, x[0], 1
    return weight, x[:-2] + n_out + (x[-1],), x[-2], _product(x[:-2]) * x[-1]


SUPPORTED_OPS: tuple[str, ...] = tuple(sorted({*_HANDLERS, "Constant", "Shape"}))
"""Op types the reader follows on the input chain (any op is fine on constants only)."""


# ======================================================================= reading: public API
def _load_model(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelFileError(f"ONNX file not found: {path}")
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not an ONNX file")
    if path.stat().st_size == 0:
        raise ModelFileError(
            f"{path} is not a valid ONNX model: the file is empty; give the path of the network's "
            ".onnx file (or copy it again)"
        )
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path} is not a valid ONNX model: {reason}; {_DAMAGED}"
        ) from exc
    return model


def _decode_metadata(model: onnx.ModelProto) -> dict[str, object]:
    """``metadata_props``: JSON values decoded, other strings kept as they are."""
    metadata: dict[str, object] = {}
    for prop in model.metadata_props:
        try:
            metadata[prop.key] = json.loads(prop.value)
        except json.JSONDecodeError:
            metadata[prop.key] = prop.value
    return metadata


def network_from_onnx(
    model: onnx.ModelProto, *, name: str = "", source: str = "<model>"
) -> Network:
    """The :class:`Network` computed by an in-memory ONNX model (see the module docstring).

    ``name`` is used when the graph has no name of its own (or an exporter's default such as
    ``torch-jit-export``); ``source`` names the model in error messages.
    """
    walk = _GraphWalk(model, source)
    layers = walk.run()
    graph_name = model.graph.name
    return Network(
        tuple(layers),
        input_shape=walk.input_shape,
        name=graph_name if graph_name not in _GENERIC_GRAPH_NAMES else (name or graph_name),
        metadata=_decode_metadata(model),
    )


def read_onnx(path: str | Path) -> Network:
    """Read a chain of affine layers and ReLUs from an ONNX file as a float64 :class:`Network`.

    ``Network.input_shape`` is the graph input's full shape (a symbolic batch axis becomes 1); the
    network takes that input flattened in C order. Raises :class:`ModelFileError` for a missing or
    invalid file and :class:`UnsupportedModelError` (naming the node) for anything but a chain of
    supported ops.
    """
    path = Path(path)
    model = _load_model(path)
    return network_from_onnx(model, name=path.stem, source=str(path))


# ======================================================================= writing
def _check_opset(opset: int) -> None:
    latest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not _MIN_WRITE_OPSET <= opset <= latest:
        raise InputError(
            f"opset must be an integer in [{_MIN_WRITE_OPSET}, {latest}], got {opset!r}"
        )


def _encode_metadata(metadata: dict[str, object]) -> dict[str, str]:
    encoded = {}
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise InputError(f"metadata keys must be strings, got {key!r}")
        try:
            encoded[key] = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"metadata[{key!r}] = {value!r} cannot be written: it is not JSON-serialisable "
                f"({exc}); convert it to numbers, strings, lists or dicts first"
            ) from exc
    return encoded


def _float32(array: np.ndarray, what: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        out = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise InputError(f"{what} overflows float32 (|value| > {np.finfo(np.float32).max:.3g})")
    return out


def network_to_onnx(network: Network, *, opset: int = 13) -> onnx.ModelProto:
    """The ONNX model of ``network``: optional Reshape, then Gemm(transB=1) (+ Relu) per layer."""
    _check_opset(opset)
    n_in = network.n_inputs
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    current = "input"
    if tuple(network.input_shape) != (1, n_in):
        initializers.append(
            numpy_helper.from_array(np.array([1, n_in], dtype=np.int64), "flat_shape")
        )
        nodes.append(helper.make_node("Reshape", [current, "flat_shape"], ["flat"], name="flatten"))
        current = "flat"
    last = len(network.layers) - 1
    for i, layer in enumerate(network.layers):
        weight, bias = f"layer{i}.weight", f"layer{i}.bias"
        initializers.append(
            numpy_helper.from_array(_float32(layer.weight, f"layer {i} weight"), weight)
        )
        initializers.append(numpy_helper.from_array(_float32(layer.bias, f"layer {i} bias"), bias))
        relu = layer.activation == "relu"
        gemm_out = "output" if i == last and not relu else f"layer{i}.linear"
        nodes.append(
            helper.make_node(
                "Gemm", [current, weight, bias], [gemm_out], name=f"layer{i}.gemm", transB=1
            )
        )
        current = gemm_out
        if relu:
            relu_out = "output" if i == last else f"layer{i}.relu"
            nodes.append(helper.make_node("Relu", [current], [relu_out], name=f"layer{i}.relu"))
            current = relu_out
    graph = helper.make_graph(
        nodes,
        network.name or "network",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(network.input_shape))],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, network.n_outputs])],
        initializer=initializers,
        doc_string="Written by surrogate: Gemm(transB=1) + Relu per layer, float32 weights.",
    )
    opset_ids = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opset_ids, producer_name="surrogate")
    model.ir_version = helper.find_min_ir_version_for(opset_ids)
    helper.set_model_props(model, _encode_metadata(network.metadata))
    return model


def network_to_onnx_bytes(network: Network, *, opset: int = 13) -> bytes:
    """The serialised ONNX model of ``network`` (see :func:`network_to_onnx`)."""
    return network_to_onnx(network, opset=opset).SerializeToString()


def write_onnx(network: Network, path: str | Path, *, opset: int = 13) -> Path:
    """Write ``network`` as an ONNX file (parent folders are created); returns the path.

    The file is written whole or not at all: through a temporary file beside it, renamed over
    ``path`` at the end (removed again on any failure, Ctrl-C included)."""
    import os
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory: give a file name instead, e.g. {path / 'net.onnx'}")
    data = network_to_onnx_bytes(network, opset=opset)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# ======================================================================= onnxruntime
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


def _new_session(model: str | bytes, label: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors share no public base class
        raise ModelFileError(f"{label} is not a valid ONNX model: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _file_session(resolved: str, mtime_ns: int, size: int) -> Any:
    return _new_session(resolved, resolved)


@functools.lru_cache(maxsize=8)
def _bytes_session(data: bytes) -> Any:
    return _new_session(data, "<ONNX bytes>")


def _session(model: str | Path | bytes) -> tuple[Any, str]:
    if isinstance(model, bytes):
        return _bytes_session(model), "<ONNX bytes>"
    path = Path(model).resolve()
    if not path.is_file():
        raise ModelFileError(f"ONNX file not found: {path}")
    stat = path.stat()
    return _file_session(str(path), stat.st_mtime_ns, stat.st_size), str(path)


def onnxruntime_forward(model: str | Path | bytes, x: np.ndarray | Sequence[float]) -> np.ndarray:
    """Evaluate an ONNX model with onnxruntime on flattened inputs.

    ``x`` is one input ``(n_in,)`` or a batch ``(N, n_in)``; each sample is reshaped (C order) to
    the file's input shape and cast to its dtype. A symbolic batch axis takes the whole batch in one
    run; otherwise samples run one by one (e.g. a batch axis fixed at 1). Returns float64
    ``(N, n_out)``, or ``(n_out,)`` for one input. Sessions are cached per resolved path and
    modification time (one intra-op thread each).
    """
    session, label = _session(model)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"{label}: has {len(inputs)} inputs and {len(outputs)} outputs; exactly one of "
            "each is needed"
        )
    spec = inputs[0]
    dtype = _ORT_DTYPES.get(spec.type)
    if dtype is None:
        raise UnsupportedModelError(f"{label}: input '{spec.name}' has type {spec.type}, not float")
    dims = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
    batched = bool(dims) and dims[0] is None
    sample_dims = dims[1:] if batched else dims
    if any(d is None for d in sample_dims):
        raise UnsupportedModelError(
            f"{label}: input '{spec.name}' has shape {spec.shape}; only the batch axis may be "
            "symbolic"
        )
    sample_shape = tuple(int(d) for d in sample_dims if d is not None)
    n_in = _product(sample_shape)
    batch = np.asarray(x, dtype=np.float64)
    single = batch.ndim == 1
    batch = batch.reshape(1, -1) if single else batch
    if batch.ndim != 2 or batch.shape[1] != n_in:
        raise InputError(
            f"input of shape {np.shape(x)} does not fit {label}: it takes {n_in} values per sample "
            f"(input '{spec.name}' of shape {spec.shape}); pass (n_in,) or (N, n_in)"
        )
    feed = batch.astype(dtype)
    if batched:
        result = session.run(None, {spec.name: feed.reshape((len(feed),) + sample_shape)})[0]
        out = np.asarray(result, dtype=np.float64).reshape(len(feed), -1)
    else:
        runs = [session.run(None, {spec.name: row.reshape(sample_shape)})[0] for row in feed]
        out = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in runs])
    return out[0] if single else out

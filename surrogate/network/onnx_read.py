"""ONNX reader: a chain of affine layers and ReLUs in an ONNX graph as a float64 :class:`Network`.

The graph is walked from its single input to its single output. Every node on the way must be
an affine map of the tracked tensor (``Gemm``, ``MatMul``, ``Add``/``Sub``/``Mul``/``Div`` by a
constant, ``BatchNormalization``), a ``Relu``, or a reshuffle of its entries (``Flatten``,
``Reshape``, ``Squeeze``, ``Unsqueeze``, ``Identity``, ``Transpose``); what each of those ops does
is in :mod:`surrogate.network.onnx_ops`. Side computations on constants only (``Constant``,
``Shape`` of a tracked tensor and whatever is computed from those, e.g. the
``Shape -> Gather -> Concat`` target of a PyTorch ``x.view(x.size(0), -1)``) are evaluated once
with the ONNX reference implementation.

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

``network.metadata`` is read from the model's ``metadata_props`` (JSON values decoded, as
:mod:`surrogate.network.onnx_write` stores them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper

from surrogate.errors import ModelFileError, UnsupportedModelError
from surrogate.network.onnx_ops import HANDLERS, SUPPORTED_OPS, Affine, int_attr, product
from surrogate.network.spec import Activation, DenseLayer, Network

__all__ = ["SUPPORTED_OPS", "network_from_onnx", "read_onnx"]

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


# ======================================================================= graph walk
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
        self.pending = Affine.identity(product(self.input_shape))
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
        handler = HANDLERS.get(node.op_type)
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
        start = int_attr(node, "start", 0)
        end = int_attr(node, "end", len(shape))
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
        if declared is not None and product(declared) != self.layers[-1].n_out:
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
        self.pending = Affine.identity(self.pending.shift.size)

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
        if product(out_shape) != product(self.shape):
            raise self.unsupported(
                f"node {label} ({node.op_type}): constant of shape {value.shape} broadcasts the "
                f"tensor of shape {self.shape} to {out_shape}; only a single sample is supported"
            )
        self.shape = out_shape
        return np.broadcast_to(value, out_shape).reshape(-1)



def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"'{node.name}'" if node.name else f"#{index}"


def _static_shape(value: onnx.ValueInfoProto) -> tuple[int, ...] | None:
    """The declared shape when every size is a positive number, else ``None``."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    dims = tensor_type.shape.dim
    if not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
        return None
    return tuple(int(d.dim_value) for d in dims)



# ======================================================================= public API
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

"""ONNX writer: a :class:`Network` as an ONNX model, in memory, as bytes or as a file.

Input ``"input"`` of shape ``network.input_shape`` (float32), a ``Reshape`` to ``(1, n_in)``
when that shape differs, then ``Gemm(transB=1)`` (+ ``Relu``) per layer, output ``"output"``
of shape ``(1, n_out)``. Weights are stored as float32, so writing rounds them to float32
(zeros stay exact zeros). ``network.metadata`` goes to ``metadata_props`` as JSON strings (which
:mod:`surrogate.network.onnx_read` decodes again).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = ["network_to_onnx", "network_to_onnx_bytes", "write_onnx"]

_MIN_WRITE_OPSET = 7  # Gemm with numpy broadcasting of C (no `broadcast` attribute)


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

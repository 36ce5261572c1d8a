"""Property-based tests (hypothesis) of the ONNX reader (:mod:`surrogate.network.onnx_io`).

Random small MLPs written by our writer, or built with the ONNX helper as other exporters do
(MatMul + Add, input normalisation, Flatten), read back to the network onnxruntime computes
(float32 tolerance); corrupted files raise only our errors. The VNN-LIB reader's counterpart is
``tests/vnnlib/test_vnnlib_properties.py``.

The default runs are short (``max_examples`` 50-60, no deadline, about 2 s in all);
``SURROGATE_HYPOTHESIS_EXAMPLES=2000`` explores further.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from surrogate.errors import SurrogateError
from surrogate.network import DenseLayer, Network
from surrogate.network.onnx_io import (
    network_to_onnx_bytes,
    onnxruntime_forward,
    read_onnx,
)

# SURROGATE_HYPOTHESIS_EXAMPLES=2000 explores further (the default run stays short)
EXAMPLES = int(os.environ.get("SURROGATE_HYPOTHESIS_EXAMPLES", "50"))
SHORT = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

@st.composite
def mlp(draw: st.DrawFn) -> Network:
    widths = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0]))
    layers = []
    for k in range(len(widths) - 1):
        w = rng.normal(0.0, scale, size=(widths[k + 1], widths[k]))
        w[rng.random(w.shape) < draw(st.sampled_from([0.0, 0.5]))] = 0.0  # some pruned weights
        b = rng.normal(0.0, scale, size=widths[k + 1])
        last = k == len(widths) - 2
        act = draw(st.sampled_from(["linear", "relu"])) if last else "relu"
        layers.append(DenseLayer(w, b, act))
    shape = draw(st.sampled_from([(), (1, widths[0])]))
    return Network(tuple(layers), input_shape=shape or (widths[0],), name="hyp")


def _tolerance(net: Network, x: np.ndarray) -> float:
    """float32 evaluation error bound: a few ulps of the largest magnitudes along the way."""
    mag = np.abs(x).max(initial=1.0)
    for layer in net.layers:
        mag = np.abs(layer.weight).sum(axis=1).max(initial=0.0) * mag + np.abs(layer.bias).max()
    return 1e-5 * max(mag, 1.0)


def _check_against_onnxruntime(net: Network, model: bytes | Path, x: np.ndarray) -> None:
    ort = onnxruntime_forward(model, x)
    np.testing.assert_allclose(net.forward(x), ort, rtol=1e-5, atol=_tolerance(net, x))


@SHORT
@given(mlp(), st.integers(0, 2**32 - 1))
def test_our_writer_reads_back_exactly_and_matches_onnxruntime(net: Network, seed: int) -> None:
    data = network_to_onnx_bytes(net)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "net.onnx"
        path.write_bytes(data)
        back = read_onnx(path)
        assert back.widths == net.widths
        assert [la.activation for la in back.layers] == [la.activation for la in net.layers]
        for a, b in zip(back.layers, net.layers, strict=True):  # written as float32, exactly
            np.testing.assert_array_equal(a.weight, b.weight.astype(np.float32))
            np.testing.assert_array_equal(a.bias, b.bias.astype(np.float32))
        x = np.random.default_rng(seed).uniform(-2, 2, size=(5, net.n_inputs))
        _check_against_onnxruntime(back, path, x)


@st.composite
def exporter_style_model(draw: st.DrawFn) -> bytes:
    """What other exporters write: (x - mean) / std, Flatten, MatMul + Add, Relu."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = rows * cols
    widths = [n, *draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))]
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    cur = "x"
    if draw(st.booleans()):
        mean = const("mean", rng.uniform(-1, 1, size=(1, rows, cols)))
        std = const("std", rng.uniform(0.5, 2, size=(1, rows, cols)))
        nodes += [helper.make_node("Sub", [cur, mean], ["centred"]),
                  helper.make_node("Div", ["centred", std], ["normal"])]
        cur = "normal"
    nodes.append(helper.make_node("Flatten", [cur], ["flat"]))
    cur = "flat"
    for k in range(len(widths) - 1):
        w = const(f"w{k}", rng.normal(0, 1, size=(widths[k], widths[k + 1])))
        b = const(f"b{k}", rng.normal(0, 1, size=widths[k + 1]))
        nodes += [helper.make_node("MatMul", [cur, w], [f"mm{k}"]),
                  helper.make_node("Add", [f"mm{k}", b], [f"z{k}"])]
        cur = f"z{k}"
        if k < len(widths) - 2 or draw(st.booleans()):
            nodes.append(helper.make_node("Relu", [cur], [f"a{k}"]))
            cur = f"a{k}"
    nodes.append(helper.make_node("Identity", [cur], ["y"]))
    batch = draw(st.sampled_from([1, "N"]))
    graph = helper.make_graph(
        nodes, "exported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, rows, cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, widths[-1]])],
        initializer=inits)
    opsets = [helper.make_opsetid("", 13)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model.SerializeToString()


@SHORT
@given(exporter_style_model(), st.integers(0, 2**32 - 1))
def test_exporter_style_model_matches_onnxruntime(model: bytes, seed: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "exported.onnx"
        path.write_bytes(model)
        net = read_onnx(path)
        x = np.random.default_rng(seed).uniform(-2, 2, size=(4, net.n_inputs))
        _check_against_onnxruntime(net, path, x)


_VALID = network_to_onnx_bytes(Network((
    DenseLayer(np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 1.0]]), np.array([0.1, -0.2, 0.0]), "relu"),
    DenseLayer(np.array([[1.0, 1.0, -1.0]]), np.array([0.5]), "linear"),
), input_shape=(1, 2), name="seed"))


@settings(max_examples=EXAMPLES + 10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_onnx_raises_only_our_errors(data: st.DataObject) -> None:
    raw = bytearray(_VALID)
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 6))):
            pos = data.draw(st.integers(0, len(raw) - 1))
            if kind == "flip":
                raw[pos] ^= 1 << data.draw(st.integers(0, 7))
            elif kind == "insert":
                raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
            else:
                raw[pos] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "corrupt.onnx"
        path.write_bytes(bytes(raw))
        try:
            net = read_onnx(path)
        except SurrogateError as exc:
            assert str(path) in str(exc), str(exc)
            return
        # still a readable network: it must be finite and evaluate
        assert all(np.isfinite(la.weight).all() and np.isfinite(la.bias).all() for la in net.layers)
        net.forward(np.zeros(net.n_inputs))


@SHORT
@given(st.binary(max_size=300))
def test_random_bytes_are_not_an_onnx_model(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "r.onnx"
        path.write_bytes(raw)
        try:
            read_onnx(path)
        except SurrogateError as exc:
            assert str(path) in str(exc)


@st.composite
def mutated_model(draw: st.DrawFn) -> bytes:
    """The valid model with one or more fields changed as a buggy exporter might."""
    model = onnx.load_from_string(_VALID)
    g = model.graph
    for _ in range(draw(st.integers(1, 3))):
        what = draw(st.sampled_from(["dims", "dtype", "op", "input", "attr", "shape", "opset",
                                     "drop_node", "drop_init", "raw"]))
        if what == "dims" and g.initializer:
            t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
            del t.dims[:]
            t.dims.extend(draw(st.lists(st.integers(0, 7), max_size=3)))
        elif what == "dtype" and g.initializer:
            t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
            t.data_type = draw(st.integers(0, 25))
        elif what == "op":
            node = g.node[draw(st.integers(0, len(g.node) - 1))]
            node.op_type = draw(st.sampled_from(["Relu", "Gemm", "MatMul", "Add", "Sigmoid",
                                                 "Flatten", "Reshape", "Div", "Transpose"]))
        elif what == "input":
            node = g.node[draw(st.integers(0, len(g.node) - 1))]
            names = ["input", "output", "layer0.weight", "layer0.bias", "layer1.weight", "nope", ""]
            if node.input:
                node.input[draw(st.integers(0, len(node.input) - 1))] = draw(st.sampled_from(names))
        elif what == "attr":
            node = g.node[draw(st.integers(0, len(g.node) - 1))]
            node.attribute.extend([helper.make_attribute(
                draw(st.sampled_from(["transA", "transB", "alpha", "beta", "axis"])),
                draw(st.sampled_from([0, 1, 2, -1, 0.5])))])
        elif what == "shape":
            dim = g.input[0].type.tensor_type.shape.dim
            dim[draw(st.integers(0, len(dim) - 1))].dim_value = draw(st.integers(0, 4))
        elif what == "opset":
            model.opset_import[0].version = draw(st.integers(1, 30))
        elif what == "drop_node" and len(g.node) > 1:
            del g.node[draw(st.integers(0, len(g.node) - 1))]
        elif what == "drop_init" and g.initializer:
            del g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
        elif what == "raw" and g.initializer:
            t = g.initializer[draw(st.integers(0, len(g.initializer) - 1))]
            t.raw_data = draw(st.binary(max_size=40))
    return model.SerializeToString()


@SHORT
@given(mutated_model())
def test_structurally_broken_onnx_raises_only_our_errors(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mutated.onnx"
        path.write_bytes(raw)
        try:
            net = read_onnx(path)
        except SurrogateError as exc:
            assert str(path) in str(exc), str(exc)
            return
        assert all(np.isfinite(la.weight).all() and np.isfinite(la.bias).all() for la in net.layers)
        net.forward(np.zeros(net.n_inputs))

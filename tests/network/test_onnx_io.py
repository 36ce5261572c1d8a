"""ONNX reader/writer and onnxruntime evaluation: real VNN-COMP files, hand-built graphs, errors."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from factories import random_net
from onnx import TensorProto, helper, numpy_helper

from surrogate.errors import InputError, ModelFileError, UnsupportedModelError
from surrogate.network import DenseLayer, Network
from surrogate.network.onnx_io import (
    SUPPORTED_OPS,
    network_from_onnx,
    network_to_onnx,
    network_to_onnx_bytes,
    onnxruntime_forward,
    read_onnx,
    write_onnx,
)

RTOL = ATOL = 1e-4  # onnxruntime works in float32


# ============================================================================ helpers
def _tensor(name: str, value: object) -> onnx.TensorProto:
    array = np.asarray(value)
    dtype = np.int64 if np.issubdtype(array.dtype, np.integer) else np.float32
    return numpy_helper.from_array(array.astype(dtype), name)


def _value(name: str, shape: list[int | str], elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    constants: dict[str, object] | None = None,
    *,
    opset: int = 13,
    name: str = "test_graph",
) -> onnx.ModelProto:
    initializers = [_tensor(k, v) for k, v in (constants or {}).items()]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _random_network(
    widths: list[int], *, seed: int = 0, input_shape: tuple[int, ...] = (), last: str = "linear"
) -> Network:
    """Weights drawn as float32 values, so writing them to ONNX loses nothing."""
    return random_net(widths, seed, bias_scale=0.1, float32=True, input_shape=input_shape, last=last)


def _assert_matches_onnxruntime(network: Network, model: str | Path | bytes, x: np.ndarray) -> None:
    np.testing.assert_allclose(
        network.forward(x), onnxruntime_forward(model, x), rtol=RTOL, atol=ATOL
    )


_BOUND = re.compile(r"\((<=|>=)\s+X_(\d+)\s+([-+0-9.eE]+)\s*\)")


def _vnnlib_box(path: Path, n_inputs: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Hull of the input bounds written as ``(<= X_i c)`` / ``(>= X_i c)``; None if incomplete."""
    lower = np.full(n_inputs, np.inf)
    upper = np.full(n_inputs, -np.inf)
    for op, index, value in _BOUND.findall(path.read_text()):
        i, v = int(index), float(value)
        if i >= n_inputs:
            return None
        if op == ">=":
            lower[i] = min(lower[i], v)
        else:
            upper[i] = max(upper[i], v)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        return None
    return lower, upper


def _first_vnnlib(onnx_path: Path, root: Path) -> Path | None:
    """The property of the first instance of ``onnx_path`` in its benchmark's instances csv."""
    bench = root / onnx_path.relative_to(root).parts[0]
    for table in sorted(bench.glob("instances*.csv")):
        with table.open() as handle:
            for row in csv.reader(handle):
                if row and Path(row[0]).name == onnx_path.name:
                    found = list(bench.rglob(Path(row[1]).name))
                    if found:
                        return found[0]
    return None


# ============================================================================ real VNN-COMP files
def test_every_vnncomp_network_loads_and_matches_onnxruntime(vnncomp: Path) -> None:
    files = sorted(vnncomp.rglob("*.onnx"))
    assert len(files) >= 60
    rng = np.random.default_rng(1)
    mismatches = []
    boxes_used = 0
    for path in files:
        network = read_onnx(path)
        prop = _first_vnnlib(path, vnncomp)
        box = _vnnlib_box(prop, network.n_inputs) if prop is not None else None
        lower, upper = (
            box if box is not None else (np.zeros(network.n_inputs), np.ones(network.n_inputs))
        )
        boxes_used += box is not None
        x = rng.uniform(lower, upper, size=(8, network.n_inputs))
        ours = network.forward(x)
        theirs = onnxruntime_forward(path, x)
        if ours.shape != theirs.shape or not np.allclose(ours, theirs, rtol=RTOL, atol=ATOL):
            mismatches.append((str(path), float(np.max(np.abs(ours - theirs)))))
    assert mismatches == []
    assert boxes_used == len(files)  # every network was tested inside one of its own properties


def test_mnist_fc_weights_are_read_exactly(vnncomp: Path) -> None:
    path = vnncomp / "mnist_fc" / "onnx" / "mnist-net_256x2.onnx"
    network = read_onnx(path)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    assert network.input_shape == (1, 784, 1)
    assert network.widths == [784, 256, 256, 10]
    assert [layer.activation for layer in network.layers] == ["relu", "relu", "linear"]
    assert network.name == "mnist-net_256x2"  # file stem instead of "torch-jit-export"
    for i, layer in enumerate(network.layers):
        np.testing.assert_array_equal(layer.weight, inits[f"layers.{2 * i}.weight"])
        np.testing.assert_array_equal(layer.bias, inits[f"layers.{2 * i}.bias"])


def test_acasxu_normalisation_is_folded_into_the_first_layer(vnncomp: Path, tmp_path: Path) -> None:
    """The shipped files subtract a zero mean; give the same graph a real one and fold it."""
    model = onnx.load(str(vnncomp / "acasxu" / "onnx" / "ACASXU_run2a_1_1_batch_2000.onnx"))
    mean = np.array([0.2, -0.1, 0.05, 0.3, -0.25], dtype=np.float32)
    for tensor in model.graph.initializer:
        if tensor.name == "input_AvgImg":
            tensor.CopyFrom(numpy_helper.from_array(mean.reshape(1, 1, 1, 5), tensor.name))
    path = _save(model, tmp_path / "acasxu_shifted.onnx")
    network = read_onnx(path)
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    w = inits["Operation_1_MatMul_W"].T  # (50, 5)
    assert network.input_shape == (1, 1, 1, 5)
    assert network.widths == [5, 50, 50, 50, 50, 50, 50, 5]
    np.testing.assert_array_equal(network.layers[0].weight, w)
    expected_bias = inits["Operation_1_Add_B"] - w @ mean.astype(np.float64)
    np.testing.assert_allclose(network.layers[0].bias, expected_bias, rtol=1e-12)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(16, 5))
    _assert_matches_onnxruntime(network, path, x)


def test_eran_output_relu_and_image_input(vnncomp: Path) -> None:
    network = read_onnx(vnncomp / "eran_mnist_relu_9_200" / "onnx" / "mnist_relu_9_200.onnx")
    assert network.input_shape == (1, 1, 28, 28)
    assert network.widths == [784] + [200] * 8 + [10]  # nine Gemm layers
    assert all(layer.activation == "relu" for layer in network.layers)


def test_symbolic_batch_and_column_vector_files(vnncomp: Path) -> None:
    dubins = read_onnx(vnncomp / "rl_benchmarks" / "onnx" / "dubinsrejoin.onnx")
    assert dubins.input_shape == (1, 8)
    small = read_onnx(vnncomp / "test" / "test_small.onnx")  # MatMul(W, x) on a 1-D input
    assert small.input_shape == (1,)
    assert small.widths == [1, 2, 2, 1]


# ============================================================================ hand-built graphs
def _normalised_gemm() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """Sub/Div on an image input, Flatten, Gemm(transB=1), Relu, Gemm(alpha, beta, no transB)."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["centred"], name="sub"),
        helper.make_node("Div", ["centred", "std"], ["scaled"], name="div"),
        helper.make_node("Flatten", ["scaled"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["z1"], name="fc1", transB=1),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["y"], name="fc2", alpha=0.5, beta=2.0),
    ]
    constants = {
        "mean": rng.uniform(0, 1, (1, 1, 1, 3)),
        "std": rng.uniform(0.5, 2, (1, 1, 2, 3)),
        "w1": rng.normal(size=(4, 6)),
        "b1": rng.normal(size=4),
        "w2": rng.normal(size=(4, 3)),
        "b2": rng.normal(size=(1, 3)),
    }
    model = _model(nodes, [_value("x", [1, 1, 2, 3])], [_value("y", [1, 3])], constants)
    return model, [6, 4, 3], ["relu", "linear"]


def _matmul_add_orders() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """Add with the bias first, then a MatMul without bias (``Linear(bias=False)``)."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["m1"], name="mm1"),
        helper.make_node("Add", ["b1", "m1"], ["z1"], name="add1"),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        helper.make_node("MatMul", ["h1", "w2"], ["y"], name="mm2"),
    ]
    constants = {
        "w1": rng.normal(size=(5, 4)),
        "b1": rng.normal(size=4),
        "w2": rng.normal(size=(4, 3)),
    }
    model = _model(nodes, [_value("x", ["batch", 5])], [_value("y", ["batch", 3])], constants)
    return model, [5, 4, 3], ["relu", "linear"]


def _weight_on_the_left() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """``W @ x`` on a column vector (nnet2onnx style), weights from Constant nodes, ``c - x``."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=_tensor("w1v", rng.normal(size=(4, 3)))),
        helper.make_node("MatMul", ["w1", "x"], ["m1"], name="mm1"),
        helper.make_node("Add", ["m1", "b1"], ["z1"], name="add1"),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        helper.make_node("Sub", ["c", "h1"], ["s1"], name="flip"),
        helper.make_node("MatMul", ["w2", "s1"], ["y"], name="mm2"),
    ]
    constants = {
        "b1": rng.normal(size=(4, 1)),
        "c": rng.normal(size=(4, 1)),
        "w2": rng.normal(size=(2, 4)),
    }
    model = _model(nodes, [_value("x", [3, 1])], [_value("y", [2, 1])], constants)
    return model, [3, 4, 2], ["relu", "linear"]


def _pytorch_view_and_shape_ops() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """``x.view(x.size(0), -1)`` via Shape/Gather/Concat; Unsqueeze/Squeeze/Identity; a repeated
    Relu; Mul/Add between layers; BatchNormalization; a Relu on the output."""
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axis0"], ["batch1"], name="unsq_const"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"], name="view"),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["z1"], name="fc1", transB=1),
        helper.make_node("BatchNormalization", ["z1", "g", "beta", "mu", "var"], ["n1"], name="bn"),
        helper.make_node("Relu", ["n1"], ["h1"], name="relu1"),
        helper.make_node("Unsqueeze", ["h1", "axis2"], ["h1u"], name="unsq"),
        helper.make_node("Squeeze", ["h1u", "axis2"], ["h1s"], name="sq"),
        helper.make_node("Identity", ["h1s"], ["h1i"], name="id"),
        helper.make_node("Relu", ["h1i"], ["h1r"], name="relu_again"),
        helper.make_node("Mul", ["h1r", "scale"], ["h1m"], name="mul"),
        helper.make_node("Add", ["h1m", "shift"], ["h1a"], name="add"),
        helper.make_node("Gemm", ["h1a", "w2", "b2"], ["z2"], name="fc2", transB=1),
        helper.make_node("Relu", ["z2"], ["y"], name="relu_out"),
    ]
    constants = {
        "zero": np.array(0),
        "axis0": np.array([0]),
        "axis2": np.array([2]),
        "minus_one": np.array([-1]),
        "w1": rng.normal(size=(3, 4)),
        "b1": rng.normal(size=3),
        "g": rng.uniform(0.5, 2, 3),
        "beta": rng.normal(size=3),
        "mu": rng.normal(size=3),
        "var": rng.uniform(0.5, 2, 3),
        "scale": rng.uniform(0.5, 2, (1, 3)),
        "shift": rng.normal(size=3),
        "w2": rng.normal(size=(2, 3)),
        "b2": rng.normal(size=2),
    }
    model = _model(nodes, [_value("x", [1, 2, 2])], [_value("y", [1, 2])], constants)
    return model, [4, 3, 2], ["relu", "relu"]


def _transpose_and_two_linear_layers() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """A Transpose that moves entries, and two Gemm without a ReLU between them."""
    rng = np.random.default_rng(6)
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="tr", perm=[0, 2, 1]),
        helper.make_node("Flatten", ["xt"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["z1"], name="fc1", transB=1),
        helper.make_node("Gemm", ["z1", "w2", "b2"], ["z2"], name="fc2", transB=1),
        helper.make_node("Relu", ["z2"], ["h2"], name="relu2"),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["y"], name="fc3", transB=1),
    ]
    constants = {
        "w1": rng.normal(size=(5, 6)),
        "b1": rng.normal(size=5),
        "w2": rng.normal(size=(4, 5)),
        "b2": rng.normal(size=4),
        "w3": rng.normal(size=(2, 4)),
        "b3": rng.normal(size=2),
    }
    model = _model(nodes, [_value("x", [1, 2, 3])], [_value("y", [1, 2])], constants)
    return model, [6, 5, 4, 2], ["linear", "relu", "linear"]


def _transposed_input_gemm() -> tuple[onnx.ModelProto, list[int], list[str]]:
    """Gemm(transA=1) on a column (Reshape to (n, 1)), opset 9 attributes for Unsqueeze."""
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Reshape", ["x", "col"], ["xc"], name="to_column"),
        helper.make_node("Gemm", ["xc", "w1", "b1"], ["z1"], name="fc1", transA=1),
        helper.make_node("Relu", ["z1"], ["h1"], name="relu1"),
        helper.make_node("Unsqueeze", ["h1"], ["y"], name="unsq", axes=[0]),
    ]
    constants = {"col": np.array([4, 1]), "w1": rng.normal(size=(4, 3)), "b1": rng.normal(size=3)}
    model = _model(nodes, [_value("x", [2, 2])], [_value("y", [1, 1, 3])], constants, opset=9)
    return model, [4, 3], ["relu"]


GRAPHS: dict[str, Callable[[], tuple[onnx.ModelProto, list[int], list[str]]]] = {
    "normalised_gemm": _normalised_gemm,
    "matmul_add_orders": _matmul_add_orders,
    "weight_on_the_left": _weight_on_the_left,
    "pytorch_view_and_shape_ops": _pytorch_view_and_shape_ops,
    "transpose_and_two_linear_layers": _transpose_and_two_linear_layers,
    "transposed_input_gemm": _transposed_input_gemm,
}


@pytest.mark.parametrize("case", sorted(GRAPHS))
def test_supported_graph_matches_onnxruntime(case: str) -> None:
    model, widths, activations = GRAPHS[case]()
    onnx.checker.check_model(model, full_check=True)
    network = network_from_onnx(model)
    assert network.widths == widths
    assert [layer.activation for layer in network.layers] == activations
    x = np.random.default_rng(8).uniform(-2, 2, size=(16, network.n_inputs))
    _assert_matches_onnxruntime(network, model.SerializeToString(), x)


def test_matmul_without_add_has_zero_bias() -> None:
    network = network_from_onnx(_matmul_add_orders()[0])
    assert network.input_shape == (1, 5)  # symbolic batch axis
    assert not np.any(network.layers[1].bias)


def test_transpose_permutes_first_layer_columns() -> None:
    model = _transpose_and_two_linear_layers()[0]
    w1 = numpy_helper.to_array(model.graph.initializer[0]).astype(np.float64)
    # x (1, 2, 3) transposed to (1, 3, 2): flat entry j of the transposed tensor is x_flat[perm[j]]
    perm = np.arange(6).reshape(1, 2, 3).transpose(0, 2, 1).reshape(-1)
    expected = np.zeros_like(w1)
    expected[:, perm] = w1
    np.testing.assert_array_equal(network_from_onnx(model).layers[0].weight, expected)


def test_name_and_metadata_from_file(tmp_path: Path) -> None:
    model = _matmul_add_orders()[0]
    helper.set_model_props(
        model, {"trained_on": '{"set": "digits", "epochs": 3}', "note": "plain text"}
    )
    network = read_onnx(_save(model, tmp_path / "some_file.onnx"))
    assert network.name == "test_graph"
    assert network.metadata == {"trained_on": {"set": "digits", "epochs": 3}, "note": "plain text"}
    model.graph.name = "torch-jit-export"
    assert read_onnx(_save(model, tmp_path / "some_file.onnx")).name == "some_file"


# ============================================================================ writer
def test_write_read_round_trip_keeps_weights_shape_name_metadata(tmp_path: Path) -> None:
    network = _random_network([16, 8, 6, 3], input_shape=(1, 1, 4, 4), last="relu")
    network = network.with_layers(network.layers, metadata={"seed": 0, "widths": [16, 8, 6, 3]})
    path = write_onnx(network, tmp_path / "sub" / "net.onnx")
    assert path == tmp_path / "sub" / "net.onnx"
    back = read_onnx(path)
    assert back.input_shape == (1, 1, 4, 4)
    assert back.name == "random_net"
    assert back.metadata == {"seed": 0, "widths": [16, 8, 6, 3]}
    for ours, theirs in zip(network.layers, back.layers, strict=True):
        np.testing.assert_array_equal(ours.weight, theirs.weight)
        np.testing.assert_array_equal(ours.bias, theirs.bias)
        assert ours.activation == theirs.activation


def test_written_graph_structure(tmp_path: Path) -> None:
    image = write_onnx(_random_network([4, 3, 2], input_shape=(1, 2, 2)), tmp_path / "image.onnx")
    vector = write_onnx(_random_network([4, 3, 2]), tmp_path / "vector.onnx")  # shape (4,)
    flat = write_onnx(_random_network([4, 3, 2], input_shape=(1, 4)), tmp_path / "flat.onnx")
    for path, ops in [
        (image, ["Reshape", "Gemm", "Relu", "Gemm"]),
        (vector, ["Reshape", "Gemm", "Relu", "Gemm"]),
        (flat, ["Gemm", "Relu", "Gemm"]),
    ]:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        graph = model.graph
        assert [n.op_type for n in graph.node] == ops
        assert all(
            helper.get_attribute_value(a) == 1
            for n in graph.node
            if n.op_type == "Gemm"
            for a in n.attribute
        )
        assert [i.name for i in graph.input] == ["input"]
        assert [o.name for o in graph.output] == ["output"]
        assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim] == [1, 2]
        assert all(t.data_type == TensorProto.FLOAT for t in graph.initializer if "layer" in t.name)
    dims = onnx.load(str(image)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 2, 2]


def test_exported_dense_and_pruned_networks_match_onnxruntime(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    dense = Network(
        tuple(
            DenseLayer(rng.normal(size=(o, i)) / np.sqrt(i), rng.normal(size=o) * 0.1, a)  # float64
            for i, o, a in [(20, 12, "relu"), (12, 12, "relu"), (12, 4, "linear")]
        ),
        input_shape=(1, 20, 1),
    )
    pruned = dense.with_layers(
        [
            layer.replace(weight=layer.weight * (rng.uniform(size=layer.weight.shape) > 0.7))
            for layer in dense.layers
        ]
    )
    x = rng.uniform(-1, 1, size=(32, 20))
    for network, name in [(dense, "dense.onnx"), (pruned, "pruned.onnx")]:
        path = write_onnx(network, tmp_path / name)
        _assert_matches_onnxruntime(network, path, x)
        zeros = sum(
            int(np.sum(numpy_helper.to_array(t) == 0))
            for t in onnx.load(str(path)).graph.initializer
            if t.name.endswith("weight")
        )
        assert zeros == network.n_weights - network.nonzeros
    assert pruned.sparsity > 0.6


def test_network_to_onnx_bytes_equals_the_file(tmp_path: Path) -> None:
    network = _random_network([3, 5, 2], seed=10)
    data = network_to_onnx_bytes(network)
    assert (write_onnx(network, tmp_path / "n.onnx")).read_bytes() == data
    _assert_matches_onnxruntime(network, data, np.random.default_rng(0).uniform(-1, 1, (5, 3)))


def test_writer_older_opset_runs() -> None:
    network = _random_network([3, 5, 2], input_shape=(3,), seed=11)
    model = network_to_onnx(network, opset=9)
    assert model.opset_import[0].version == 9
    _assert_matches_onnxruntime(
        network, model.SerializeToString(), np.random.default_rng(1).uniform(-1, 1, (4, 3))
    )


def test_writer_rejects_bad_opset_and_metadata() -> None:
    network = _random_network([3, 2])
    with pytest.raises(InputError, match=r"^opset must be an integer in \[7, \d+\], got 6$"):
        network_to_onnx(network, opset=6)
    bad = network.with_layers(network.layers, metadata={"array": np.zeros(2)})
    with pytest.raises(
        InputError,
        match=r"^metadata\['array'\] = array\(\[0\., 0\.\]\) cannot be written: it is not "
        "JSON-serialisable",
    ):
        network_to_onnx(bad)
    huge = Network((DenseLayer(np.full((1, 1), 1e39), np.zeros(1), "linear"),))
    with pytest.raises(InputError, match=r"^layer 0 weight overflows float32"):
        network_to_onnx(huge)


def test_metadata_values_are_json_in_the_file() -> None:
    network = _random_network([2, 2]).with_layers(
        _random_network([2, 2]).layers, metadata={"eps": 0.5, "tag": "a"}
    )
    props = {p.key: p.value for p in network_to_onnx(network).metadata_props}
    assert props == {"eps": "0.5", "tag": '"a"'}
    assert {k: json.loads(v) for k, v in props.items()} == network.metadata


# ============================================================================ onnxruntime_forward
def test_onnxruntime_forward_shapes_and_batching(vnncomp: Path) -> None:
    rng = np.random.default_rng(12)
    for path in [
        vnncomp / "mnist_fc" / "onnx" / "mnist-net_256x2.onnx",  # batch axis fixed at 1: loop
        vnncomp / "rl_benchmarks" / "onnx" / "dubinsrejoin.onnx",  # symbolic batch: one run
        vnncomp / "test" / "test_small.onnx",  # 1-D input, no batch axis
    ]:
        network = read_onnx(path)
        x = rng.uniform(0, 1, size=(3, network.n_inputs))
        batch = onnxruntime_forward(path, x)
        assert batch.shape == (3, network.n_outputs)
        assert batch.dtype == np.float64
        single = onnxruntime_forward(str(path), x[1])
        assert single.shape == (network.n_outputs,)
        np.testing.assert_allclose(single, batch[1], rtol=1e-6, atol=1e-6)


def test_onnxruntime_forward_double_input_and_session_refresh(tmp_path: Path) -> None:
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [_value("x", [1, 2], TensorProto.DOUBLE)],
        [_value("y", [1, 1], TensorProto.DOUBLE)],
    )
    model.graph.initializer.append(numpy_helper.from_array(np.array([[1.0], [1e-12]]), "w"))
    path = _save(model, tmp_path / "double.onnx")
    np.testing.assert_array_equal(onnxruntime_forward(path, np.array([1.0, 1.0])), [1.0 + 1e-12])
    # A new file at the same path (other size) gets a new session, not the cached one.
    network = _random_network([2, 3, 2], seed=13)
    write_onnx(network, path)
    _assert_matches_onnxruntime(network, path, np.array([[0.5, -0.5]]))


def test_onnxruntime_forward_errors(tmp_path: Path) -> None:
    path = write_onnx(_random_network([3, 2]), tmp_path / "n.onnx")
    with pytest.raises(
        InputError,
        match=re.escape(f"input of shape (2, 4) does not fit {path}: it takes 3 values per sample"),
    ):
        onnxruntime_forward(path, np.zeros((2, 4)))
    with pytest.raises(
        ModelFileError, match=re.escape(f"ONNX file not found: {tmp_path / 'nope.onnx'}")
    ):
        onnxruntime_forward(tmp_path / "nope.onnx", np.zeros(3))
    with pytest.raises(ModelFileError, match=r"^<ONNX bytes> is not a valid ONNX model: "):
        onnxruntime_forward(b"not a model", np.zeros(3))


# ============================================================================ reader errors
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.onnx"
    with pytest.raises(ModelFileError, match=f"^ONNX file not found: {re.escape(str(path))}$"):
        read_onnx(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is a text file and not a network\n", np.random.default_rng(0).bytes(4096)],
    ids=["empty", "text", "random_bytes"],
)
def test_file_that_is_not_an_onnx_model(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(
        ModelFileError, match=f"^{re.escape(str(path))} is not a valid ONNX model: .+"
    ):
        read_onnx(path)


def _conv_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "k"], ["c"], name="conv1"),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    return _model(
        nodes,
        [_value("x", [1, 1, 4, 4])],
        [_value("y", [1, 1, 3, 3])],
        {"k": np.ones((1, 1, 2, 2))},
    )


def _sigmoid_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Gemm", ["x", "w"], ["z"], name="fc", transB=1),
        helper.make_node("Sigmoid", ["z"], ["y"], name="act"),
    ]
    return _model(nodes, [_value("x", [1, 3])], [_value("y", [1, 2])], {"w": np.ones((2, 3))})


@pytest.mark.parametrize(
    ("build", "node"), [(_conv_model, "'conv1' (Conv)"), (_sigmoid_model, "'act' (Sigmoid)")]
)
def test_unsupported_node_is_named(
    tmp_path: Path, build: Callable[[], onnx.ModelProto], node: str
) -> None:
    path = _save(build(), tmp_path / "model.onnx")
    expected = (
        f"{path}: node {node} is not supported; supported ops: {', '.join(SUPPORTED_OPS)}. "
        "Only chains of affine layers and ReLUs can be read"
    )
    with pytest.raises(UnsupportedModelError, match=f"^{re.escape(expected)}$"):
        read_onnx(path)
    assert SUPPORTED_OPS[:4] == ("Add", "BatchNormalization", "Constant", "Div")


def _bad_models() -> dict[str, tuple[onnx.ModelProto, type[Exception], str]]:
    x4 = [_value("x", [1, 4])]
    y2 = [_value("y", [1, 2])]
    w = {"w": np.ones((2, 4))}
    gemm = helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transB=1)
    return {
        "non_constant_weight": (
            _model(
                [helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")],
                [_value("x", [4, 4])],
                [_value("y", [4, 4])],
            ),
            UnsupportedModelError,
            "node 'mm' (MatMul) multiplies two tensors computed from the input; only constant "
            "weights are supported",
        ),
        "product_of_tensors": (
            _model(
                [helper.make_node("Mul", ["x", "x"], ["y"], name="sq")], x4, [_value("y", [1, 4])]
            ),
            UnsupportedModelError,
            "node 'sq' (Mul) combines two tensors computed from the input; only arithmetic with "
            "constants is supported",
        ),
        "two_inputs": (
            _model([gemm], x4 + [_value("w", [2, 4])], y2),
            UnsupportedModelError,
            "the graph has 2 inputs ('x', 'w'); only networks with exactly one input tensor are "
            "supported",
        ),
        "two_outputs": (
            _model(
                [gemm, helper.make_node("Relu", ["y"], ["r"], name="r")],
                x4,
                y2 + [_value("r", [1, 2])],
                w,
            ),
            UnsupportedModelError,
            "the graph has 2 outputs ('y', 'r'); only networks with exactly one output tensor are "
            "supported",
        ),
        "shape_mismatch": (
            _model([gemm], x4, y2, {"w": np.ones((2, 5))}),
            ModelFileError,
            "is not a valid ONNX model: node 'fc' (Gemm): A has 4 columns but B' has shape (5, 2) "
            "(transB=1); the file is inconsistent: re-export the network",
        ),
        "skip_connection": (
            _model(
                [
                    helper.make_node("Gemm", ["x", "w"], ["z"], name="fc", transB=1),
                    helper.make_node("Relu", ["z"], ["h"], name="relu"),
                    helper.make_node("Add", ["h", "x"], ["y"], name="residual"),
                ],
                x4,
                [_value("y", [1, 4])],
                {"w": np.ones((4, 4))},
            ),
            UnsupportedModelError,
            "tensor 'x' feeds 2 nodes ('fc', 'residual'); only a plain chain of layers (no "
            "branches or skip connections) is supported",
        ),
        "batch_of_three": (
            _model([gemm], [_value("x", [3, 4])], [_value("y", [3, 2])], w),
            UnsupportedModelError,
            "node 'fc' (Gemm): A holds 3 rows; only a single sample (one row) is supported",
        ),
        "symbolic_feature_axis": (
            _model([gemm], [_value("x", [1, "features"])], y2, w),
            UnsupportedModelError,
            "input 'x' has an unknown size at axis 1 (features); only the batch axis 0 may be "
            "symbolic",
        ),
        "no_layer": (
            _model(
                [helper.make_node("Flatten", ["x"], ["y"], name="f")], x4, [_value("y", [1, 4])]
            ),
            UnsupportedModelError,
            "the graph contains no layer (no Gemm, MatMul or arithmetic): give a network with at "
            "least one dense layer",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_models()))
def test_unsupported_or_inconsistent_models(tmp_path: Path, case: str) -> None:
    model, error, message = _bad_models()[case]
    path = _save(model, tmp_path / f"{case}.onnx")
    with pytest.raises(error, match=f"^{re.escape(str(path))}:? {re.escape(message)}$"):
        read_onnx(path)


@pytest.mark.filterwarnings("ignore")  # the TorchScript exporter warns that it is deprecated
def test_pytorch_export_reads_back_and_matches_torch() -> None:
    """A torch model with normalisation, ``view``, BatchNorm1d and ``Linear(bias=False)``."""
    import io

    import torch

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(12, 8)
            self.bn = torch.nn.BatchNorm1d(8)
            self.fc2 = torch.nn.Linear(8, 3, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = ((x - 0.5) / 0.25).view(x.size(0), -1)
            return self.fc2(torch.relu(self.bn(self.fc1(x))))

    torch.manual_seed(0)
    model = Model().eval()
    model.bn.running_mean.uniform_(-1, 1)
    model.bn.running_var.uniform_(0.5, 2)
    buffer = io.BytesIO()
    torch.onnx.export(model, (torch.zeros(1, 3, 4),), buffer, dynamo=False)
    network = network_from_onnx(onnx.load_from_string(buffer.getvalue()))
    assert network.input_shape == (1, 3, 4)
    assert network.widths == [12, 8, 3]
    assert not np.any(network.layers[1].bias)
    x = np.random.default_rng(14).uniform(0, 1, size=(6, 12))
    with torch.no_grad():
        expected = model(torch.tensor(x, dtype=torch.float32).reshape(6, 3, 4)).numpy()
    np.testing.assert_allclose(network.forward(x), expected, rtol=RTOL, atol=ATOL)
    _assert_matches_onnxruntime(network, buffer.getvalue(), x)


# ============================================================ bad weights and damaged tensors
def _mlp_with(w1: np.ndarray) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "w2"], ["y"], name="fc2", transB=1),
    ]
    return _model(nodes, [_value("x", [1, 2])], [_value("y", [1, 1])],
                  {"w1": w1, "b1": np.zeros(3), "w2": np.ones((1, 3))})


@pytest.mark.parametrize(("value", "kind"), [(np.inf, "inf"), (np.nan, "NaN"), (-np.inf, "inf")])
def test_non_finite_weight_names_file_node_layer_and_tensor_without_warning(
    tmp_path: Path, value: float, kind: str
) -> None:
    w1 = np.ones((3, 2))
    w1[2, 1] = value
    path = _save(_mlp_with(w1), tmp_path / "bad.onnx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail here
        with pytest.raises(
            ModelFileError,
            match=re.escape(
                f"{path}: node 'fc1' (Gemm, layer 0): constant 'w1' holds 1 {kind} value(s) of 6 "
                "(first at index (2, 1)): the network's weights are broken; re-export it with "
                "finite weights"
            ),
        ):
            read_onnx(path)


def test_weights_that_overflow_when_folded_are_refused(tmp_path: Path) -> None:
    """Two Gemms with 1e200 weights and no ReLU between: folding them would overflow float64."""
    nodes = [
        helper.make_node("Mul", ["x", "s"], ["m"], name="scale"),
        helper.make_node("Gemm", ["m", "w"], ["y"], name="fc", transB=1),
    ]
    model = _model(nodes, [_value("x", [1, 2])], [_value("y", [1, 1])])
    model.graph.initializer.extend([
        numpy_helper.from_array(np.full((1, 2), 1e300), "s"),
        numpy_helper.from_array(np.full((1, 2), 1e300), "w"),
    ])
    path = _save(model, tmp_path / "huge.onnx")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnsupportedModelError, match=r"layer 0 overflows float64"):
            read_onnx(path)


def test_damaged_initializer_is_named(tmp_path: Path) -> None:
    model = _mlp_with(np.ones((3, 2)))
    model.graph.initializer[0].data_type = 29  # a data type onnx does not know
    path = tmp_path / "damaged.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match=r"initializer 'w1' cannot be decoded"):
        read_onnx(path)


def test_write_onnx_is_whole_or_nothing(tmp_path: Path) -> None:
    net = Network((DenseLayer(np.ones((2, 2)), np.zeros(2), "relu"),), name="n")
    target = tmp_path / "sub" / "n.onnx"
    write_onnx(net, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["n.onnx"]
    huge = Network((DenseLayer(np.full((2, 2), 1e300), np.zeros(2), "relu"),), name="n")
    with pytest.raises(InputError, match="overflows float32"):
        write_onnx(huge, target)
    assert read_onnx(target).layers[0].weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]  # unchanged
    with pytest.raises(InputError, match="is a directory"):
        write_onnx(net, tmp_path / "sub")
    assert sorted(p.name for p in target.parent.iterdir()) == ["n.onnx"]  # no stray .tmp


def test_onnx_io_facade_reexports_the_reader_writer_and_runtime() -> None:
    from surrogate.network import onnx_io, onnx_read, onnx_runtime, onnx_write

    homes = (onnx_read, onnx_write, onnx_runtime)
    assert sorted(onnx_io.__all__) == sorted(n for m in homes for n in m.__all__)
    for name in onnx_io.__all__:
        home = next(m for m in homes if name in m.__all__)
        assert getattr(onnx_io, name) is getattr(home, name)

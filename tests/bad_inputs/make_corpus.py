"""Write the bad-input corpus of ``tests/cli/test_bad_inputs.py`` (run from the repository root):

    .venv/bin/python tests/bad_inputs/make_corpus.py

The files are committed; this script documents how each was made and rebuilds them identically.
Text files (VNN-LIB, sweep TOML, CSV) are written here too, so every file of the corpus has one
source. ``ok/`` holds the valid partners (a 2-3-2 network and a property for it) that a bad file
is combined with, so that each case has exactly one thing wrong.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent

W1 = [[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25]]
B1 = [0.0, 0.1, -0.2]
W2 = [[1.0, -1.0, 0.5], [-0.5, 1.0, 1.0]]
B2 = [0.0, 0.3]


def _tensor(name: str, value: object, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def _model(nodes, inputs, outputs, inits, *, opset: int = 13, domain_ops: tuple = ()) -> bytes:
    graph = helper.make_graph(nodes, "bad_input", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset), *[helper.make_opsetid(d, 1) for d in domain_ops]]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_corpus")
    model.ir_version = helper.find_min_ir_version_for(opsets[:1])
    return model.SerializeToString()


def _inp(name: str = "input", shape: list | None = None, elem: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape or [1, 2])


def _out(name: str = "output", shape: list | None = None):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape or [1, 2])


def mlp(w1=W1, b1=B1, w2=W2, b2=B2, *, hidden_op: str = "Relu", out_shape=None) -> bytes:
    """input (1, 2) -> Gemm -> hidden_op -> Gemm -> output (1, 2)."""
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="layer0.gemm", transB=1),
        helper.make_node(hidden_op, ["h"], ["a"], name=f"layer0.{hidden_op.lower()}"),
        helper.make_node("Gemm", ["a", "w2", "b2"], ["output"], name="layer1.gemm", transB=1),
    ]
    inits = [_tensor("w1", w1), _tensor("b1", b1), _tensor("w2", w2), _tensor("b2", b2)]
    return _model(nodes, [_inp()], [_out(shape=out_shape)], inits)


def onnx_files() -> dict[str, bytes]:
    ok = mlp()
    nan_w1 = np.array(W1)
    nan_w1[1, 0] = np.nan
    inf_w2 = np.array(W2)
    inf_w2[0, 2] = np.inf
    inf_b1 = np.array(B1)
    inf_b1[2] = -np.inf
    files = {
        "truncated.onnx": ok[: len(ok) // 2],
        "not_onnx.onnx": b"this is a text file, not an ONNX model\n",
        "empty.onnx": b"",
        "nan_weight.onnx": mlp(w1=nan_w1),
        "inf_weight.onnx": mlp(w2=inf_w2),
        "inf_bias.onnx": mlp(b1=inf_b1),
        "sigmoid.onnx": mlp(hidden_op="Sigmoid"),
        "wrong_shapes.onnx": mlp(w2=[[1.0, -1.0], [-0.5, 1.0]]),  # 2 columns for 3 hidden units
        "output_shape.onnx": mlp(out_shape=[1, 5]),  # declares 5 outputs, the layers give 2
    }
    # a convolution (not a chain of dense layers)
    files["conv.onnx"] = _model(
        [helper.make_node("Conv", ["input", "k"], ["output"], name="conv0")],
        [_inp(shape=[1, 1, 2, 2])], [_out(shape=[1, 1, 1, 1])],
        [_tensor("k", np.ones((1, 1, 2, 2)))],
    )
    # two graph inputs
    files["two_inputs.onnx"] = _model(
        [helper.make_node("Add", ["input", "other"], ["s"], name="add0"),
         helper.make_node("Gemm", ["s", "w1", "b1"], ["output"], name="layer0.gemm", transB=1)],
        [_inp(), _inp("other")], [_out(shape=[1, 3])], [_tensor("w1", W1), _tensor("b1", B1)],
    )
    # an integer input
    files["int_input.onnx"] = _model(
        [helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT, name="cast0"),
         helper.make_node("Gemm", ["f", "w1", "b1"], ["output"], name="layer0.gemm", transB=1)],
        [_inp(elem=TensorProto.INT64)], [_out(shape=[1, 3])],
        [_tensor("w1", W1), _tensor("b1", B1)],
    )
    # a symbolic size on a non-batch axis
    files["symbolic_axis.onnx"] = _model(
        [helper.make_node("Gemm", ["input", "w1", "b1"], ["output"], name="layer0.gemm", transB=1)],
        [_inp(shape=[1, "n"])], [_out(shape=[1, 3])], [_tensor("w1", W1), _tensor("b1", B1)],
    )
    # a skip connection: the hidden layer's input is added back to a later tensor
    files["skip_connection.onnx"] = _model(
        [helper.make_node("Gemm", ["input", "w", "b"], ["h"], name="layer0.gemm", transB=1),
         helper.make_node("Relu", ["h"], ["a"], name="layer0.relu"),
         helper.make_node("Add", ["a", "input"], ["output"], name="skip")],
        [_inp()], [_out()], [_tensor("w", [[1.0, 0.0], [0.0, 1.0]]), _tensor("b", [0.0, 0.0])],
    )
    # no layer at all
    files["no_layer.onnx"] = _model(
        [helper.make_node("Identity", ["input"], ["output"], name="id0")], [_inp()], [_out()], []
    )
    # an op from a custom domain
    files["custom_domain.onnx"] = _model(
        [helper.make_node("Gemm", ["input", "w1", "b1"], ["h"], name="layer0.gemm", transB=1),
         helper.make_node("FancyRelu", ["h"], ["output"], name="fancy0", domain="com.example")],
        [_inp()], [_out(shape=[1, 3])], [_tensor("w1", W1), _tensor("b1", B1)],
        domain_ops=("com.example",),
    )
    # bytes that are not a protobuf message
    files["random_bytes.onnx"] = bytes((i * 37 + 11) % 256 for i in range(300)) + b"\xff\xff\xff"
    return files


VNN_DECLS = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n" \
            "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
VNN_BOX = "(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n" \
          "(assert (>= X_1 0.0))\n(assert (<= X_1 1.0))\n"
VNN_OUT = "(assert (>= Y_0 Y_1))\n"


def vnnlib_files() -> dict[str, bytes]:
    d, b, o = VNN_DECLS, VNN_BOX, VNN_OUT
    text = {
        "unbalanced_close.vnnlib": d + b + "(assert (>= Y_0 Y_1)))\n",
        "unclosed.vnnlib": d + b + "(assert (>= Y_0 Y_1)\n",
        "undeclared.vnnlib": d + b + "(assert (>= Y_0 Y_7))\n",
        "three_inputs.vnnlib": "(declare-const X_2 Real)\n" + d + b
        + "(assert (>= X_2 0.0))\n(assert (<= X_2 1.0))\n" + o,
        "three_outputs.vnnlib": d + "(declare-const Y_2 Real)\n" + b + o,
        "empty.vnnlib": "",
        "comments_only.vnnlib": "; a property with nothing in it\n; still nothing\n",
        "nonlinear.vnnlib": d + b + "(assert (>= (* Y_0 Y_1) 1.0))\n",
        "mixed.vnnlib": d + b + "(assert (>= Y_0 X_0))\n",
        "missing_bound.vnnlib": d + "(assert (>= X_0 0.0))\n(assert (<= X_0 1.0))\n"
        "(assert (>= X_1 0.0))\n" + o,
        "empty_box.vnnlib": d + b + "(assert (>= X_0 2.0))\n" + o,
        "all_branches_empty.vnnlib": d + b + "(assert (or (<= X_0 -1.0) (>= X_0 2.0)))\n" + o,
        "unknown_command.vnnlib": d + b + o + "(push 1)\n",
        "bad_number.vnnlib": d + b + "(assert (>= Y_0 0.5.5))\n",
        "declared_twice.vnnlib": d + "(declare-const X_1 Real)\n" + b + o,
        "index_gap.vnnlib": "(declare-const X_0 Real)\n(declare-const X_2 Real)\n"
        "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n" + o,
        "int_sort.vnnlib": d.replace("X_1 Real", "X_1 Int") + b + o,
        "unknown_operator.vnnlib": d + b + "(assert (>= (abs Y_0) Y_1))\n",
        "no_outputs.vnnlib": "(declare-const X_0 Real)\n(declare-const X_1 Real)\n" + b,
        "several_inputs.vnnlib": d + b + "(assert (<= (+ X_0 X_1) 1.0))\n" + o,
    }
    files = {k: v.encode() for k, v in text.items()}
    files["latin1.vnnlib"] = (d + "; caf\xe9\n" + b + o).encode("latin-1")
    good = gzip.compress((d + b + o).encode(), mtime=0)
    files["corrupt.vnnlib.gz"] = good[: len(good) - 12]
    return files


SWEEP_OK = """[sweep]
name = "bad"
time_limit_s = 2
networks = ["digits-2x32"]
methods = ["magnitude"]
sparsities = [0.0, 0.8]
seeds = [0]

[problem]
kind = "robustness"
norm = "l1"
eps = 2.0
target = "top2"
images = [0]
"""


def sweep_files() -> dict[str, bytes]:
    s = SWEEP_OK
    text = {
        "invalid_toml.toml": s.replace('name = "bad"', 'name = "bad'),
        "no_sweep_table.toml": s[s.index("[problem]"):],
        "unknown_key.toml": s.replace("seeds = [0]", "seeds = [0]\nworkers = 4"),
        "sparsity_too_big.toml": s.replace("[0.0, 0.8]", "[0.0, 1.5]"),
        "unknown_network.toml": s.replace('"digits-2x32"', '"digits-9x9"'),
        "unknown_method.toml": s.replace('["magnitude"]', '["bogus"]'),
        "bad_norm.toml": s.replace('norm = "l1"', 'norm = "l3"'),
        "negative_eps.toml": s.replace("eps = 2.0", "eps = -1.0"),
        "zero_time_limit.toml": s.replace("time_limit_s = 2", "time_limit_s = 0"),
        "empty_networks.toml": s.replace('["digits-2x32"]', "[]"),
        "spec.txt": s,
        "missing_file.csv": "ok/net.onnx,ok/nope.vnnlib,60\n",
        "bad_timeout.csv": "ok/net.onnx,ok/prop.vnnlib,-5\n",
        "empty.csv": "",
    }
    return {k: v.encode() for k, v in text.items()}


def ok_files() -> dict[str, bytes]:
    return {"net.onnx": mlp(), "prop.vnnlib": (VNN_DECLS + VNN_BOX + VNN_OUT).encode(),
            "x0_wrong_size.txt": b"0.5 0.5 0.5\n"}


def main() -> None:
    for folder, files in (("onnx", onnx_files()), ("vnnlib", vnnlib_files()),
                          ("sweep", sweep_files()), ("ok", ok_files())):
        (HERE / folder).mkdir(exist_ok=True)
        for name, data in files.items():
            (HERE / folder / name).write_bytes(data)
    # the csv files name their rows relative to themselves: give them the ok/ partners
    (HERE / "sweep" / "ok").mkdir(exist_ok=True)
    for name, data in ok_files().items():
        (HERE / "sweep" / "ok" / name).write_bytes(data)


if __name__ == "__main__":
    main()

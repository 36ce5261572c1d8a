"""Property-based tests (hypothesis) of the two readers of outside files.

VNN-LIB (:mod:`surrogate.vnnlib.parser`): random valid properties, written in the many ways the
grammar allows, read back to exactly the boxes and output constraints they were written from; an
``or`` over input intervals gives one case per non-empty branch; random garbage and mutated files
raise nothing but :class:`surrogate.errors.SurrogateError`.

ONNX (:mod:`surrogate.network.onnx_io`): random small MLPs written by our writer, or built with the
ONNX helper as other exporters do (MatMul + Add, input normalisation, Flatten), read back to the
network onnxruntime computes (float32 tolerance); corrupted files raise only our errors.

The default runs are short (``max_examples`` 50-60, no deadline, about 3 s in all);
``SURROGATE_HYPOTHESIS_EXAMPLES=2000`` explores further.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from surrogate.errors import InputError, SurrogateError
from surrogate.network import DenseLayer, Network
from surrogate.network.onnx_io import (
    network_to_onnx_bytes,
    onnxruntime_forward,
    read_onnx,
)
from surrogate.vnnlib import parse_vnnlib, read_vnnlib

# SURROGATE_HYPOTHESIS_EXAMPLES=2000 explores further (the default run stays short)
EXAMPLES = int(os.environ.get("SURROGATE_HYPOTHESIS_EXAMPLES", "50"))
SHORT = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ================================================================================== VNN-LIB
numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False,
                    allow_subnormal=False).filter(lambda v: v == 0.0 or abs(v) > 1e-100)
small_ints = st.integers(min_value=-5, max_value=5)


def _num(v: float) -> str:
    return repr(float(v))  # round-trips exactly; the reader takes 1e-05, -0.5, 1e+20


@st.composite
def spaced(draw: st.DrawFn, *parts: str) -> str:
    """``(part part ...)`` with random whitespace (spaces, tabs, newlines, comments)."""
    gap = st.sampled_from([" ", "  ", "\t", "\n", " ; a comment ( ) \n", "\n\n "])
    inner = parts[0]
    for p in parts[1:]:
        inner += draw(gap) + p
    return "(" + draw(st.sampled_from(["", " ", "\n"])) + inner + draw(
        st.sampled_from(["", " ", "\n"])) + ")"


@st.composite
def input_bound(draw: st.DrawFn, i: int, value: float, upper: bool) -> str:
    """A bound on X_i written one of several equivalent ways."""
    x = f"X_{i}"
    scale = draw(st.sampled_from([1.0, 2.0, 0.5, -1.0, -2.0]))
    if scale == 1.0 and draw(st.booleans()):
        term = x
    else:
        term = draw(spaced("*", _num(scale), x)) if draw(st.booleans()) else draw(
            spaced("*", x, _num(scale)))
    # scale * X_i  (<= if scale > 0 and upper, ...)  scale * value
    op_le = upper == (scale > 0)
    bound = _num(scale * value)
    if draw(st.booleans()):
        return draw(spaced("<=" if op_le else ">=", term, bound))
    return draw(spaced(">=" if op_le else "<=", bound, term))


@st.composite
def output_row(draw: st.DrawFn, ny: int) -> tuple[list[float], float, str]:
    """``sum_j a_j Y_j <= d`` as a coefficient row, the bound and its text."""
    coefs = draw(st.lists(small_ints, min_size=ny, max_size=ny))
    assume(any(coefs))
    d = draw(numbers)
    terms = []
    for j, a in enumerate(coefs):
        if a == 0:
            continue
        if a == 1 and draw(st.booleans()):
            terms.append(f"Y_{j}")
        elif a == -1 and draw(st.booleans()):
            terms.append(draw(spaced("-", f"Y_{j}")))
        else:
            terms.append(draw(spaced("*", _num(a), f"Y_{j}")))
    lhs = terms[0] if len(terms) == 1 and draw(st.booleans()) else draw(spaced("+", *terms))
    if draw(st.booleans()):
        text = draw(spaced("<=", lhs, _num(d)))
    else:
        text = draw(spaced(">=", _num(d), lhs))
    return [float(a) for a in coefs], float(d), text


@st.composite
def valid_property(draw: st.DrawFn) -> tuple[str, np.ndarray, np.ndarray, list, int, int]:
    nx = draw(st.integers(1, 4))
    ny = draw(st.integers(1, 4))
    lo = np.array([draw(numbers) for _ in range(nx)])
    width = np.array([draw(st.floats(0.0, 1e3)) for _ in range(nx)])
    hi = lo + width
    assume(np.all(hi <= 1e6 * 2))
    decls = []
    for prefix, n in (("X", nx), ("Y", ny)):
        for k in range(n):
            if draw(st.booleans()):
                decls.append(f"(declare-const {prefix}_{k} Real)")
            else:
                decls.append(f"(declare-fun {prefix}_{k} () Real)")
    decls = draw(st.permutations(decls))
    asserts = []
    for i in range(nx):
        bounds = [draw(input_bound(i, float(lo[i]), False)), draw(input_bound(i, float(hi[i]), True))]
        if draw(st.booleans()):  # a looser bound too: the tightest wins
            bounds.append(draw(input_bound(i, float(lo[i]) - 1.0, False)))
        if draw(st.booleans()):
            asserts.append("(assert " + draw(spaced("and", *bounds)) + ")")
        else:
            asserts += ["(assert " + b + ")" for b in bounds]
    disjuncts = []
    for _ in range(draw(st.integers(1, 3))):
        disjuncts.append([draw(output_row(ny)) for _ in range(draw(st.integers(1, 3)))])
    conj_texts = [r[0][2] if len(r) == 1 and draw(st.booleans())
                  else draw(spaced("and", *[row[2] for row in r])) for r in disjuncts]
    if len(conj_texts) == 1 and draw(st.booleans()):
        asserts.append("(assert " + conj_texts[0] + ")")
    else:
        asserts.append("(assert " + draw(spaced("or", *conj_texts)) + ")")
    asserts = draw(st.permutations(asserts))
    extra = draw(st.sampled_from(["", "(check-sat)\n", "(set-logic QF_LRA)\n", "; end\n"]))
    # declarations first (the reader needs a variable declared before its use)
    text = "\n".join(decls) + "\n" + "\n".join(asserts) + "\n" + extra
    expected = []
    for rows in disjuncts:
        c = np.array([r[0] for r in rows])
        d = np.array([r[1] for r in rows])
        if not any(np.array_equal(c, c2) and np.array_equal(d, d2) for c2, d2 in expected):
            expected.append((c, d))
    return text, lo, hi, expected, nx, ny


@SHORT
@given(valid_property())
def test_valid_vnnlib_reads_back_to_its_box_and_constraints(prop) -> None:
    text, lo, hi, expected, nx, ny = prop
    parsed = parse_vnnlib(text, n_inputs=nx, n_outputs=ny)
    assert (parsed.n_inputs, parsed.n_outputs) == (nx, ny)
    assert len(parsed.cases) == 1
    (case,) = parsed.cases
    np.testing.assert_array_equal(case.box.lower, lo)
    np.testing.assert_array_equal(case.box.upper, hi)
    got = [(u.C, u.d) for u in case.unsafe]
    assert len(got) == len(expected)
    for (c, d), (c2, d2) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(c, c2)
        np.testing.assert_array_equal(d, d2)


intervals = st.tuples(st.integers(-8, 8), st.integers(0, 6)).map(
    lambda t: (t[0] / 4, t[0] / 4 + t[1] / 4))


@SHORT
@given(box=intervals, branches=st.lists(intervals, min_size=1, max_size=5))
def test_input_disjunction_gives_one_case_per_nonempty_branch(box, branches) -> None:
    """``X_0`` in ``box`` and in one of ``branches``: the cases are the non-empty intersections
    (in order, repeats once); none at all is an error naming the empty box."""
    text = ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
            f"(assert (>= X_0 {box[0]!r}))\n(assert (<= X_0 {box[1]!r}))\n"
            "(assert (or " + " ".join(f"(and (>= X_0 {a!r}) (<= X_0 {b!r}))" for a, b in branches)
            + "))\n(assert (>= Y_0 0.0))\n")
    expected: list[tuple[float, float]] = []
    for a, b in branches:
        lo, hi = max(box[0], a), min(box[1], b)
        if lo <= hi and (lo, hi) not in expected:
            expected.append((lo, hi))
    if not expected:
        with pytest.raises(InputError, match="the input box is empty"):
            parse_vnnlib(text)
        return
    prop = parse_vnnlib(text)
    assert [(float(c.box.lower[0]), float(c.box.upper[0])) for c in prop.cases] == expected
    # a point is a counterexample exactly when it lies in one of the non-empty branches
    for x in np.linspace(-3, 4, 29):
        inside = any(lo <= x <= hi for lo, hi in expected)
        assert prop.is_counterexample([x], [1.0], tol=0.0) == inside


TOKENS = ["(", ")", "(", ")", "assert", "declare-const", "declare-fun", "X_0", "X_1", "Y_0",
          "Y_1", "Real", "Int", "<=", ">=", "<", ">", "=", "and", "or", "+", "-", "*", "1.5", "-2",
          "1e3", "0", "true", "false", "; c\n", "\n", "()", "check-sat", "X_", "1.2.3", "nan",
          "inf", "\u00e9", "(assert", "(declare-const X_0 Real)", "(<= X_0 1)", "(>= Y_0 Y_1)"]

SEED_TEXT = ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
             "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (or (>= Y_0 Y_1) (<= Y_1 -1)))\n")


def _parse_or_our_error(text: str, **sizes: int) -> None:
    try:
        parse_vnnlib(text, path="fuzz.vnnlib", **sizes)
    except SurrogateError as exc:
        assert str(exc).startswith("fuzz.vnnlib"), str(exc)  # every message names the file


@SHORT
@given(st.text(max_size=300))
def test_vnnlib_garbage_text_raises_only_our_errors(text: str) -> None:
    _parse_or_our_error(text)


@SHORT
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join),
       st.sampled_from([{}, {"n_inputs": 1}, {"n_inputs": 2, "n_outputs": 2}]))
def test_vnnlib_token_soup_raises_only_our_errors(text: str, sizes: dict) -> None:
    _parse_or_our_error(text, **sizes)


@SHORT
@given(st.data())
def test_vnnlib_mutated_file_raises_only_our_errors(data: st.DataObject) -> None:
    text = SEED_TEXT
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = data.draw(st.sampled_from(TOKENS + ["", " ", "9", "e", "."]))
        if kind == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 8)):]
        elif kind == "insert":
            text = text[:pos] + piece + text[pos:]
        else:
            text = text[:pos] + piece + text[pos + len(piece):]
    _parse_or_our_error(text)


@SHORT
@given(st.binary(max_size=200), st.booleans())
def test_vnnlib_random_bytes_file_raises_only_our_errors(raw: bytes, gz: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("p.vnnlib.gz" if gz else "p.vnnlib")
        path.write_bytes(raw)
        try:
            read_vnnlib(path)
        except SurrogateError as exc:
            assert str(path) in str(exc)


# ===================================================================================== ONNX
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

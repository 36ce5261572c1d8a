"""VNN-LIB reader and VNN-COMP counterexample files: real benchmark files and hand-made cases."""

from __future__ import annotations

import csv
import functools
import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from surrogate.errors import InputError, ModelFileError, ParseError, UnsupportedModelError
from surrogate.sets import Box
from surrogate.vnnlib import (
    MAX_DISJUNCTS,
    Case,
    OutputConstraint,
    Property,
    format_counterexample,
    parse_vnnlib,
    read_counterexample,
    read_vnnlib,
    write_counterexample,
)

# The benchmark folders described in shared/bench/vnncomp/README.md (test_folders_are_all_listed
# fails when a folder is added, so none is left out silently).
FOLDERS = [
    "acasxu",
    "eran_mnist_relu_9_200",
    "mnist_fc",
    "reach_prob_density",
    "rl_benchmarks",
    "test",
]


# --------------------------------------------------------------------------------------------
# helpers for the real files
# --------------------------------------------------------------------------------------------


@functools.cache
def _read(path: str) -> Property:
    return read_vnnlib(path)


@functools.cache
def _onnx_io_sizes(path: str) -> tuple[int, int]:
    """Flat sizes of the graph's one input and one output (a symbolic batch dimension counts 1)."""
    import onnx

    graph = onnx.load(path).graph
    initializers = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    assert len(inputs) == 1 and len(graph.output) == 1, path

    def size(value: onnx.ValueInfoProto) -> int:
        dims = value.type.tensor_type.shape.dim
        return int(np.prod([d.dim_value if d.HasField("dim_value") else 1 for d in dims]))

    return size(inputs[0]), size(graph.output[0])


def _resolve(folder: Path, csv_path: Path, rel: str) -> Path:
    """A path from an instances file. Some rows keep the layout of their source repository
    (``nets/``, ``specs/mnist/``, no folder): then the file with the same name is used, and where
    several have it, the one whose folder ends like the csv (``instances_2021.csv`` ->
    ``vnnlib_2021/``)."""
    direct = folder / rel
    if direct.is_file():
        return direct
    found = sorted(folder.rglob(Path(rel).name))
    if len(found) > 1:
        suffix = csv_path.stem.rsplit("_", 1)[-1]
        found = [f for f in found if f.parent.name.endswith(suffix)]
    assert len(found) == 1, f"{csv_path}: cannot resolve {rel!r} (candidates: {found})"
    return found[0]


def _instances(folder: Path) -> list[tuple[Path, Path]]:
    rows = []
    for csv_path in sorted(folder.glob("instances*.csv")):
        with csv_path.open(newline="") as f:
            for row in csv.reader(f):
                if row:
                    rows.append((_resolve(folder, csv_path, row[0].strip()),
                                 _resolve(folder, csv_path, row[1].strip())))
    return rows


# --------------------------------------------------------------------------------------------
# real files
# --------------------------------------------------------------------------------------------


def test_folders_are_all_listed(vnncomp: Path) -> None:
    present = sorted(p.name for p in vnncomp.iterdir() if p.is_dir())
    assert present == FOLDERS


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_file_parses(vnncomp: Path, folder: str) -> None:
    files = sorted((vnncomp / folder).rglob("*.vnnlib"))
    assert files, f"no .vnnlib file under {folder}"
    for f in files:
        prop = _read(str(f))
        assert prop.path == str(f)
        assert prop.cases
        for case in prop.cases:
            assert case.box.dim == prop.n_inputs
            assert np.all(np.isfinite(case.box.lower)) and np.all(np.isfinite(case.box.upper))
            assert np.all(case.box.lower <= case.box.upper), f
            assert case.unsafe
            for u in case.unsafe:
                assert u.C.shape == (u.d.size, prop.n_outputs), f


@pytest.mark.parametrize("folder", FOLDERS)
def test_sizes_match_the_networks_of_instances_csv(vnncomp: Path, folder: str) -> None:
    rows = _instances(vnncomp / folder)
    assert rows, f"no instances*.csv row in {folder}"
    for onnx_path, vnnlib_path in rows:
        n_in, n_out = _onnx_io_sizes(str(onnx_path))
        prop = _read(str(vnnlib_path))
        assert (prop.n_inputs, prop.n_outputs) == (n_in, n_out), (onnx_path, vnnlib_path)
    # every property of the folder is checked against a network
    listed = {v for _, v in rows}
    assert listed == set((vnncomp / folder).rglob("*.vnnlib"))


def test_size_check_names_both_numbers(vnncomp: Path) -> None:
    path = vnncomp / "acasxu" / "vnnlib" / "prop_1.vnnlib"
    assert read_vnnlib(path, n_inputs=5, n_outputs=5).n_inputs == 5
    with pytest.raises(InputError, match=r"declares 5 inputs \(X_0 \.\. X_4\) but n_inputs=784"):
        read_vnnlib(path, n_inputs=784)
    with pytest.raises(InputError, match=r"declares 5 outputs \(Y_0 \.\. Y_4\) but n_outputs=10"):
        read_vnnlib(path, n_outputs=10)


def _bounds_in_file(text: str, op: str, n: int) -> np.ndarray:
    """``(assert (op X_i v))`` values of a file, read with a plain regex (the test's own reader)."""
    found = re.findall(rf"\({re.escape(op)} X_(\d+) ([-0-9.e]+)\)", text)
    values = np.full(n, np.nan)
    for i, v in found:
        values[int(i)] = float(v)
    return values


def test_acasxu_prop6_has_two_boxes(vnncomp: Path) -> None:
    path = vnncomp / "acasxu" / "vnnlib" / "prop_6.vnnlib"
    prop = read_vnnlib(path)
    assert (prop.n_inputs, prop.n_outputs, len(prop.cases)) == (5, 5, 2)
    text = path.read_text()
    (first, second) = re.findall(r"\(and (\(<= X_0.*)\)\n", text)
    for case, conj in zip(prop.cases, (first, second), strict=True):
        np.testing.assert_array_equal(case.box.upper, _bounds_in_file(conj, "<=", 5))
        np.testing.assert_array_equal(case.box.lower, _bounds_in_file(conj, ">=", 5))
        # unsafe if COC (Y_0) is not minimal: Y_j <= Y_0 for some j, i.e. -Y_0 + Y_j <= 0
        rows = sorted(tuple(u.C[0]) for u in case.unsafe)
        expected = sorted(tuple(np.eye(5)[j] - np.eye(5)[0]) for j in range(1, 5))
        assert rows == expected
        assert all(u.d.tolist() == [0.0] for u in case.unsafe)
    assert prop.cases[0].box.lower[1] > 0 > prop.cases[1].box.upper[1]


def test_mnist_fc_2022_property(vnncomp: Path) -> None:
    path = vnncomp / "mnist_fc" / "vnnlib_2022" / "prop_0_0.03.vnnlib"
    text = path.read_text()
    label = int(re.search(r"label: (\d+)", text).group(1))  # type: ignore[union-attr]
    prop = read_vnnlib(path)
    assert (prop.n_inputs, prop.n_outputs, len(prop.cases)) == (784, 10, 1)
    (case,) = prop.cases
    assert len(case.unsafe) == 9
    others = set()
    for u in case.unsafe:  # Y_j >= Y_label  <=>  Y_label - Y_j <= 0
        assert u.C.shape == (1, 10) and u.d.tolist() == [0.0]
        (j,) = np.flatnonzero(u.C[0] == -1.0)
        assert u.C[0, label] == 1.0 and np.count_nonzero(u.C[0]) == 2
        others.add(int(j))
    assert others == set(range(10)) - {label}
    np.testing.assert_array_equal(case.box.upper, _bounds_in_file(text, "<=", 784))
    np.testing.assert_array_equal(case.box.lower, _bounds_in_file(text, ">=", 784))
    assert np.all(case.box.lower >= 0.0) and np.all(case.box.upper <= 1.0)
    assert np.all(case.box.upper - case.box.lower <= 2 * 0.03 + 1e-6)  # float32 rounding


def test_reach_prob_density_bounds_both_sides_of_an_output(vnncomp: Path) -> None:
    path = vnncomp / "reach_prob_density" / "vnnlib" / "robot_0.vnnlib"
    text = path.read_text()
    (case,) = read_vnnlib(path).cases
    (u,) = case.unsafe
    expected = [
        (1, 1.0, float(re.search(r"\(<= Y_1 ([-0-9.e]+)\)", text).group(1))),  # type: ignore
        (1, -1.0, -float(re.search(r"\(>= Y_1 ([-0-9.e]+)\)", text).group(1))),  # type: ignore
    ]
    rows = {(int(np.flatnonzero(c)[0]), float(c[np.flatnonzero(c)[0]]), d)
            for c, d in zip(u.C, u.d, strict=True)}
    assert set(expected) <= rows and len(rows) == 5


# --------------------------------------------------------------------------------------------
# hand-made properties
# --------------------------------------------------------------------------------------------

DECLS = (
    "(declare-const X_0 Real)\n(declare-const X_1 Real)\n"
    "(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
)  # lines 1-4
BOX = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 -1))\n(assert (<= X_1 1))\n"
# lines 5-8; a formula appended after BOX is on line 9


def _two_boxes() -> Property:
    """X_0 in [0, 1] or [0.5, 2]; X_1 in [-1, 1]; unsafe if Y_0 >= Y_1 or Y_1 >= 3 (box 1), or
    Y_0 <= -1 (box 2)."""
    text = DECLS + """
; two overlapping boxes (a comment with ( unbalanced parentheses
(assert (>= X_1 -1))
(assert (<= X_1 1))
(assert (or
    (and (>= X_0 0) (<= X_0 1) (or (>= Y_0 Y_1) (>= Y_1 3)))
    (and (>= X_0 0.5) (<= X_0 2) (<= Y_0 -1))
))
"""
    return parse_vnnlib(text)


def test_disjunction_is_grouped_by_box() -> None:
    prop = _two_boxes()
    assert len(prop.cases) == 2
    first, second = prop.cases
    np.testing.assert_array_equal(first.box.lower, [0.0, -1.0])
    np.testing.assert_array_equal(first.box.upper, [1.0, 1.0])
    np.testing.assert_array_equal(second.box.lower, [0.5, -1.0])
    np.testing.assert_array_equal(second.box.upper, [2.0, 1.0])
    assert [(u.C.tolist(), u.d.tolist()) for u in first.unsafe] == [
        ([[-1.0, 1.0]], [0.0]),
        ([[0.0, -1.0]], [-3.0]),
    ]
    assert [(u.C.tolist(), u.d.tolist()) for u in second.unsafe] == [([[1.0, 0.0]], [-1.0])]


# ---- an 'or' over input constraints: one case per satisfiable branch (issue 9)
ONE_IN = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"


def test_input_disjunction_keeps_only_the_satisfiable_branch() -> None:
    prop = parse_vnnlib(
        ONE_IN + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
        "(assert (or (<= X_0 -1) (>= X_0 0.5)))\n(assert (>= Y_0 Y_1))"
    )
    assert len(prop.cases) == 1
    (case,) = prop.cases
    assert (case.box.lower.tolist(), case.box.upper.tolist()) == ([0.5], [1.0])
    assert [(u.C.tolist(), u.d.tolist()) for u in case.unsafe] == [([[-1.0, 1.0]], [0.0])]
    assert prop.is_counterexample([0.75], [2.0, 1.0])
    assert not prop.is_counterexample([0.25], [2.0, 1.0])  # the empty branch adds nothing


def test_input_disjunction_drops_the_empty_branch_with_its_output_condition() -> None:
    prop = parse_vnnlib(
        ONE_IN + "(assert (and (>= X_0 0) (<= X_0 1)))\n"
        "(assert (or (and (<= X_0 -1) (>= Y_0 5)) (and (>= X_0 0.5) (>= Y_1 2))))"
    )
    (case,) = prop.cases
    assert (case.box.lower.tolist(), case.box.upper.tolist()) == ([0.5], [1.0])
    assert [(u.C.tolist(), u.d.tolist()) for u in case.unsafe] == [([[0.0, -1.0]], [-2.0])]
    assert not prop.is_counterexample([0.75], [6.0, 0.0])  # Y_0 >= 5 belonged to the empty branch


def test_input_disjunction_with_two_satisfiable_branches_gives_two_cases() -> None:
    prop = parse_vnnlib(
        ONE_IN + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
        "(assert (or (<= X_0 0.25) (>= X_0 0.5) (>= X_0 3)))\n(assert (>= Y_0 Y_1))"
    )
    assert [(c.box.lower.tolist(), c.box.upper.tolist()) for c in prop.cases] == [
        ([0.0], [0.25]),
        ([0.5], [1.0]),
    ]


def test_input_disjunction_touching_bound_is_a_point_case() -> None:
    prop = parse_vnnlib(
        ONE_IN + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
        "(assert (or (<= X_0 0) (>= X_0 7)))\n(assert (>= Y_0 Y_1))"
    )
    assert [(c.box.lower.tolist(), c.box.upper.tolist()) for c in prop.cases] == [([0.0], [0.0])]


def test_input_disjunction_with_every_branch_empty_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.vnnlib"
    f.write_text(
        ONE_IN + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n"
        "(assert (or (<= X_0 -1) (>= X_0 2)))\n(assert (>= Y_0 Y_1))"
    )
    with pytest.raises(
        InputError,
        match=rf"^{re.escape(str(f))}: the input box is empty in every one of the 2 branches: "
        r"X_0 has lower bound 0\.0 > upper bound -1\.0; fix the input bounds$",
    ):
        read_vnnlib(f)


def test_directory_is_not_a_vnnlib_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"is a directory, not a VNN-LIB file"):
        read_vnnlib(tmp_path)


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([0.2, 0.0], [2.0, 1.0], True),  # box 1, Y_0 >= Y_1
        ([0.2, 0.0], [0.0, 3.5], True),  # box 1, Y_1 >= 3
        ([0.2, 0.0], [0.0, 1.0], False),  # box 1, neither
        ([0.2, 0.0], [-2.0, 1.0], False),  # Y_0 <= -1 is unsafe only in box 2
        ([1.5, 0.0], [-2.0, 1.0], True),  # box 2
        ([1.5, 0.0], [2.0, 1.0], False),  # box 2 does not have Y_0 >= Y_1
        ([0.7, 0.0], [-2.0, 1.0], True),  # in both boxes: box 2's condition
        ([0.7, 0.0], [2.0, 1.0], True),  # in both boxes: box 1's condition
        ([3.0, 0.0], [2.0, 1.0], False),  # outside both boxes
        ([1.0 + 5e-7, 0.0], [1.0 - 5e-7, 1.0], True),  # within the default tol 1e-6
        ([1.0 + 1e-3, 0.0], [2.0, 1.0], False),  # X_0 beyond box 1 (and short of box 2)
    ],
)
def test_is_counterexample(x: list[float], y: list[float], expected: bool) -> None:
    assert _two_boxes().is_counterexample(np.array(x), np.array(y)) is expected


def test_is_counterexample_tolerance_is_a_parameter() -> None:
    prop = _two_boxes()
    assert prop.is_counterexample([0.2, 0.0], [1.0 - 1e-3, 1.0], tol=1e-2)
    assert not prop.is_counterexample([0.2, 0.0], [1.0 - 1e-3, 1.0], tol=0.0)


def test_cases_containing() -> None:
    prop = _two_boxes()
    assert prop.cases_containing(np.array([0.7, 0.0])) == [0, 1]
    assert prop.cases_containing(np.array([0.2, 0.0])) == [0]
    assert prop.cases_containing(np.array([1.5, 0.0])) == [1]
    assert prop.cases_containing(np.array([2.5, 0.0])) == []
    assert prop.cases_containing(np.array([2.0 + 1e-10, 0.0])) == [1]
    with pytest.raises(InputError, match=r"x has 3 entries, expected 2"):
        prop.cases_containing(np.zeros(3))
    with pytest.raises(InputError, match=r"y has 1 entries, expected 2"):
        prop.is_counterexample(np.zeros(2), np.zeros(1))


def test_output_constraint_holds() -> None:
    u = OutputConstraint(np.array([[1.0, -1.0], [0.0, 1.0]]), np.array([0.0, 2.0]))
    assert u.holds(np.array([1.0, 1.5]))
    assert not u.holds(np.array([1.0, 2.5]))
    assert not u.holds(np.array([1.0 + 1e-8, 1.0]))
    assert u.holds(np.array([1.0 + 1e-8, 1.0]), tol=1e-7)
    assert OutputConstraint(np.zeros((0, 2)), np.zeros(0)).holds(np.array([5.0, -5.0]))
    with pytest.raises(InputError, match=r"d has shape \(3,\), expected \(2,\)"):
        OutputConstraint(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(InputError, match=r"C must be 2-D"):
        OutputConstraint(np.zeros(2), np.zeros(2))


def test_data_model_is_frozen_and_validated() -> None:
    prop = _two_boxes()
    with pytest.raises(AttributeError):
        prop.n_inputs = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        prop.cases[0].unsafe[0].C[0, 0] = 5.0
    box = Box(np.zeros(2), np.ones(2))
    wide = OutputConstraint(np.zeros((1, 3)), np.zeros(1))
    with pytest.raises(InputError, match=r"case 0: an output constraint has 3 columns, expected "
                                         r"n_outputs=2"):
        Property(2, 2, (Case(box, (wide,)),))
    with pytest.raises(InputError, match=r"case 0: the input box has 2 entries, expected "
                                         r"n_inputs=3"):
        Property(3, 3, (Case(box, (wide,)),))


def test_linear_terms_and_numbers() -> None:
    text = DECLS + BOX + (
        "(assert (>= (+ (* 2 Y_0) (- Y_1) (- 0.5) -1e-1) (- 3 1)))\n"  # 2y0 - y1 - 0.6 >= 2
        "(assert (= Y_0 (* 0.5 Y_1 2)))\n"  # y0 - y1 <= 0 and y1 - y0 <= 0
        "(assert (< (* -2.5E+0 Y_1) .5))\n"  # -2.5 y1 <= 0.5
        "(assert (<= (- X_1) (- 0.25)))\n"  # X_1 >= 0.25
        "(assert (< (* 4 X_0) 2))\n"  # X_0 <= 0.5
        "(assert (<= 0 1))\n"  # true: no row
    )
    (case,) = parse_vnnlib(text).cases
    np.testing.assert_array_equal(case.box.lower, [0.0, 0.25])
    np.testing.assert_array_equal(case.box.upper, [0.5, 1.0])
    (u,) = case.unsafe
    np.testing.assert_allclose(u.C, [[-2.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [0.0, -2.5]])
    np.testing.assert_allclose(u.d, [-2.6, 0.0, 0.0, 0.5])


def test_nested_and_or_expand_to_dnf() -> None:
    text = DECLS + BOX + (
        "(assert (and (or (>= Y_0 1) (>= Y_1 1)) (or (<= Y_0 5) (<= Y_1 5))))\n"
        "(assert (or (>= Y_0 1) (>= Y_0 1)))\n"  # a repeated disjunct
    )
    (case,) = parse_vnnlib(text).cases
    conjunctions = {(tuple(map(tuple, u.C)), tuple(u.d)) for u in case.unsafe}
    assert len(case.unsafe) == 4 == len(conjunctions)  # 2 x 2 x 1 after de-duplication
    assert ((( -1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)), (-1.0, 5.0, -1.0)) in conjunctions


def test_declare_fun_and_ignored_commands() -> None:
    text = (
        "(set-logic QF_LRA)\n(declare-fun X_0 () Real)\n(declare-fun Y_0 () Real)\n"
        "(assert (<= X_0 1))(assert (>= X_0 -1))(assert (<= Y_0 0))\n(check-sat)\n(get-model)\n"
    )
    prop = parse_vnnlib(text)
    assert (prop.n_inputs, prop.n_outputs) == (1, 1)
    assert prop.is_counterexample([0.0], [-1.0]) and not prop.is_counterexample([0.0], [1.0])


def test_a_box_without_output_condition_is_all_unsafe() -> None:
    (case,) = parse_vnnlib(DECLS + BOX).cases
    (u,) = case.unsafe
    assert u.C.shape == (0, 2)
    assert case.output_unsafe(np.array([1e9, -1e9]))


MALFORMED = [
    (DECLS + "(assert (<= X_0 1)\n" + BOX, ParseError,
     r"^<text>:6: unbalanced parentheses: 'assert' inside another expression "
     r"\(the '\(' on line 5 is not closed\)$"),
    (DECLS + BOX + "(assert (or (>= Y_0 Y_1)\n\n", ParseError,
     r"^<text>:9: unbalanced parentheses: this '\(' is never closed: add the missing '\)'$"),
    (DECLS + BOX + "(assert (>= Y_0 Y_1)))", ParseError,
     r"^<text>:9: unbalanced parentheses: '\)' without a matching '\(': remove it or add "
     r"the missing '\('$"),
    (DECLS + BOX + "(assert (or\n (>= Y_0 Y_1)\n (xor Y_0 Y_1)))", ParseError,
     r"^<text>:11: unknown operator 'xor' \(supported: and, or, <=, >=, <, >, =, \+, -, \*\)$"),
    (DECLS + BOX + "(assert (>= Y_0 (/ Y_1 2)))", ParseError, r"^<text>:9: unknown operator '/'"),
    (DECLS + BOX + "(assert (>= Y_0\n  Y_2))", ParseError,
     r"^<text>:10: undeclared variable 'Y_2': declare it with \(declare-const Y_2 Real\)"),
    (DECLS + BOX + "; a comment\n(assert (>= Y_0 1.2.3))", ParseError,
     r"^<text>:10: bad number '1\.2\.3': write numbers like 0\.5, -2 or 1e-05$"),
    (DECLS + BOX + "(assert (>= Y_0 -))", ParseError, r"^<text>:9: bad number '-': write numbers like"),
    (DECLS + BOX + "(assert (>= Y_0 inf))", ParseError, r"^<text>:9: undeclared variable 'inf'"),
    (DECLS + BOX + "(assert (>= Y_0))", ParseError,
     r"^<text>:9: '>=' needs at least two terms, got 1$"),
    (DECLS + BOX + "(assert (>= Y_0 1) (>= Y_1 1))", ParseError,
     r"^<text>:9: 'assert' takes one formula, got 2$"),
    (DECLS + BOX + "(assert ())", ParseError, r"^<text>:9: empty expression '\(\)'$"),
    (DECLS + BOX + "(assert Y_0)", ParseError, r"^<text>:9: expected a formula, got 'Y_0'$"),
    (DECLS + BOX + "(check)", ParseError,
     r"^<text>:9: unknown command 'check' \(expected declare-const or assert\)$"),
    (DECLS + BOX + "assert", ParseError,
     r"^<text>:9: expected a command such as '\(assert \.\.\.\)' at top level, got 'assert'$"),
    (DECLS + "(declare-const X_0 Real)", ParseError,
     r"^<text>:5: variable 'X_0' is declared twice \(first on line 1\): remove one "
     r"declaration$"),
    ("(declare-const X_0 Int)", ParseError,
     r"^<text>:1: variable 'X_0' has sort 'Int': only Real is supported \(declare it "
     r"\(declare-const X_0 Real\)\)$"),
    ("\n(declare-const input_0 Real)", ParseError,
     r"^<text>:2: variable name 'input_0' is not supported"),
    ("(declare-const X_0)", ParseError,
     r"^<text>:1: malformed declaration: expected \(declare-const NAME Real\)$"),
    (DECLS + BOX + "(assert (>= Y_0\n X_1))", UnsupportedModelError,
     r"^<text>:9: the constraint mixes inputs and outputs \(X_1, Y_0\)"),
    (DECLS + BOX + "(assert (<= (+ X_0 X_1) 1))", UnsupportedModelError,
     r"^<text>:9: linear constraint over several inputs \(X_0, X_1\): only bounds on single "
     r"inputs"),
    (DECLS + BOX + "(assert (<= (* Y_0 Y_1) 1))", UnsupportedModelError,
     r"^<text>:9: nonlinear term: '\*' of two terms with variables"),
    (DECLS + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))", InputError,
     r"^<text>: input X_1 has no upper bound \(1 of 2 inputs lack one\): assert both "
     r"\(>= X_1 \.\.\.\) and \(<= X_1 \.\.\.\)$"),
    (DECLS + "(assert (or (and (>= X_0 0) (<= X_0 1)) (>= X_0 2)))\n"
     "(assert (and (>= X_1 0) (<= X_1 1)))", InputError,
     r"^<text>: input X_0 has no upper bound in case 1 of 2 \(1 of 2 inputs lack one\)"),
    (DECLS + BOX + "(assert (>= X_0 1.5))", InputError,
     r"^<text>: the input box is empty: X_0 has lower bound 1\.5 > upper bound 1\.0; fix the "
     r"input bounds$"),
    (DECLS + BOX + "(assert (or (>= X_0 1.5) (<= X_1 -2)))", InputError,
     r"^<text>: the input box is empty in every one of the 2 branches: X_0 has lower bound "
     r"1\.5 > upper bound 1\.0; fix the input bounds$"),
    (DECLS + BOX + "(assert (or))", InputError, r"^<text>: the unsafe set is empty"),
    ("(declare-const X_0 Real)(declare-const X_2 Real)(declare-const Y_0 Real)", InputError,
     r"^<text>: X_2 is declared but X_1 is not: declare X_0 \.\. X_2$"),
    ("(declare-const X_0 Real)(assert (<= X_0 1))", InputError,
     r"^<text>: no Y_ variable is declared: declare each with \(declare-const Y_0 Real\)$"),
]


@pytest.mark.parametrize(("text", "error", "message"), MALFORMED,
                         ids=[f"malformed{i}" for i in range(len(MALFORMED))])
def test_malformed_input(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as info:
        parse_vnnlib(text, path="<text>")
    if isinstance(info.value, ParseError):
        assert info.value.path == "<text>"
        assert info.value.line == int(message.split(":")[1])


def test_parse_error_line_counts_comment_lines() -> None:
    text = DECLS + "; (assert (<= X_0 1)) in a comment ;; with ))\n" + BOX + "(assert (>= Y_0 Z))"
    with pytest.raises(ParseError) as info:
        parse_vnnlib(text)
    assert info.value.line == 10 and info.value.path is None


def test_too_many_disjuncts() -> None:
    n = 14  # 2**14 = 16384 > 10000
    assert 2**n > MAX_DISJUNCTS > 2 ** (n - 1)
    text = DECLS + BOX + "".join(f"(assert (or (>= Y_0 {i}) (<= Y_1 {i})))\n" for i in range(n))
    with pytest.raises(UnsupportedModelError,
                       match=rf"^<text>:{9 + n - 1}: the formula expands to 16384 disjuncts in "
                             r"disjunctive normal form, more than the limit of 10000"):
        parse_vnnlib(text, path="<text>")
    (case,) = parse_vnnlib(text.rsplit("(assert", 1)[0]).cases  # 2**13 = 8192 is fine
    assert len(case.unsafe) == 2 ** (n - 1)


def test_missing_and_compressed_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"VNN-LIB file not found: .*nope\.vnnlib"):
        read_vnnlib(tmp_path / "nope.vnnlib")
    text = DECLS + BOX + "(assert (>= Y_0 Y_1))"
    gz = tmp_path / "p.vnnlib.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    from_gz = read_vnnlib(gz)
    assert from_gz.path == str(gz)
    assert from_gz == parse_vnnlib(text, path=str(gz))
    np.testing.assert_array_equal(from_gz.cases[0].unsafe[0].C, [[-1.0, 1.0]])
    assert from_gz != parse_vnnlib(text.replace("(>= Y_0 Y_1)", "(>= Y_0 1)"), path=str(gz))


# --------------------------------------------------------------------------------------------
# counterexamples
# --------------------------------------------------------------------------------------------


def test_format_counterexample() -> None:
    text = format_counterexample(np.array([0.5, -1.0]), np.array([0.1]))
    assert text == "sat\n((X_0 0.5)\n (X_1 -1.0)\n (Y_0 0.1))\n"


def test_counterexample_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(20) * 10.0 ** rng.integers(-12, 12, 20),
                        [1 / 3, -0.0, 5e-324, 1e300]])
    y = rng.standard_normal(10)
    path = tmp_path / "cex.txt"
    write_counterexample(path, x, y)
    x2, y2 = read_counterexample(path)
    assert x2.dtype == np.float64 and x2.tobytes() == x.tobytes()
    assert y2.tobytes() == y.tobytes()


def test_counterexample_of_a_real_property(vnncomp: Path, tmp_path: Path) -> None:
    """A point of ACAS Xu property 6 whose outputs make COC not minimal, checked after reading
    the file back."""
    prop = read_vnnlib(vnncomp / "acasxu" / "vnnlib" / "prop_6.vnnlib")
    x = prop.cases[1].box.center()
    y = np.array([0.3, 0.2, 0.5, 0.6, 0.7])  # Y_1 <= Y_0
    write_counterexample(tmp_path / "cex", x, y)
    x2, y2 = read_counterexample(tmp_path / "cex")
    assert prop.is_counterexample(x2, y2)
    assert not prop.is_counterexample(x2, np.array([0.1, 0.2, 0.5, 0.6, 0.7]))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unsat\n", r"^.*cex:1: expected 'sat' as the first word of a counterexample file, got "
                    r"'unsat'"),
        ("", r"got 'nothing'"),
        ("sat\n((X_0 1.0)\n (X_2 1.0)\n (Y_0 1.0))", r"X_1 is missing: a counterexample lists"),
        ("sat\n((X_0 1.0)\n (Y_0 abc))", r"^.*cex:3: bad number 'abc' for Y_0$"),
        ("sat\n((X_0 1.0)\n (Z_0 1.0))", r"^.*cex:3: expected a variable X_<i> or Y_<j>, got"),
        ("sat\n((X_0 1.0)\n (X_0 2.0) (Y_0 1.0))", r"^.*cex:3: X_0 is given twice$"),
        ("sat\n((X_0 1.0))", r"no Y_ value is given"),
    ],
)
def test_malformed_counterexample(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cex"
    path.write_text(text)
    with pytest.raises(ParseError, match=message):
        read_counterexample(path)


def test_counterexample_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"counterexample file not found: .*missing"):
        read_counterexample(tmp_path / "missing")
    with pytest.raises(InputError, match=r"x\[1\] is nan: a counterexample must be finite"):
        format_counterexample(np.array([0.0, np.nan]), np.zeros(1))
    with pytest.raises(InputError, match=r"y is empty"):
        write_counterexample(tmp_path / "c", np.zeros(1), np.zeros(0))

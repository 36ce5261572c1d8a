"""Property-based tests (hypothesis) of the VNN-LIB reader (:mod:`surrogate.vnnlib.parser`).

Random valid properties, written in the many ways the grammar allows, read back to exactly the
boxes and output constraints they were written from; an ``or`` over input intervals gives one case
per non-empty branch; random garbage and mutated files raise nothing but
:class:`surrogate.errors.SurrogateError`. The ONNX reader's counterpart is
``tests/network/test_onnx_properties.py``.

The default runs are short (``max_examples`` 50, no deadline, about 1 s in all);
``SURROGATE_HYPOTHESIS_EXAMPLES=2000`` explores further.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from surrogate.errors import InputError, SurrogateError
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

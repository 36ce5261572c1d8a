"""Read VNN-LIB property files into plain data (:mod:`surrogate.vnnlib.spec`).

VNN-LIB (https://www.vnnlib.org, a subset of SMT-LIB 2) describes the **unsafe** set of a
verification query on a network ``y = f(x)``::

    (declare-const X_0 Real) ... (declare-const Y_0 Real) ...
    (assert (<= X_0 0.5)) (assert (>= X_0 -0.5)) ...          ; input bounds
    (assert (or (and (>= Y_1 Y_0)) (and (>= Y_2 Y_0))))       ; condition on the outputs

All ``assert`` s are conjoined. ``sat`` means a counterexample exists: an ``x`` in the input set
whose output ``f(x)`` meets the output condition.

The reader normalises the conjunction of all asserts to disjunctive normal form (DNF),
``OR_k AND_l atom_kl``, where every atom is a linear inequality ``sum_v a_v v <= b``. In each
disjunct the atoms on a single ``X_i`` against a constant become bounds of an input box, and the
atoms over outputs only become the rows of ``C y <= d``. Disjuncts with the same input box are
grouped into one :class:`Case`, so the unsafe set is::

    U = union over cases c of  { (x, y) : x in box_c  and  OR_k  C_ck y <= d_ck }.

Supported syntax: ``declare-const`` / ``declare-fun X_0 () Real``; ``assert`` over any nesting of
``and`` / ``or`` (plus the constants ``true`` / ``false``) of comparisons ``<=``, ``>=``, ``<``,
``>``, ``=`` (strict comparisons are read as non-strict, ``=`` as two inequalities, chains
``(<= a b c)`` as ``a <= b and b <= c``) between linear terms: numbers (``-0.5``, ``1e-05``),
variables, ``(+ ...)``, ``(- a)``, ``(- a b ...)``, ``(* c X)``. ``check-sat``, ``get-model``,
``set-logic``, ``set-info``, ``set-option`` and ``exit`` are ignored. Comments run from ``;`` to the
end of the line.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import InputError, ModelFileError, ParseError, UnsupportedModelError
from surrogate.sets import Box
from surrogate.vnnlib.spec import Case, OutputConstraint, Property

__all__ = [
    "MAX_DISJUNCTS",
    "Case",  # the data model (surrogate.vnnlib.spec), re-exported with the reader that makes it
    "OutputConstraint",
    "Property",
    "parse_vnnlib",
    "read_vnnlib",
]

MAX_DISJUNCTS = 10_000
"""Largest number of DNF disjuncts the reader expands before giving up."""


def read_vnnlib(
    path: str | Path, *, n_inputs: int | None = None, n_outputs: int | None = None
) -> Property:
    """Read a ``.vnnlib`` (or ``.vnnlib.gz``) file; see :func:`parse_vnnlib`."""
    p = Path(path)
    if p.is_dir():
        raise ModelFileError(
            f"{p} is a directory, not a VNN-LIB file: give the path of a .vnnlib file in it"
        )
    if not p.is_file():
        raise ModelFileError(f"VNN-LIB file not found: {p} (check the path)")
    try:
        raw = p.read_bytes()
        if p.suffix == ".gz":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise ModelFileError(
            f"cannot read VNN-LIB file {p} as UTF-8 text ({exc}): save it as UTF-8 text (or a "
            "whole gzip of it for .gz)"
        ) from exc
    return parse_vnnlib(text, path=str(p), n_inputs=n_inputs, n_outputs=n_outputs)


def parse_vnnlib(
    text: str,
    *,
    path: str | None = None,
    n_inputs: int | None = None,
    n_outputs: int | None = None,
) -> Property:
    """Parse VNN-LIB ``text`` into a :class:`Property`.

    ``n_inputs`` / ``n_outputs``, when given (e.g. from the network), must equal the number of
    declared ``X_i`` / ``Y_j``. Raises :class:`ParseError` (with the line) for syntax errors,
    :class:`UnsupportedModelError` for constraints outside the box-plus-output-polytope form, and
    :class:`InputError` for an incomplete or inconsistent property."""
    return _Reader(text, path).read(n_inputs, n_outputs)


# Atoms of a conjunction, after normalisation to ``sum a_v v <= b``:
#   (_UPPER, i, b): X_i <= b      (_LOWER, i, b): X_i >= b      (_OUT, {j: a_j}, b): a . y <= b
_UPPER, _LOWER, _OUT = 0, 1, 2
Atom = tuple[int, Any, float]  # Any: an input index (int) or output coefficients (dict)
Conj = list[Atom]

# A linear term: ({key: coefficient}, constant); key i >= 0 is X_i, key ~j (= -1 - j) is Y_j.
Linear = tuple[dict[int, float], float]

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NAME_RE = re.compile(r"([XY])_(0|[1-9]\d*)\Z")
_COMMENT_RE = re.compile(r";[^\n]*")
# Whole comparisons and declarations of the usual shape are single tokens (the files are mostly
# made of them); everything else is '(', ')' or a symbol. Both shapes mean exactly what the
# general grammar would read.
_TOKEN_RE = re.compile(
    r"(?P<cmp>\(\s*(?P<cop><=|>=|<|>|=)\s+(?P<ca>[^\s()]+)\s+(?P<cb>[^\s()]+)\s*\))"
    r"|(?P<decl>\(\s*declare-const\s+(?P<dn>[^\s()]+)\s+(?P<ds>[^\s()]+)\s*\))"
    r"|(?P<open>\()|(?P<close>\))|(?P<sym>[^\s()]+)"
)
_COMPARISONS = ("<=", ">=", "<", ">", "=")
_COMMANDS = ("assert", "declare-const", "declare-fun")
_IGNORED = ("check-sat", "get-model", "set-logic", "set-info", "set-option", "exit")
_OPERATORS = "and, or, <=, >=, <, >, =, +, -, *"

Leaf = tuple[str, int]  # (text, offset)


class _Form:
    """A parenthesised expression: its items (leaves or forms) and the offset of its '('."""

    __slots__ = ("items", "pos")

    def __init__(self, items: list[Leaf | _Form], pos: int):
        self.items = items
        self.pos = pos


Node = Leaf | _Form


class _Reader:
    """One pass over one file: tokens -> forms -> declarations and DNF -> cases."""

    def __init__(self, text: str, path: str | None):
        # comments are removed but newlines kept, so offsets still give the right line
        self.text = _COMMENT_RE.sub("", text)
        self.path = path
        self.vars: dict[str, tuple[int, int]] = {}  # name -> (key, offset of its declaration)

    # ---- errors ----------------------------------------------------------------------------
    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def parse_error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, path=self.path, line=self.line(pos))

    def unsupported(self, message: str, pos: int) -> UnsupportedModelError:
        where = f"{self.path}:" if self.path is not None else ""
        return UnsupportedModelError(f"{where}{self.line(pos)}: {message}")

    def input_error(self, message: str) -> InputError:
        return InputError(f"{self.path}: {message}" if self.path is not None else message)

    # ---- syntax ----------------------------------------------------------------------------
    def forms(self) -> list[Node]:
        """The top-level expressions, as nested :class:`_Form` s with ``(text, offset)`` leaves."""
        top: list[Node] = []
        stack: list[_Form] = []
        items = top
        for m in _TOKEN_RE.finditer(self.text):
            kind = m.lastgroup
            if kind == "cmp":
                items.append(_Form([(m["cop"], m.start("cop")), (m["ca"], m.start("ca")),
                                    (m["cb"], m.start("cb"))], m.start()))
            elif kind == "open":
                form = _Form([], m.start())
                items.append(form)
                stack.append(form)
                items = form.items
            elif kind == "close":
                if not stack:
                    raise self.parse_error(
                        "unbalanced parentheses: ')' without a matching '(': remove it or add "
                        "the missing '('", m.start()
                    )
                stack.pop()
                items = stack[-1].items if stack else top
            elif kind == "sym":
                if not items and len(stack) > 1 and m[0] in _COMMANDS:
                    raise self.unclosed(stack[0], m[0], m.start())
                items.append((m[0], m.start()))
            else:  # decl
                if stack:
                    raise self.unclosed(stack[0], "declare-const", m.start())
                items.append(_Form([("declare-const", m.start() + m[0].index("d")),
                                    (m["dn"], m.start("dn")), (m["ds"], m.start("ds"))],
                                   m.start()))
        if stack:
            raise self.parse_error(
                "unbalanced parentheses: this '(' is never closed: add the missing ')'",
                stack[0].pos
            )
        return top

    def unclosed(self, outer: _Form, command: str, pos: int) -> ParseError:
        return self.parse_error(
            f"unbalanced parentheses: '{command}' inside another expression (the '(' on line "
            f"{self.line(outer.pos)} is not closed)",
            pos,
        )

    def head(self, form: _Form) -> str:
        """The operator or command name that opens ``form``."""
        return self.head_leaf(form)[0]

    def head_leaf(self, form: _Form) -> Leaf:
        if not form.items:
            raise self.parse_error("empty expression '()'", form.pos)
        first = form.items[0]
        if isinstance(first, _Form):
            raise self.parse_error("expected an operator name after '(', got '('", first.pos)
        return first

    def unknown_operator(self, form: _Form) -> ParseError:
        op, pos = self.head_leaf(form)
        return self.parse_error(f"unknown operator '{op}' (supported: {_OPERATORS})", pos)

    # ---- commands --------------------------------------------------------------------------
    def read(self, n_inputs: int | None, n_outputs: int | None) -> Property:
        disjuncts: list[Conj] = [[]]
        for node in self.forms():
            if not isinstance(node, _Form):
                raise self.parse_error(
                    f"expected a command such as '(assert ...)' at top level, got '{node[0]}'",
                    node[1],
                )
            name = self.head(node)
            if name == "assert":
                if len(node.items) != 2:
                    raise self.parse_error(
                        f"'assert' takes one formula, got {len(node.items) - 1}", node.pos
                    )
                disjuncts = self.conjoin(disjuncts, self.dnf(node.items[1]), node.pos)
            elif name in ("declare-const", "declare-fun"):
                self.declare(node, name)
            elif name not in _IGNORED:
                raise self.parse_error(
                    f"unknown command '{name}' (expected declare-const or assert)", node.pos
                )
        nx, ny = self.counts()
        self.check_count("inputs", "X", nx, n_inputs, "n_inputs")
        self.check_count("outputs", "Y", ny, n_outputs, "n_outputs")
        if not disjuncts:
            raise self.input_error(
                "the unsafe set is empty (the asserts contradict each other through "
                "'false', an empty 'or' or a false constant comparison)"
            )
        return Property(nx, ny, self.cases(disjuncts, nx, ny), self.path)

    def declare(self, node: _Form, command: str) -> None:
        args = node.items[1:]
        if command == "declare-fun":
            ok = len(args) == 3 and isinstance(args[1], _Form) and not args[1].items
            args = [args[0], args[2]] if ok else []
        leaves = [a for a in args if not isinstance(a, _Form)]
        if len(args) != 2 or len(leaves) != 2:
            raise self.parse_error(
                f"malformed declaration: expected ({command} NAME "
                f"{'() ' if command == 'declare-fun' else ''}Real)",
                node.pos,
            )
        (name, pos), (sort, sort_pos) = leaves
        m = _NAME_RE.match(name)
        if m is None:
            raise self.parse_error(
                f"variable name '{name}' is not supported: VNN-LIB names inputs X_<i> and "
                "outputs Y_<j>",
                pos,
            )
        if sort != "Real":
            raise self.parse_error(
                f"variable '{name}' has sort '{sort}': only Real is supported (declare it "
                f"(declare-const {name} Real))", sort_pos
            )
        if name in self.vars:
            first = self.line(self.vars[name][1])
            raise self.parse_error(
                f"variable '{name}' is declared twice (first on line {first}): remove one "
                "declaration", pos
            )
        index = int(m[2])
        self.vars[name] = (index if m[1] == "X" else ~index, pos)

    def counts(self) -> tuple[int, int]:
        """Numbers of inputs and outputs; the indices must be ``0..n-1`` without gaps."""
        result = []
        for prefix, keys in (("X", [k for k, _ in self.vars.values() if k >= 0]),
                             ("Y", [~k for k, _ in self.vars.values() if k < 0])):
            if not keys:
                raise self.input_error(
                    f"no {prefix}_ variable is declared: declare each with "
                    f"(declare-const {prefix}_0 Real)"
                )
            n = max(keys) + 1
            if len(keys) != n:
                missing = min(set(range(n)) - set(keys))
                raise self.input_error(
                    f"{prefix}_{n - 1} is declared but {prefix}_{missing} is not: declare "
                    f"{prefix}_0 .. {prefix}_{n - 1}"
                )
            result.append(n)
        return result[0], result[1]

    def check_count(self, what: str, prefix: str, declared: int, expected: int | None,
                    arg: str) -> None:
        if expected is not None and declared != expected:
            raise self.input_error(
                f"the property declares {declared} {what} ({prefix}_0 .. {prefix}_{declared - 1})"
                f" but {arg}={expected} (the network's size): use the property written for "
                "this network"
            )

    # ---- formulas --------------------------------------------------------------------------
    def conjoin(self, a: list[Conj], b: list[Conj], pos: int) -> list[Conj]:
        """DNF of ``A and B``: every pairing of a disjunct of A with one of B.

        Each conjunction list is owned by exactly one DNF, so extending in place is safe."""
        if len(b) == 1:
            for conj in a:
                conj.extend(b[0])
            return a
        if len(a) == 1:
            for conj in b:
                conj[:0] = a[0]
            return b
        self.check_size(len(a) * len(b), pos)
        return [x + y for x in a for y in b]

    def check_size(self, n: int, pos: int) -> None:
        if n > MAX_DISJUNCTS:
            raise self.unsupported(
                f"the formula expands to {n} disjuncts in disjunctive normal form, more than "
                f"the limit of {MAX_DISJUNCTS}: split the property into several files",
                pos,
            )

    def dnf(self, node: Node) -> list[Conj]:
        """The formula ``node`` as a list of conjunctions of atoms (``[]`` is false)."""
        if not isinstance(node, _Form):
            if node[0] == "true":
                return [[]]
            if node[0] == "false":
                return []
            raise self.parse_error(f"expected a formula, got '{node[0]}'", node[1])
        op = self.head(node)
        if op in _COMPARISONS:
            conj = self.comparison(node, op)
            return [] if conj is None else [conj]
        if op == "and":
            result: list[Conj] = [[]]
            for child in node.items[1:]:
                result = self.conjoin(result, self.dnf(child), node.pos)
            return result
        if op == "or":
            result = []
            for child in node.items[1:]:
                result.extend(self.dnf(child))
                self.check_size(len(result), node.pos)
            return result
        raise self.unknown_operator(node)

    def comparison(self, node: _Form, op: str) -> Conj | None:
        """The atoms of ``(op t1 t2 ...)``; ``None`` if a constant comparison is false."""
        terms = node.items[1:]
        if len(terms) < 2:
            raise self.parse_error(f"'{op}' needs at least two terms, got {len(terms)}", node.pos)
        lin = [self.term(t) for t in terms]
        conj: Conj = []
        for a, b in zip(lin, lin[1:], strict=False):
            diffs = []  # each d means d <= 0
            if op in ("<=", "<", "="):
                diffs.append(_sub(a, b))
            if op in (">=", ">", "="):
                diffs.append(_sub(b, a))
            for d in diffs:
                atom = self.atom(d, node.pos)
                if atom is False:
                    return None
                if atom is not True:
                    conj.append(atom)
        return conj

    def atom(self, lin: Linear, pos: int) -> Atom | bool:
        """Classify ``sum a_v v + c <= 0`` as an input bound or an output row (or a constant)."""
        coefs = {k: a for k, a in lin[0].items() if a != 0.0}
        rhs = 0.0 - lin[1]  # never -0.0, so equal bounds compare equal byte for byte
        if not coefs:
            return rhs >= 0.0
        inputs = [k for k in coefs if k >= 0]
        if inputs and len(inputs) < len(coefs):
            raise self.unsupported(
                f"the constraint mixes inputs and outputs ({self.names(coefs)}): only input "
                "bounds and constraints on the outputs are supported",
                pos,
            )
        if not inputs:
            return (_OUT, {~k: a + 0.0 for k, a in coefs.items()}, rhs)
        if len(inputs) > 1:
            raise self.unsupported(
                f"linear constraint over several inputs ({self.names(coefs)}): only bounds on "
                "single inputs (an input box) are supported",
                pos,
            )
        (i, a), = coefs.items()
        return (_UPPER, i, rhs / a + 0.0) if a > 0 else (_LOWER, i, rhs / a + 0.0)

    @staticmethod
    def names(coefs: dict[int, float]) -> str:
        ordered = sorted(coefs, key=lambda k: (k < 0, k if k >= 0 else ~k))  # X_0.., then Y_0..
        return ", ".join(f"X_{k}" if k >= 0 else f"Y_{~k}" for k in ordered)

    def term(self, node: Node) -> Linear:
        """A linear term ``({key: coefficient}, constant)``."""
        if not isinstance(node, _Form):
            text, pos = node
            var = self.vars.get(text)
            if var is not None:
                return {var[0]: 1.0}, 0.0
            if _NUMBER_RE.match(text):
                return {}, float(text)
            if text[0].isalpha() or text[0] == "_":
                raise self.parse_error(
                    f"undeclared variable '{text}': declare it with (declare-const {text} Real)"
                    " before use",
                    pos,
                )
            raise self.parse_error(
                f"bad number '{text}': write numbers like 0.5, -2 or 1e-05", pos
            )
        op = self.head(node)
        args = [self.term(t) for t in node.items[1:]]
        if op in ("+", "-", "*") and not args:
            raise self.parse_error(f"'{op}' needs at least one term", node.pos)
        if op == "+":
            return _sum(args)
        if op == "-":
            if len(args) == 1:
                return _scale(args[0], -1.0)
            return _sum([args[0]] + [_scale(a, -1.0) for a in args[1:]])
        if op == "*":
            return self.product(args, node.pos)
        if op in _COMPARISONS or op in ("and", "or"):
            raise self.parse_error(f"expected a term, got the formula '({op} ...)'", node.pos)
        raise self.unknown_operator(node)

    def product(self, args: list[Linear], pos: int) -> Linear:
        factor = 1.0
        variable: Linear | None = None
        for a in args:
            if not a[0]:
                factor *= a[1]
            elif variable is None:
                variable = a
            else:
                raise self.unsupported(
                    "nonlinear term: '*' of two terms with variables; only a constant times a "
                    "linear term is supported",
                    pos,
                )
        return _scale(variable, factor) if variable is not None else ({}, factor)

    # ---- cases -----------------------------------------------------------------------------
    def cases(self, disjuncts: list[Conj], nx: int, ny: int) -> tuple[Case, ...]:
        """Group the disjuncts by input box, in the order of first appearance (repeated output
        conjunctions within a case are kept once).

        A disjunct whose input box is empty (e.g. the branch ``X_0 <= -1`` of an ``or`` when other
        asserts put ``X_0`` in ``[0, 1]``) holds for no input and is dropped; only when every
        disjunct's box is empty is the property refused."""
        grouped: dict[bytes, tuple[np.ndarray, np.ndarray, dict[bytes, OutputConstraint]]] = {}
        empty: tuple[np.ndarray, np.ndarray] | None = None
        for conj in disjuncts:
            lo, hi, rows = _split(conj, nx)
            if np.any(lo > hi):
                if empty is None:
                    empty = (lo, hi)
                continue
            c, d = _rows(rows, ny)
            entry = grouped.setdefault(lo.tobytes() + hi.tobytes(), (lo, hi, {}))
            entry[2].setdefault(c.tobytes() + d.tobytes(), OutputConstraint(c, d))
        if not grouped and empty is not None:
            lo, hi = empty
            i = int(np.flatnonzero(lo > hi)[0])
            branches = f"every one of the {len(disjuncts)} branches" if len(disjuncts) > 1 else ""
            raise self.input_error(
                f"the input box is empty{' in ' + branches if branches else ''}: X_{i} has lower "
                f"bound {float(lo[i])!r} > upper bound {float(hi[i])!r}; fix the input bounds"
            )
        cases = []
        for k, (lo, hi, unsafe) in enumerate(grouped.values()):
            self.check_box(lo, hi, k, len(grouped))
            cases.append(Case(Box(lo, hi), tuple(unsafe.values())))
        return tuple(cases)

    def check_box(self, lo: np.ndarray, hi: np.ndarray, k: int, n_cases: int) -> None:
        where = f" in case {k} of {n_cases}" if n_cases > 1 else ""
        for side, values in (("lower", lo), ("upper", hi)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                raise self.input_error(
                    f"input X_{i} has no {side} bound{where} ({bad.size} of {lo.size} inputs lack "
                    f"one): "
                    f"assert both (>= X_{i} ...) and (<= X_{i} ...)"
                )


def _split(conj: Conj, nx: int) -> tuple[np.ndarray, np.ndarray, Conj]:
    """The tightest input bounds of a conjunction (infinite where none) and its output rows."""
    lo = [-np.inf] * nx
    hi = [np.inf] * nx
    rows: Conj = []
    for atom in conj:
        kind, index, bound = atom
        if kind == _UPPER:
            if bound < hi[index]:
                hi[index] = bound
        elif kind == _LOWER:
            if bound > lo[index]:
                lo[index] = bound
        else:
            rows.append(atom)
    return np.array(lo), np.array(hi), rows


def _rows(rows: Conj, ny: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.zeros((len(rows), ny))
    d = np.empty(len(rows))
    for r, (_, coefs, bound) in enumerate(rows):
        for j, a in coefs.items():
            c[r, j] = a
        d[r] = bound
    return c, d


def _sub(a: Linear, b: Linear) -> Linear:
    coefs = dict(a[0])
    for k, v in b[0].items():
        coefs[k] = coefs.get(k, 0.0) - v
    return coefs, a[1] - b[1]


def _scale(a: Linear, s: float) -> Linear:
    return {k: s * v for k, v in a[0].items()}, s * a[1]


def _sum(terms: list[Linear]) -> Linear:
    coefs: dict[int, float] = {}
    const = 0.0
    for t in terms:
        for k, v in t[0].items():
            coefs[k] = coefs.get(k, 0.0) + v
        const += t[1]
    return coefs, const

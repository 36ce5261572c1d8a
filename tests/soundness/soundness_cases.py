"""Generated verification instances with exact ground truth, for the soundness tests.

Each :class:`Case` is a tiny ReLU network (1 or 2 inputs, float32 weights, so the ONNX file holds
exactly the network the oracle sees), an input box and an unsafe set ``OR_k (C_k y <= d)``, with
the exact ``min t`` from :mod:`exact_oracle`. The threshold ``d`` is placed so that the true
minimum sits at a chosen margin (``+-1e-3`` down to ``+-1e-9``, or exactly 0): the cases are
decided by a hair on purpose. Families (see :data:`FAMILIES`): well-scaled random nets, big and
tiny weights, constant neurons far from 0 (a zero-width input times a huge weight), a tiny
weight on a neuron with a very wide range, very wide boxes, and disjunctions of conjunctions.

:func:`run_case` writes the ONNX and VNN-LIB files, runs ``verify_instance`` (the public path)
and :func:`judge` decides whether its answer is wrong against the exact truth: an ``unsat`` is
wrong when ``min t <= 0``; a ``sat`` is wrong when its point is outside the box or, evaluated
exactly, misses the unsafe set by more than float64 rounding could explain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from exact_oracle import Exact, exact_minimum, exact_t

from surrogate.network.onnx_io import write_onnx
from surrogate.network.spec import DenseLayer, Network

MARGINS = (0.1, 1e-2, 1e-3, 1e-5, 1e-7, 1e-9, 0.0, -1e-9, -1e-7, -1e-5, -1e-3, -1e-2, -0.1)


@dataclass
class Case:
    name: str
    family: str
    network: Network
    lower: np.ndarray
    upper: np.ndarray
    conjunctions: list[tuple[np.ndarray, np.ndarray]]  # rows C y <= d
    exact: Exact
    meta: dict = field(default_factory=dict)

    @property
    def truth(self) -> str:
        return "sat" if self.exact.sat else "unsat"


def f32(a: np.ndarray | list) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _net(layers: list[tuple[np.ndarray, np.ndarray]]) -> Network:
    out = []
    for i, (w, b) in enumerate(layers):
        act = "linear" if i == len(layers) - 1 else "relu"
        out.append(DenseLayer(f32(w), f32(b), act))
    return Network(tuple(out))


def with_margin(network: Network, lower: np.ndarray, upper: np.ndarray,
                rows: list[np.ndarray], margin: float) -> tuple[list, Exact]:
    """Conjunctions ``C_k y <= d`` (one shared ``d``) whose exact ``min t`` is ``margin`` up to
    the float rounding of ``d``; returns them and the exact answer for the ``d`` used."""
    base = [(C, np.zeros(C.shape[0])) for C in rows]
    ex0 = exact_minimum(network, lower, upper, base)
    d = float(ex0.value - Fraction(margin))
    conj = [(C, np.full(C.shape[0], d)) for C in rows]
    # a shared threshold shifts every row alike: min t = t0 - d exactly, attained at the same x
    return conj, Exact(ex0.value - Fraction(d), ex0.x, ex0.regions)


def _rows(rng: np.random.Generator, n_out: int, disjuncts: int, max_rows: int) -> list[np.ndarray]:
    rows = []
    for _ in range(disjuncts):
        m = int(rng.integers(1, max_rows + 1))
        C = f32(rng.choice([-1.0, 1.0, 0.0, 0.5, -2.0], size=(m, n_out)))
        C[np.all(C == 0, axis=1), int(rng.integers(n_out))] = 1.0
        rows.append(C)
    return rows


def _box(rng: np.random.Generator, n: int, width: float = 1.0, zero_width: float = 0.2):
    lo = f32(rng.uniform(-width, 0.0, size=n))
    hi = f32(lo + rng.uniform(0.05, 1.0, size=n) * width)
    fixed = rng.random(n) < zero_width
    if fixed.all():
        fixed[int(rng.integers(n))] = False
    hi = np.where(fixed, lo, hi)
    return lo, hi


def random_case(rng: np.random.Generator, *, weight_scale: float = 1.0, box_width: float = 1.0,
                disjuncts: int | None = None, tiny_layer: bool = False) -> tuple:
    n = int(rng.integers(1, 3))
    widths = [int(w) for w in rng.integers(2, 5, size=int(rng.integers(1, 3)))]
    n_out = int(rng.integers(1, 4))
    sizes = [n, *widths, n_out]
    layers = []
    for i in range(len(sizes) - 1):
        w = rng.normal(size=(sizes[i + 1], sizes[i])) * weight_scale
        b = rng.normal(size=sizes[i + 1]) * 0.5 * weight_scale * max(1.0, box_width ** 0.5)
        if tiny_layer and i == len(sizes) - 2:
            w = w * 10.0 ** rng.uniform(-8, -5) / weight_scale
        layers.append((w, b))
    net = _net(layers)
    lo, hi = _box(rng, n, box_width)
    k = disjuncts if disjuncts is not None else int(rng.integers(1, 3))
    return net, lo, hi, _rows(rng, n_out, k, 2)


def constant_neuron_case(rng: np.random.Generator) -> tuple:
    """Issue 9, family 1: a neuron fixed near ``S * x0`` (``S x0`` up to 1e12) by a zero-width
    input, next to a narrow tent in the other input whose peak decides the answer."""
    scale = 10.0 ** rng.uniform(4, 6.5)
    x0 = float(np.float32(10.0 ** rng.uniform(3, 6) + rng.random()))
    c = float(rng.uniform(0.2, 0.8))
    w_tent = 10.0 ** rng.uniform(-6, -4)
    peak = 10.0 ** rng.uniform(5, 6.5)
    W1 = [[scale, 0], [0, 1], [0, 1], [0, 1]]
    b1 = [0.3, -(c - w_tent), -c, -(c + w_tent)]
    W2 = [[0, peak, -2 * peak, peak], [1, 0, 0, 0]]
    net = _net([(np.array(W1), np.array(b1)), (np.array(W2), np.zeros(2))])
    lo, hi = f32([x0, 0.0]), f32([x0, 1.0])
    return net, lo, hi, [f32([[-1.0, 0.0]])]  # -Y_0 <= d  (Y_0 >= -d)


def tiny_on_wide_case(rng: np.random.Generator) -> tuple:
    """Issue 9, family 2: a weight of 1e-9..5e-8 on a ReLU ranging over up to 1e6, beside a
    narrow tent of large weights; HiGHS 1.16's dominated-column presolve got these wrong."""
    R = 10.0 ** rng.uniform(3, 6)
    w_small = 10.0 ** rng.uniform(-9, np.log10(5e-8))
    c = float(rng.uniform(0.2, 0.8))
    w_tent = 10.0 ** rng.uniform(-5.5, -4)
    peak = 10.0 ** rng.uniform(4, 5.5)
    W1 = [[1, 0], [0, 1], [0, 1], [0, 1]]
    b1 = [-R / 3, -(c - w_tent), -c, -(c + w_tent)]
    W2 = [[w_small, peak, -2 * peak, peak]]
    net = _net([(np.array(W1), np.array(b1)), (np.array(W2), np.zeros(1))])
    lo, hi = f32([0.0, 0.0]), f32([R, 1.0])
    return net, lo, hi, [f32([[-1.0]])]


def issue_family_1() -> tuple:
    """Exactly the instance of issue 9 (family 1); truth: sat."""
    W1 = [[1e6, 0], [0, 1], [0, 1], [0, 1]]
    b1 = [0.3, -0.731199, -0.7312, -0.731201]
    W2 = [[0, 1e6, -2e6, 1e6], [1, 0, 0, 0]]
    net = _net([(np.array(W1), np.array(b1)), (np.array(W2), np.zeros(2))])
    x0 = 1000000.3333333
    return net, np.array([x0, 0.0]), np.array([x0, 1.0]), [(f32([[-1.0, 0.0]]), np.array([-0.5]))]


def issue_family_2() -> tuple:
    """Exactly the instance of issue 9 (family 2); truth: sat."""
    W1 = [[1, 0], [0, 1], [0, 1], [0, 1]]
    b1 = [-333333.33, -0.73119, -0.7312, -0.73121]
    W2 = [[5e-8, 1e5, -2e5, 1e5]]
    net = _net([(np.array(W1), np.array(b1)), (np.array(W2), np.zeros(1))])
    return net, np.array([0.0, 0.0]), np.array([1e6, 1.0]), [(f32([[-1.0]]), np.array([-1.02]))]


Generator = Callable[[np.random.Generator], tuple]

FAMILIES: dict[str, Generator] = {
    "random": lambda rng: random_case(rng),
    "big-weights": lambda rng: random_case(rng, weight_scale=10.0 ** rng.uniform(3, 6)),
    "tiny-weights": lambda rng: random_case(rng, tiny_layer=True),
    "wide-box": lambda rng: random_case(rng, box_width=10.0 ** rng.uniform(3, 6)),
    "disjunction": lambda rng: random_case(rng, disjuncts=int(rng.integers(2, 4))),
    "constant-neuron": constant_neuron_case,
    "tiny-on-wide": tiny_on_wide_case,
}


def make_case(family: str, seed: int, margin: float | None = None) -> Case:
    rng = np.random.default_rng([seed, sorted(FAMILIES).index(family)])
    net, lo, hi, rows = FAMILIES[family](rng)
    m = float(rng.choice(MARGINS)) if margin is None else margin
    conj, ex = with_margin(net, lo, hi, rows, m)
    return Case(f"{family}-{seed}", family, net, lo, hi, conj, ex, {"margin": m})


def fixed_case(name: str, built: tuple) -> Case:
    net, lo, hi, conj = built
    return Case(name, name, net, lo, hi, conj, exact_minimum(net, lo, hi, conj))


# ----------------------------------------------------------------------------- files and runs
def _term(c: float, j: int) -> str:
    return f"(* {c!r} Y_{j})"


def vnnlib_text(case: Case) -> str:
    n, m = case.network.n_inputs, case.network.n_outputs
    lines = [f"(declare-const X_{i} Real)" for i in range(n)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(m)]
    for i in range(n):
        lines.append(f"(assert (>= X_{i} {float(case.lower[i])!r}))")
        lines.append(f"(assert (<= X_{i} {float(case.upper[i])!r}))")
    ands = []
    for C, d in case.conjunctions:
        atoms = []
        for r in range(C.shape[0]):
            terms = [_term(float(C[r, j]), j) for j in range(m) if C[r, j] != 0.0]
            lhs = terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"
            atoms.append(f"(<= {lhs} {float(d[r])!r})")
        ands.append(f"(and {' '.join(atoms)})")
    lines.append(f"(assert (or {' '.join(ands)}))")
    return "\n".join(lines) + "\n"


def write_case(case: Case, folder: Path) -> tuple[Path, Path]:
    onnx_path = write_onnx(case.network, folder / f"{case.name}.onnx")
    prop = folder / f"{case.name}.vnnlib"
    prop.write_text(vnnlib_text(case))
    return onnx_path, prop


def _magnitude(network: Network, x: np.ndarray) -> float:
    h = np.abs(x)
    for layer in network.layers:
        h = np.abs(layer.weight) @ h + np.abs(layer.bias)
    return float(np.max(h, initial=1.0))


def judge(case: Case, result: str, x: tuple[float, ...] | None) -> str | None:
    """Why the answer is wrong (None when it is right or honestly undecided)."""
    if result == "unsat" and case.exact.sat:
        return f"unsat, but min t = {float(case.exact.value):.3g} <= 0 at {case.exact.x}"
    if result == "sat":
        if x is None:
            return "sat without a point"
        xs = np.asarray(x, dtype=np.float64)
        if np.any(xs < case.lower) or np.any(xs > case.upper):
            return f"sat at {x}, outside the box"
        t = exact_t(case.network, [Fraction(v) for v in xs], case.conjunctions)
        allowance = Fraction(1e-13) * Fraction(_magnitude(case.network, xs))
        if t > allowance:
            return f"sat at {x}, but exactly t = {float(t):.3g} > 0 there"
    return None


def run_case(case: Case, folder: Path, **options: object) -> tuple[str, str | None, dict]:
    """``verify_instance`` on the case's files; returns ``(answer, why wrong or None, details)``."""
    from surrogate.app.verify import verify_instance

    onnx_path, prop = write_case(case, folder)
    res = verify_instance(onnx_path, prop, **options)  # type: ignore[arg-type]
    return res.result, judge(case, res.result, res.counterexample_x), res.details

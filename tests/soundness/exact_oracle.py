"""An exact oracle for tiny verification instances: the true ``min t`` in rational arithmetic.

For a ReLU network with 1 or 2 inputs, a box, and an unsafe set ``OR_k (C_k y <= d_k)``, the
objective ``t(x) = min_k max_r (C_kr f(x) - d_kr)`` is minimised exactly: the box is a convex
polygon (a segment or a point when some side has zero width) held as exact vertices
(:class:`fractions.Fraction`); the activation patterns are enumerated neuron by neuron, each branch
clipping the polygon with ``z_j >= 0`` or ``z_j <= 0`` (Sutherland-Hodgman, exact), so every leaf is
a linear region on which ``f`` is affine; there ``max_r`` of affine functions is minimised by
splitting the region where each row is the largest and taking the best vertex. Every number is a
rational (floats convert exactly), so the answer's sign is the truth: ``sat`` iff ``min t <= 0``.

Used by the soundness tests only; it is independent of every bound, encoding and solver in the
package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from surrogate.network.spec import Network

Vec = tuple[Fraction, ...]
Affine = tuple[Vec, Fraction]  # coefficients on x, constant


@dataclass(frozen=True)
class Exact:
    """``value = min t`` over the box, attained at ``x`` (rational coordinates)."""

    value: Fraction
    x: Vec
    regions: int  # linear regions visited

    @property
    def sat(self) -> bool:
        return self.value <= 0


def _dot(a: Vec, x: Vec) -> Fraction:
    return sum((ai * xi for ai, xi in zip(a, x, strict=True)), Fraction(0))


def _dedupe(poly: list[Vec]) -> list[Vec]:
    out: list[Vec] = []
    for p in poly:
        if not out or p != out[-1]:
            out.append(p)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    # a "polygon" that is really a segment may list a point twice non-consecutively
    seen: list[Vec] = []
    for p in out:
        if p not in seen:
            seen.append(p)
    return seen if len(seen) < 3 else out


def clip(poly: list[Vec], a: Vec, b: Fraction) -> list[Vec]:
    """The convex polygon ``poly`` (vertices in order; a segment or a point allowed) cut to
    ``a . x <= b``."""
    if not poly:
        return []
    if len(poly) == 1:
        return poly if _dot(a, poly[0]) <= b else []
    out: list[Vec] = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        fp, fq = _dot(a, p) - b, _dot(a, q) - b
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            s = fp / (fp - fq)
            out.append(tuple(pi + s * (qi - pi) for pi, qi in zip(p, q, strict=True)))
    return _dedupe(out)


def box_polygon(lower: Sequence[float], upper: Sequence[float]) -> list[Vec]:
    lo = [Fraction(v) for v in lower]
    hi = [Fraction(v) for v in upper]
    if len(lo) == 1:
        return _dedupe([(lo[0],), (hi[0],)])
    if len(lo) == 2:
        return _dedupe([(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])])
    raise ValueError("the exact oracle handles 1 or 2 inputs")


def _affine_layer(weight: np.ndarray, bias: np.ndarray, h: list[Affine]) -> list[Affine]:
    n = len(h[0][0]) if h else 0
    out: list[Affine] = []
    for j in range(weight.shape[0]):
        coef = [Fraction(0)] * n
        const = Fraction(bias[j])
        for i in range(weight.shape[1]):
            w = weight[j, i]
            if w == 0.0:
                continue
            wf = Fraction(w)
            hc, hk = h[i]
            for t in range(n):
                coef[t] += wf * hc[t]
            const += wf * hk
        out.append((tuple(coef), const))
    return out


def _range(poly: list[Vec], f: Affine) -> tuple[Fraction, Fraction]:
    vals = [_dot(f[0], p) + f[1] for p in poly]
    return min(vals), max(vals)


def exact_forward(network: Network, x: Sequence[Fraction | float]) -> list[Fraction]:
    """The network's outputs at ``x``, in exact rational arithmetic."""
    h = [Fraction(v) for v in x]
    for layer in network.layers:
        z = [sum((Fraction(layer.weight[j, i]) * h[i] for i in range(layer.n_in)
                  if layer.weight[j, i] != 0.0), Fraction(layer.bias[j]))
             for j in range(layer.n_out)]
        h = [max(v, Fraction(0)) for v in z] if layer.activation == "relu" else z
    return h


def exact_t(network: Network, x: Sequence[Fraction | float],
            conjunctions: Sequence[tuple[np.ndarray, np.ndarray]]) -> Fraction:
    """``min_k max_r (C_kr y - d_kr)`` at ``x`` exactly."""
    y = exact_forward(network, x)
    best = None
    for C, d in conjunctions:
        worst = max(sum((Fraction(C[r, j]) * y[j] for j in range(len(y))), Fraction(0))
                    - Fraction(d[r]) for r in range(C.shape[0]))
        best = worst if best is None else min(best, worst)
    assert best is not None
    return best


def exact_minimum(
    network: Network, lower: Sequence[float], upper: Sequence[float],
    conjunctions: Sequence[tuple[np.ndarray, np.ndarray]],
) -> Exact:
    """The exact ``min t`` over the box and a point attaining it (see the module docstring)."""
    n = len(lower)
    poly0 = box_polygon(lower, upper)
    x_aff: list[Affine] = [
        (tuple(Fraction(int(i == t)) for t in range(n)), Fraction(0)) for i in range(n)
    ]
    best: list = [None, None]
    regions = [0]
    layers = network.layers

    def leaf(poly: list[Vec], y: list[Affine]) -> None:
        regions[0] += 1
        for C, d in conjunctions:
            rows: list[Affine] = []
            for r in range(C.shape[0]):
                coef = [Fraction(0)] * n
                const = -Fraction(d[r])
                for j in range(len(y)):
                    c = C[r, j]
                    if c == 0.0:
                        continue
                    cf = Fraction(c)
                    for t in range(n):
                        coef[t] += cf * y[j][0][t]
                    const += cf * y[j][1]
                rows.append((tuple(coef), const))
            for r, fr in enumerate(rows):
                piece = poly
                for q, fq in enumerate(rows):
                    if q != r:  # where row r is the largest: fq - fr <= 0
                        piece = clip(piece, tuple(a - b for a, b in zip(fq[0], fr[0], strict=True)),
                                     fr[1] - fq[1])
                for p in piece:
                    v = _dot(fr[0], p) + fr[1]
                    if best[0] is None or v < best[0]:
                        best[0], best[1] = v, p

    def layer_step(k: int, poly: list[Vec], h: list[Affine]) -> None:
        if k == len(layers):
            leaf(poly, h)
            return
        z = _affine_layer(layers[k].weight, layers[k].bias, h)
        if layers[k].activation != "relu":
            layer_step(k + 1, poly, z)
            return
        neuron(k, 0, poly, z, [])

    def neuron(k: int, j: int, poly: list[Vec], z: list[Affine], out: list[Affine]) -> None:
        if j == len(z):
            layer_step(k + 1, poly, out)
            return
        coef, const = z[j]
        lo, hi = _range(poly, z[j])
        zero: Affine = (tuple(Fraction(0) for _ in range(n)), Fraction(0))
        if lo >= 0:
            neuron(k, j + 1, poly, z, [*out, z[j]])
            return
        if hi <= 0:
            neuron(k, j + 1, poly, z, [*out, zero])
            return
        active = clip(poly, tuple(-c for c in coef), const)  # z >= 0
        if active:
            neuron(k, j + 1, active, z, [*out, z[j]])
        inactive = clip(poly, coef, -const)  # z <= 0
        if inactive:
            neuron(k, j + 1, inactive, z, [*out, zero])

    layer_step(0, poly0, x_aff)
    assert best[0] is not None and best[1] is not None
    return Exact(best[0], best[1], regions[0])

"""Input sets: where a network's input may lie (the domain of an optimisation or verification).

* :class:`Box` -- per-entry lower and upper bounds (the input domain, or an L-inf ball already
  intersected with the domain: see :func:`linf_ball`).
* :class:`L1Ball` -- ``sum |x - center| <= eps`` intersected with a box.

These are plain data, validated at construction, shared by bounds, encodings and problems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from surrogate.errors import InputError

__all__ = ["Box", "L1Ball", "InputSet", "linf_ball", "l1_ball"]


def _vec(name: str, v: object, n: int | None = None) -> np.ndarray:
    arr = np.array(v, dtype=np.float64, copy=True).reshape(-1)
    if n is not None and arr.shape != (n,):
        raise InputError(f"{name} has {arr.size} entries, expected {n}")
    if np.any(np.isnan(arr)):
        raise InputError(f"{name} contains NaN")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Box:
    """``lower <= x <= upper`` entrywise; both finite."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        lo = _vec("lower bound", self.lower)
        hi = _vec("upper bound", self.upper, lo.size)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise InputError(
                "input bounds must be finite: give a lower and an upper bound for every input "
                "(MILP big-M constants come from them)"
            )
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"inverted input bounds: lower > upper at {bad.size} entries, first at index {i} "
                f"({lo[i]:g} > {hi[i]:g})"
            )
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def dim(self) -> int:
        return int(self.lower.size)

    @property
    def box(self) -> Box:
        return self

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return bool(np.all(x >= self.lower - tol) and np.all(x <= self.upper + tol))

    def project(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(x, dtype=np.float64).reshape(-1), self.lower, self.upper)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.lower, self.upper, size=(n, self.dim))

    def center(self) -> np.ndarray:
        return (self.lower + self.upper) / 2.0


#: Shares of the inputs one sparse L1 descent step moves (:meth:`L1Ball.descend`), cycled over
#: the points of a batch.
L1_SHARES = (0.01, 0.03, 0.1)


@dataclass(frozen=True)
class L1Ball:
    """``sum_i |x_i - center_i| <= eps`` and ``box.lower <= x <= box.upper``."""

    center: np.ndarray
    eps: float
    box: Box

    def __post_init__(self) -> None:
        c = _vec("center", self.center, self.box.dim)
        if not np.isfinite(self.eps) or self.eps < 0:
            raise InputError(f"eps must be a finite number >= 0, got {self.eps!r}")
        if not self.box.contains(c):
            raise InputError("the L1 ball's center lies outside its input domain box")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "eps", float(self.eps))

    @property
    def dim(self) -> int:
        return self.box.dim

    @property
    def lower(self) -> np.ndarray:
        """Entrywise bounds of the set (the box clipped to ``center -+ eps``)."""
        return np.maximum(self.box.lower, self.center - self.eps)

    @property
    def upper(self) -> np.ndarray:
        return np.minimum(self.box.upper, self.center + self.eps)

    def contains(self, x: np.ndarray, tol: float = 1e-9) -> bool:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return self.box.contains(x, tol) and float(np.abs(x - self.center).sum()) <= self.eps + tol

    def project(self, x: np.ndarray) -> np.ndarray:
        """Euclidean-ish projection: clip to the box, then shrink the step onto the L1 ball.

        Returns a point of the set (exact projection is not needed by its callers, only
        membership)."""
        x = self.box.project(x)
        d = x - self.center
        norm = float(np.abs(d).sum())
        if norm <= self.eps:
            return x
        # project d onto the L1 ball of radius eps (Duchi et al. 2008), then stay in the box
        u = np.sort(np.abs(d))[::-1]
        css = np.cumsum(u)
        k = np.arange(1, u.size + 1)
        rho = np.nonzero(u * k > (css - self.eps))[0][-1]
        theta = (css[rho] - self.eps) / (rho + 1.0)
        d = np.sign(d) * np.maximum(np.abs(d) - theta, 0.0)
        return self.box.project(self.center + d)

    def descend(self, X: np.ndarray, g: np.ndarray, size: float) -> np.ndarray:
        """One sparse steepest-descent step of every row of ``X`` against its gradient ``g``
        (SLIDE, Tramer and Boneh 2019), projected back into the set: the inputs with the largest
        ``|g|`` that can still move downhill (not at the box bound the step points to) move by
        an equal share of ``size`` (the step's L1 length); row ``i`` moves
        ``L1_SHARES[i % 3]`` of the inputs. Against one dense L1-normalised step: the PGD
        attack reaches the exact minimum of a linear objective, and on mnist_fc 256x2 under the
        paper's budget finds one more of 30 images."""
        lo, hi = self.box.lower, self.box.upper
        blocked = ((g > 0) & (X <= lo + 1e-12)) | ((g < 0) & (X >= hi - 1e-12))
        a = np.where(blocked, 0.0, np.abs(g))
        step = np.zeros_like(X)
        for i in range(X.shape[0]):
            k = max(1, int(round(L1_SHARES[i % len(L1_SHARES)] * X.shape[1])))
            top = np.argpartition(a[i], -k)[-k:]
            top = top[a[i, top] > 0]
            if top.size:
                step[i, top] = -np.sign(g[i, top]) * (size / top.size)
        return np.array([self.project(x) for x in X + step])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Random points of the set (sparse random directions, scaled into the ball)."""
        out = np.empty((n, self.dim))
        for i in range(n):
            d = rng.standard_normal(self.dim) * (rng.random(self.dim) < 0.2)
            s = float(np.abs(d).sum()) or 1.0
            out[i] = self.project(self.center + d * (self.eps * rng.random() / s))
        return out


InputSet = Box | L1Ball


def linf_ball(center: np.ndarray, eps: float, domain: Box | None = None) -> Box:
    """The L-inf ball of radius ``eps`` around ``center``, intersected with ``domain``."""
    c = _vec("center", center)
    if not np.isfinite(eps) or eps < 0:
        raise InputError(f"eps must be a finite number >= 0, got {eps!r}")
    lo, hi = c - eps, c + eps
    if domain is not None:
        if domain.dim != c.size:
            raise InputError(f"center has {c.size} entries, the domain {domain.dim}")
        if not domain.contains(c):
            raise InputError("the L-inf ball's center lies outside its input domain box")
        lo, hi = np.maximum(lo, domain.lower), np.minimum(hi, domain.upper)
    return Box(lo, hi)


def l1_ball(center: np.ndarray, eps: float, domain: Box) -> L1Ball:
    return L1Ball(np.asarray(center, dtype=np.float64), float(eps), domain)

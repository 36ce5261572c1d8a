"""Pre-activation bounds: the :class:`Bounds` record, exact linear bounds over an input set, and
interval propagation.

Notation: layer ``k`` computes ``z_k = W_k h_{k-1} + b_k`` and ``h_k = relu(z_k)`` (or ``h_k = z_k``
for a linear layer), with ``h_{-1} = x`` in the input set. :class:`Bounds` holds ``l_k <= z_k <= u_k``
for every layer, the output layer included.

Floating-point soundness. Every bound this package returns is widened outwards (:func:`widen`) by

    ``WIDEN_REL * max(1, |b|) + ROUND_REL * m``

where ``m`` is the neuron's *magnitude* (:func:`magnitude_step`): a majorant of every term that
enters its computation, ``m_k = |W_k| m'_{k-1} + |b_k|`` from ``m'_{-1} = max(|x|)`` over the input
box (``m'`` is ``m``, or 0 for a neuron proved dead: ``relu`` of a non-positive number is exactly
0). The second term covers float64 rounding of every sum this package forms, cancellation
included (a neuron computed as ``1e12 - 1e12 + 0.3`` is not known to 1e-7, but to about
``1e-4``); the first covers the feasibility tolerances of LP solvers (HiGHS: 1e-7), so a MILP
built on the bounds is never made infeasible by them. Constant neurons are widened too (a neuron
fixed at ``1e12`` by a zero-width input is only known to float precision); the one exception is a
neuron of magnitude 0 (every term and its bias are exactly 0: a pruned neuron, or one fed only by
dead ones), whose value is exactly 0. Stability (``l >= 0`` or ``u <= 0``) is decided *after*
widening.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.sets import Box, L1Ball

__all__ = [
    "Bounds",
    "ROUND_REL",
    "WIDEN_REL",
    "check_input_set",
    "intersect",
    "interval_bounds",
    "linear_bounds",
    "linear_max",
    "magnitude_step",
    "propagate_interval",
    "widen",
    "widen_down",
    "widen_up",
]

InputSetT = Box | L1Ball

#: relative outward widening of every returned bound (see the module docstring)
WIDEN_REL = 1e-7
#: outward widening per unit of a neuron's magnitude: float64 rounding (unit roundoff 1.1e-16)
#: of sums of up to ~1e5 terms, composed over the layers of a back-substitution, with room to spare
ROUND_REL = 1e-10


@dataclass(frozen=True)
class Bounds:
    """Pre-activation bounds ``lower[k] <= z_k <= upper[k]`` of every layer ``k`` of a network.

    ``method`` says how they were computed (``"interval"``, ``"symbolic"``, ``"alpha"`` or
    ``"lp"``) and ``time_s`` how long it took (including the cheaper methods it started from).

    ``slopes``: where optimised back-substitution computed them
    (:func:`surrogate.bounds.crown.alpha_bounds`), its best lower-line slopes, per ReLU layer
    ``i``: ``(idx, {j: a})``, ``idx`` the neurons of layer ``i`` it bounded and ``a`` ``(2 m,
    n_j)`` the slopes in every ReLU layer ``j < i`` of their lower rows, then their upper rows
    (``m = idx.size``). Any slope in ``[0, 1]`` gives a valid bound, so these are a starting
    point, not a claim: :mod:`surrogate.search.relu_bab` reuses them for every domain's
    intermediate bounds. Not part of equality.
    """

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]
    method: str
    time_s: float
    slopes: dict | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        lo = tuple(np.asarray(a, dtype=np.float64) for a in self.lower)
        hi = tuple(np.asarray(a, dtype=np.float64) for a in self.upper)
        if len(lo) != len(hi) or any(a.shape != b.shape for a, b in zip(lo, hi, strict=False)):
            raise InputError(
                f"lower and upper bounds must have the same layer shapes, got "
                f"{[a.shape for a in lo]} and {[b.shape for b in hi]}"
            )
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def n_layers(self) -> int:
        return len(self.lower)

    def stable_inactive(self, i: int) -> np.ndarray:
        """Neurons of layer ``i`` with ``upper <= 0``: ``relu(z) = 0`` on the whole set."""
        return self.upper[i] <= 0.0

    def stable_active(self, i: int) -> np.ndarray:
        """Neurons of layer ``i`` with ``lower >= 0``: ``relu(z) = z`` on the whole set.

        A neuron fixed at exactly 0 (``lower = upper = 0``) is reported as inactive only, so the
        three masks partition the layer."""
        return (self.lower[i] >= 0.0) & ~self.stable_inactive(i)

    def unstable(self, i: int) -> np.ndarray:
        """Neurons of layer ``i`` whose pre-activation takes both signs (``lower < 0 < upper``)."""
        return (self.lower[i] < 0.0) & (self.upper[i] > 0.0)

    def check_matches(self, network: Network) -> None:
        """Raise :class:`InputError` unless these bounds have one entry per neuron of ``network``."""
        widths = [layer.n_out for layer in network.layers]
        have = [a.size for a in self.lower]
        if have != widths:
            raise InputError(
                f"bounds have layer sizes {have} but the network has {widths}: compute the bounds "
                "on this network (compute_bounds(network, input_set))"
            )

    def counts(self, network: Network) -> dict[str, object]:
        """Unstable / stably active / stably inactive neurons of the ReLU layers.

        Returns ``{"layers": [{"layer": k, "unstable": .., "active": .., "inactive": ..}, ...],
        "unstable": total, "active": total, "inactive": total}``."""
        self.check_matches(network)
        rows = []
        for k, layer in enumerate(network.layers):
            if layer.activation != "relu":
                continue
            rows.append(
                {
                    "layer": k,
                    "unstable": int(self.unstable(k).sum()),
                    "active": int(self.stable_active(k).sum()),
                    "inactive": int(self.stable_inactive(k).sum()),
                }
            )
        out: dict[str, object] = {"layers": rows}
        for key in ("unstable", "active", "inactive"):
            out[key] = sum(int(r[key]) for r in rows)
        return out


# ----------------------------------------------------------------------------- helpers


def _margin(x: np.ndarray, mag: np.ndarray | float) -> np.ndarray:
    """``WIDEN_REL * max(1, |x|) + ROUND_REL * mag``, and 0 where ``mag == 0`` (exact zeros)."""
    mag = np.asarray(mag, dtype=np.float64)
    m = WIDEN_REL * np.maximum(1.0, np.abs(x)) + ROUND_REL * mag
    return np.where(mag > 0.0, m, 0.0)


def widen_down(x: np.ndarray, mag: np.ndarray | float) -> np.ndarray:
    """A lower bound moved outwards by its margin (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    return x - _margin(x, mag)


def widen_up(x: np.ndarray, mag: np.ndarray | float) -> np.ndarray:
    """An upper bound moved outwards by its margin (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    return x + _margin(x, mag)


def widen(
    lower: np.ndarray, upper: np.ndarray, mag: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Move ``[lower, upper]`` outwards by ``WIDEN_REL * max(1, |b|) + ROUND_REL * mag``.

    ``mag`` is the neuron's magnitude (:func:`magnitude_step`); where it is 0 the value is an
    exact 0 and stays unwidened. The map is monotone, so widening preserves the order of nested
    bounds."""
    return widen_down(lower, mag), widen_up(upper, mag)


def magnitude_step(layer: DenseLayer, prev: np.ndarray) -> np.ndarray:
    """``|W| prev + |b|``: the magnitude of layer ``layer``'s pre-activations from the
    post-activation magnitudes ``prev`` of the layer before (see the module docstring)."""
    return np.asarray(abs(layer.csr) @ prev).reshape(-1) + np.abs(layer.bias)


def input_magnitude(input_set: InputSetT) -> np.ndarray:
    """``max(|lower|, |upper|)`` of the input set's box, per input."""
    box = input_set if isinstance(input_set, Box) else input_set.box
    return np.maximum(np.abs(box.lower), np.abs(box.upper))


def post_magnitude(layer: DenseLayer, mag: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Post-activation magnitudes: a ReLU proved dead (``upper <= 0``) outputs an exact 0."""
    if layer.activation == "relu":
        return np.where(upper <= 0.0, 0.0, mag)
    return mag


def magnitudes(
    network: Network, input_set: InputSetT, uppers: list[np.ndarray] | tuple[np.ndarray, ...]
) -> list[np.ndarray]:
    """Pre-activation magnitudes of layers ``0 .. len(uppers)`` (one more than bounds given),
    where ``uppers`` are the (widened) upper bounds that decide which ReLUs are dead."""
    out = []
    prev = input_magnitude(input_set)
    for k, layer in enumerate(network.layers[: len(uppers) + 1]):
        mag = magnitude_step(layer, prev)
        out.append(mag)
        if k < len(uppers):
            prev = post_magnitude(layer, mag, uppers[k])
    return out


def intersect(
    lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo_a, hi_a] & [lo_b, hi_b]`` for two sound bounds of the same values.

    Both contain the true range, so they can only cross by float rounding (a constant neuron, kept
    unwidened, computed two ways: ~1e-16 apart); where they do, the result spans both estimates
    instead of returning ``lower > upper``."""
    lo, hi = np.maximum(lo_a, lo_b), np.minimum(hi_a, hi_b)
    crossed = lo > hi
    if np.any(crossed):
        lo, hi = np.where(crossed, hi, lo), np.where(crossed, lo, hi)
    return lo, hi


def check_input_set(network: Network, input_set: object) -> InputSetT:
    """Validate that ``input_set`` is a Box or L1Ball of the network's input dimension."""
    if not isinstance(input_set, Box | L1Ball):
        raise InputError(
            f"input_set must be a surrogate.sets.Box or L1Ball, got {type(input_set).__name__}"
        )
    if input_set.dim != network.n_inputs:
        raise InputError(
            f"input set has dimension {input_set.dim} but the network takes {network.n_inputs} "
            "inputs"
        )
    return input_set


def post_activation(layer: DenseLayer, lo: np.ndarray, hi: np.ndarray) -> tuple[
    np.ndarray, np.ndarray
]:
    """Bounds of ``h = act(z)`` from bounds of ``z``."""
    if layer.activation == "relu":
        return np.maximum(lo, 0.0), np.maximum(hi, 0.0)
    return lo, hi


def _knapsack_gain(coef: np.ndarray, cap_pos: np.ndarray, cap_neg: np.ndarray, eps: float) -> (
    np.ndarray
):
    """Row-wise ``max sum_j c_j d_j`` s.t. ``sum |d_j| <= eps``, ``-cap_neg <= d <= cap_pos``.

    Fractional knapsack: every unit of budget spent on coordinate ``j`` gains ``|c_j|`` and
    coordinate ``j`` can take ``cap_pos_j`` units if ``c_j > 0`` (moving up) or ``cap_neg_j`` if
    ``c_j < 0`` (moving down); the greedy fills the largest ``|c_j|`` first and is optimal.
    """
    mag = np.abs(coef)
    cap = np.where(coef > 0, cap_pos, cap_neg)
    order = np.argsort(-mag, axis=1)
    mag_s = np.take_along_axis(mag, order, axis=1)
    cap_s = np.take_along_axis(cap, order, axis=1)
    spent_before = np.cumsum(cap_s, axis=1) - cap_s
    take = np.clip(eps - spent_before, 0.0, cap_s)
    return np.einsum("ij,ij->i", mag_s, take)


def linear_max(coef: np.ndarray, const: np.ndarray, input_set: InputSetT) -> np.ndarray:
    """Exact ``max`` of each row of ``coef @ x + const`` over ``x`` in the set (raw, not widened).

    * Box: ``c+ . upper + c- . lower + const``.
    * L1Ball (``|x - center|_1 <= eps`` within a box): ``c . center + const`` plus a fractional
      knapsack over the coordinates (see :func:`_knapsack_gain`).
    """
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    const = np.asarray(const, dtype=np.float64).reshape(-1)
    if isinstance(input_set, Box):
        return np.maximum(coef, 0.0) @ input_set.upper + np.minimum(coef, 0.0) @ input_set.lower \
            + const
    c = input_set.center
    up_room = np.maximum(input_set.box.upper - c, 0.0)
    down_room = np.maximum(c - input_set.box.lower, 0.0)
    return coef @ c + const + _knapsack_gain(coef, up_room, down_room, input_set.eps)


def linear_bounds(
    coef: np.ndarray, const: np.ndarray, input_set: InputSetT
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(min, max)`` of each row of ``coef @ x + const`` over the set (see :func:`linear_max`)."""
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    const = np.asarray(const, dtype=np.float64).reshape(-1)
    return -linear_max(-coef, -const, input_set), linear_max(coef, const, input_set)


def interval_step(
    layer: DenseLayer, h_lo: np.ndarray, h_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Raw interval bounds of ``W h + b`` for ``h`` in the box ``[h_lo, h_hi]``."""
    pos, neg = np.maximum(layer.weight, 0.0), np.minimum(layer.weight, 0.0)
    return (
        pos @ h_lo + neg @ h_hi + layer.bias,
        pos @ h_hi + neg @ h_lo + layer.bias,
    )


def propagate_interval(
    network: Network, input_set: InputSetT
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Widened interval bounds of every layer: layer 0 exact over the set, then interval steps."""
    layer0 = network.layers[0]
    mag = magnitude_step(layer0, input_magnitude(input_set))
    lo, hi = widen(*linear_bounds(layer0.weight, layer0.bias, input_set), mag)
    lowers, uppers = [lo], [hi]
    for k in range(1, len(network.layers)):
        prev = network.layers[k - 1]
        mag = magnitude_step(network.layers[k], post_magnitude(prev, mag, uppers[-1]))
        h_lo, h_hi = post_activation(prev, lowers[-1], uppers[-1])
        lo, hi = widen(*interval_step(network.layers[k], h_lo, h_hi), mag)
        lowers.append(lo)
        uppers.append(hi)
    return lowers, uppers


def interval_bounds(network: Network, input_set: InputSetT) -> Bounds:
    """Interval bound propagation (IBP).

    The first layer is bounded exactly over the input set (:func:`linear_bounds`; for an L1 ball this
    is much tighter than its bounding box); each later layer by interval arithmetic
    ``[W+ l + W- u + b, W+ u + W- l + b]`` on the post-activation box of the layer before.
    """
    t0 = time.perf_counter()
    input_set = check_input_set(network, input_set)
    lowers, uppers = propagate_interval(network, input_set)
    return Bounds(tuple(lowers), tuple(uppers), "interval", time.perf_counter() - t0)

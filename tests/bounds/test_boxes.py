"""Batched bounds of many input boxes (the bounding step of input-splitting branch and bound):
sound on every sampled point, well and badly scaled, and never looser than plain interval
arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from factories import random_net

from surrogate.bounds import interval_bounds
from surrogate.bounds.boxes import batch_bounds, objective_lower_bounds
from surrogate.sets import Box

NETS = [
    dict(widths=(3, 16, 16, 16, 2), seed=1),
    dict(widths=(5, 20, 20, 3), seed=2, weight_scale=30.0),
    dict(widths=(2, 12, 12, 12, 1), seed=3, weight_scale=1e-4, bias_scale=1e-5),
    dict(widths=(4, 10, 10, 10, 2), seed=4, linear_hidden=1),
]


def _boxes(n: int, B: int, seed: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=(B, n)) * scale
    width = rng.uniform(0.0, 1.0, size=(B, n)) * scale * rng.choice([1e-3, 0.1, 1.0], size=(B, 1))
    width[0, 0] = 0.0  # a box flat in one input
    return centre - width, centre + width


@pytest.mark.parametrize("spec", NETS, ids=lambda s: "x".join(map(str, s["widths"])))
def test_batch_bounds_hold_every_sampled_point(spec: dict) -> None:
    net = random_net(**spec)
    n = net.n_inputs
    lo, hi = _boxes(n, 12, spec["seed"], 1.0 if spec.get("weight_scale", 1) < 10 else 0.1)
    lowers, uppers, _, _ = batch_bounds(net, lo, hi)
    G = np.vstack([np.eye(net.n_outputs), -np.eye(net.n_outputs)])
    h = np.linspace(-0.5, 0.5, G.shape[0])
    low, _, _, _ = objective_lower_bounds(net, G, h, lo, hi)
    rng = np.random.default_rng(0)
    for b in range(lo.shape[0]):
        corners = np.where(rng.random((64, n)) < 0.5, lo[b], hi[b])
        pts = np.vstack([corners, lo[b] + rng.random((400, n)) * (hi[b] - lo[b])])
        for k, z in enumerate(net.pre_activations(pts)):
            assert np.all(z >= lowers[k][b]) and np.all(z <= uppers[k][b]), (b, k)
        rows = net.forward(pts) @ G.T - h
        assert np.all(rows >= low[b]), b


@pytest.mark.parametrize("spec", NETS[:2], ids=lambda s: "x".join(map(str, s["widths"])))
def test_batch_bounds_are_no_looser_than_interval_arithmetic(spec: dict) -> None:
    net = random_net(**spec)
    lo, hi = _boxes(net.n_inputs, 6, 10 + spec["seed"], 0.5)
    lowers, uppers, _, _ = batch_bounds(net, lo, hi)
    for b in range(lo.shape[0]):
        ref = interval_bounds(net, Box(lo[b], hi[b]))
        for k in range(len(net.layers)):
            slack = 1e-9 * (1.0 + np.abs(ref.lower[k]))
            assert np.all(lowers[k][b] >= ref.lower[k] - slack), (b, k)
            assert np.all(uppers[k][b] <= ref.upper[k] + slack), (b, k)


@pytest.mark.parametrize("spec", NETS, ids=lambda s: "x".join(map(str, s["widths"])))
def test_the_mixed_row_bound_holds_every_sampled_point_and_beats_its_start(spec: dict) -> None:
    """mu . (G y - h) with the optimised mu is above its sound bound at every sampled point of
    every box (well and badly scaled nets, a ReLU output layer too), and the optimisation never
    ends below the bound of the mu it started from."""
    from surrogate.bounds.boxes import mixed_lower_bounds

    net = random_net(**spec)
    n, m = net.n_inputs, net.n_outputs
    lo, hi = _boxes(n, 12, 20 + spec["seed"], 1.0 if spec.get("weight_scale", 1) < 10 else 0.1)
    pre = batch_bounds(net, lo, hi)
    G = np.vstack([np.eye(m), -np.eye(m)])  # a small output box: y in [h_lo, -h_hi]
    h = np.concatenate([np.full(m, 0.05), np.full(m, 0.05)])
    mu0 = np.full((lo.shape[0], 2 * m), 1.0 / (2 * m))
    start, _, _ = mixed_lower_bounds(net, G, h, lo, hi, pre, mu0, steps=1)
    low, mu, coef = mixed_lower_bounds(net, G, h, lo, hi, pre, mu0, steps=12)
    assert np.all(mu >= 0) and np.allclose(mu.sum(axis=1), 1.0)
    assert np.all(low >= start - 1e-9 * (1 + np.abs(start)))
    rng = np.random.default_rng(1)
    for b in range(lo.shape[0]):
        pts = lo[b] + rng.random((500, n)) * (hi[b] - lo[b])
        mixed = (net.forward(pts) @ G.T - h) @ mu[b]
        assert np.all(mixed >= low[b]), b


def test_the_mixed_row_proves_an_empty_conjunction_no_single_row_can() -> None:
    """y = x on [0, 1], unsafe: y <= 0.4 and y >= 0.6 (empty). Each row alone is met somewhere
    (bounds -0.4); 0.5 (y - 0.4) + 0.5 (0.6 - y) = 0.1 everywhere. From mu = (0.9, 0.1) the
    ascent must get there (above 0.05 in 8 steps, within 0.01 of 0.1 in 30)."""
    from surrogate.bounds.boxes import mixed_lower_bounds
    from surrogate.network.spec import DenseLayer, Network

    net = Network((DenseLayer(np.eye(1), np.zeros(1), "linear"),))
    G, h = np.array([[1.0], [-1.0]]), np.array([0.4, -0.6])
    lo, hi = np.zeros((1, 1)), np.ones((1, 1))
    pre = batch_bounds(net, lo, hi)
    rows, _, _, _ = objective_lower_bounds(net, G, h, lo, hi, pre)
    assert np.all(rows < -0.39)
    low8, _, _ = mixed_lower_bounds(net, G, h, lo, hi, pre, np.array([[0.9, 0.1]]), steps=8)
    low30, mu, _ = mixed_lower_bounds(net, G, h, lo, hi, pre, np.array([[0.9, 0.1]]), steps=30)
    assert low8[0] > 0.05 and 0.09 < low30[0] <= 0.1 and abs(mu[0, 0] - 0.5) < 0.02


@pytest.mark.parametrize("spec", NETS, ids=lambda s: "x".join(map(str, s["widths"])))
def test_optimised_slopes_hold_every_sampled_point_and_reach_the_lp(spec: dict) -> None:
    """box_alpha_bounds (ReLU slopes and mixing weights optimised per box) bounds a conjunction
    from below at every sampled point of every box, well and badly scaled; it is never below
    the back-substitution's best row by more than rounding, never above the LP relaxation on
    the same pre-activation bounds (the independent HiGHS LP of the conjunction's MILP), and
    with enough steps within 2 % of the box's range of that LP."""
    from surrogate.app.verify import box_lp_bound
    from surrogate.bounds.crown import box_alpha_bounds
    from surrogate.problems.verification import Conjunction, VerificationProblem

    net = random_net(**spec)
    n, m = net.n_inputs, net.n_outputs
    lo, hi = _boxes(n, 8, 30 + spec["seed"], 1.0 if spec.get("weight_scale", 1) < 10 else 0.1)
    pre = batch_bounds(net, lo, hi)
    G = np.vstack([np.eye(m), -np.eye(m)])  # a small output box
    h = np.concatenate([np.full(m, 0.05), np.full(m, 0.05)])
    rows, _, _, _ = objective_lower_bounds(net, G, h, lo, hi, pre)
    tuned = box_alpha_bounds(net, G, h, lo, hi, pre[0], pre[1], steps=150, lr=0.3)
    lp_of = box_lp_bound(VerificationProblem(net, Box(lo[0], hi[0]), (Conjunction(G, h),)))
    rng = np.random.default_rng(2)
    for b in range(lo.shape[0]):
        pts = lo[b] + rng.random((500, n)) * (hi[b] - lo[b])
        assert np.all(np.max(net.forward(pts) @ G.T - h, axis=1) >= tuned[b]), b
        scale = 1e-9 * (1.0 + np.abs(rows[b]).max())
        assert tuned[b] >= rows[b].max() - scale, b
        lp = lp_of(lo[b], hi[b], [a[b] for a in pre[0]], [a[b] for a in pre[1]])
        assert lp is not None
        spread = float(np.ptp(net.forward(pts) @ G.T)) + 1e-12
        assert tuned[b] <= lp + 1e-6 * (1.0 + abs(lp)), (b, tuned[b], lp)
        assert tuned[b] >= lp - 0.02 * spread, (b, tuned[b], lp)

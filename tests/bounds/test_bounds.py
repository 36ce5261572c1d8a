"""Bounds: soundness on sampled and extreme points, nesting interval >= symbolic >= LP, the L1
knapsack and the LP against scipy's linprog, the safe dual bound, stability masks, errors, and the
mnist_fc 256x2 network of VNN-COMP."""

from __future__ import annotations

import math

import numpy as np
import pytest
from factories import random_net
from scipy.optimize import linprog

from surrogate.bounds import Bounds, compute_bounds, interval_bounds, lp_bounds, symbolic_bounds
from surrogate.bounds.interval import ROUND_REL, WIDEN_REL, linear_bounds, widen
from surrogate.bounds.lp import LayerLP, _safe_min, build_layer_lp
from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.sets import Box, L1Ball

METHODS = ("interval", "symbolic", "lp")


def random_box(n: int, seed: int) -> Box:
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-1.0, 0.5, size=n)
    return Box(lo, lo + rng.uniform(0.0, 1.0, size=n))


def random_l1(n: int, seed: int, eps: float = 0.8) -> L1Ball:
    rng = np.random.default_rng(seed)
    return L1Ball(rng.uniform(0.0, 1.0, size=n), eps, Box(np.zeros(n), np.ones(n)))


def extreme_points(input_set: Box | L1Ball, n: int, rng: np.random.Generator) -> np.ndarray:
    """Points where linear functions attain their extremes: box corners; for an L1 ball, the
    center moved by eps along one or two coordinates (clipped to the box)."""
    if isinstance(input_set, Box):
        pick = rng.random((n, input_set.dim)) < 0.5
        return np.where(pick, input_set.lower, input_set.upper)
    out = np.repeat(input_set.center[None, :], n, axis=0)
    for row in out:
        j = rng.choice(input_set.dim, size=2, replace=False)
        share = rng.random()
        row[j] += np.array([share, 1.0 - share]) * input_set.eps * rng.choice([-1.0, 1.0], 2)
    return np.array([input_set.project(p) for p in out])


def points_of(input_set: Box | L1Ball, seed: int, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.vstack([input_set.sample(n // 2, rng), extreme_points(input_set, n - n // 2, rng)])
    assert all(input_set.contains(p) for p in x[:: max(1, n // 50)])
    return x


def pruned(net: Network, sparsity: float, layers: list[int], seed: int) -> Network:
    """``net`` with a random ``sparsity`` share of the weights of ``layers`` set to zero."""
    rng = np.random.default_rng(seed)
    out = []
    for k, layer in enumerate(net.layers):
        w = layer.weight
        if k in layers:
            w = np.where(rng.random(w.shape) < sparsity, 0.0, w)
        out.append(layer.replace(weight=w))
    return Network(tuple(out))


# (id, widths, set, linear hidden layer, (sparsity, pruned layers) or None)
CASES = [
    ("box-4-12-10-3", [4, 12, 10, 3], "box", None, None),
    ("box-6-16-16-16-2", [6, 16, 16, 16, 2], "box", None, None),
    ("l1-8-20-15-4", [8, 20, 15, 4], "l1", None, None),
    ("box-linear-hidden", [5, 10, 8, 6, 3], "box", 1, None),
    ("l1-linear-hidden", [5, 10, 8, 6, 3], "l1", 1, None),
    # pruned layers are back-substituted with sparse products (SPARSE_DENSITY), dense ones not
    ("box-pruned-all", [10, 30, 30, 30, 4], "box", None, (0.85, [0, 1, 2, 3])),
    ("l1-pruned-mixed", [10, 30, 30, 30, 4], "l1", None, (0.8, [1, 3])),
    ("box-pruned-mixed", [10, 30, 30, 30, 4], "box", None, (0.8, [0, 2])),
]


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES], scope="module")
def case(request: pytest.FixtureRequest) -> tuple[Network, Box | L1Ball, dict[str, Bounds]]:
    _, widths, kind, linear_hidden, prune = request.param
    seed = len(widths) * 10 + widths[1]
    net = random_net(widths, seed, linear_hidden=linear_hidden)
    if prune is not None:
        net = pruned(net, prune[0], prune[1], seed)
    s = random_box(widths[0], seed) if kind == "box" else random_l1(widths[0], seed)
    return net, s, {m: compute_bounds(net, s, m) for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_bounds_contain_every_sampled_pre_activation(case, method: str) -> None:
    net, s, bounds = case
    b = bounds[method]
    assert b.method == method and b.time_s >= 0.0
    pre = net.pre_activations(points_of(s, seed=1))
    for k, z in enumerate(pre):
        assert np.all(z >= b.lower[k]), f"layer {k}: a point below the {method} lower bound"
        assert np.all(z <= b.upper[k]), f"layer {k}: a point above the {method} upper bound"
        if net.layers[k].activation == "relu":
            assert np.all(z[:, b.stable_inactive(k)] <= 0.0)
            assert np.all(z[:, b.stable_active(k)] >= 0.0)


@pytest.mark.parametrize("case_id", ["box-pruned-all", "l1-pruned-mixed", "box-pruned-mixed"])
def test_sparse_back_substitution_equals_the_dense_one(
    case_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import surrogate.bounds.symbolic as symbolic

    _, widths, kind, _, (sparsity, layers) = next(c for c in CASES if c[0] == case_id)
    seed = len(widths) * 10 + widths[1]
    net = pruned(random_net(widths, seed), sparsity, layers, seed)
    assert {k for k, layer in enumerate(net.layers) if layer.density <= symbolic.SPARSE_DENSITY} \
        == set(layers)
    s = random_box(widths[0], seed) if kind == "box" else random_l1(widths[0], seed)
    fast = symbolic_bounds(net, s)
    monkeypatch.setattr(symbolic, "SPARSE_DENSITY", -1.0)  # every product dense
    slow = symbolic_bounds(net, s)
    for k in range(len(net.layers)):
        np.testing.assert_allclose(fast.lower[k], slow.lower[k], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast.upper[k], slow.upper[k], rtol=1e-12, atol=1e-12)


def test_methods_are_nested_interval_symbolic_lp(case) -> None:
    net, _, bounds = case
    for looser, tighter in (("interval", "symbolic"), ("symbolic", "lp")):
        for k in range(len(net.layers)):
            assert np.all(bounds[tighter].lower[k] >= bounds[looser].lower[k] - 1e-9)
            assert np.all(bounds[tighter].upper[k] <= bounds[looser].upper[k] + 1e-9)


def test_tightening_pays_off_somewhere() -> None:
    # the relaxations must actually be tighter, not just nested, on a deeper net
    net = random_net([6, 16, 16, 16, 2], seed=3)
    s = random_box(6, 3)
    widths = {m: np.mean(compute_bounds(net, s, m).upper[3] - compute_bounds(net, s, m).lower[3])
              for m in METHODS}
    assert widths["symbolic"] < widths["interval"]
    assert widths["lp"] < widths["symbolic"]


def brute_force_max(c_vec: np.ndarray, s: Box | L1Ball) -> float:
    """``max c.x`` over the set by scipy's LP; an L1 ball as ``t >= +-(x - center)``, ``sum t <=
    eps`` over variables ``[x, t]`` (the formulation the project's encoders use)."""
    if isinstance(s, Box):
        res = linprog(-c_vec, bounds=list(zip(s.lower, s.upper, strict=True)), method="highs")
        assert res.status == 0
        return float(-res.fun)
    n = s.dim
    eye = np.eye(n)
    a_ub = np.vstack([np.hstack([eye, -eye]), np.hstack([-eye, -eye]),
                      np.concatenate([np.zeros(n), np.ones(n)])[None, :]])
    b_ub = np.concatenate([s.center, -s.center, [s.eps]])
    bounds = list(zip(s.box.lower, s.box.upper, strict=True)) + [(0, None)] * n
    res = linprog(np.concatenate([-c_vec, np.zeros(n)]), A_ub=a_ub, b_ub=b_ub, bounds=bounds,
                  method="highs")
    assert res.status == 0
    return float(-res.fun)


def test_first_layer_bounds_are_exact_over_the_set_up_to_widening() -> None:
    # layer 0 is linear in x: its bounds are attained, so they must equal the exact range widened
    net = random_net([8, 20, 4], seed=5)
    w, c = net.layers[0].weight, net.layers[0].bias
    for s in (random_box(8, 5), random_l1(8, 5, eps=0.6)):
        b = interval_bounds(net, s)
        for j in range(5):
            hi = brute_force_max(w[j], s) + c[j]
            lo = -brute_force_max(-w[j], s) + c[j]
            assert b.upper[0][j] == pytest.approx(hi + WIDEN_REL * max(1, abs(hi)), abs=1e-9)
            assert b.lower[0][j] == pytest.approx(lo - WIDEN_REL * max(1, abs(lo)), abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_l1_knapsack_equals_brute_force_lp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 7
    center = rng.uniform(0.0, 1.0, size=n)
    center[:2] = [0.0, 1.0]  # coordinates that can move one way only
    eps = [0.05, 0.4, 1.5, 10.0][seed % 4]  # budget binding ... larger than all the room
    s = L1Ball(center, eps, Box(np.zeros(n), np.ones(n)))
    coef = rng.normal(size=(5, n))
    coef[0, 3:] = 0.0
    const = rng.normal(size=5)
    lo, hi = linear_bounds(coef, const, s)
    for j in range(5):
        assert hi[j] == pytest.approx(brute_force_max(coef[j], s) + const[j], abs=1e-9)
        assert lo[j] == pytest.approx(-brute_force_max(-coef[j], s) + const[j], abs=1e-9)


def test_l1_first_layer_is_tighter_than_its_bounding_box() -> None:
    net = random_net([30, 10, 2], seed=9)
    ball = random_l1(30, 9, eps=0.5)
    as_box = Box(ball.lower, ball.upper)
    b_ball, b_box = interval_bounds(net, ball), interval_bounds(net, as_box)
    assert np.all(b_ball.upper[0] <= b_box.upper[0] + 1e-12)
    assert np.mean(b_box.upper[0] - b_ball.upper[0]) > 0.1


def _triangle_lp_bounds(net: Network, s: Box, l0: np.ndarray, u0: np.ndarray, j: int) -> tuple[
    float, float
]:
    """Independent LP (scipy) of layer 1 neuron ``j`` over the triangle relaxation of layer 0."""
    w0, b0 = net.layers[0].weight, net.layers[0].bias
    n0, n1 = w0.shape[1], w0.shape[0]
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    hb = []
    for i in range(n1):
        row = np.zeros(n0 + n1)
        if u0[i] <= 0:
            hb.append((0.0, 0.0))
            continue
        if l0[i] >= 0:
            row[:n0], row[n0 + i] = -w0[i], 1.0
            a_eq.append(row)
            b_eq.append(b0[i])
            hb.append((l0[i], u0[i]))
            continue
        hb.append((0.0, u0[i]))
        r1 = np.zeros(n0 + n1)
        r1[:n0], r1[n0 + i] = w0[i], -1.0  # W x + b - h <= 0
        a_ub.append(r1)
        b_ub.append(-b0[i])
        a = u0[i] / (u0[i] - l0[i])
        r2 = np.zeros(n0 + n1)
        r2[:n0], r2[n0 + i] = -a * w0[i], 1.0  # h - a(Wx + b - l) <= 0
        a_ub.append(r2)
        b_ub.append(a * (b0[i] - l0[i]))
    bounds = list(zip(s.lower, s.upper, strict=True)) + hb
    c = np.concatenate([np.zeros(n0), net.layers[1].weight[j]])
    kw = {"A_ub": np.array(a_ub) if a_ub else None, "b_ub": b_ub or None,
          "A_eq": np.array(a_eq) if a_eq else None, "b_eq": b_eq or None,
          "bounds": bounds, "method": "highs"}
    lo = linprog(c, **kw).fun + net.layers[1].bias[j]
    hi = -linprog(-c, **kw).fun + net.layers[1].bias[j]
    return lo, hi


def test_lp_equals_an_independent_triangle_lp() -> None:
    net = random_net([5, 20, 12, 2], seed=10)
    s = random_box(5, 10)
    sym = symbolic_bounds(net, s)
    lp = lp_bounds(net, s, time_limit_s=None)
    unstable = np.flatnonzero(sym.unstable(1))
    assert unstable.size >= 5
    improved = 0
    for j in unstable:
        lo, hi = _triangle_lp_bounds(net, s, sym.lower[0], sym.upper[0], j)
        expect_hi = min(sym.upper[1][j], hi + WIDEN_REL * max(1, abs(hi)))
        assert lp.upper[1][j] == pytest.approx(expect_hi, abs=1e-8)
        if hi > 0:  # a neuron proved inactive skips its minimisation
            expect_lo = max(sym.lower[1][j], lo - WIDEN_REL * max(1, abs(lo)))
            assert lp.lower[1][j] == pytest.approx(expect_lo, abs=1e-8)
        improved += lp.upper[1][j] < sym.upper[1][j] - 1e-6
    assert improved > 0


def test_safe_dual_bound_is_valid_for_any_multipliers() -> None:
    # min x0 + 2 x1  s.t.  x0 + x1 >= 3, 0 <= x <= 10: optimum 3 with multiplier y = 1
    import scipy.sparse as sp

    lp = LayerLP(sp.csr_matrix(np.array([[1.0, 1.0]])), np.array([3.0]), np.array([np.inf]),
                 np.zeros(2), np.full(2, 10.0), np.arange(2))
    cost = np.array([1.0, 2.0])
    assert _safe_min(lp, cost, np.array([1.0])) == pytest.approx(3.0)
    for y in (0.0, 0.5, 1.7, -2.0):  # any multiplier gives a lower bound, never above 3
        assert _safe_min(lp, cost, np.array([y])) <= 3.0 + 1e-12
    # a multiplier of the wrong sign for an infinite side is dropped (bound 0 from the box)
    assert _safe_min(lp, cost, np.array([-2.0])) == pytest.approx(0.0, abs=1e-8)


def test_lp_layer_model_has_no_rows_for_dead_first_layer_neurons() -> None:
    net = random_net([5, 14, 9, 2], seed=11)
    s = random_box(5, 11)
    sym = symbolic_bounds(net, s)
    model = build_layer_lp(net, 1, sym, s)
    n_active = int(sym.stable_active(0).sum())
    n_unstable = int(sym.unstable(0).sum())
    assert model.a.shape == (n_active + 2 * n_unstable, 5 + n_active + n_unstable)
    assert np.all(model.last[sym.stable_inactive(0)] == -1)


def test_time_budget_zero_keeps_symbolic_bounds() -> None:
    net = random_net([5, 14, 9, 2], seed=11)
    s = random_box(5, 11)
    sym = symbolic_bounds(net, s)
    lp0 = lp_bounds(net, s, time_limit_s=0.0)
    for k in range(3):
        np.testing.assert_array_equal(lp0.lower[k], sym.lower[k])
        np.testing.assert_array_equal(lp0.upper[k], sym.upper[k])
    again = lp_bounds(net, s, time_limit_s=None, initial=lp_bounds(net, s, time_limit_s=None))
    full = lp_bounds(net, s, time_limit_s=None)
    assert np.all(again.upper[1] <= full.upper[1] + 1e-12)


def test_lp_time_budget_is_respected_and_bounds_stay_sound() -> None:
    net = random_net([10, 60, 60, 60, 60, 3], seed=21)
    s = random_box(10, 21)
    sym = symbolic_bounds(net, s)
    quick = lp_bounds(net, s, time_limit_s=0.05, initial=sym)
    assert quick.time_s < 1.0  # 0.05 s of LPs plus one symbolic refresh per layer
    pre = net.pre_activations(points_of(s, seed=3, n=400))
    for k, z in enumerate(pre):
        assert np.all((z >= quick.lower[k]) & (z <= quick.upper[k]))
        assert np.all(quick.upper[k] <= sym.upper[k]) and np.all(quick.lower[k] >= sym.lower[k])


def test_dead_neurons_stay_exactly_stable_after_widening() -> None:
    # a pruned neuron (zero row, zero bias) must not become "unstable" through widening, nor the
    # neurons that only read dead ones
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 3))
    w0[1] = 0.0
    b0 = rng.normal(size=4)
    b0[1] = 0.0
    w1 = rng.normal(size=(3, 4))
    w1[0] = [0.0, 1.0, 0.0, 0.0]  # reads only the dead neuron
    net = Network((DenseLayer(w0, b0), DenseLayer(w1, np.zeros(3)),
                   DenseLayer(rng.normal(size=(2, 3)), np.zeros(2), "linear")))
    for method in METHODS:
        b = compute_bounds(net, random_box(3, 0), method)
        assert b.lower[0][1] == 0.0 == b.upper[0][1]
        assert b.stable_inactive(0)[1] and not b.stable_active(0)[1] and not b.unstable(0)[1]
        assert b.lower[1][0] == 0.0 == b.upper[1][0]


def test_constant_neurons_never_get_crossed_bounds() -> None:
    # constants computed two ways (interval step, back-substitution, LP) differ in the last bits;
    # the intersection must not return lower > upper
    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(8, 3))
    w0[:5] = 0.0
    b0 = np.array([0.1, 0.2, 0.7, 1.3, 1e-3, 0.5, -0.2, 0.3])
    w1 = np.zeros((4, 8))
    w1[:, :5] = rng.normal(size=(4, 5))
    w1[3, 5:] = 1.0  # one neuron that reads the varying ones
    net = Network((DenseLayer(w0, b0), DenseLayer(w1, 1e-3 * rng.normal(size=4)),
                   DenseLayer(rng.normal(size=(2, 4)), np.zeros(2), "linear")))
    for s in (random_box(3, 8), L1Ball(np.full(3, 0.5), 0.3, Box(np.zeros(3), np.ones(3)))):
        for method in METHODS:
            b = compute_bounds(net, s, method)
            for k in range(3):
                assert np.all(b.lower[k] <= b.upper[k]), f"{method} layer {k} crossed"
            z = net.pre_activations(np.full(3, 0.5))[1][0, :3]
            # constants are widened like every other bound (their value is only known to float
            # precision), here twice: by WIDEN_REL * max(1, |b|) in each of the two layers
            assert np.all(b.lower[1][:3] <= z) and np.all(z <= b.upper[1][:3])
            np.testing.assert_allclose(b.lower[1][:3], z, atol=5e-6)
            np.testing.assert_allclose(b.upper[1][:3], z, atol=5e-6)


def test_widen_is_outward_by_the_magnitude_and_exact_only_on_exact_zeros() -> None:
    # magnitude 0: an exact 0 (every term and the bias are 0), kept; every other bound moves out
    # by WIDEN_REL * max(1, |b|) + ROUND_REL * magnitude, constants included
    mag = np.array([3.0, 0.0, 4.0, 5.0, 1e12])
    lo, hi = widen(np.array([-3.0, 0.0, 2.0, 5.0, 1e12]), np.array([-1.0, 0.0, 4.0, 5.0, 1e12]),
                   mag)
    r = ROUND_REL * mag
    np.testing.assert_allclose(lo, [-3.0 - 3e-7 - r[0], 0.0, 2.0 - 2e-7 - r[2], 5.0 - 5e-7 - r[3],
                                    1e12 - 1e5 - 100.0], rtol=1e-15)
    np.testing.assert_allclose(hi, [-1.0 + 1e-7 + r[0], 0.0, 4.0 + 4e-7 + r[2], 5.0 + 5e-7 + r[3],
                                    1e12 + 1e5 + 100.0], rtol=1e-15)


def test_a_neuron_computed_with_cancellation_is_widened_by_its_magnitude() -> None:
    # z = 1e6 * x + 0.3 at x = 1e6 (zero-width box): about 1e12, known to float precision only;
    # the bound must contain the exact value and leave HiGHS room at that scale
    x = 1000000.3333333
    cancel = -1e6 * x + 0.25  # the second neuron: 1e12 cancelled down to about 0.25
    net = Network((DenseLayer(np.array([[1e6], [1e6]]), np.array([0.3, cancel])),
                   DenseLayer(np.array([[1.0, 1.0]]), np.zeros(1), "linear")))
    box = Box(np.array([x]), np.array([x]))
    from fractions import Fraction

    exact = [Fraction(1000000) * Fraction(x) + Fraction(0.3),
             Fraction(1000000) * Fraction(x) + Fraction(cancel)]
    for method in METHODS:
        b = compute_bounds(net, box, method)
        for j in range(2):
            assert Fraction(b.lower[0][j]) <= exact[j] <= Fraction(b.upper[0][j])
            assert b.upper[0][j] - b.lower[0][j] >= 1e-7 * abs(float(exact[j]))
        # the second neuron is a small number left by cancelling two huge ones
        assert b.lower[0][1] < 0.0 < b.upper[0][1] and b.unstable(0)[1]


def test_counts_partition_the_relu_layers(case) -> None:
    net, _, bounds = case
    b = bounds["symbolic"]
    counts = b.counts(net)
    relu_layers = [k for k, lay in enumerate(net.layers) if lay.activation == "relu"]
    assert [r["layer"] for r in counts["layers"]] == relu_layers
    for r in counts["layers"]:
        k = r["layer"]
        assert r["unstable"] + r["active"] + r["inactive"] == net.layers[k].n_out
        assert r["unstable"] == int(b.unstable(k).sum())
    assert counts["unstable"] + counts["active"] + counts["inactive"] == net.relu_count()


def test_errors_name_the_problem() -> None:
    net = random_net([4, 6, 2], seed=0)
    with pytest.raises(InputError, match="input set has dimension 3 but the network takes 4"):
        symbolic_bounds(net, random_box(3, 0))
    with pytest.raises(InputError, match="input_set must be a surrogate.sets.Box or L1Ball"):
        interval_bounds(net, np.zeros(4))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown bounds method 'milp'"):
        compute_bounds(net, random_box(4, 0), "milp")
    with pytest.raises(InputError, match="time_limit_s must be a number >= 0"):
        lp_bounds(net, random_box(4, 0), time_limit_s=-1.0)
    other = interval_bounds(random_net([4, 7, 2], seed=0), random_box(4, 0))
    with pytest.raises(InputError, match=r"bounds have layer sizes \[7, 2\] but the network has"):
        lp_bounds(net, random_box(4, 0), initial=other)
    with pytest.raises(InputError, match="same layer shapes"):
        Bounds((np.zeros(2),), (np.zeros(3),), "interval", 0.0)


# ------------------------------------------------------------------ VNN-COMP mnist_fc 256x2


@pytest.mark.parametrize("kind", ["linf", "l1"])
def test_mnist_bounds_sound_nested_and_fast(mnist, kind: str) -> None:
    net, box = mnist
    s: Box | L1Ball = box if kind == "linf" else L1Ball(
        box.center(), 2.0, Box(np.zeros(784), np.ones(784))
    )
    bounds = {m: compute_bounds(net, s, m, time_limit_s=20.0 if m == "lp" else None)
              for m in METHODS}
    pre = net.pre_activations(points_of(s, seed=2))
    for m, b in bounds.items():
        for k, z in enumerate(pre):
            assert np.all((z >= b.lower[k]) & (z <= b.upper[k])), f"{m} layer {k} unsound"
    unstable = [bounds[m].counts(net)["unstable"] for m in METHODS]
    assert unstable[0] >= unstable[1] >= unstable[2]
    assert unstable[2] < unstable[0]
    for k in range(3):
        assert np.all(bounds["lp"].upper[k] <= bounds["symbolic"].upper[k] + 1e-9)
        assert np.all(bounds["symbolic"].upper[k] <= bounds["interval"].upper[k] + 1e-9)
    # generous limits (shared 2-core machine); measured: symbolic ~5-50 ms, lp ~30-100 ms
    assert bounds["symbolic"].time_s < 1.0
    assert bounds["lp"].time_s < 10.0


def test_lp_bounds_started_from_alpha_crown_are_sound_and_at_least_as_tight() -> None:
    from surrogate.bench.networks import random_mlp
    from surrogate.bounds.crown import alpha_bounds

    net = random_mlp((64, 16, 16, 16, 3), seed=5)
    box = Box(np.full(64, -0.2), np.full(64, 0.2))
    alone = lp_bounds(net, box, time_limit_s=math.inf)
    alpha = alpha_bounds(net, box, symbolic_bounds(net, box))
    combined = lp_bounds(net, box, time_limit_s=math.inf, initial=alpha)
    rng = np.random.default_rng(0)
    xs = np.vstack([np.where(rng.random((2000, 64)) < 0.5, box.lower, box.upper),
                    rng.uniform(box.lower, box.upper, (2000, 64))])
    zs = net.pre_activations(xs)
    width = {"combined": 0.0, "alone": 0.0}
    for k in range(len(net.layers)):
        assert np.all(zs[k] >= combined.lower[k]) and np.all(zs[k] <= combined.upper[k])
        # never looser than the alpha-CROWN bounds it starts from
        assert np.all(combined.upper[k] <= alpha.upper[k]) and np.all(
            combined.lower[k] >= alpha.lower[k])
        width["combined"] += float(np.sum(combined.upper[k] - combined.lower[k]))
        width["alone"] += float(np.sum(alone.upper[k] - alone.lower[k]))
    # and, over the network, at least as tight as the LP alone (neuron by neuron it may differ a
    # little: each LP starts from other bounds of the layers before)
    assert width["combined"] <= width["alone"] * (1 + 1e-9)
    assert combined.counts(net)["unstable"] <= alone.counts(net)["unstable"]


def test_the_lp_started_from_lp_start_keeps_its_slopes_and_equals_compute_bounds_lp() -> None:
    from surrogate.bench.networks import random_mlp
    from surrogate.bounds import lp_start

    net = random_mlp((64, 16, 16, 16, 3), seed=5)
    box = Box(np.full(64, -0.2), np.full(64, 0.2))
    start = lp_start(net, box, time_limit_s=math.inf)
    assert start.method == "alpha" and start.slopes
    for i, (idx, by) in start.slopes.items():
        # the neurons unstable before the layer was tightened: a superset of those after
        unstable = np.flatnonzero((start.lower[i] < 0) & (start.upper[i] > 0))
        assert set(by) == set(range(i)) and set(unstable) <= set(idx)
        for a in by.values():
            assert a.shape == (2 * idx.size, 16) and a.min() >= 0.0 and a.max() <= 1.0
    lp = compute_bounds(net, box, "lp", time_limit_s=math.inf, initial=start)
    assert lp.method == "lp" and lp.slopes is start.slopes
    alone = compute_bounds(net, box, "lp", time_limit_s=math.inf)
    for k in range(len(net.layers)):
        np.testing.assert_allclose(lp.lower[k], alone.lower[k], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(lp.upper[k], alone.upper[k], rtol=1e-6, atol=1e-6)
    # below the share of networks where alpha-CROWN pays: plain symbolic bounds, no slopes
    small = random_mlp((8, 16, 16, 3), seed=5)
    sbox = Box(np.full(8, -0.2), np.full(8, 0.2))
    plain = lp_start(small, sbox, time_limit_s=math.inf)
    assert plain.method == "symbolic" and plain.slopes is None


@pytest.mark.parametrize("scale", [1.0, 1e25])
def test_slopes_are_searched_in_float32_and_bounds_computed_in_float64(scale: float) -> None:
    """alpha-CROWN searches its slopes on a float32 copy of the network (CrownNet.search_copy)
    and recomputes every bound in float64: the bounds are sound and as tight as a float64 search
    gives, up to the search's own noise, on a well-scaled network and on one whose second layer
    is scaled by 1e25 (Adam's squared gradients would overflow float32 without the objective's
    scaling). A weight beyond float32 (1e40) or a narrow network keeps the search in
    float64."""
    import torch

    from surrogate.bench.networks import random_mlp
    from surrogate.bounds.crown import CrownNet, alpha_bounds

    base = random_mlp((32, 128, 128, 128, 3), seed=7)
    net = Network(tuple(layer.replace(weight=layer.weight * (scale if k == 1 else 1.0))
                        for k, layer in enumerate(base.layers)))
    box = Box(np.full(32, -0.3), np.full(32, 0.3))
    initial = symbolic_bounds(net, box)
    fast = CrownNet(net, box, initial).search_copy()
    assert fast.dtype == torch.float32 and fast.x_lo.dtype == torch.float32
    assert CrownNet(net, box, initial).dtype == torch.float64
    huge = Network(tuple(layer.replace(weight=layer.weight * (1e40 if k == 1 else 1.0))
                         for k, layer in enumerate(base.layers)))
    crown_huge = CrownNet(huge, box, symbolic_bounds(huge, box))
    assert crown_huge.search_copy() is crown_huge
    narrow = random_mlp((32, 16, 16, 3), seed=7)  # below SEARCH_F32_MIN_WIDTH: float64
    crown_narrow = CrownNet(narrow, box, symbolic_bounds(narrow, box))
    assert crown_narrow.search_copy() is crown_narrow

    searched32 = alpha_bounds(net, box, initial)
    real = CrownNet.search_copy
    try:  # the same search in float64, for comparison
        CrownNet.search_copy = lambda self: self  # type: ignore[method-assign]
        searched64 = alpha_bounds(net, box, initial)
    finally:
        CrownNet.search_copy = real  # type: ignore[method-assign]
    rng = np.random.default_rng(1)
    xs = np.vstack([np.where(rng.random((3000, 32)) < 0.5, box.lower, box.upper),
                    rng.uniform(box.lower, box.upper, (3000, 32))])
    zs = net.pre_activations(xs)
    for k in range(len(net.layers)):
        for b in (searched32, searched64):
            assert b.lower[k].dtype == np.float64
            assert np.all(zs[k] >= b.lower[k]) and np.all(zs[k] <= b.upper[k])
        w32 = float(np.sum(searched32.upper[k] - searched32.lower[k]))
        w64 = float(np.sum(searched64.upper[k] - searched64.lower[k]))
        assert w32 <= w64 * (1 + 1e-3) + 1e-9 * scale
    tighter = sum(float(np.sum(initial.upper[k] - initial.lower[k])
                        - np.sum(searched32.upper[k] - searched32.lower[k]))
                  for k in range(len(net.layers)))
    assert tighter > 0.0  # the search did something

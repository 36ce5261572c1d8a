"""ReLU-splitting branch and bound and the optimised linear bounds behind it (alpha/beta-CROWN):
every bound below the true values (sampled points, and the exact oracle of the soundness cases),
verdicts equal to the exact oracle's, conjunctions closed by a mixed row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from soundness_cases import make_case

from surrogate.bench.networks import random_mlp
from surrogate.bounds import compute_bounds, symbolic_bounds
from surrogate.bounds.crown import CrownNet, MixedRows, alpha_bounds, optimise
from surrogate.budget import Budget
from surrogate.network.spec import DenseLayer, Network
from surrogate.problems.verification import Conjunction, VerificationProblem
from surrogate.search.relu_bab import relu_split_bab
from surrogate.sets import Box


def _samples(box: Box, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    corners = np.where(rng.random((n, box.dim)) < 0.5, box.lower, box.upper)
    inside = box.lower + rng.random((n, box.dim)) * (box.upper - box.lower)
    return np.vstack([corners, inside])


def test_alpha_bounds_are_sound_and_tighter_than_back_substitution() -> None:
    net = random_mlp((6, 24, 24, 24, 3), seed=3)
    box = Box(np.full(6, -1.0), np.full(6, 1.0))
    sym = symbolic_bounds(net, box)
    opt = alpha_bounds(net, box, sym)
    zs = net.pre_activations(_samples(box, 3000, 0))
    gained = 0
    for k in range(len(net.layers)):
        assert np.all(opt.lower[k] >= sym.lower[k]) and np.all(opt.upper[k] <= sym.upper[k])
        assert np.all(zs[k] >= opt.lower[k]) and np.all(zs[k] <= opt.upper[k])
        gained += int(np.sum(opt.lower[k] > sym.lower[k] + 1e-6))
    assert gained > 10  # the optimisation does tighten


def test_the_bound_of_a_domain_is_below_every_point_of_that_domain() -> None:
    # random splits of 6 neurons per domain; each domain's points are the samples whose signs
    # match its splits; the sound bound (optimised alpha and beta) must lie below all of them
    net = random_mlp((5, 16, 16, 2), seed=7)
    box = Box(np.full(5, -1.0), np.full(5, 1.0))
    b = compute_bounds(net, box, "symbolic")
    cn = CrownNet(net, box, b)
    G = torch.tensor([[1.0, -1.0], [-1.0, 0.5]], dtype=torch.float64)
    h = torch.tensor([0.1, -0.2], dtype=torch.float64)
    xs = _samples(box, 20000, 1)
    zs = net.pre_activations(xs)
    ys = net.forward(xs)
    rng = np.random.default_rng(2)
    B = 16
    splits = {i: torch.zeros((B, 16), dtype=torch.int8) for i in cn.relu_layers}
    members = np.ones((B, len(xs)), dtype=bool)
    for d in range(B):
        x0 = xs[rng.integers(len(xs))]
        z0 = net.pre_activations(x0[None])
        for _ in range(6):
            i = int(rng.choice(cn.relu_layers))
            j = int(rng.integers(16))
            sign = 1 if z0[i][0, j] >= 0 else -1
            splits[i][d, j] = sign
            members[d] &= (zs[i][:, j] * sign >= 0)
    alpha = {i: torch.rand((B, 2, 16), dtype=torch.float64) for i in cn.relu_layers}
    beta = {i: torch.zeros((B, 2, 16), dtype=torch.float64) for i in cn.relu_layers}
    out = optimise(cn, G, h, len(net.layers) - 1, post=True, steps=30, alpha=alpha, beta=beta,
                   splits=splits)
    values = ys @ G.numpy().T - h.numpy()
    checked = 0
    for d in range(B):
        if members[d].any():
            checked += 1
            assert np.all(out["sound"][d] <= values[members[d]].min(axis=0))
    assert checked >= 8
    assert any(float(beta[i].abs().max()) > 0 for i in beta)  # beta did take part


def test_a_conjunction_no_single_row_can_close_is_closed_by_the_mixed_row() -> None:
    # y = (x, -x) over [-1, 1]; the unsafe conjunction y0 <= -0.5 and y1 <= -0.5 is empty,
    # but each row alone reaches -0.5: only 0.5 y0 + 0.5 y1 = 0 > -0.5 closes it
    net = Network((DenseLayer(np.array([[1.0], [-1.0]]), np.zeros(2)),
                   DenseLayer(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2), "linear")))
    box = Box(np.array([-1.0]), np.array([1.0]))
    conj = Conjunction(np.eye(2), np.array([-0.5, -0.5]))
    problem = VerificationProblem(net, box, (conj,))
    res = relu_split_bab(problem, compute_bounds(net, box, "symbolic"), budget=Budget.of(10))
    assert res.verdict == "unsat" and res.nodes == 1
    # the rows alone (no mixing) do not close it at the root
    cn = CrownNet(net, box, compute_bounds(net, box, "symbolic"))
    rows = MixedRows(torch.eye(2, dtype=torch.float64), torch.tensor([-0.5, -0.5],
                     dtype=torch.float64), np.array([0, 0]), torch.ones(2, dtype=torch.float64))
    alpha = {0: torch.full((1, 3, 2), 0.5, dtype=torch.float64)}
    out = optimise(cn, None, None, 1, post=True, steps=20, alpha=alpha, mixed=rows,
                   logits=rows.start(1))
    assert np.all(out["sound"][0, :2] <= -0.5 + 1e-9) and out["sound"][0, 2] > 0.4


@pytest.mark.parametrize("family", ["random", "wide-box", "tiny-weights", "disjunction"])
def test_verdicts_equal_the_exact_oracle(family: str) -> None:
    answered = 0
    for seed in range(6):
        case = make_case(family, 40 + seed, margin=(0.05, -0.05)[seed % 2])
        box = Box(case.lower, case.upper)
        problem = VerificationProblem(case.network, box,
                                      tuple(Conjunction(C, d) for C, d in case.conjunctions))
        res = relu_split_bab(problem, compute_bounds(case.network, box, "lp"),
                             budget=Budget.of(5))
        if res.verdict != "unknown":
            answered += 1
            assert res.verdict == case.truth, (case.name, res.to_dict())
        if res.verdict == "sat":
            x = res.x
            assert box.contains(x, tol=0.0)
            assert problem.objective_of_outputs(case.network.forward(x)) <= 0.0
    assert answered >= 4


def test_with_every_neuron_split_the_bound_reaches_the_linear_regions_minimum() -> None:
    # all ReLUs fixed to the signs they have at a point: the domain is one linear region, whose
    # exact minimum is an LP; the optimised (beta-CROWN) bound must be below it and close to it
    from scipy.optimize import linprog

    net = random_mlp((4, 10, 10, 1), seed=11)
    box = Box(np.full(4, -1.0), np.full(4, 1.0))
    cn = CrownNet(net, box, compute_bounds(net, box, "symbolic"))
    x0 = np.array([0.3, -0.2, 0.5, 0.1])
    z0 = net.pre_activations(x0[None])
    splits = {i: torch.from_numpy(np.where(z0[i][0] > 0, 1, -1).astype(np.int8))[None]
              for i in cn.relu_layers}
    A, c = net.layers[0].weight, net.layers[0].bias
    rows_ub, rhs_ub = [], []
    for k in range(len(net.layers)):
        if k > 0:
            on = z0[k - 1][0] > 0
            A, c = net.layers[k].weight[:, on] @ A[on], net.layers[k].weight[:, on] @ c[on] + \
                net.layers[k].bias
        if net.layers[k].activation == "relu":
            sign = np.where(z0[k][0] > 0, 1.0, -1.0)
            rows_ub.append(-sign[:, None] * A)  # sign * (A x + c) >= 0
            rhs_ub.append(sign * c)
    lp = linprog(A[0], A_ub=np.vstack(rows_ub), b_ub=np.concatenate(rhs_ub),
                 bounds=list(zip(box.lower, box.upper, strict=True)), method="highs")
    exact = lp.fun + c[0]
    alpha = {i: torch.full((1, 1, 10), 0.5, dtype=torch.float64) for i in cn.relu_layers}
    beta = {i: torch.zeros((1, 1, 10), dtype=torch.float64) for i in cn.relu_layers}
    G = torch.ones((1, 1), dtype=torch.float64)
    out = optimise(cn, G, torch.zeros(1, dtype=torch.float64), len(net.layers) - 1, post=False,
                   steps=400, alpha=alpha, beta=beta, splits=splits)
    bound = float(out["sound"][0, 0])
    assert bound <= exact + 1e-9
    assert bound >= exact - 0.05 * (1.0 + abs(exact)), (bound, exact)


def test_a_network_without_relus_is_decided_at_the_root() -> None:
    # y = x0 - x1 over [0, 1]^2 (no ReLU to split: the root bound is exact)
    net = Network((DenseLayer(np.array([[1.0, -1.0]]), np.zeros(1), "linear"),))
    box = Box(np.zeros(2), np.ones(2))
    for d, truth in ((-1.5, "unsat"), (-0.5, "sat")):
        problem = VerificationProblem(net, box, (Conjunction(np.array([[1.0]]), np.array([d])),))
        res = relu_split_bab(problem, compute_bounds(net, box, "symbolic"))
        assert res.verdict == truth and res.nodes == 1


def _with_slopes(net: Network, box: Box, slopes: str):
    """Root bounds whose ``slopes`` are none (CROWN's are used), alpha-CROWN's optimised ones,
    or random ones in [0, 1] (any slope is valid: the bounds must hold all the same)."""
    b = compute_bounds(net, box, "symbolic")
    if slopes == "crown":
        return b
    opt = alpha_bounds(net, box, b)
    assert opt.slopes, "alpha_bounds keeps its slopes"
    if slopes == "root":
        return opt
    rng = np.random.default_rng(7)
    rand = {i: (idx, {j: rng.random(a.shape).astype(np.float32) for j, a in by.items()})
            for i, (idx, by) in opt.slopes.items()}
    return type(opt)(opt.lower, opt.upper, opt.method, opt.time_s, rand)


def _domains(net, problem, splits_np, slopes: str = "crown"):
    from surrogate.search.relu_bab import _Domain, _Net

    b = _with_slopes(net, problem.input_set, slopes)
    engine = _Net(problem, b)
    assert bool(engine.slopes) == (slopes != "crown")
    doms = [_Domain(0, [s[d] for s in splits_np], [], [], np.zeros(1), np.zeros((0, 1)))
            for d in range(splits_np[0].shape[0])]
    splits = {i: torch.from_numpy(np.stack([d.splits[j] for d in doms]))
              for j, i in enumerate(engine.relu_layers)}
    return engine, doms, splits, b


@pytest.mark.parametrize("slopes", ["crown", "root", "random"])
def test_the_bounds_of_a_domain_under_its_splits_hold_every_point_of_it(slopes: str) -> None:
    # per-domain intermediate bounds (back-substitution under the domain's splits, with CROWN's
    # slopes, the root's optimised ones or random ones): every sampled point whose signs match
    # the splits lies inside them, and the splits do tighten later layers
    from surrogate.search.relu_bab import _domain_bounds

    net = random_mlp((5, 16, 16, 16, 2), seed=11)
    box = Box(np.full(5, -1.0), np.full(5, 1.0))
    problem = VerificationProblem(net, box, (Conjunction(np.array([[1.0, -1.0]]),
                                                         np.array([0.0])),))
    xs = _samples(box, 20000, 3)
    zs = net.pre_activations(xs)
    rng = np.random.default_rng(4)
    B = 24
    splits_np = [np.zeros((B, 16), dtype=np.int8) for _ in range(3)]
    members = np.ones((B, len(xs)), dtype=bool)
    for d in range(B):
        z0 = net.pre_activations(xs[rng.integers(len(xs))][None])
        for _ in range(5):
            j, k = int(rng.integers(2)), int(rng.integers(16))  # layers 0 and 1 only
            sign = 1 if z0[j][0, k] >= 0 else -1
            splits_np[j][d, k] = sign
            members[d] &= zs[j][:, k] * sign >= 0
    engine, doms, splits, b = _domains(net, problem, splits_np, slopes)
    empty = _domain_bounds(engine, doms, splits)
    tightened = checked = 0
    for d in range(B):
        if not members[d].any():
            continue
        checked += 1
        assert not empty[d]  # it holds points
        for i in engine.relu_layers:
            lo, up = engine.lo_b[i][d].numpy(), engine.up_b[i][d].numpy()
            z = zs[i][members[d]]
            assert np.all(z >= lo) and np.all(z <= up)
            tightened += int(np.sum(lo > b.lower[i] + 1e-9) + np.sum(up < b.upper[i] - 1e-9))
    assert checked >= 12 and tightened > (0 if slopes == "random" else 20)


def test_slopes_that_do_not_fit_the_network_are_left_out() -> None:
    from surrogate.search.relu_bab import _Net

    net = random_mlp((5, 16, 16, 16, 2), seed=11)
    box = Box(np.full(5, -1.0), np.full(5, 1.0))
    problem = VerificationProblem(net, box, (Conjunction(np.array([[1.0, -1.0]]),
                                                         np.array([0.0])),))
    b = alpha_bounds(net, box, compute_bounds(net, box, "symbolic"))
    idx, by = b.slopes[2]
    bad = {2: (idx, {j: a[:, :-1] for j, a in by.items()}),  # one column short
           1: (np.array([99]), {0: np.zeros((2, 16), dtype=np.float32)})}  # no neuron 99
    wrong = type(b)(b.lower, b.upper, b.method, b.time_s, bad)
    assert _Net(problem, wrong).slopes == {}
    engine = _Net(problem, b)
    assert set(engine.slopes) == set(b.slopes)
    for i, (idx, by) in b.slopes.items():  # row r of neuron idx[r]: lower, then upper
        for j, a in by.items():
            table = engine.slopes[i][j].numpy()
            assert np.array_equal(table[idx], a[:idx.size].astype(np.float64))
            assert np.array_equal(table[16 + idx], a[idx.size:].astype(np.float64))


def test_a_domain_whose_splits_contradict_each_other_is_found_empty() -> None:
    # h = relu(x) split inactive (x <= 0, so h = 0), then z = h - 0.5 split active (z >= 0):
    # no point; its sibling with z split inactive holds every x <= 0
    from surrogate.search.relu_bab import _domain_bounds

    net = Network((DenseLayer(np.array([[1.0]]), np.zeros(1)),
                   DenseLayer(np.array([[1.0]]), np.array([-0.5])),
                   DenseLayer(np.array([[1.0]]), np.zeros(1), "linear")))
    box = Box(np.array([-1.0]), np.array([1.0]))
    problem = VerificationProblem(net, box, (Conjunction(np.array([[1.0]]), np.array([-1.0])),))
    splits_np = [np.array([[-1], [-1]], dtype=np.int8), np.array([[1], [-1]], dtype=np.int8)]
    engine, doms, splits, _ = _domains(net, problem, splits_np)
    assert _domain_bounds(engine, doms, splits).tolist() == [True, False]
    # the sibling's z is -0.5 exactly (x <= 0): tightened from the root's [-0.5, 0.5]
    assert b_root_upper(net, box) == pytest.approx(0.5)
    assert -0.5 - 1e-6 <= float(engine.lo_b[1][1]) <= float(engine.up_b[1][1]) <= -0.5 + 1e-6


def b_root_upper(net: Network, box: Box) -> float:
    return float(compute_bounds(net, box, "symbolic").upper[1][0])


def test_both_branchings_give_the_exact_oracle_s_verdict_where_the_tree_must_grow() -> None:
    # 2-12-12-12-2 nets, threshold 0.02 on either side of the exact minimum of y0 - y1 (rational
    # arithmetic, exact_oracle): the unsat side needs tens to hundreds of domains, each bounded
    # with its own intermediate bounds
    from exact_oracle import exact_minimum

    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    box = Box(lo, hi)
    C = np.array([[1.0, -1.0]])
    grown = 0
    for seed in (0, 2, 3):
        net = random_mlp((2, 12, 12, 12, 2), seed=seed)
        m = float(exact_minimum(net, lo, hi, [(C, np.zeros(1))]).value)
        for delta, truth in ((0.02, "unsat"), (-0.02, "sat")):
            problem = VerificationProblem(net, box, (Conjunction(C, np.array([m - delta])),))
            # the layer order recomputes intermediate bounds per domain: with CROWN's slopes,
            # the root's optimised ones (Bounds.slopes) and random ones
            for branching, slopes in (("layers", "crown"), ("layers", "root"),
                                      ("layers", "random"), ("output", "crown")):
                bounds = _with_slopes(net, box, slopes)
                res = relu_split_bab(problem, bounds, budget=Budget.of(20), branching=branching)
                assert res.stats["branching"] == branching
                assert res.verdict == truth, (seed, branching, slopes, res.to_dict())
                grown += res.nodes > 10
    assert grown >= 3


def test_an_unknown_branching_is_refused_before_any_work() -> None:
    case = make_case("random", 41)
    box = Box(case.lower, case.upper)
    problem = VerificationProblem(case.network, box,
                                  tuple(Conjunction(C, d) for C, d in case.conjunctions))
    with pytest.raises(ValueError, match="unknown branching 'deep'; choose one of layers, output"):
        relu_split_bab(problem, compute_bounds(case.network, box, "symbolic"), branching="deep")


def test_one_magnitude_pass_majorises_every_slope_choice_and_sign() -> None:
    # the rounding margin of the per-domain intermediate bounds is taken from one pass on |G|
    # (magnitude_of_any_slopes): it must be >= the magnitude backward computes for any slopes
    # in [0, 1], either sign of the rows, on domains with splits; a neuron with l = u = 0
    # counts as active there (as in backward)
    net = random_mlp((5, 16, 16, 16, 2), seed=11)
    box = Box(np.full(5, -1.0), np.full(5, 1.0))
    b = compute_bounds(net, box, "symbolic")
    lower = [x.copy() for x in b.lower]
    upper = [x.copy() for x in b.upper]
    lower[1][0] = upper[1][0] = 0.0  # the l = u = 0 corner case
    engine = CrownNet(net, box, type(b)(tuple(lower), tuple(upper), b.method, b.time_s))
    rng = np.random.default_rng(5)
    B, k = 12, 2
    splits = {i: torch.from_numpy(rng.integers(-1, 2, (B, 16)).astype(np.int8)
                                  * (rng.random((B, 16)) < 0.3)) for i in (0, 1)}
    G = torch.from_numpy(rng.normal(size=(6, 16)))
    mag = engine.magnitude_of_any_slopes(G.abs(), k, splits=splits, batch=B).numpy()
    for trial in range(6):
        alpha = None if trial == 0 else {
            i: torch.from_numpy(rng.random((B, 12, 16))) for i in (0, 1)}
        for sign in (1.0, -1.0):
            rows = torch.cat([sign * G, -sign * G])
            out = engine.backward(rows, torch.zeros(12), k, post=False, splits=splits,
                                  batch=B, alpha=alpha, magnitude=True)
            s = (out["S"] - out["lb"].abs()).numpy()
            assert np.all(s <= np.hstack([mag, mag]) * (1 + 1e-12))
    # and it is not loose by orders of magnitude
    assert np.median(np.hstack([mag, mag]) / np.maximum(s, 1e-300)) < 10


def test_the_magnitude_pass_equals_backward_s_where_no_neuron_is_relaxed() -> None:
    # a box so small that every neuron is stable: no slope or upper line enters, so backward's
    # magnitude and the one pass must agree (up to float64 rounding), the l = u = 0 neuron
    # (active in both) included: a pass that dropped it, or scaled the coefficients, fails
    net = random_mlp((5, 16, 16, 16, 2), seed=11)
    centre = np.random.default_rng(2).uniform(-1, 1, 5)
    box = Box(centre - 1e-7, centre + 1e-7)
    b = compute_bounds(net, box, "symbolic")
    assert b.counts(net)["unstable"] == 0
    lower = [x.copy() for x in b.lower]
    upper = [x.copy() for x in b.upper]
    live = int(np.argmax(b.lower[1]))  # an active neuron, made l = u = 0
    lower[1][live] = upper[1][live] = 0.0
    engine = CrownNet(net, box, type(b)(tuple(lower), tuple(upper), b.method, b.time_s))
    rng = np.random.default_rng(6)
    B = 4
    splits = {i: torch.from_numpy(rng.integers(-1, 2, (B, 16)).astype(np.int8)) for i in (0, 1)}
    G = torch.from_numpy(rng.normal(size=(5, 16)))
    mag = engine.magnitude_of_any_slopes(G.abs(), 2, splits=splits, batch=B).numpy()
    out = engine.backward(G, torch.zeros(5), 2, post=False, splits=splits, batch=B,
                          magnitude=True)
    np.testing.assert_allclose((out["S"] - out["lb"].abs()).numpy(), mag, rtol=1e-9)

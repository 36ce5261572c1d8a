"""Search engines judged on the dense network: gradient descent and the local search over linear
regions. The local search's optimum on tiny nets is checked against the exact MILP optimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from surrogate.app.run import run_milp
from surrogate.bench.networks import random_mlp
from surrogate.budget import Budget
from surrogate.network.spec import DenseLayer, Network
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.search import (
    OutputObjective,
    activation_pattern,
    gradient_descent,
    local_search,
    region_lp,
)
from surrogate.sets import Box, l1_ball


def test_objective_covers_maximisation_and_verification() -> None:
    net = random_mlp((3, 5, 2), seed=1)
    y = net.forward(np.full(3, 0.5))
    up = OutputObjective.of_output(2, 1, maximize=True)
    assert up.value(y) == pytest.approx(-y[1]) and up.to_problem_units(up.value(y)) == y[1]
    prob = robustness_problem(net, np.full(3, 0.5), 0.1, target="any")
    obj = OutputObjective.of_problem(prob)
    assert obj.value(y) == pytest.approx(prob.objective_of_outputs(y))


def test_region_lp_is_exact_inside_a_region() -> None:
    # inside its region the network is affine: the LP optimum, evaluated by the forward pass,
    # gives the LP's value (up to LP tolerance), and the point keeps the pattern
    net = random_mlp((4, 8, 8, 1), seed=3)
    box = Box(np.zeros(4), np.ones(4))
    obj = OutputObjective.of_output(1, 0)
    x = box.center()
    pattern = activation_pattern(net, x)
    sol = region_lp(net, obj, 0, box, pattern)
    assert sol is not None
    assert obj.value(net.forward(sol.x)) == pytest.approx(sol.lp_value, abs=1e-7)
    assert sol.lp_value <= obj.value(net.forward(x)) + 1e-9
    for a, b in zip(activation_pattern(net, sol.x), pattern, strict=True):
        # tight neurons (z = 0) may read either way; all others keep their state
        assert np.mean(a == b) > 0.8


@pytest.mark.parametrize("seed", range(6))
def test_local_search_reaches_the_milp_optimum_on_small_nets(seed: int) -> None:
    # 2 inputs, 2x6 ReLUs: the walk from the box centre ends at a local optimum across region
    # boundaries; on nets this small that is (nearly always) the global one -- never above it
    net = random_mlp((2, 6, 6, 1), seed=seed)
    box = Box(np.zeros(2), np.ones(2))
    prob = MaximizationProblem(net, box)
    exact = run_milp(prob, time_limit_s=30, stop_on_proof=False)
    assert exact.status == "optimal"
    res = local_search(net, OutputObjective.of_problem(prob), box, box.center())
    found = -res.value
    assert found <= exact.surrogate_objective + 1e-6  # never better than the true optimum
    assert found == pytest.approx(float(net.forward(res.x)[0]))  # judged by the forward pass
    assert res.value <= res.start_value
    assert found >= exact.surrogate_objective - 0.25 * abs(exact.surrogate_objective) - 1e-6


def test_local_search_polishes_a_point_in_an_l1_ball() -> None:
    net = random_mlp((6, 10, 10, 3), seed=5)
    x0 = np.full(6, 0.5)
    prob = robustness_problem(net, x0, 1.0, norm="l1", target="top2")
    obj = OutputObjective.of_problem(prob)
    res = local_search(net, obj, prob.input_set, x0)
    assert prob.input_set.contains(res.x, tol=1e-7)
    assert res.value <= res.start_value and res.regions >= 1


def test_gradient_descent_improves_on_the_centre_and_keeps_to_the_set() -> None:
    net = random_mlp((50, 20, 20, 1), seed=50)
    box = Box(np.zeros(50), np.ones(50))
    obj = OutputObjective.of_output(1, 0)
    res = gradient_descent(net, obj, box, starts=16, steps=40, rounds=2, seed=0)
    assert res.value < obj.value(net.forward(box.center()))
    assert box.contains(res.x) and res.rounds == 2
    assert res.value == pytest.approx(obj.value(net.forward(res.x)))
    ball = l1_ball(np.full(50, 0.5), 2.0, box)
    r2 = gradient_descent(net, obj, ball, starts=8, steps=20, rounds=1, seed=1)
    assert ball.contains(r2.x, tol=1e-7)


def test_engines_stop_when_the_budget_ends() -> None:
    net = random_mlp((200, 50, 50, 1), seed=7)
    box = Box(np.zeros(200), np.ones(200))
    obj = OutputObjective.of_output(1, 0)
    res = gradient_descent(net, obj, box, budget=Budget.of(0.3), seed=0)
    assert res.time_s < 1.5
    loc = local_search(net, obj, box, box.center(), budget=Budget.of(0.3))
    assert loc.time_s < 2.5


def test_a_pattern_contradicted_by_a_constant_neuron_is_an_empty_region() -> None:
    net = Network((DenseLayer(np.array([[0.0], [1.0]]), np.array([-1.0, 0.0])),
                   DenseLayer(np.array([[1.0, 1.0]]), np.zeros(1), "linear")))
    box = Box(np.zeros(1), np.ones(1))
    obj = OutputObjective.of_output(1, 0)
    bad = (np.array([True, True]), np.array([True]))  # neuron 0 is the constant -1: never active
    assert region_lp(net, obj, 0, box, bad) is None


@pytest.mark.parametrize(("lookahead", "slopes_from", "lp", "stall"),
                         [(1, None, False, False), (2, 0, False, False), (3, None, False, False),
                          (3, 0, False, False), (2, None, True, False), (2, 0, True, False),
                          (2, None, False, True)])
def test_input_splitting_never_contradicts_the_exact_oracle(
        lookahead: int, slopes_from: int | None, lp: bool, stall: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the soundness suite's tiny nets (1-2 inputs, badly scaled families included), decided by a
    # hair: branch and bound on the input box is sound (closed boxes only by outward-widened
    # bounds, by the optimised slopes' float64 bounds, or, with `lp`, by the safe LP bound as
    # `surrogate verify` passes it; `slopes_from` 0: slopes from the first box on, where the
    # default waits for ALPHA_AFTER boxes, and with them the LP only on batches the slopes skip)
    # and answers most of them, whatever the number of inputs tried per split; with `stall`,
    # every open box counts as stalled, so from the third level on every box is tried along
    # every input and the widest of the splits kept
    from soundness_cases import FAMILIES, judge, make_case

    from surrogate.app.verify import box_lp_bound
    from surrogate.problems.verification import Conjunction, VerificationProblem
    from surrogate.search import bab
    from surrogate.search.bab import input_split_bab

    if slopes_from is not None:
        monkeypatch.setattr(bab, "ALPHA_AFTER", slopes_from)
    if stall:
        monkeypatch.setattr(bab, "STALL_REL", 1e300)

    answered = lp_calls = stalled = 0
    for family in sorted(FAMILIES):
        for seed in range(6):
            case = make_case(family, 200 + seed)
            prob = VerificationProblem(case.network, Box(case.lower, case.upper),
                                       tuple(Conjunction(C, d) for C, d in case.conjunctions))
            res = input_split_bab(prob, budget=Budget.of(2.0), lookahead=lookahead,
                                  lp_bound=box_lp_bound(prob) if lp else None)
            answer = res.verdict if res.verdict != "unknown" else "timeout"
            x = None if res.x is None else tuple(res.x)
            assert judge(case, answer, x) is None, (case.name, answer)
            answered += answer != "timeout"
            lp_calls += res.stats["lp_bounds"]
            stalled += res.stats["stalled"]
    assert answered >= 25
    assert (lp_calls > 0) == lp
    assert stalled > 0  # boxes stall on these nets by themselves too


def _vnncomp_problem(onnx: Path, vnnlib: Path):
    """``(network, problem)`` of a VNN-COMP instance with one unsafe case."""
    from surrogate.network.onnx_io import read_onnx
    from surrogate.problems.vnnlib_problem import problems_from_property
    from surrogate.vnnlib.parser import read_vnnlib

    net = read_onnx(onnx)
    (prob,) = problems_from_property(net, read_vnnlib(vnnlib))
    return net, prob


def test_input_splitting_proves_and_refutes_acas_xu(vnncomp) -> None:
    from surrogate.network.onnx_io import read_onnx
    from surrogate.problems.vnnlib_problem import problems_from_property
    from surrogate.search.bab import input_split_bab
    from surrogate.vnnlib.parser import read_vnnlib

    def run(net_name: str, prop_name: str) -> str:
        net = read_onnx(vnncomp / "acasxu/onnx" / net_name)
        prop = read_vnnlib(vnncomp / "acasxu/vnnlib" / prop_name, n_inputs=5, n_outputs=5)
        (prob,) = problems_from_property(net, prop)
        res = input_split_bab(prob, budget=Budget.of(30))
        if res.verdict == "sat":
            assert prob.is_success(res.x, net.forward(res.x))
        return res.verdict

    assert run("ACASXU_run2a_1_1_batch_2000.onnx", "prop_4.vnnlib") == "unsat"
    assert run("ACASXU_run2a_1_9_batch_2000.onnx", "prop_1.vnnlib") == "unsat"
    # 26905 boxes and 48 s before the batched bounds were intersected with interval arithmetic,
    # about 1700 boxes and 3 s after
    assert run("ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib") == "unsat"
    assert run("ACASXU_run2a_2_1_batch_2000.onnx", "prop_2.vnnlib") == "sat"
    # unanswered at 30 s by smear splitting (lowest open bound -30 after 19000 boxes on 3_7);
    # about 1 s each with the lookahead split
    assert run("ACASXU_run2a_3_7_batch_2000.onnx", "prop_1.vnnlib") == "unsat"
    assert run("ACASXU_run2a_1_7_batch_2000.onnx", "prop_2.vnnlib") == "unsat"
    # unanswered at 60 s before the slopes were optimised on the open boxes (lowest open bound
    # -0.03 after 100000 boxes); about 10 s with them
    assert run("ACASXU_run2a_1_1_batch_2000.onnx", "prop_5.vnnlib") == "unsat"


@pytest.mark.parametrize(("net_name", "prop_name"), [("1_9", "7"), ("5_3", "2"), ("1_5", "2")])
def test_input_splitting_walks_to_a_counterexample_in_a_sliver(
        vnncomp, net_name: str, prop_name: str) -> None:
    # sat, but PGD's best points miss the unsafe set by 0.0005-0.007 and no box probe met it in
    # 60 s (one run in several did): the walk over linear regions from the lowest boxes' best
    # probes finds it in 1-4 s
    from surrogate.search.bab import input_split_bab

    net, prob = _vnncomp_problem(vnncomp / f"acasxu/onnx/ACASXU_run2a_{net_name}_batch_2000.onnx",
                                 vnncomp / f"acasxu/vnnlib/prop_{prop_name}.vnnlib")
    res = input_split_bab(prob, budget=Budget.of(30))
    assert res.verdict == "sat" and res.stats["walks"] > 0
    assert prob.is_success(res.x, net.forward(res.x))


def test_candidates_of_a_stalled_box_are_every_input_within_the_cap() -> None:
    from surrogate.search.bab import SPLIT_CAP, _candidates

    root = np.array([1.0, 1.0, 0.05, 2.0])
    lo = np.zeros(4)
    hi = np.array([0.5, 0.5 / SPLIT_CAP / 4, 0.025, 0.0])  # input 1 under the cap, 3 a point
    smear = np.array([0.0, 5.0, 0.0, 0.0])  # the bound's linear function sees none of 0, 2
    assert _candidates(lo, hi, smear, root, 2) == [0]  # no smear within the cap: the widest
    assert _candidates(lo, hi, smear, root, 2, every=True) == [0, 2]
    smear = np.array([1.0, 5.0, 2.0, 9.0])
    assert _candidates(lo, hi, smear, root, 1) == [2]


def test_a_box_whose_bound_stalls_is_split_along_every_input(vnncomp) -> None:
    # ACAS Xu 3_3 property 2 holds by a hair (the dense MILP's best point 0.0009 from the
    # unsafe set, outputs ~0.02). On this eighth of its box the smear score kept halving inputs
    # that left the bound where it was while an input smear gave no weight closed such boxes:
    # with the main tree's cap at 1/1024 but no stall rule, open at 45 s in three runs of three
    # (lowest bound -0.0043); with it, unsat in about 16 s (three of three); with the stall rule
    # (after one stalled split) and the probes' cap of 1/64 in the main tree, open at 30 s
    from surrogate.search.bab import input_split_bab, split_box

    _, prob = _vnncomp_problem(vnncomp / "acasxu/onnx/ACASXU_run2a_3_3_batch_2000.onnx",
                               vnncomp / "acasxu/vnnlib/prop_2.vnnlib")
    lo, hi = split_box(prob.input_set.lower, prob.input_set.upper, 8)[7]
    res = input_split_bab(prob, budget=Budget.of(50), start=(lo, hi))
    assert res.verdict == "unsat" and res.stats["stalled"] > 0


def test_a_stalled_box_is_tried_only_along_inputs_within_the_probes_cap(vnncomp) -> None:
    # the fourth of the eight pieces of reach_prob_density robot_5's box (what `--jobs 2` gives
    # a worker): with a stalled box tried along every input down to the main tree's cap of
    # 1/1024, open at 40 s (depth 40, 18116 boxes tried along every input); within the probes'
    # cap of 1/64, unsat in 15-17 s (three runs)
    from surrogate.search.bab import input_split_bab, split_box

    folder = vnncomp / "reach_prob_density"
    _, prob = _vnncomp_problem(folder / "onnx/robot.onnx", folder / "vnnlib/robot_5.vnnlib")
    lo, hi = split_box(prob.input_set.lower, prob.input_set.upper, 8)[3]
    res = input_split_bab(prob, budget=Budget.of(35), start=(lo, hi))
    assert res.verdict == "unsat" and res.stats["stalled"] > 0


def test_input_splitting_probes_other_lookaheads_first(vnncomp) -> None:
    # ACAS Xu property 2 on net 1_1 holds, but only lookahead 1 closes its tree in time (about
    # 0.5 s; lookahead 2 and 3 leave it open at 20 s): the default search runs it as a probe
    from surrogate.search.bab import LOOKAHEAD_PROBES, input_split_bab

    _, prob = _vnncomp_problem(vnncomp / "acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx",
                               vnncomp / "acasxu/vnnlib/prop_2.vnnlib")
    res = input_split_bab(prob, budget=Budget.of(60))
    assert res.verdict == "unsat"
    assert res.stats["lookahead"] == LOOKAHEAD_PROBES[0][0] == 1
    assert res.stats["probes"] == []  # the first probe closed it


def test_input_splitting_finds_a_thin_band_counterexample(vnncomp) -> None:
    # reach_prob_density robot_9 is sat, but its unsafe set is a thin band: PGD, box centres and
    # the bound's corners all missed it; the uniform probes in every box find it
    from surrogate.search.bab import input_split_bab

    root = vnncomp / "reach_prob_density"
    net, prob = _vnncomp_problem(root / "onnx/robot.onnx", root / "vnnlib/robot_9.vnnlib")
    res = input_split_bab(prob, budget=Budget.of(60))
    assert res.verdict == "sat"
    assert prob.is_success(res.x, net.forward(res.x))


def test_split_box_pieces_cover_the_box_exactly() -> None:
    from surrogate.search.bab import split_box

    lo, hi = np.array([0.0, -1.0, 5.0]), np.array([1.0, 3.0, 5.0])
    pieces = split_box(lo, hi, 8)
    assert len(pieces) == 8
    assert sum(float(np.prod((b - a)[:2])) for a, b in pieces) == pytest.approx(4.0, abs=0)
    rng = np.random.default_rng(0)
    for x in lo + rng.random((500, 3)) * (hi - lo):
        inside = [bool(np.all(a <= x) and np.all(x <= b)) for a, b in pieces]
        assert any(inside)
    assert len(split_box(np.zeros(2), np.zeros(2), 4)) == 1  # a point cannot be split


def test_parallel_input_splitting_agrees_with_the_exact_oracle() -> None:
    # two worker processes over pieces of the box: sat from any piece (confirmed), unsat only
    # when every piece is closed
    from soundness_cases import judge, make_case

    from surrogate.problems.verification import Conjunction, VerificationProblem
    from surrogate.search.bab import parallel_input_split_bab

    answers = []
    for family, seed in (("random", 201), ("random", 202), ("random", 203), ("random", 204)):
        case = make_case(family, seed)
        prob = VerificationProblem(case.network, Box(case.lower, case.upper),
                                   tuple(Conjunction(C, d) for C, d in case.conjunctions))
        res = parallel_input_split_bab(prob, jobs=2, budget=Budget.of(20.0))
        answer = res.verdict if res.verdict != "unknown" else "timeout"
        assert judge(case, answer, None if res.x is None else tuple(res.x)) is None
        assert res.stats["pieces"] == 8
        answers.append(answer)
    assert "timeout" not in answers and set(answers) == {"sat", "unsat"}, answers


def test_gradient_descent_reaches_the_exact_minimum_over_an_l1_ball() -> None:
    """min c.x over {|x - x0|_1 <= eps} within the unit box is greedy (the budget goes to the
    inputs with the largest |c_i| that can still move downhill); the sparse L1 steps the
    descent shares with the attack (L1Ball.descend) reach it, the inputs pinned at a bound
    (x0_i = 0 with c_i > 0) taking none of the budget."""
    from surrogate.network.spec import DenseLayer, Network

    rng = np.random.default_rng(5)
    n = 300
    c = rng.standard_normal(n)
    x0 = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))
    net = Network((DenseLayer(c[None, :], np.zeros(1), "linear"),))
    eps = 3.0
    room = np.where(c > 0, x0, 1.0 - x0)
    best, left = float(c @ x0), eps
    for i in np.argsort(-np.abs(c)):
        move = min(room[i], left)
        best -= abs(c[i]) * move
        left -= move
    ball = l1_ball(x0, eps, Box(np.zeros(n), np.ones(n)))
    res = gradient_descent(net, OutputObjective.of_output(1, 0, maximize=False), ball,
                           starts=8, steps=150, rounds=1, seed=0, first=x0)
    assert ball.contains(res.x, tol=1e-9)
    assert best - 1e-9 <= float(c @ res.x) <= best + 0.02 * abs(best - float(c @ x0))

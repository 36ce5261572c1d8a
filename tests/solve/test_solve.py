"""Verification and maximisation runs: known adversarials are found and dense-checked, robust cases
are proved, a time limit is a normal outcome, warm starts give an incumbent at once."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate import DenseLayer, InputError, Network
from surrogate.app.run import run_milp
from surrogate.budget import Budget
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.problems.attack import pgd_attack
from surrogate.prune import apply
from surrogate.sets import Box
from surrogate.zoo import load_model


def identity_net() -> Network:
    """y = (relu(x0), relu(x1)): class 0 iff x0 > x1."""
    eye = np.eye(2)
    return Network((DenseLayer(eye, np.zeros(2), "relu"), DenseLayer(eye, np.zeros(2), "linear")))


def test_known_adversarial_is_found_and_checked() -> None:
    prob = robustness_problem(identity_net(), [0.6, 0.4], 0.15, norm="linf", target="top2")
    assert prob.label == 0
    r = run_milp(prob, time_limit_s=10)
    assert r.verdict == "sat"
    x = np.array(r.counterexample_x)
    assert np.all(np.abs(x - [0.6, 0.4]) <= 0.15 + 1e-9)
    assert np.argmax(identity_net().forward(x)) != 0


def test_provably_robust_tiny_case_is_unsat() -> None:
    prob = robustness_problem(identity_net(), [0.6, 0.4], 0.05, norm="linf")
    r = run_milp(prob, time_limit_s=10)
    assert r.verdict == "unsat"
    assert r.counterexample_x is None
    assert r.bound is not None and r.bound > 0


def test_l1_budget_adversarial_boundary() -> None:
    # moving 0.2 of L1 mass flips (0.6, 0.4) -> (0.5, 0.5)-ish: eps 0.25 is sat, eps 0.15 is unsat
    net = identity_net()
    assert run_milp(robustness_problem(net, [0.6, 0.4], 0.25, norm="l1"), time_limit_s=10).verdict == "sat"
    assert run_milp(robustness_problem(net, [0.6, 0.4], 0.15, norm="l1"), time_limit_s=10).verdict == "unsat"


def test_shipped_model_robust_at_tiny_eps_and_attackable_at_large(digits) -> None:
    net = load_model("digits-2x32")
    x0 = digits.x_test[0]
    robust = run_milp(robustness_problem(net, x0, 0.001, norm="linf", target="any"), time_limit_s=30)
    assert robust.verdict == "unsat"
    prob = robustness_problem(net, x0, 0.3, norm="linf", target="any")
    r = run_milp(prob, time_limit_s=30, warm_start=pgd_attack(prob).x)
    assert r.verdict == "sat"
    x = np.array(r.counterexample_x)
    assert prob.input_set.contains(x)
    assert int(np.argmax(net.forward(x))) != prob.label


def test_surrogate_never_proves_for_the_dense_network(digits) -> None:
    net = load_model("digits-2x32")
    prob = robustness_problem(net, digits.x_test[0], 0.001, norm="linf", target="any")
    pruned = apply(net, "magnitude", 0.5).network
    r = run_milp(prob, pruned, label="magnitude@0.5", sparsity=0.5, time_limit_s=20)
    assert r.verdict == "unknown"


def test_labels_come_from_the_dense_network(digits) -> None:
    net = load_model("digits-2x32")
    x0 = digits.x_test[1]
    prob = robustness_problem(net, x0, 0.1)
    order = np.argsort(-net.forward(x0))
    assert prob.label == order[0]
    assert prob.meta["targets"] == [order[1]]


def test_time_limit_is_a_normal_outcome_with_warm_start_incumbent() -> None:
    rng = np.random.default_rng(0)
    layers = [DenseLayer(rng.standard_normal((60, 40)) / 6, rng.standard_normal(60) * 0.1, "relu")]
    layers += [DenseLayer(rng.standard_normal((60, 60)) / 8, rng.standard_normal(60) * 0.1, "relu")]
    layers += [DenseLayer(rng.standard_normal((1, 60)) / 8, np.zeros(1), "linear")]
    net = Network(tuple(layers))
    box = Box(np.zeros(40), np.ones(40))
    prob = MaximizationProblem(net, box)
    r = run_milp(prob, time_limit_s=0.5, bounds="interval", warm_start=box.center())
    assert r.status in ("time_limit", "optimal")
    assert r.time_to_first_incumbent_s is not None
    assert r.best_dense_objective is not None
    assert r.best_dense_objective >= float(net.forward(box.center())[0]) - 1e-9
    x = np.array(r.best_x)
    assert r.best_dense_objective == pytest.approx(float(net.forward(x)[0]), abs=1e-9)


def test_pruned_maximisation_is_judged_on_dense() -> None:
    rng = np.random.default_rng(5)
    layers = (
        DenseLayer(rng.standard_normal((20, 10)) / 3, rng.standard_normal(20) * 0.1, "relu"),
        DenseLayer(rng.standard_normal((1, 20)) / 4, np.zeros(1), "linear"),
    )
    dense = Network(layers)
    pruned = apply(dense, "magnitude", 0.8).network
    prob = MaximizationProblem(dense, Box(np.zeros(10), np.ones(10)))
    r = run_milp(prob, pruned, label="magnitude@0.8", sparsity=0.8, time_limit_s=10)
    x = np.array(r.best_x)
    assert r.best_dense_objective == pytest.approx(float(dense.forward(x)[0]), abs=1e-9)
    exact = run_milp(prob, time_limit_s=10)
    assert exact.status == "optimal"
    assert r.best_dense_objective <= exact.best_dense_objective + 1e-6


def test_problem_errors() -> None:
    net = identity_net()
    with pytest.raises(InputError, match="eps must be a finite number >= 0, got -0.1"):
        robustness_problem(net, [0.5, 0.4], -0.1)
    with pytest.raises(InputError, match="x0 has 3 entries, the network takes 2"):
        robustness_problem(net, [0.5, 0.4, 0.1], 0.1)
    with pytest.raises(InputError, match="norm must be 'linf' or 'l1', got 'l2'"):
        robustness_problem(net, [0.5, 0.4], 0.1, norm="l2")
    with pytest.raises(InputError, match="differ from the label 0, got 0"):
        robustness_problem(net, [0.5, 0.4], 0.1, target=0)
    with pytest.raises(InputError, match="output index 3 out of range: the network has 2 outputs"):
        MaximizationProblem(net, Box(np.zeros(2), np.ones(2)), output=3)


def test_attack_respects_its_deadline(digits) -> None:
    import time

    net = load_model("digits-2x32")
    prob = robustness_problem(net, digits.x_test[0], 0.001, norm="linf", target="any")
    t0 = time.perf_counter()
    res = pgd_attack(prob, steps=100000, budget=Budget.of(0.2))
    # the MILP proves this case robust (test_shipped_model_robust_at_tiny_eps...): no attack can win
    assert not res.success
    assert time.perf_counter() - t0 < 5.0
    assert prob.input_set.contains(res.x)


def test_attack_batches_all_disjuncts_and_finds_the_only_reachable_one() -> None:
    from surrogate.problems import attack
    from surrogate.problems.verification import Conjunction, VerificationProblem

    net = identity_net()  # y = relu(x) on the unit box
    impossible = [Conjunction([[-1.0, 0.0]], [-2.0 - k]) for k in range(40)]  # y0 >= 2 + k
    reachable = Conjunction([[0.0, -1.0], [1.0, 0.0]], [-0.9, 0.1])  # y1 >= 0.9 and y0 <= 0.1
    prob = VerificationProblem(net, Box(np.zeros(2), np.ones(2)), tuple(impossible) + (reachable,))
    per_batch = attack.MAX_BATCH_POINTS // 8
    assert len(prob.unsafe) > per_batch  # two batches: the reachable disjunct is in the second
    res = attack.pgd_attack(prob, restarts=8)
    assert res.success and res.objective <= 0.0
    y = net.forward(res.x)
    assert prob.input_set.contains(res.x) and y[1] >= 0.9 and y[0] <= 0.1
    assert res.iterations > per_batch * 8  # the first batch ran its steps in full
    # without the reachable disjunct: no success, and the reported objective is the float64 one
    miss = attack.pgd_attack(VerificationProblem(net, prob.input_set, tuple(impossible)), steps=20)
    assert not miss.success
    assert miss.objective == pytest.approx(min(c.violation(net.forward(miss.x)) for c in impossible))
    assert miss.objective == pytest.approx(1.0)  # best: x0 = 1, so y0 >= 2 misses by exactly 1


# ------------------------------------------------------------------ the proof cutoff (dense only)
def hard_digits_case(digits):
    """digits-2x32 around test image 0: L-inf 0.1 holds (34 unstable ReLUs, a few dozen nodes),
    0.15 has an adversarial (45 unstable ReLUs; the MILP finds it in about a second)."""
    net = load_model("digits-2x32")
    return net, digits.x_test[0]


@pytest.mark.parametrize("eps, expected", [(0.1, "unsat"), (0.15, "sat")])
def test_cutoff_gives_the_same_verdicts_as_the_plain_dual_bound(digits, eps: float, expected: str
                                                                ) -> None:
    net, x0 = hard_digits_case(digits)
    prob = robustness_problem(net, x0, eps, norm="linf", target="any")
    with_cutoff = run_milp(prob, time_limit_s=60, cutoff=True)
    plain = run_milp(prob, time_limit_s=60)
    # the cutoff is the model's own numerical margin (solve/numerics.py), at least PROOF_MARGIN
    assert with_cutoff.cutoff == with_cutoff.margin and plain.cutoff is None
    assert 1e-6 < with_cutoff.cutoff < 1e-3
    assert with_cutoff.verdict == plain.verdict == expected
    if expected == "sat":
        x = np.array(with_cutoff.counterexample_x)
        assert prob.input_set.contains(x) and int(np.argmax(net.forward(x))) != prob.label


def test_cutoff_status_is_read_as_a_proof_only_for_dense_runs() -> None:
    from surrogate.bench.networks import random_mlp

    net = random_mlp((4, 6, 6, 3), seed=4)  # 3 unstable ReLUs at eps 0.05; min t = 0.0377
    prob = robustness_problem(net, np.full(4, 0.5), 0.05, target="any")
    plain = run_milp(prob, time_limit_s=10, stop_on_proof=False)
    assert plain.status == "optimal" and plain.verdict == "unsat"
    # cold start, no early stop: with the cutoff HiGHS finds no solution at all (all t > 1e-6)
    r = run_milp(prob, time_limit_s=10, stop_on_proof=False, cutoff=True, warm_start=None)
    assert (r.status, r.verdict, r.incumbents) == ("cutoff", "unsat", 0)
    assert r.bound == r.margin == r.cutoff  # what "infeasible under the cutoff" proves
    assert 1e-6 < r.margin < 1e-4
    # warm-started: HiGHS keeps the start point (t = 0.055) and closes its gap there; the bound
    # reported is capped at the cutoff, the lower bound on min t that run really gives
    w = run_milp(prob, time_limit_s=10, stop_on_proof=False, cutoff=True)
    assert w.verdict == "unsat" and w.bound == pytest.approx(w.margin)
    assert plain.bound == pytest.approx(plain.surrogate_objective) and plain.bound > w.bound
    # the same network passed as a "surrogate" copy: never a cutoff, never a proof
    copy = Network(tuple(net.layers))
    s = run_milp(prob, copy, label="copy", time_limit_s=10)
    assert s.cutoff is None and s.verdict == "unknown" and s.status != "cutoff"
    with pytest.raises(InputError, match=r"cutoff=True needs a verification problem on the dense "
                                         r"network"):
        run_milp(prob, copy, time_limit_s=10, cutoff=True)
    maxprob = MaximizationProblem(identity_net(), Box(np.zeros(2), np.ones(2)))
    with pytest.raises(InputError, match="cutoff=True needs a verification problem"):
        run_milp(maxprob, time_limit_s=10, cutoff=True)
    assert run_milp(maxprob, time_limit_s=10).cutoff is None


def test_cutoff_verdicts_match_the_exact_optimum_on_random_networks() -> None:
    """Against the MILP solved to optimality without any early stop: the cutoff run never
    answers differently (sat iff min t <= 0), cold or warm started; a true minimum inside the
    model's numerical margin may only give "unknown" (never happens on these nets)."""
    from surrogate.bench.networks import random_mlp

    seen = set()
    for seed in range(20):
        net = random_mlp((4, 10, 10, 3), seed=seed)
        x0 = np.random.default_rng(seed).random(4)
        for eps in (0.05, 0.15, 0.3, 0.5):
            prob = robustness_problem(net, x0, eps, target="any")
            exact = run_milp(prob, time_limit_s=30, stop_on_success=False, stop_on_proof=False)
            assert exact.status == "optimal"
            truth = "sat" if exact.surrogate_objective <= 0 else "unsat"
            for ws in ("auto", None):
                r = run_milp(prob, time_limit_s=30, cutoff=True, warm_start=ws)
                assert r.verdict == truth, (seed, eps, ws, exact.surrogate_objective, r.status)
                if truth == "unsat":  # the bound reported is the one the cutoff run proves
                    assert r.bound == r.margin < exact.surrogate_objective
                seen.add((truth, r.status))
    # both answers, and both ways HiGHS ends a proof under the cutoff, were exercised
    assert {"sat", "unsat"} <= {t for t, _ in seen}
    assert ("unsat", "cutoff") in seen


def test_the_l1_attack_reaches_the_exact_minimum_of_a_linear_objective() -> None:
    """min c.x over {|x - x0|_1 <= eps} and the unit box has a greedy solution: spend the budget
    on the inputs with the largest |c_i| that can still move that way. The sparse L1 steps must
    reach it; inputs already at the bound they are pushed to (x0_i = 0 with c_i > 0) take none
    of the budget."""
    from surrogate.problems.attack import pgd_attack
    from surrogate.problems.verification import Conjunction, VerificationProblem
    from surrogate.sets import L1Ball

    rng = np.random.default_rng(3)
    n = 200
    c = rng.standard_normal(n)
    x0 = np.where(rng.random(n) < 0.5, 0.0, rng.random(n))  # half the inputs at the lower bound
    net = Network([DenseLayer(c[None, :], np.zeros(1), "linear")])
    eps = 2.5
    room = np.where(c > 0, x0, 1.0 - x0)  # how far each input can move downhill
    best, left = float(c @ x0), eps
    for i in np.argsort(-np.abs(c)):
        move = min(room[i], left)
        best -= abs(c[i]) * move
        left -= move
    # unsafe when c.x <= best + 0.02: reachable only within 0.02 of the exact minimum
    prob = VerificationProblem(net, L1Ball(x0, eps, Box(np.zeros(n), np.ones(n))),
                               (Conjunction([[1.0]], [best + 0.02]),))
    res = pgd_attack(prob)
    assert res.success and prob.input_set.contains(res.x)
    assert best - 1e-9 <= float(c @ res.x) <= best + 0.02

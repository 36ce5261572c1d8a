"""The automatic sparsity: the lowest candidate whose MILP keeps at most 80 % of the dense MILP's
unstable neurons and at most 120 of them, from counts known before any solve."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.app.problems import digits_robustness
from surrogate.app.run import run_problem
from surrogate.app.sparsity import AUTO_MAX_BINARIES, AUTO_RATIO, choose_sparsity, pick_sparsity
from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.problems import robustness_problem


def test_the_rule_picks_the_least_pruning_that_shrinks_the_milp_enough() -> None:
    assert AUTO_RATIO == 0.8
    counts = {0.0: 100, 0.3: 90, 0.5: 60, 0.8: 50, 0.9: 10}
    assert pick_sparsity(counts) == 0.5  # 60 <= 0.8 * 100, and 0.3 keeps 90
    assert pick_sparsity(counts, ratio=0.5) == 0.8
    assert pick_sparsity(counts, ratio=0.1) == 0.9
    assert pick_sparsity({0.0: 100, 0.3: 99, 0.9: 85}) == 0.3  # none shrinks it: the least
    assert pick_sparsity({0.0: 100}) is None
    with pytest.raises(InputError, match="needs the dense MILP's unstable count"):
        pick_sparsity({0.5: 3})


def test_the_rule_caps_the_binaries_and_prunes_most_when_every_milp_is_big() -> None:
    assert AUTO_MAX_BINARIES == 120
    # Task 2's 100-100-100-1 (200 unstable dense): 0.3 passes the ratio, only 0.8 the cap
    counts = {0.0: 200, 0.3: 160, 0.5: 147, 0.8: 114, 0.9: 57, 0.95: 30}
    assert pick_sparsity(counts) == 0.8
    assert pick_sparsity(counts, max_binaries=1000) == 0.3  # the ratio alone
    # every MILP above the cap: the most pruned candidate up to 0.9, never 0.95
    big = {0.0: 800, 0.3: 700, 0.5: 600, 0.8: 400, 0.9: 300, 0.95: 200}
    assert pick_sparsity(big) == 0.9
    assert pick_sparsity({0.0: 800, 0.95: 200}) == 0.95  # the only candidate
    # small MILPs that pruning does not shrink: the least pruning, as before
    assert pick_sparsity({0.0: 30, 0.3: 30, 0.9: 29}) == 0.3


def test_choose_sparsity_counts_what_the_runs_build(digits) -> None:
    from surrogate.zoo import load_model

    net = load_model("digits-2x32")
    problem = digits_robustness(net, 0, 2.0, norm="l1")
    choice = choose_sparsity(problem, method="magnitude", bounds="interval")
    assert set(choice.unstable) == {0.0, 0.3, 0.5, 0.8, 0.9, 0.95}
    assert choice.sparsity == pick_sparsity(choice.unstable)
    # the counts are the binaries of the runs' own MILPs (same bounds)
    for p in (0.0, choice.sparsity):
        from surrogate.app.run import make_surrogate

        sur = None if p == 0 else make_surrogate(net, "magnitude", p)
        run = run_problem(problem, sur, time_limit_s=0.5, bounds="interval")
        assert run.neurons["unstable"] == choice.unstable[p] == run.size["binaries"]


def test_a_surrogate_without_a_path_to_the_output_is_never_chosen() -> None:
    # the output reads one neuron through a weight 1e-6: magnitude pruning at 0.5 cuts it
    net = Network((DenseLayer(np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)),
                   DenseLayer(np.array([[1e-6, 0.0], [0.0, 1e-6]]), np.zeros(2), "linear")))
    problem = robustness_problem(net, np.array([0.6, 0.4]), 0.3, norm="linf")
    choice = choose_sparsity(problem, method="magnitude-global", candidates=(0.9,),
                             bounds="interval")
    assert choice.sparsity is None and 0.9 in choice.skipped
    assert "no path" in choice.skipped[0.9]

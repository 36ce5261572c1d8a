"""Intermediate bounds refined by per-neuron ReLU splitting (surrogate.search.refine): every bound
against the exact range of its neuron (rational arithmetic), on well and badly scaled nets."""

from __future__ import annotations

import numpy as np
import pytest
from exact_oracle import exact_minimum
from soundness_cases import make_case

from surrogate.bench.networks import random_mlp
from surrogate.bounds import compute_bounds
from surrogate.budget import Budget
from surrogate.network.spec import Network
from surrogate.search.refine import refine_bounds
from surrogate.sets import Box


def _exact_ranges(net: Network, lo: np.ndarray, hi: np.ndarray, i: int):
    """The exact min and max of every pre-activation of layer ``i`` over the box."""
    trunc = net.with_layers(list(net.layers[:i]) + [net.layers[i].replace(activation="linear")])
    n = net.layers[i].n_out
    mins, maxs = np.zeros(n), np.zeros(n)
    for j in range(n):
        e = np.zeros((1, n))
        e[0, j] = 1.0
        mins[j] = float(exact_minimum(trunc, lo, hi, [(e, np.zeros(1))]).value)
        maxs[j] = -float(exact_minimum(trunc, lo, hi, [(-e, np.zeros(1))]).value)
    return mins, maxs


def _check(net: Network, lo: np.ndarray, hi: np.ndarray, seconds: float = 20.0):
    box = Box(lo, hi)
    start = compute_bounds(net, box, "symbolic")
    refined, stats = refine_bounds(net, box, start, budget=Budget.of(seconds))
    assert refined.method == "refined"
    gained = 0.0
    for i, layer in enumerate(net.layers):
        assert np.all(refined.lower[i] >= start.lower[i])  # never looser
        assert np.all(refined.upper[i] <= start.upper[i])
        if i == 0 or layer.activation != "relu":
            continue
        mins, maxs = _exact_ranges(net, lo, hi, i)
        assert np.all(refined.lower[i] <= mins), (i, refined.lower[i] - mins)
        assert np.all(refined.upper[i] >= maxs), (i, refined.upper[i] - maxs)
        gained += float(np.sum(refined.upper[i] - refined.lower[i])
                        - np.sum(start.upper[i] - start.lower[i]))
    return stats, gained


def test_refined_bounds_hold_the_exact_range_of_every_neuron_and_tighten_it() -> None:
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    stable = 0
    for seed in (0, 2, 3):
        net = random_mlp((2, 12, 12, 12, 1), seed=seed)
        stats, gained = _check(net, lo, hi)
        assert stats["layers_done"] == 2  # the ReLU layers after the first, before the output
        assert stats["unstable_after"] <= stats["unstable_before"]
        assert gained < 0.0  # narrower on the whole
        stable += stats["stable"]
    assert stable >= 3


@pytest.mark.parametrize("family", ["big-weights", "tiny-weights", "wide-box"])
def test_refined_bounds_hold_on_badly_scaled_networks(family: str) -> None:
    for seed in range(4):
        case = make_case(family, 70 + seed)
        _check(case.network, case.lower, case.upper, seconds=5.0)


def test_an_expired_budget_leaves_the_bounds_as_they_were() -> None:
    net = random_mlp((2, 8, 8, 1), seed=1)
    box = Box(np.full(2, -1.0), np.full(2, 1.0))
    start = compute_bounds(net, box, "symbolic")
    budget = Budget.of(1e-9)
    refined, stats = refine_bounds(net, box, start, budget=budget)
    assert stats["searches"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(refined.lower, start.lower, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(refined.upper, start.upper, strict=True))

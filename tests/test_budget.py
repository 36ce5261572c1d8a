"""The one time budget: sub-budgets end no later than their parent, and a cancelled budget ends
every phase below it (the portfolio cancels its MILP thread's budget once someone answered)."""

from __future__ import annotations

import threading
import time

import numpy as np

from surrogate.bounds import compute_bounds, symbolic_bounds
from surrogate.budget import Budget
from surrogate.network.spec import DenseLayer, Network
from surrogate.sets import Box


def test_a_cancelled_budget_and_its_sub_budgets_have_no_time_left() -> None:
    stop = threading.Event()
    b = Budget.of(100.0).cancelled_by(stop)
    parts = [b.share(0.5), b.until(time.perf_counter() + 50.0), b.share(0.5).share(0.1)]
    assert b.remaining() > 99.0 and not b.expired()
    assert all(p.remaining() > 4.0 for p in parts)
    stop.set()
    assert b.remaining() == 0.0 and b.expired()
    assert all(p.remaining() == 0.0 and p.expired() for p in parts)


def _deep_net(seed: int = 0) -> Network:
    rng = np.random.default_rng(seed)
    sizes = [8, 40, 40, 40, 40, 2]
    layers = [DenseLayer(rng.normal(size=(m, n)) / np.sqrt(n), rng.normal(size=m) * 0.1,
                         "relu" if k < len(sizes) - 2 else "linear")
              for k, (n, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]
    return Network(tuple(layers))


def test_a_cancelled_budget_stops_the_lp_bounds_at_once() -> None:
    net, box = _deep_net(), Box(-np.ones(8), np.ones(8))
    stop = threading.Event()
    stop.set()
    b = compute_bounds(net, box, "lp", time_limit_s=60.0,
                       budget=Budget.of(60.0).cancelled_by(stop))
    sym = symbolic_bounds(net, box)
    # no LP was solved: the symbolic bounds come back unchanged
    for lo, hi, slo, shi in zip(b.lower, b.upper, sym.lower, sym.upper, strict=True):
        np.testing.assert_array_equal(lo, slo)
        np.testing.assert_array_equal(hi, shi)
    # the same call without the cancellation tightens some neuron
    full = compute_bounds(net, box, "lp", time_limit_s=60.0)
    assert any(np.any(f > s) for f, s in zip(full.lower[1:], sym.lower[1:], strict=True)) or any(
        np.any(f < s) for f, s in zip(full.upper[1:], sym.upper[1:], strict=True))

"""The portfolio and ``surrogate maximize``: every value is the dense network's own, the record
names who found it, and no strategy reports a value its point does not give."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from surrogate.app.maximize import STRATEGIES, maximize
from surrogate.app.portfolio import MilpJob, portfolio
from surrogate.app.problems import box_maximization, digits_robustness
from surrogate.app.run import run_milp
from surrogate.bench.networks import random_mlp
from surrogate.cli import main
from surrogate.network.onnx_io import write_onnx
from surrogate.network.spec import DenseLayer, Network


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_reports_the_value_of_its_point(strategy: str) -> None:
    net = random_mlp((20, 16, 16, 1), seed=50)
    res = maximize(net, time_limit_s=2.0, strategy=strategy)
    assert res.best_dense_objective == pytest.approx(float(net.forward(res.x)[0]), abs=1e-12)
    assert np.all(res.x >= 0.0) and np.all(res.x <= 1.0)
    assert res.best_dense_objective >= res.start_objective  # never below the box centre
    assert res.total_s < 2.0 + 2.0
    values = [t["value"] for t in res.trace]
    assert values == sorted(values)  # the record holds improvements, in order


def test_the_portfolio_matches_the_exact_optimum_on_a_small_net() -> None:
    # 2-6-6-1: the dense MILP proves the optimum; the portfolio reaches it and says "optimal"
    net = random_mlp((2, 6, 6, 1), seed=3)
    exact = run_milp(box_maximization(net), time_limit_s=30, stop_on_proof=False)
    assert exact.status == "optimal"
    res = maximize(net, time_limit_s=10.0)
    assert res.best_dense_objective == pytest.approx(exact.surrogate_objective, abs=1e-6)
    assert res.status == "optimal" and res.bound is not None
    assert res.bound >= res.best_dense_objective - 1e-6


def test_the_portfolio_minimises_too_and_shares_points_with_the_milps() -> None:
    net = random_mlp((30, 20, 20, 1), seed=7)
    res = maximize(net, minimize=True, time_limit_s=4.0)
    assert res.best_dense_objective == pytest.approx(float(net.forward(res.x)[0]), abs=1e-12)
    assert res.best_dense_objective <= res.start_objective
    milps = [k for k in res.components if k.endswith("MILP")]
    assert milps and all("time_s" in res.components[k] for k in milps)


def test_a_surrogate_without_a_path_to_the_output_is_skipped() -> None:
    # 90 % global magnitude pruning of a net with a tiny last layer cuts every path: its MILP
    # would be "optimal" at once and say nothing, so the portfolio skips it and says why
    w0 = np.eye(3)
    net = Network((DenseLayer(w0, np.zeros(3)),
                   DenseLayer(np.full((1, 3), 1e-6), np.zeros(1), "linear")))
    res = portfolio(box_maximization(net), time_limit_s=2.0,
                    milps=(MilpJob("magnitude-global", 0.9, 0.5), MilpJob(None)))
    assert "lost every path" in res.components["magnitude-global@0.9 MILP"]["skipped"]


def test_a_verification_portfolio_stops_at_a_confirmed_counterexample(digits) -> None:
    from surrogate.zoo import load_model

    net = load_model("digits-2x32")
    prob = digits_robustness(net, 0, 0.15, norm="linf", target="any")
    seen: list[np.ndarray] = []

    def confirm(x: np.ndarray) -> bool:
        seen.append(x)
        return True

    res = portfolio(prob, time_limit_s=20.0, confirm=confirm)
    assert res.status == "sat"
    assert prob.input_set.contains(res.best_x, tol=1e-9) and seen
    assert int(np.argmax(net.forward(res.best_x))) != prob.label
    # the attack runs first and answers this one: no MILP is built, no LP point solved
    assert res.found_by == "attack" and res.components["attack"]["calls"] == 1
    assert res.runs == [] and "LP point (dense)" not in res.components
    # without it (surrogate verify runs its own attack first) a later generator answers
    later = portfolio(prob, time_limit_s=20.0, confirm=confirm, attack=False)
    assert later.status == "sat" and later.found_by != "attack"
    assert "attack" not in later.components


def test_cli_maximize_prints_json_and_checks_its_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_onnx(random_mlp((8, 8, 1), seed=1), tmp_path / "net.onnx")
    assert main(["maximize", str(path), "--time-limit", "1", "--quiet", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"best_dense_objective", "x", "bound", "status", "trace", "components"} <= set(payload)
    assert len(payload["x"]) == 8
    assert main(["maximize", str(path), "--output", "3", "--time-limit", "1"]) == 2
    assert "--output 3 out of range: the network has 1 outputs" in capsys.readouterr().err
    assert main(["maximize", str(path), "--lower", "2", "--upper", "1"]) == 2
    assert "--lower is above --upper at input 0 (2 > 1)" in capsys.readouterr().err
    assert main(["maximize", str(path), "--time-limit", "0"]) == 2
    assert "--time-limit must be a finite number of seconds > 0" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_milp_thread_yields_the_cpu_to_the_generators() -> None:
    from surrogate.app.portfolio import MILP_NICE, _yield_cpu

    seen: dict[str, int] = {}
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def body() -> None:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        _yield_cpu()
        seen["change"] = os.getpriority(os.PRIO_PROCESS, tid) - before

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["change"] == min(MILP_NICE, 19 - main_before)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before

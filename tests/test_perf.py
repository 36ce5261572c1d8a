"""The performance benchmark (``surrogate perf``): JSON shape of the build suite, the stock and our
encodings reaching the same optimum on tiny instances, HiGHS log parsing and the CLI.

No timing assertions: speed is shown by the benchmark, not by tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from surrogate.app.run import run_milp
from surrogate.bench.networks import random_mlp
from surrogate.bench.perf import (
    PerfConfig,
    build_suite,
    ours_maximize,
    ours_verify,
    parse_highs_log,
    stock_run,
    stock_verdict,
)
from surrogate.cli import main
from surrogate.errors import InputError
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.sets import Box

# Lines of a real HiGHS 1.16 MIP log (mnist_fc prop_0_0.03, stock model), trimmed.
HIGHS_LOG = "\n".join([
    'MIP has 4178 rows; 3938 cols; 276659 nonzeros; 521 integer variables (521 binary)',
    '        Nodes      |    B&B Tree     |            Objective '
    'Bounds              |  Dynamic Constraints |       Work      ',
    'Src  Proc. InQueue |  Leaves   Expl. | BestBound       BestS'
    'ol              Gap |   Cuts   InLp Confl. | LpIters     Time',
    '',
    '         0       0         0   0.00%   -7.856897153    inf  '
    '                inf        0      0      0         0     0.6s',
    ' L       0       0         0   0.00%   -7.477799653    0.747'
    '0692076    1100.95%     1886    166    103      3262     2.1s',
    ' L       0       0         0   0.00%   -7.460441589    0.678'
    '329712     1199.83%     2008    180    103      9220     7.2s',
    '',
    '3.2% inactive integer columns, restarting',
    '       257       0       128 100.00%   0.678329712     0.678'
    '329712        0.00%      747     54    502     58200    13.1s',
])


def test_parse_highs_log_reads_progress_lines_and_size() -> None:
    trace, size = parse_highs_log(HIGHS_LOG)
    assert [t for t, _, _ in trace] == [0.6, 2.1, 7.2, 13.1]
    assert trace[0][2] == np.inf
    assert trace[1] == (2.1, -7.477799653, 0.7470692076)
    assert trace[-1][1] == trace[-1][2] == 0.678329712
    assert size == {"constraints": 4178, "variables": 3938, "nonzeros": 276659, "binaries": 521}


def test_build_suite_small_network_json_shape() -> None:
    cfg = PerfConfig(build_sizes=(64, 32, 32, 10), repeats=1, build_sparsity=0.9)
    out = build_suite(cfg)
    json.dumps(out)  # JSON-ready
    assert out["sizes"] == [64, 32, 32, 10]
    dense, pruned = out["rows"]
    assert dense["variant"] == "dense" and pruned["variant"] == "pruned-0.9"
    n_weights = 64 * 32 + 32 * 32 + 32 * 10
    assert dense["nonzeros"] == n_weights
    assert pruned["nonzeros"] == pytest.approx(0.1 * n_weights, abs=3)
    keys = {"stock_pyomo", "stock_pyomo_nogc", "ours_pyomo_interval", "ours_pyomo_symbolic",
            "ours_bounds_interval",
            "ours_matrix_interval", "ours_bounds_symbolic", "ours_matrix_symbolic",
            "ours_matrix_total_symbolic", "ours_matrix_total_interval"}
    for row in out["rows"]:
        assert keys <= set(row["median_s"])
        assert all(v > 0 for v in row["median_s"].values())
    # stock OMLT: one binary per ReLU neuron, whatever the weights; ours: never more
    assert dense["stock_size"]["binaries"] == 64
    assert pruned["stock_size"]["binaries"] == 64
    assert pruned["ours_size_symbolic"]["binaries"] <= 64
    assert pruned["ours_size_symbolic"]["nonzeros"] < dense["ours_size_symbolic"]["nonzeros"]
    assert set(out["summary"]) >= {"dense_ours_matrix_over_stock", "sparse_over_dense_ours_matrix"}
    assert all(v > 0 for v in out["summary"].values())


def test_tiny_maximization_same_optimum_both_pipelines() -> None:
    net = random_mlp((5, 8, 8, 1), seed=50)
    prob = MaximizationProblem(net, Box(np.zeros(5), np.ones(5)))
    stock = stock_run(prob, 30.0)
    ours = ours_maximize(prob, 30.0)
    assert stock.termination == "convergenceCriteriaSatisfied"
    assert ours["status"] == "optimal"
    assert ours["best_objective"] == pytest.approx(stock.objective, abs=1e-6)
    # the stock incumbent is a real input whose forward pass gives the objective
    assert float(net.forward(stock.x)[0]) == pytest.approx(stock.objective, abs=1e-6)
    # HiGHS' log shows the final value (10 significant digits)
    assert stock.log_trace[-1][2] == pytest.approx(stock.objective, rel=1e-8)
    assert stock.time_to_value_s(stock.objective, True, 1e-6) is not None


@pytest.mark.parametrize("eps", [0.05, 0.5])
def test_tiny_verification_same_optimum_and_verdict(eps: float) -> None:
    # seed 4: label 1 at the centre, class 2 wins in part of the unit box
    net = random_mlp((4, 6, 6, 3), seed=4)
    prob = robustness_problem(net, np.full(4, 0.5), eps, target="any")
    stock = stock_run(prob, 30.0)
    ours = run_milp(prob, time_limit_s=30.0, stop_on_success=False, stop_on_proof=False)
    assert stock.termination == "convergenceCriteriaSatisfied" and ours.status == "optimal"
    assert ours.surrogate_objective == pytest.approx(stock.objective, abs=1e-6)
    expected = "sat" if stock.objective < 0 else "unsat"
    assert stock_verdict(prob, stock) == expected
    assert ours_verify(prob, 30.0)["verdict"] == expected


def test_tiny_verification_covers_both_answers() -> None:
    net = random_mlp((4, 6, 6, 3), seed=4)
    answers = {stock_verdict(p, stock_run(p, 30.0)) for p in
               (robustness_problem(net, np.full(4, 0.5), e, target="any") for e in (0.05, 0.5))}
    assert answers == {"sat", "unsat"}


def test_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "perf.json"
    code = main(["perf", "--suite", "build", "--sizes", "16-8-8-4", "--repeats", "1",
                 "--out", str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    assert set(record) >= {"command", "machine", "config", "suites", "targets", "bugs"}
    assert record["command"].startswith("surrogate perf --suite build")
    assert "--sizes 16-8-8-4" in record["command"]
    assert record["machine"]["cores"] >= 1
    assert list(record["suites"]) == ["build"]
    assert record["bugs"] == []
    assert {t["key"] for t in record["targets"]} == {
        "dense_ours_matrix_over_stock", "dense_ours_pyomo_symbolic_over_stock",
        "dense_ours_pyomo_symbolic_over_stock_nogc", "sparse_over_dense_ours_matrix",
        "sparse_over_dense_ours_matrix_build_only", "sparse_over_dense_ours_pyomo_symbolic"}


def test_config_and_cli_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"build sizes must be >= 3 positive widths .* got \[4, 3\]"):
        PerfConfig(build_sizes=(4, 3))
    with pytest.raises(InputError, match=r"unknown preset\(s\) \['fast'\]"):
        PerfConfig(presets=("default", "fast"))
    code = main(["perf", "--suite", "digits", "--time-limit", "0", "--out",
                 str(tmp_path / "x.json")])
    assert code == 2
    assert "time limit must be a finite number of seconds > 0, got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_reuse_stock_rows_of_an_earlier_run(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    args = ["perf", "--suite", "maximize", "--limit", "1", "--time-limit", "1"]
    assert main([*args, "--out", str(first)]) == 0
    second = tmp_path / "second.json"
    assert main([*args, "--reuse-stock", str(first), "--out", str(second)]) == 0
    rows = [json.loads(p.read_text())["suites"]["maximize"]["rows"] for p in (first, second)]
    assert rows[0][0]["instance"] == rows[1][0]["instance"] == "random:100-50-50-1:seed=50"
    assert rows[1][0]["stock"] == rows[0][0]["stock"]
    # ours always starts from a feasible point, so it always has an incumbent
    assert all(r[0]["ours"]["best_objective"] is not None for r in rows)
    with pytest.raises(InputError, match=r"ran suite maximize with a 1.0 s limit, this run uses 2 s"):
        PerfConfig(reuse_stock=str(first)).reused_stock("maximize", 2.0)

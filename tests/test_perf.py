"""The performance suites as campaigns (``surrogate perf``, docs/performance.md): the pipeline axis
of the specs and task keys, the stock OMLT pipeline against ours (same optimum, same verdicts), the
build tasks, the ratios of the perf report recomputed from the stored rows, and the command.

No timing assertions: speed is shown by the benchmark, not by tests."""

from __future__ import annotations

import json
import sqlite3
import statistics
from pathlib import Path

import numpy as np
import pytest

from surrogate.app.build import build_milp
from surrogate.app.problems import box_maximization
from surrogate.app.run import run_milp
from surrogate.bench.builds import FAST_REPEATS, run_build
from surrogate.bench.networks import random_mlp
from surrogate.bench.pipelines import registered_preset
from surrogate.bench.runner import _check_spec_file, _spec_dict
from surrogate.bench.spec import load_spec, parse_sweep
from surrogate.bench.stock import parse_highs_log, run_stock
from surrogate.bench.suites import SUITES, first_instances, suite_spec
from surrogate.bench.tasks import expand_tasks
from surrogate.cli import main
from surrogate.errors import InputError, ParseError
from surrogate.problems import MaximizationProblem, robustness_problem
from surrogate.sets import Box

REPO = Path(__file__).resolve().parents[1]

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

VERIFY_SWEEP = """
[sweep]
name = "tiny-verify"
time_limit_s = 5
networks = ["digits-2x32"]
sparsities = [0.0]
pipelines = ["ours", "stock-omlt", "highs:cutoff"]

[problem]
kind = "robustness"
eps = { linf = [0.02, 0.3] }
target = "any"
images = [1]
"""

MAX_SWEEP = """
[sweep]
name = "tiny-max"
time_limit_s = 10
networks = ["random:5-8-8-1:seed=50", "random:6-10-10-1:seed=51"]
methods = ["magnitude"]
sparsities = [0.0, 0.5]
pipelines = ["ours", "stock-omlt"]

[problem]
kind = "maximize"
outputs = [0]
"""


def test_parse_highs_log_reads_progress_lines_and_size() -> None:
    trace, size = parse_highs_log(HIGHS_LOG)
    assert [t for t, _, _ in trace] == [0.6, 2.1, 7.2, 13.1]
    assert trace[0][2] == np.inf
    assert trace[1] == (2.1, -7.477799653, 0.7470692076)
    assert trace[-1][1] == trace[-1][2] == 0.678329712
    assert size == {"variables": 3938, "binaries": 521, "constraints": 4178, "nonzeros": 276659}


# ------------------------------------------------------------------------- specs and keys
def test_pipelines_keep_the_keys_of_ours_and_name_the_others() -> None:
    with_axis = parse_sweep(MAX_SWEEP)
    without = parse_sweep(MAX_SWEEP.replace('pipelines = ["ours", "stock-omlt"]\n', ""))
    assert without.pipelines == ("ours",)
    keys = [t.key for t in expand_tasks(with_axis)]
    assert [t.key for t in expand_tasks(without)] == [
        k for k in keys if "stock-omlt" not in k]
    assert keys[:4] == [
        "random:5-8-8-1:seed=50|dense|out=0|seed=0",
        "random:5-8-8-1:seed=50|stock-omlt|out=0|seed=0",
        "random:5-8-8-1:seed=50|magnitude@0.5|out=0|seed=0",
        "random:5-8-8-1:seed=50|stock-omlt/magnitude@0.5|out=0|seed=0",
    ]
    tasks = expand_tasks(with_axis)
    assert {t.config for t in tasks} == {"dense", "stock-omlt", "magnitude@0.5",
                                        "stock-omlt/magnitude@0.5"}
    # the first K instances: every configuration and pipeline of each
    assert first_instances(with_axis, 1) == 4 and first_instances(with_axis, 5) is None


def test_old_campaign_folders_resume(tmp_path: Path) -> None:
    """A spec.json written before the pipeline axis (no 'pipelines', no 'balls'/'repeats')
    still matches the spec as parsed now."""
    spec = load_spec(REPO / "problems" / "smoke.toml")
    old = _spec_dict(spec)
    del old["pipelines"]
    for key in ("balls", "repeats"):
        del old["problem"][key]
    (tmp_path / "spec.json").write_text(json.dumps(old))
    _check_spec_file(tmp_path / "spec.json", spec)  # no error
    (tmp_path / "spec.json").write_text(json.dumps({**old, "bounds": "lp"}))
    with pytest.raises(InputError, match="different campaign setting"):
        _check_spec_file(tmp_path / "spec.json", spec)


@pytest.mark.parametrize(("change", "message"), [
    ('pipelines = ["ours", "gurobi"]',
     r"sweep.toml:6: unknown pipeline 'gurobi' for a robustness campaign; choose from ours, "
     r"stock-omlt, highs:NAME"),
    ('pipelines = ["ours", "ours"]', r"sweep.toml:6: 'pipelines' lists an entry twice"),
    ('pipelines = ["ours", "ours-pyomo"]', r"unknown pipeline 'ours-pyomo' for a robustness"),
    ('pipelines = ["highs:cutoff"]\nmethods = ["magnitude"]\nsparsities = [0.0, 0.5]',
     r"'highs:cutoff' is a proof cutoff for verification MILPs of the dense network"),
])
def test_pipeline_errors_name_the_line(change: str, message: str) -> None:
    text = VERIFY_SWEEP.replace('sparsities = [0.0]\n', "").replace(
        'pipelines = ["ours", "stock-omlt", "highs:cutoff"]', change)
    if "sparsities" not in change:
        text = text.replace("[problem]", "sparsities = [0.0]\n\n[problem]")
    with pytest.raises(ParseError, match=message):
        parse_sweep(text, path="sweep.toml")


def test_eps_by_norm_and_build_sweeps() -> None:
    spec = parse_sweep(VERIFY_SWEEP.replace("{ linf = [0.02, 0.3] }", "{ linf = 0.05, l1 = 2 }"))
    assert spec.problem.balls == (("linf", 0.05), ("l1", 2.0))
    assert [i for i, _ in spec.problem.instances()] == ["img=1:linf=0.05", "img=1:l1=2"]
    with pytest.raises(ParseError, match="either 'norm' or eps as a table"):
        parse_sweep(VERIFY_SWEEP.replace('target = "any"', 'target = "any"\nnorm = "l1"'))
    build = load_spec(REPO / "problems" / "perf-build.toml")
    assert build.problem.kind == "build" and build.time_limit_s == 0.0
    assert [t.config for t in expand_tasks(build)] == [
        "dense", "ours-pyomo", "stock-omlt",
        "magnitude@0.9", "ours-pyomo/magnitude@0.9", "stock-omlt/magnitude@0.9"]


def test_every_shipped_suite_loads(vnncomp: Path) -> None:
    for name in SUITES:
        spec = suite_spec(name, vnncomp=vnncomp)
        assert expand_tasks(spec)
    mnist = suite_spec("mnist_fc", vnncomp=vnncomp, quick=True)
    assert len(mnist.rows) == 30 and mnist.pipelines == ("ours", "stock-omlt")
    assert {r.onnx_rel for r in mnist.rows} == {"onnx/mnist-net_256x2.onnx"}
    assert all(t.time_limit_s == 5.0 for t in expand_tasks(mnist))


# ------------------------------------------------------------------- the two pipelines agree
def test_tiny_maximization_same_optimum_both_pipelines() -> None:
    net = random_mlp((5, 8, 8, 1), seed=50)
    prob = MaximizationProblem(net, Box(np.zeros(5), np.ones(5)))
    stock = run_stock(prob, 30.0)
    ours = run_milp(prob, time_limit_s=30.0)
    assert stock["status"] == "convergenceCriteriaSatisfied" and ours.status == "optimal"
    assert ours.best_dense_objective == pytest.approx(stock["best_dense_objective"], abs=1e-6)
    # the stock incumbent is a real input whose forward pass gives HiGHS's objective
    assert float(net.forward(np.array(stock["best_x"]))[0]) == pytest.approx(
        stock["surrogate_objective"], abs=1e-6)
    # HiGHS's log shows the final value (10 significant digits)
    assert stock["trace"][-1]["dense_objective"] == pytest.approx(stock["surrogate_objective"],
                                                                  rel=1e-8)
    assert stock["best_dense_time_s"] <= stock["total_s"]


@pytest.mark.parametrize("eps", [0.05, 0.5])
def test_tiny_verification_same_optimum_and_verdict(eps: float) -> None:
    # seed 4: label 1 at the centre, class 2 wins in part of the unit box
    net = random_mlp((4, 6, 6, 3), seed=4)
    prob = robustness_problem(net, np.full(4, 0.5), eps, target="any")
    stock = run_stock(prob, 30.0)
    exact = run_milp(prob, time_limit_s=30.0, stop_on_success=False, stop_on_proof=False)
    assert stock["status"] == "convergenceCriteriaSatisfied" and exact.status == "optimal"
    assert exact.surrogate_objective == pytest.approx(stock["surrogate_objective"], abs=1e-6)
    expected = "sat" if stock["surrogate_objective"] < 0 else "unsat"
    assert stock["verdict"] == expected == {0.05: "unsat", 0.5: "sat"}[eps]
    assert run_milp(prob, time_limit_s=30.0).verdict == expected  # ours with its defaults


def test_registered_preset_is_removed_afterwards() -> None:
    from surrogate.solve import highs

    with registered_preset("highs:no-node-cuts") as key:
        assert highs.PRESETS[key] == {"mip_allow_cut_separation_at_nodes": False}
    assert key not in highs.PRESETS
    with registered_preset("highs:cutoff") as key:
        assert highs.PRESETS[key] == {}  # the cutoff is run_milp's cutoff=True, not an option
    with registered_preset("ours") as key:
        assert key == "default"


# ------------------------------------------------------------------------------ build tasks
def test_build_task_models_equal_the_matrix_path() -> None:
    net = random_mlp((16, 12, 12, 4), seed=0)
    box = Box(np.zeros(16), np.ones(16))
    expected = build_milp(box_maximization(net, 0), net, "symbolic").size()
    ours = run_build(net, box, "ours", repeats=2)
    pyomo = run_build(net, box, "ours-pyomo", repeats=1)
    stock = run_build(net, box, "stock-omlt", repeats=1)
    assert ours["size"] == pyomo["size"] == expected
    # milliseconds: timed FAST_REPEATS times whatever the repeats asked for; the median is kept
    assert len(ours["times_s"]) == FAST_REPEATS == ours["repeats"]
    assert ours["total_s"] == statistics.median(ours["times_s"])
    assert ours["bounds_s"] > 0 and ours["build_s"] > 0
    # stock OMLT: a binary per ReLU, whatever the bounds; ours: never more
    assert stock["size"]["binaries"] == net.relu_count() >= expected["binaries"]


# ------------------------------------------------------------------ a tiny campaign, end to end
@pytest.fixture(scope="module")
def verify_campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("perf")
    (d / "tiny.toml").write_text(VERIFY_SWEEP)
    assert main(["perf", "--suite", str(d / "tiny.toml"), "--out", str(d / "run"),
                 "--jobs", "2", "--quiet"]) == 0
    return d / "run"


def _rows(run: Path) -> list[dict]:
    con = sqlite3.connect(run / "results.sqlite")
    try:
        cur = con.execute("SELECT config, instance, status, outcome, record FROM results")
        return [dict(zip(("config", "instance", "status", "outcome", "record"), r, strict=True))
                for r in cur]
    finally:
        con.close()


def test_campaign_pipelines_agree_on_every_verdict(verify_campaign: Path) -> None:
    rows = _rows(verify_campaign)
    assert sorted(r["config"] for r in rows) == ["dense"] * 2 + ["highs:cutoff"] * 2 + [
        "stock-omlt"] * 2
    assert all(r["status"] == "ok" for r in rows)
    by_instance: dict[str, set[str]] = {}
    for r in rows:
        rec = json.loads(r["record"])
        assert rec["pipeline"] == {"dense": "ours"}.get(r["config"], r["config"])
        if r["outcome"] in ("sat", "unsat"):
            by_instance.setdefault(r["instance"], set()).add(r["outcome"])
    # a sat against an unsat would be a soundness bug (the eps 0.3 ball holds a counterexample,
    # which both pipelines find in about a second; they prove the eps 0.02 ball robust)
    assert by_instance == {"img=1:linf=0.02": {"unsat"}, "img=1:linf=0.3": {"sat"}}
    perf = json.loads((verify_campaign / "perf.json").read_text())
    assert perf["bugs"] == []
    assert perf["versus_stock"]["dense"]["summary"]["disagree"] == 0


def test_campaign_ratios_come_from_the_stored_rows(verify_campaign: Path) -> None:
    rows = _rows(verify_campaign)
    times = {c: [json.loads(r["record"])["total_s"] for r in rows if r["config"] == c]
             for c in ("dense", "stock-omlt")}
    s = json.loads((verify_campaign / "perf.json").read_text())["versus_stock"]["dense"]["summary"]
    assert s["ours_median_s"] == pytest.approx(statistics.median(times["dense"]))
    assert s["stock_median_s"] == pytest.approx(statistics.median(times["stock-omlt"]))
    assert s["stock_over_ours_median"] == pytest.approx(
        statistics.median(times["stock-omlt"]) / statistics.median(times["dense"]))
    assert s["instances"] == 2 and s["agree"] + s["disagree"] <= 2 and s["disagree"] == 0
    perf = json.loads((verify_campaign / "perf.json").read_text())
    assert set(perf["presets"]["presets"]) == {"default", "cutoff"}
    assert perf["sessions"][-1]["command"].startswith("surrogate perf --suite ")
    assert perf["sessions"][-1]["machine"]["cores"] >= 1
    md = (verify_campaign / "perf.md").read_text()
    assert "## Ours vs stock OMLT: dense" in md and "No instance answered both" in md


def test_campaign_resumes_and_bench_report_adds_the_perf_report(
        verify_campaign: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _rows(verify_campaign)
    assert main(["perf", "--suite", str(verify_campaign.parent / "tiny.toml"), "--out",
                 str(verify_campaign), "--quiet"]) == 0
    assert "6 tasks: 6 already stored, 0 run now" in capsys.readouterr().out
    assert _rows(verify_campaign) == before
    assert main(["bench", "report", str(verify_campaign)]) == 0
    assert (verify_campaign / "report" / "perf.md").is_file()
    assert "[perf.md](perf.md)" in (verify_campaign / "report" / "report.md").read_text()


def test_maximization_campaign_compares_values_and_pruning(tmp_path: Path) -> None:
    (tmp_path / "max.toml").write_text(MAX_SWEEP)
    assert main(["perf", "--suite", str(tmp_path / "max.toml"), "--out", str(tmp_path / "run"),
                 "--jobs", "2", "--quiet"]) == 0
    perf = json.loads((tmp_path / "run" / "perf.json").read_text())
    dense = perf["versus_stock"]["dense"]
    # tiny networks: both pipelines solve to optimality, so the values are the same
    assert dense["summary"]["ours_with_incumbent"] == dense["summary"]["stock_with_incumbent"] == 2
    assert dense["summary"]["ours_better"] == dense["summary"]["ours_worse"] == 0
    for row in dense["rows"]:
        assert row["ours"]["best"] == pytest.approx(row["stock"]["best"], abs=1e-6)
        assert row["ours"]["time_to_stock_value_s"] is not None
    assert perf["pruned_vs_dense"]["magnitude@0.5"]["pairs"] == 2


# ---------------------------------------------------------------------------------- command
def test_command_checks_its_output_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert main(["perf", "--suite", "build", "--quick", "--out", str(plain)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"--out {plain} is a file, not a folder" in err
    assert main(["perf", "--suite", "digits", "--time-limit", "0", "--out",
                 str(tmp_path / "run")]) == 2
    assert "--time-limit must be a finite number of seconds > 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_quick_build_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--suite", "build", "--quick", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "perf perf-build: 6 tasks" in out and "[jobs 1]" in out
    perf = json.loads((tmp_path / "perf.json").read_text())
    net = perf["build"]["random:64-32-32-10:seed=0"]
    assert set(net["configs"]) == {"dense", "magnitude@0.9"}
    assert set(net["ratios"]["dense"]) == {"ours/stock-omlt", "ours-pyomo/stock-omlt"}
    assert set(net["ratios"]["magnitude@0.9/dense"]) == {"ours", "ours-pyomo", "stock-omlt"}
    sizes = {p: v["size"] for p, v in net["configs"]["magnitude@0.9"].items()}
    assert sizes["ours"] == sizes["ours-pyomo"]
    assert sizes["ours"]["nonzeros"] < net["configs"]["dense"]["ours"]["size"]["nonzeros"]

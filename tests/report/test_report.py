"""Reports from a results store: tables with hand-counted figures, diagonal shares, plots, CSV."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from surrogate.bench.store import ResultStore
from surrogate.bench.tasks import Task, config_label
from surrogate.bench.worker import Outcome
from surrogate.cli import main
from surrogate.errors import ModelFileError
from surrogate.report import load_campaign, pairs, sentinel_s, shares, summary_table, write_report
from surrogate.report.data import median

LIMIT = 10.0


def _put(
    store: ResultStore,
    network: str,
    instance: str,
    method: str,
    p: float,
    record: dict[str, Any] | None,
    *,
    seed: int = 0,
    campaign: str = "sweep",
) -> None:
    cfg = config_label(method, p)
    task = Task(
        f"{network}|{cfg}|{instance}|seed={seed}",
        campaign,
        network,
        "dense" if p == 0 else method,
        p,
        instance,
        seed,
        LIMIT,
        {},
    )
    if record is None:
        out = Outcome(task.key, "error", "error", "SolverError: injected", {}, "a", "b", 0.1, "w")
    else:
        outcome = record.get("result") or record.get("verdict") or "incumbent"
        out = Outcome(task.key, "ok", outcome, None, record, "a", "b", 0.1, "w")
    store.put(task, out)


def _verif(t: float | None, verdict: str | None = None, total: float = 3.0) -> dict[str, Any]:
    return {
        "kind": "verification",
        "verdict": verdict or ("sat" if t is not None else "unknown"),
        "time_to_first_success_s": t,
        "total_s": total,
        "time_limit_s": LIMIT,
        "trace": [],
    }


@pytest.fixture
def verification_dir(tmp_path: Path) -> Path:
    """4 instances; dense solves 2 (1 s, 5 s), proves 1, misses 1; see the expected counts below."""
    d = tmp_path / "verif"
    with ResultStore(d / "results.sqlite") as s:
        dense = [(1.0, None), (5.0, None), (None, None), (None, "unsat")]
        p5 = [0.5, None, 2.0, None]
        p8 = [0.2, 0.3, 20.0]  # the last one solved after the solver limit (setup on top)
        for i, ((t, v), t5) in enumerate(zip(dense, p5, strict=True)):
            inst = f"img={i}:eps=5"
            _put(s, "net", inst, "dense", 0.0, _verif(t, v, total=2.0 + i))
            _put(s, "net", inst, "magnitude", 0.5, _verif(t5, total=1.0 + i))
            _put(s, "net", inst, "magnitude", 0.8, _verif(p8[i]) if i < 3 else None)
    (d / "spec.json").write_text(json.dumps({"name": "synthetic", "kind": "sweep"}))
    return d


def test_pairs_and_diagonal_shares_by_hand(verification_dir: Path) -> None:
    c = load_campaign(verification_dir)
    assert sentinel_s(c) == 20.0  # a solved time beyond the limit moves the sentinel
    prs = pairs(c)
    assert sorted(prs) == [("magnitude", 0.5), ("magnitude", 0.8)]
    # p=0.5: 0.5<1 pruned faster; 5<S dense faster; 2<S pruned faster; both unsolved: tie
    sh = shares(prs[("magnitude", 0.5)], objective=False, sentinel=sentinel_s(c))
    assert (sh.n, sh.pruned_better, sh.dense_better, sh.ties) == (4, 2, 1, 1)
    # p=0.8 (one run errored, so 3 pairs): 0.2<1, 0.3<5, 20 == S (dense unsolved at S): tie
    sh = shares(prs[("magnitude", 0.8)], objective=False, sentinel=sentinel_s(c))
    assert (sh.n, sh.pruned_better, sh.dense_better, sh.ties) == (3, 2, 0, 1)


def test_summary_table_counts(verification_dir: Path) -> None:
    headers, rows = summary_table(load_campaign(verification_dir))
    assert headers[:8] == [
        "configuration",
        "runs",
        "errors",
        "sat",
        "unsat",
        "unknown",
        "solved (dense adversarial)",
        "median time to solve (s)",
    ]
    assert rows == [
        ["dense", "4", "0", "2", "1", "1", "2", "3.00", "3.50", "-"],
        ["magnitude@0.5", "4", "0", "2", "0", "2", "2", "1.25", "2.50", "2/4"],
        ["magnitude@0.8", "4", "1", "3", "0", "0", "3", "0.30", "3.00", "2/3"],
    ]


def test_report_files_markdown_and_csv(verification_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    files = write_report(verification_dir, out)
    md = files.markdown.read_text()
    assert md.startswith("# Benchmark report: synthetic")
    assert "| magnitude@0.8 | 4 | 1 | 3 | 0 | 0 | 3 | 0.30 | 3.00 | 2/3 |" in md
    assert "| magnitude | 0.5 | 4 | 2 (50%) | 1 (25%) | 1 (25%) |" in md
    assert "| net\\|magnitude@0.8\\|img=3:eps=5\\|seed=0 | SolverError: injected |" in md
    assert sorted(f.name for f in files.figures) == ["cactus.png", "scatter-magnitude.png"]
    for f in files.figures:
        assert f"]({f.name})" in md
        data = f.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with files.csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    err = [r for r in rows if r["status"] == "error"]
    assert [r["error"] for r in err] == ["SolverError: injected"]
    solved = {r["key"]: r["record.time_to_first_success_s"] for r in rows}
    assert solved["net|magnitude@0.5|img=2:eps=5|seed=0"] == "2.0"
    assert solved["net|dense|img=2:eps=5|seed=0"] == ""


def _maxrec(trace: list[tuple[float, float]], maximize: bool = True) -> dict[str, Any]:
    best = (max if maximize else min)(v for _, v in trace)
    return {
        "kind": "maximization",
        "verdict": None,
        "maximize": maximize,
        "best_dense_objective": best,
        "total_s": LIMIT,
        "time_limit_s": LIMIT,
        "trace": [
            {"time_s": t, "dense_objective": v, "surrogate_objective": v, "success": False}
            for t, v in trace
        ],
    }


def test_maximisation_report_best_known_and_anytime(tmp_path: Path) -> None:
    d = tmp_path / "max"
    with ResultStore(d / "results.sqlite") as s:
        _put(s, "r1", "out=0", "dense", 0.0, _maxrec([(0.1, 0.5), (1.0, 1.0)]))
        _put(s, "r1", "out=0", "mag", 0.5, _maxrec([(0.2, 1.5), (0.9, 1.2)]))
        _put(s, "r2", "out=0", "dense", 0.0, _maxrec([(0.3, 2.0)]))
        _put(s, "r2", "out=0", "mag", 0.5, _maxrec([(0.05, 1.0), (0.4, 2.0)]))
    c = load_campaign(d)
    assert c.kind == "maximization"
    pruned = next(r for r in c.runs if r.network == "r1" and r.sparsity == 0.5)
    assert pruned.anytime() == [(0.2, 1.5)]  # 1.2 later is no improvement
    headers, rows = summary_table(c)
    assert headers[3:] == [
        "with incumbent",
        "reached best known",
        "median time to best known (s)",
        "better than dense",
        "worse than dense",
    ]
    assert rows == [
        ["dense", "2", "0", "2", "1", "0.30", "-", "-"],
        ["mag@0.5", "2", "0", "2", "2", "0.30", "1/2", "0/2"],
    ]
    files = write_report(d)
    assert [f.name for f in files.figures] == ["cactus.png", "scatter-mag.png", "anytime.png"]
    assert "| mag | 0.5 | 2 | 1 (50%) | 0 (0%) | 1 (50%) |" in files.markdown.read_text()


def test_instances_report_counts_verdicts(tmp_path: Path) -> None:
    d = tmp_path / "vnn"
    with ResultStore(d / "results.sqlite") as s:
        for i, (res, wall) in enumerate(
            [("sat", 0.5), ("unsat", 2.0), ("timeout", 9.0), ("unsat", 4.0)]
        ):
            rec = {"result": res, "wall_s": wall, "method": "milp", "cases": 1, "details": {}}
            _put(s, f"n{i}.onnx", "p.vnnlib", "dense", 0.0, rec, campaign="instances")
    headers, rows = summary_table(load_campaign(d))
    assert headers[3:6] == ["sat", "unsat", "timeout"]
    # solved: 0.5, 2, 4 -> median 2; all runs: 0.5, 2, 4, 9 -> median 3
    assert rows == [["dense", "4", "0", "1", "2", "1", "3", "2.00", "3.00", "-"]]


def test_median_and_missing_store(tmp_path: Path) -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4.0, 1.0]) == 2.5 and median([]) is None
    with pytest.raises(ModelFileError, match="results folder .*nothing not found"):
        load_campaign(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no results store at"):
        load_campaign(tmp_path / "empty")


def test_cli_report_and_no_torch_or_pyomo(verification_dir: Path, capsys) -> None:
    assert main(["bench", "report", str(verification_dir)]) == 0
    assert f"wrote {verification_dir / 'report' / 'report.md'}" in capsys.readouterr().out
    code = (
        "import sys; from surrogate.report import write_report; "
        f"write_report({str(verification_dir)!r}); "
        "print(sorted(m for m in ('torch', 'pyomo', 'pyomo.environ', 'onnx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_problem_line_is_readable_not_a_python_dict(verification_dir: Path, tmp_path: Path) -> None:
    spec = {"name": "synthetic", "kind": "sweep", "bounds": "interval",
            "problem": {"kind": "robustness", "norm": "l1", "eps": [2.0, 5.0], "target": "top2",
                        "images": [0, 2], "stop_on_success": True, "ignored": "x"}}
    (verification_dir / "spec.json").write_text(json.dumps(spec))
    md = write_report(verification_dir, tmp_path / "rep").markdown.read_text()
    assert ("- problem: robustness; norm l1; eps 2, 5; target top2; images 0, 2; "
            "stop on success yes\n") in md
    assert "{" not in md.split("- problem:")[1].splitlines()[0]
    # radii drawn per image, images from a folder of properties (named by its benchmark)
    spec["problem"] = {"kind": "robustness", "norm": "l1", "eps": [], "eps_uniform": [4.5, 5.5],
                       "target": "top2", "images": [0], "stop_on_success": True,
                       "centres": "/some/where/vnncomp/mnist_fc/vnnlib_2022"}
    (verification_dir / "spec.json").write_text(json.dumps(spec))
    md = write_report(verification_dir, tmp_path / "rep2").markdown.read_text()
    assert ("- problem: robustness; norm l1; eps U(4.5, 5.5) per image; target top2; images 0; "
            "stop on success yes; centres mnist_fc/vnnlib_2022\n") in md


def test_the_portfolio_table_counts_against_every_component() -> None:
    # two instances; the portfolio beats everything on the first, the gradient ascent beats it at
    # 60 s on the second (only later than 10 s)
    from surrogate.report.data import Campaign, Run
    from surrogate.report.tables import portfolio_table

    def run(net: str, config: str, trace: list[tuple[float, float]], start: float = 0.0) -> Run:
        pipeline = config if config.startswith("strategy:") else "ours"
        record = {"kind": "maximization", "maximize": True, "pipeline": pipeline,
                  "start_objective": start,
                  "trace": [{"time_s": t, "dense_objective": v} for t, v in trace]}
        return Run(f"{net}|{config}", "sweep", net, "magnitude", 0.0, config, "out=0", 0, 60.0,
                   "ok", "incumbent", None, 60.0, record)

    runs = [
        run("a", "strategy:portfolio", [(1.0, 0.5), (20.0, 0.9)]),
        run("a", "dense", [(0.1, 0.0), (50.0, 0.3)]),
        run("a", "strategy:gradient", [(2.0, 0.6)]),
        run("b", "strategy:portfolio", [(1.0, 0.7)]),
        run("b", "dense", [(0.1, 0.0)]),
        run("b", "strategy:gradient", [(5.0, 0.4), (30.0, 0.8)]),
    ]
    headers, rows, lines = portfolio_table(Campaign(Path("x"), {}, runs))
    assert headers[:2] == ["network", "portfolio (60 s)"]
    assert rows == [["a", "0.9000", "0.3000", "0.6000"], ["b", "0.7000", "0.0000", "0.8000"]]
    assert lines[0].startswith("at 10 s: the portfolio is at least the best single component "
                               "on 1/2 instances, above our dense MILP on 2/2, at least the plain "
                               "gradient ascent on 1/2")
    assert "at 60 s: the portfolio is at least the best single component on 1/2" in lines[1]
    assert "at least the plain gradient ascent on 1/2, above its start on 2/2" in lines[1]
    # a 20 s campaign is read at 10 s and at its limit (not at 60 s); several seeds are named
    short = [Run(r.key, r.campaign, r.network, r.method, r.sparsity, r.config, r.instance, seed,
                 20.0, r.status, r.outcome, None, 20.0, r.record) for seed in (0, 1) for r in runs]
    headers, rows, lines = portfolio_table(Campaign(Path("x"), {}, short))
    assert headers[1] == "portfolio (20 s)" and [x.split(":")[0] for x in lines] == [
        "at 10 s", "at 20 s"]
    assert [r[:2] for r in rows] == [["a (seed 0)", "0.9000"], ["a (seed 1)", "0.9000"],
                                     ["b (seed 0)", "0.7000"], ["b (seed 1)", "0.7000"]]


def test_a_finetuned_configuration_is_also_shown_without_its_finetuning_time(
    tmp_path: Path,
) -> None:
    """magnitude+finetune runs carry their finetuning time in their times; the sooner table
    also counts them with that time taken off (unsolved runs stay at the sentinel)."""
    from surrogate.report.tables import sooner_table

    d = tmp_path / "ft"
    with ResultStore(d / "results.sqlite") as s:
        # dense 2 s / 2 s / unsolved; finetuned 3 s (1.5 s of it finetuning), 2.5 s (1 s), none
        for i, (td, tf, ft) in enumerate([(2.0, 3.0, 1.5), (2.0, 2.5, 1.0), (None, None, 1.0)]):
            inst = f"img={i}:eps=5"
            _put(s, "net", inst, "dense", 0.0, _verif(td))
            rec = {**_verif(tf), "prune": {"finetuned": True, "time_s": ft}}
            _put(s, "net", inst, "magnitude+finetune", 0.5, rec)
    (d / "spec.json").write_text(json.dumps({"name": "ft", "kind": "sweep"}))
    headers, rows, _ = sooner_table(load_campaign(d))
    by = {r[0]: dict(zip(headers, r, strict=True)) for r in rows}
    counted = by["magnitude+finetune@0.5"]
    assert (counted["faster"], counted["slower"], counted["tie"]) == ("0 (0%)", "2 (67%)", "1")
    free = by["magnitude+finetune@0.5 (finetuning not counted)"]
    # 3 - 1.5 = 1.5 < 2 (faster), 2.5 - 1 = 1.5 < 2 (faster), unsolved vs unsolved: tie
    assert (free["faster"], free["slower"], free["tie"]) == ("2 (67%)", "0 (0%)", "1")
    assert free["median t (s)"] == "1.50"
    assert [r[0] for r in rows][:2] == ["magnitude+finetune@0.5",
                                        "magnitude+finetune@0.5 (finetuning not counted)"]


def test_the_higher_table_counts_against_dense_and_the_seed_noise(tmp_path: Path) -> None:
    """Maximisation with two seeds: the dense runs of one network differ by 1 % between seeds
    (the noise: relative gaps 0.01 and 0, 90th percentile...), a pruned run 5 % higher is
    'clearly better', one 0.5 % higher is better but not clearly."""
    from surrogate.report.tables import higher_table, seed_noise

    d = tmp_path / "max2"
    with ResultStore(d / "results.sqlite") as s:
        for seed, (dense, pruned) in enumerate([(100.0, 105.0), (101.0, 101.5)]):
            _put(s, "r1", "out=0", "dense", 0.0, _maxrec([(1.0, dense)]), seed=seed)
            _put(s, "r1", "out=0", "mag", 0.5, _maxrec([(1.0, pruned)]), seed=seed)
    c = load_campaign(d)
    # dense: |100 - 101| / 101; mag: |105 - 101.5| / 105
    assert seed_noise(c) == pytest.approx(sorted([1 / 101, 3.5 / 105]))
    headers, rows, lines = higher_table(c)
    row = dict(zip(headers, rows[0], strict=True))
    assert (row["configuration"], row["better"], row["worse"], row["tie"]) == (
        "mag@0.5", "2 (100%)", "0 (0%)", "0")
    # floor = the 90th percentile of the 2 gaps = the smaller one (index int(0.9 * 1) = 0)
    assert (row["clearly better"], row["clearly worse"]) == ("1", "0")
    assert "90th percentile 0.0099" in lines[0]
    assert "## Higher than the dense MILP" in write_report(d).markdown.read_text()

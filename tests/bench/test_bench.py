"""Benchmark campaigns: spec parsing, task expansion, the store, local/Ray runs, kill + resume."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from surrogate.bench import (
    ResultStore,
    expand_tasks,
    load_spec,
    parse_sweep,
    run_campaign,
)
from surrogate.bench.networks import random_mlp
from surrogate.bench.ray_backend import import_ray
from surrogate.bench.runner import Progress
from surrogate.bench.tasks import Task
from surrogate.bench.worker import Outcome, error_outcome, execute
from surrogate.cli import main
from surrogate.errors import InputError, ModelFileError, ParseError

REPO = Path(__file__).resolve().parents[2]
PROBLEMS = REPO / "problems"
SMOKE = PROBLEMS / "smoke.toml"

GOOD = """
[sweep]
name = "t"
time_limit_s = 3
networks = ["digits-2x32", "digits-4x32"]
methods = ["magnitude", "random"]
sparsities = [0.0, 0.5, 0.8]
seeds = [0, 1]

[problem]
kind = "robustness"
norm = "linf"
eps = [0.05, 0.1]
target = "top2"
images = [0, 1, 2]
"""


def _sweep(text: str, tmp_path: Path, name: str = "sweep.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ------------------------------------------------------------------------------ spec parsing
def test_shipped_sweep_files_parse_and_expand() -> None:
    smoke = load_spec(SMOKE)
    assert (smoke.name, smoke.time_limit_s, smoke.networks) == ("smoke", 2.0, ("digits-2x32",))
    # 1 network x 2 images x (dense + magnitude@0.8) x 1 seed
    assert len(expand_tasks(smoke)) == 4
    digits = load_spec(PROBLEMS / "digits-l1.toml")
    assert digits.problem.norm == "l1" and digits.problem.eps == (5.0,)
    assert len(expand_tasks(digits)) == 2 * 10 * (1 + 5)
    # every pruning family (magnitude+finetune: magnitude inside finetuning), 3 seeds
    task1 = load_spec(PROBLEMS / "digits-task1.toml")
    assert task1.methods == ("magnitude", "structured", "random", "magnitude+finetune")
    assert len(expand_tasks(task1)) == 2 * 10 * 3 * (1 + 4 * 5 + 1)
    linf = load_spec(PROBLEMS / "digits-linf.toml")
    assert linf.problem.norm == "linf" and linf.problem.eps == (5 / 64,)
    assert len(expand_tasks(linf)) == 2 * 10 * 3 * (1 + 5 + 1)
    task2 = load_spec(PROBLEMS / "task2-seeds.toml")
    assert task2.seeds == (0, 1, 2) and task2.problem.kind == "maximize"
    assert len(expand_tasks(task2)) == 9 * 3 * (1 + 4 + 1)
    rmax = load_spec(PROBLEMS / "random-max.toml")
    assert rmax.problem.kind == "maximize" and rmax.methods == ("magnitude-global",)
    assert len(expand_tasks(rmax)) == 6 * (1 + 4)


def test_expansion_runs_dense_once_per_instance_and_keys_are_unique() -> None:
    spec = parse_sweep(GOOD)
    tasks = expand_tasks(spec)
    # networks x (images x eps) x seeds x (dense + methods x nonzero sparsities)
    assert len(tasks) == 2 * (3 * 2) * 2 * (1 + 2 * 2)
    assert len({t.key for t in tasks}) == len(tasks)
    dense = [t for t in tasks if t.sparsity == 0]
    assert len(dense) == 2 * 6 * 2 and {t.method for t in dense} == {"dense"}
    t = next(t for t in tasks if t.method == "random" and t.sparsity == 0.8)
    assert t.key == "digits-2x32|random@0.8|img=0:eps=0.05|seed=0"
    assert t.params["instance"] == {"image": 0, "eps": 0.05}


def test_time_limit_override_and_cli_options_for_sweeps(tmp_path: Path) -> None:
    p = _sweep(GOOD, tmp_path)
    assert load_spec(p, time_limit_s=7).time_limit_s == 7.0
    with pytest.raises(InputError, match="is a sweep file: set methods and sparsities in its"):
        load_spec(p, sparsities=[0.5])
    with pytest.raises(InputError, match=r"--time-limit must be a number > 0, got -1"):
        load_spec(p, time_limit_s=-1)
    with pytest.raises(ModelFileError, match="campaign spec .*nope.toml not found"):
        load_spec(tmp_path / "nope.toml")
    (tmp_path / "x.yaml").write_text("")
    with pytest.raises(InputError, match=r"ends in .toml \(sweep\) or .csv"):
        load_spec(tmp_path / "x.yaml")


BAD = [
    ("[sweep\nname='x'", r"invalid TOML: "),
    (GOOD.replace("[problem]", "[problems]"), r"unknown table\(s\) \['problems'\]"),
    (GOOD.split("[problem]")[0], r"missing \[problem\] table"),
    (
        GOOD.replace("seeds = [0, 1]", "seeds = [0, 1]\ntimelimit = 3"),
        r"sweep.toml:9: unknown key 'timelimit' in \[sweep\]; allowed: name, time_limit_s",
    ),
    (GOOD.replace('name = "t"\n', ""), r"sweep.toml:2: \[sweep\] needs 'name'"),
    (
        GOOD.replace("[0.0, 0.5, 0.8]", "[0.0, 1.0]"),
        r"sweep.toml:7: sparsities must lie in \[0, 1\), got 1.0",
    ),
    (GOOD.replace('"random"]', '"magnitud"]'), r"unknown pruning method 'magnitud'; available: "),
    (
        GOOD.replace('"digits-4x32"', '"digits-9x9"'),
        r"sweep.toml:5: unknown network 'digits-9x9'; shipped models: digits-2x32, ",
    ),
    (
        GOOD.replace('"digits-4x32"', '"random:64:seed=1"'),
        r"random network 'random:64:seed=1' must look like 'random:64-50-50-1:seed=50'",
    ),
    (
        GOOD.replace('"digits-4x32"', '"nets/missing.onnx"'),
        r"network file nets/missing.onnx not found",
    ),
    (
        GOOD.replace("time_limit_s = 3", "time_limit_s = 0"),
        r"sweep.toml:4: 'time_limit_s' must be a number > 0, got 0",
    ),
    (
        GOOD.replace('methods = ["magnitude", "random"]\n', ""),
        r"nonzero sparsities need at least one pruning method in 'methods'",
    ),
    (GOOD.replace("seeds = [0, 1]", "seeds = [0, 0]"), r"'seeds' lists a value twice: \[0, 0\]"),
    (
        GOOD.replace('kind = "robustness"', 'kind = "minimax"'),
        r"sweep.toml:11: \[problem\] 'kind' must be 'robustness' or 'maximize', got 'minimax'",
    ),
    (GOOD.replace('norm = "linf"', 'norm = "l2"'), r"'norm' must be 'l1' or 'linf', got 'l2'"),
    (
        GOOD.replace("eps = [0.05, 0.1]", "eps = [-1]"),
        r"'eps' must be finite numbers >= 0, got \[-1.0\]",
    ),
    (
        GOOD.replace("images = [0, 1, 2]", "images = [0, 1.5]"),
        r"'images' must hold integers >= 0, got 1.5",
    ),
    (
        GOOD.replace('target = "top2"', 'target = "top3"'),
        r"'target' must be 'top2', 'any' or a class index, got 'top3'",
    ),
    (
        GOOD + "\n[prune]\n[prune.options.structured]\nnorm = 2\n",
        r"\[prune.options\] names method\(s\) \['structured'\] that are not in 'methods'",
    ),
    (
        GOOD.split("[problem]")[0]
        + '[problem]\nkind = "maximize"\noutputs = [0]\nlower = 2\nupper = 1\n',
        r"'lower' \(2\) must not exceed 'upper' \(1\)",
    ),
    (
        GOOD.replace("eps = [0.05, 0.1]", "eps = [0.05]\neps_uniform = [1, 2]"),
        r"\[problem\] needs one of 'eps' \(radii\) or 'eps_uniform'",
    ),
    (
        GOOD.replace("eps = [0.05, 0.1]", "eps_uniform = [2, 1]"),
        r"'eps_uniform' must be \[a, b\] with 0 <= a <= b, got \[2, 1\]",
    ),
    (
        GOOD + 'centres = "no/such/folder"\n',
        r"'centres': no .vnnlib file under no/such/folder \(looked at ",
    ),
    (
        GOOD.replace("seeds = [0, 1]", 'seeds = [0, 1]\nwarm_start = "no"'),
        r"'warm_start' must be true or false, got 'no'",
    ),
    (
        GOOD.replace('"random"]', '"magnitud+finetune"]'),
        r"unknown pruning method 'magnitud\+finetune'; available: .* \(each also as "
        r"NAME\+finetune: inside finetuning with rewinding\)",
    ),
    (
        GOOD.replace('"random"]', '"random+finetune"]'),
        r"'random\+finetune' finetunes on training data: set data = \"digits\" in \[prune\]",
    ),
    (
        GOOD.replace('"random"]', '"random+finetune"]') + '[prune]\ndata = "digits"\n'
        '[prune.options."random+finetune"]\nfinetune = { epochs = 3 }\n',
        r"\[prune.options.\"random\+finetune\"\] 'finetune' must be a table with keys among "
        r"\['rounds', 'epochs_per_round', .*got \{'epochs': 3\}",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_sweep_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    p = _sweep(text, tmp_path)
    with pytest.raises(ParseError, match=message) as info:
        load_spec(p)
    assert str(info.value).startswith(f"{p}:")


def test_instances_csv_rows_times_and_configs(vnncomp: Path) -> None:
    csv_path = vnncomp / "test" / "instances.csv"
    spec = load_spec(csv_path, time_limit_s=7, methods=["magnitude"], sparsities=[0.0, 0.5])
    assert spec.name == "test" and len(spec.rows) == 5
    assert spec.rows[0].onnx == str((csv_path.parent / "test_nano.onnx").resolve())
    tasks = expand_tasks(spec)
    assert len(tasks) == 5 * 2
    assert {t.time_limit_s for t in tasks} == {7.0}  # min(csv 60 s, --time-limit 7 s)
    assert tasks[1].key == "test_nano.onnx|test_nano.vnnlib|magnitude@0.5|seed=0"
    uncapped = expand_tasks(load_spec(csv_path, time_limit_s=100))
    assert {t.time_limit_s for t in uncapped} == {60.0}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "test_nano.onnx,test_nano.vnnlib",
            r":2: expected 3 fields 'onnx,vnnlib,timeout_s', got 2",
        ),
        ("test_nano.onnx,test_nano.vnnlib,abc", r":2: timeout 'abc' is not a number"),
        ("test_nano.onnx,test_nano.vnnlib,-5", r":2: timeout must be > 0 seconds, got -5"),
        ("missing.onnx,test_nano.vnnlib,60", r":2: file missing.onnx not found"),
        ("test_tiny.onnx,test_tiny.vnnlib,60", r":2: row repeats the instance of line 1"),
    ],
)
def test_bad_csv_rows_name_the_line(vnncomp: Path, tmp_path: Path, row: str, message: str) -> None:
    # the csv lives in a scratch folder next to links to the fixture's files
    for f in ("test_nano.onnx", "test_nano.vnnlib", "test_tiny.onnx", "test_tiny.vnnlib"):
        (tmp_path / f).symlink_to(vnncomp / "test" / f)
    p = tmp_path / "instances.csv"
    p.write_text(f"test_tiny.onnx,test_tiny.vnnlib,60\n{row}\n")
    with pytest.raises(ParseError, match=message):
        load_spec(p)


# --------------------------------------------------------------------------------- networks
def test_random_mlp_is_pytorch_default_init_and_deterministic() -> None:
    import torch
    from torch import nn

    net = random_mlp((6, 5, 4, 1), seed=50)
    assert net.widths == [6, 5, 4, 1]
    assert [lay.activation for lay in net.layers] == ["relu", "relu", "linear"]
    torch.manual_seed(50)
    ref = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 1))
    x = np.random.default_rng(0).random((7, 6))
    with torch.no_grad():
        want = ref.double()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-12, atol=1e-12)
    for lay in net.layers:  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert np.max(np.abs(lay.weight)) <= 1 / np.sqrt(lay.n_in)
    again, other = random_mlp((6, 5, 4, 1), 50), random_mlp((6, 5, 4, 1), 51)
    assert np.array_equal(again.layers[0].weight, net.layers[0].weight)
    assert not np.array_equal(other.layers[0].weight, net.layers[0].weight)


# ------------------------------------------------------------------------------------ store
def _task(key: str = "a|dense|out=0|seed=0") -> Task:
    return Task(key, "sweep", "a", "dense", 0.0, "out=0", 0, 1.0, {})


def _outcome(key: str, status: str = "ok", value: float = 1.0) -> Outcome:
    err = "boom" if status == "error" else None
    return Outcome(
        key,
        status,
        "incumbent" if status == "ok" else "error",
        err,
        {"best_dense_objective": value},
        "t0",
        "t1",
        0.5,
        "w",
    )


def test_store_keeps_one_row_per_key_and_replaces_only_errors(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        t = _task()
        assert store.put(t, _outcome(t.key, "error"))
        assert store.keys("error") == {t.key}
        assert store.put(t, _outcome(t.key, "ok", 2.0))  # a retry replaces the error
        assert not store.put(t, _outcome(t.key, "ok", 3.0))  # a result is never overwritten
        assert not store.put(t, _outcome(t.key, "error"))
        rows = store.rows()
        assert len(rows) == 1 and rows[0]["status"] == "ok"
        assert rows[0]["record"] == {"best_dense_objective": 2.0}
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    with pytest.raises(ModelFileError, match="no results store at"):
        ResultStore(tmp_path / "none.sqlite", readonly=True)


def test_execute_turns_exceptions_into_error_outcomes(digits) -> None:
    spec = parse_sweep(GOOD)
    task = expand_tasks(spec)[0]
    bad = Task(
        task.key,
        task.campaign,
        task.network,
        task.method,
        task.sparsity,
        task.instance,
        task.seed,
        task.time_limit_s,
        {**task.params, "instance": {"image": 10**6, "eps": 1}},
    )
    out = execute(bad)
    assert (out.status, out.outcome, out.record) == ("error", "error", {})
    n = len(digits.y_test)
    assert (
        out.error == f"InputError: image 1000000 out of range: the digits test split has {n} images"
    )
    assert error_outcome(task, "x").error == "x"


def test_progress_line_counts_and_eta() -> None:
    prog = Progress(
        total=10, skipped=2, to_run=8, done=4, failed=1, started=time.perf_counter() - 40
    )
    line = prog.line()
    assert line.startswith("[bench] 6/10 done (4/8 this run), 1 failed, elapsed 0:00:40")
    assert line.endswith("ETA 0:00:40")  # 10 s per task, 4 to go
    assert Progress(total=3, skipped=0, to_run=3).eta_s is None


def test_ray_backend_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"needs Ray, which is not installed: pip install ray"):
        import_ray()


# ------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    assert main(["bench", "run", str(SMOKE), "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    return out


def test_smoke_sweep_stores_every_task_once_with_checked_records(smoke_run: Path) -> None:
    from surrogate.data import load_digits
    from surrogate.zoo import load_model

    spec = load_spec(SMOKE)
    keys = [t.key for t in expand_tasks(spec)]
    with ResultStore(smoke_run / "results.sqlite", readonly=True) as store:
        rows = store.rows()
    assert sorted(r["key"] for r in rows) == sorted(keys)
    assert {r["status"] for r in rows} == {"ok"}
    assert json.loads((smoke_run / "spec.json").read_text())["name"] == "smoke"
    net, data = load_model("digits-2x32"), load_digits()
    for r in rows:
        rec = r["record"]
        assert rec["sparsity"] == r["sparsity"] and rec["time_limit_s"] == 2.0
        assert r["outcome"] == rec["verdict"] and rec["kind"] == "verification"
        assert (rec["prune"] == {}) == (r["sparsity"] == 0)
        if r["sparsity"] > 0:
            assert rec["prune"]["achieved_sparsity"] == pytest.approx(0.8, abs=0.01)
        x0 = data.x_test[int(r["instance"].split(":")[0].removeprefix("img="))]
        assert rec["label_class"] == int(np.argmax(net.forward(x0)))
        if r["outcome"] == "sat":  # a dense adversarial within the L1 budget of 2
            x = np.asarray(rec["counterexample_x"])
            assert np.abs(x - x0).sum() <= 2.0 + 1e-6 and x.min() >= 0 and x.max() <= 1
            assert int(np.argmax(net.forward(x))) != rec["label_class"]


def test_rerun_skips_stored_tasks_and_retries_errors_on_request(
    smoke_run: Path, tmp_path: Path
) -> None:
    spec = load_spec(SMOKE)
    again = run_campaign(spec, smoke_run, jobs=1)
    assert (again.total, again.skipped, again.ran, again.stored_ok) == (4, 4, 0, 4)
    # a store holding one task as an error: skipped by default, rerun with retry_errors
    out = tmp_path / "retry"
    task = expand_tasks(spec)[0]
    with ResultStore(out / "results.sqlite") as store:
        store.put(task, error_outcome(task, "RuntimeError: injected"))
    first = run_campaign(spec, out, jobs=1, limit=1)
    assert (first.ran, first.stored_errors) == (0, 1)
    second = run_campaign(spec, out, jobs=1, limit=1, retry_errors=True)
    assert (second.ran, second.failed, second.stored_ok, second.stored_errors) == (1, 0, 1, 0)


def test_rerun_with_other_settings_into_the_same_folder_is_refused(smoke_run: Path) -> None:
    with pytest.raises(InputError, match=r"time_limit_s: stored 2.0, now 3.0"):
        run_campaign(load_spec(SMOKE, time_limit_s=3), smoke_run)


def test_mnist_task1_sweep_uses_the_images_of_the_vnncomp_properties(
    vnncomp: Path, tmp_path: Path
) -> None:
    """The paper's Task 1 on real MNIST images (the centres of the mnist_fc properties): L1 radii
    drawn once per image from U(4.5, 5.5), the paper's cold-started big-M MILP (`ours`, interval
    bounds, warm_start = false) beside the portfolio (`strategy:portfolio`)."""
    from surrogate.network.onnx_io import read_onnx
    from surrogate.vnnlib.images import property_images

    # the shipped files name ../shared beside the checkout; read them against wherever it is here
    centres = set()
    for name in ("mnist-l1.toml", "mnist-l1-2021.toml"):
        text = (PROBLEMS / name).read_text().replace("../../shared/bench/vnncomp", str(vnncomp))
        shipped = parse_sweep(text, path=str(PROBLEMS / name))
        assert shipped.warm_start is False and shipped.problem.eps_uniform == (4.5, 5.5)
        assert len(expand_tasks(shipped)) == 15 * (1 + 5 + 1) * 3
        centres.add(shipped.problem.centres)
    assert len(centres) == 2  # the 2022 and the 2021 images: 30 in all
    for name, n in (("mnist-l1-deep.toml", 2 * 5), ("eran-l1.toml", 6),  # networks x images
                    ("mnist-linf.toml", 5)):
        text = (PROBLEMS / name).read_text().replace("../../shared/bench/vnncomp", str(vnncomp))
        shipped = parse_sweep(text, path=str(PROBLEMS / name))
        assert shipped.warm_start is False
        assert (shipped.problem.norm, shipped.problem.eps_uniform or shipped.problem.eps) in (
            ("l1", (4.5, 5.5)), ("linf", (0.05,)))
        assert len(expand_tasks(shipped)) == n * (1 + 5 + 1) * 3
    net = vnncomp / "mnist_fc/onnx/mnist-net_256x2.onnx"
    centres = vnncomp / "mnist_fc/vnnlib_2022"
    text = f"""
[sweep]
name = "mnist-mini"
time_limit_s = 8
networks = ["{net}"]
methods = ["magnitude"]
sparsities = [0.0, 0.9]
bounds = "interval"
warm_start = false
pipelines = ["ours", "strategy:portfolio"]
pruned_pipelines = ["ours"]

[problem]
kind = "robustness"
norm = "l1"
eps_uniform = [4.5, 5.5]
centres = "{centres}"
images = [3, 6]
"""
    spec = load_spec(_sweep(text, tmp_path))
    tasks = expand_tasks(spec)
    radii = {t.params["instance"]["eps"] for t in tasks}
    assert len(radii) == 2 and all(4.5 <= e <= 5.5 for e in radii)
    assert {t.params["instance"]["eps"] for t in tasks if "img=3:" in t.key} == {
        spec.problem.eps_of(3)}
    assert all(t.params["warm_start"] is False for t in tasks)
    out = tmp_path / "out"
    assert main(["bench", "run", str(tmp_path / "sweep.toml"), "--out", str(out), "--jobs", "1",
                 "--quiet"]) == 0
    with ResultStore(out / "results.sqlite", readonly=True) as store:
        rows = store.rows()
    assert sorted(r["config"] for r in rows) == sorted(
        ["dense", "magnitude@0.9", "strategy:portfolio"] * 2)
    network = read_onnx(net)
    images = property_images(centres)
    for r in rows:
        rec = r["record"]
        image = int(r["instance"].split(":")[0].removeprefix("img="))
        x0 = images[image][1]
        assert r["status"] == "ok" and rec["label_class"] == int(np.argmax(network.forward(x0)))
        if rec["verdict"] == "sat":  # a dense adversarial within the image's L1 budget
            x = np.asarray(rec["counterexample_x"])
            assert np.abs(x - x0).sum() <= spec.problem.eps_of(image) + 1e-6
            assert x.min() >= 0 and x.max() <= 1
            assert int(np.argmax(network.forward(x))) != rec["label_class"]
    # at this budget both images have adversarials, which the portfolio finds within a second
    # (the LP-relaxation point alone, measured; other images are robust: the dense MILP proves it)
    assert all(r["record"]["verdict"] == "sat" for r in rows if r["config"] == "strategy:portfolio")
    from surrogate.report import write_report

    md = write_report(out).markdown.read_text()
    section = md.split("## Sooner to a dense adversarial than the dense MILP")[1]
    table = {line.split("|")[1].strip(): line for line in section.splitlines()
             if line.startswith("| ") and "configuration" not in line}
    assert set(table) == {"magnitude@0.9", "strategy:portfolio", "auto (magnitude)"}
    # with one candidate the rule picks it: the same pairs as magnitude@0.9
    assert table["auto (magnitude)"].split("|")[2:] == table["magnitude@0.9"].split("|")[2:]


def test_preflight_rejects_networks_that_do_not_fit_the_problem(tmp_path: Path) -> None:
    text = GOOD.replace('"digits-4x32"', '"random:5-4-2:seed=1"')
    with pytest.raises(InputError, match="network random:5-4-2:seed=1 takes 5 inputs but the"):
        run_campaign(parse_sweep(text), tmp_path / "out")
    assert not (tmp_path / "out" / "results.sqlite").exists()


def test_instances_csv_campaign_on_two_vnncomp_rows(vnncomp: Path, tmp_path: Path) -> None:
    out = tmp_path / "vnn"
    code = main(
        [
            "bench",
            "run",
            str(vnncomp / "test" / "instances.csv"),
            "--out",
            str(out),
            "--limit",
            "2",
            "--time-limit",
            "20",
            "--jobs",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    with ResultStore(out / "results.sqlite", readonly=True) as store:
        rows = {r["key"]: r for r in store.rows()}
    assert set(rows) == {
        "test_nano.onnx|test_nano.vnnlib|dense|seed=0",
        "test_tiny.onnx|test_tiny.vnnlib|dense|seed=0",
    }
    for r in rows.values():  # both properties hold (VNN-COMP 2021 reference answers)
        assert (r["status"], r["outcome"], r["record"]["result"]) == ("ok", "unsat", "unsat")
        assert r["record"]["time_limit_s"] == 20.0 and r["record"]["csv_timeout_s"] == 60.0
    from surrogate.report import write_report

    md = write_report(out).markdown.read_text()
    assert "| dense | 2 | 0 | 0 | 2 | 0 | 2 |" in md


def test_cli_reports_bad_input_without_traceback(tmp_path: Path, capsys) -> None:
    assert main(["bench", "run", str(tmp_path / "x.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "surrogate bench: error: campaign spec" in err and "Traceback" not in err
    assert main(["bench"]) == 2
    assert "give a bench command" in capsys.readouterr().err


def test_instances_csv_rows_are_found_where_the_copy_moved_them(tmp_path: Path) -> None:
    # the shared copies keep the csv rows of the original repositories (nets/, vnnlib/) while
    # the files sit in onnx/ and vnnlib_2022/; a name found once (or once under the csv's year)
    # is taken, anything else is an error naming the row
    from surrogate.bench.spec import load_spec
    from surrogate.errors import ParseError

    (tmp_path / "onnx").mkdir()
    (tmp_path / "vnnlib_2021").mkdir()
    (tmp_path / "vnnlib_2022").mkdir()
    (tmp_path / "onnx" / "net.onnx").write_bytes(b"x")
    for year in ("2021", "2022"):
        (tmp_path / f"vnnlib_{year}" / "p.vnnlib").write_text(year)
    csv = tmp_path / "instances_2022.csv"
    csv.write_text("nets/net.onnx,vnnlib/p.vnnlib,60\n")
    row = load_spec(csv).rows[0]
    assert Path(row.onnx) == (tmp_path / "onnx" / "net.onnx").resolve()
    assert Path(row.vnnlib) == (tmp_path / "vnnlib_2022" / "p.vnnlib").resolve()
    plain = tmp_path / "instances.csv"
    plain.write_text("onnx/net.onnx,vnnlib/p.vnnlib,60\n")
    with pytest.raises(ParseError, match=r"instances.csv:1: file vnnlib/p.vnnlib not found "
                                         r"\(looked at .*; 2 files of that name under"):
        load_spec(plain)


def test_a_folder_of_instances_csv_files_is_one_campaign_reported_per_family(
    tmp_path: Path, vnncomp: Path
) -> None:
    # two "families" whose rows name files of the shared test folder (read in place)
    from surrogate.bench.spec import load_spec
    from surrogate.report import write_report

    root = tmp_path / "bench"
    for fam, rows in (("tiny", ["test_tiny.onnx,test_tiny.vnnlib,30"]),
                      ("pair", ["test_sat.onnx,test_prop.vnnlib,30",
                                "test_unsat.onnx,test_prop.vnnlib,30"])):
        (root / fam).mkdir(parents=True)
        text = "".join(f"{vnncomp / 'test' / r.split(',')[0]},"
                       f"{vnncomp / 'test' / r.split(',')[1]},{r.split(',')[2]}\n" for r in rows)
        (root / fam / "instances.csv").write_text(text)
    spec = load_spec(root, time_limit_s=20)
    assert spec.families and {r.onnx_rel.split("/")[0] for r in spec.rows} == {"tiny", "pair"}
    out = tmp_path / "run"
    assert main(["bench", "run", str(root), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    report = write_report(out).markdown.read_text()
    assert "## Per family" in report
    line = next(x for x in report.splitlines() if x.startswith("| pair | dense"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2:5] == ["2", "1", "1"] and cells[7] == "0"  # 2 instances: 1 sat, 1 unsat
    assert main(["bench", "run", str(tmp_path / "empty"), "--out", str(out)]) == 2


FINETUNED = """
[sweep]
name = "ft"
time_limit_s = 5
networks = ["digits-2x32"]
methods = ["magnitude", "magnitude+finetune"]
sparsities = [0.0, 0.9]
seeds = [0]
bounds = "interval"

[problem]
kind = "robustness"
norm = "l1"
eps = 5.0
images = [3]

[prune]
data = "digits"

[prune.options."magnitude+finetune"]
finetune = { epochs_per_round = 20, final_epochs = 20, lr = 0.03 }
"""


def test_a_finetuned_configuration_runs_the_method_inside_finetuning(tmp_path: Path) -> None:
    """"magnitude+finetune" is magnitude inside finetuning with rewinding: the same sparsity as
    plain magnitude, other weights, a better train accuracy at 0.9, its time as pruning time."""
    tasks = {t.config: t for t in expand_tasks(load_spec(_sweep(FINETUNED, tmp_path)))}
    assert sorted(tasks) == ["dense", "magnitude+finetune@0.9", "magnitude@0.9"]
    plain, tuned = execute(tasks["magnitude@0.9"]), execute(tasks["magnitude+finetune@0.9"])
    assert plain.status == tuned.status == "ok", (plain.error, tuned.error)
    p, f = plain.record["prune"], tuned.record["prune"]
    assert (p["finetuned"], f["finetuned"]) == (False, True)
    assert f["method"] == "magnitude" and abs(f["sparsity"] - p["sparsity"]) < 1e-9
    assert f["accuracy_after"] > p["accuracy_after"] + 0.4  # 0.27 -> 0.91 on the train split
    assert tuned.record["prune_s"] == pytest.approx(f["time_s"])

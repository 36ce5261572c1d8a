"""Campaigns killed with SIGKILL and resumed: every task stored exactly once, whole, never lost.

The main test runs ``surrogate bench run`` as a subprocess, kills it with SIGKILL several times at
seeded random points (before the store exists, between tasks, while results are being written),
checks the store and the killed driver's worker processes after every kill, resumes, and at the
end reads the store with the report. The store's own guarantees (no half-written row under
SIGKILL, one writer at a time, one key per task) are tested directly too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from surrogate.bench import ResultStore, expand_tasks, load_spec, parse_sweep, run_campaign
from surrogate.bench.spec import InstanceRow, InstancesSpec
from surrogate.bench.worker import Outcome, outcome_of_record
from surrogate.errors import InputError, SolverError

#: 5 networks x 1 output x 2 seeds x (dense + 2 sparsities) = 30 tasks of ~0.3 s each.
RESUME_SWEEP = """
[sweep]
name = "resume"
time_limit_s = 0.3
networks = [
    "random:20-30-30-1:seed=1", "random:20-30-30-1:seed=2", "random:20-30-30-1:seed=3",
    "random:20-30-30-1:seed=4", "random:20-30-30-1:seed=5",
]
methods = ["magnitude-global"]
sparsities = [0.0, 0.3, 0.6]
seeds = [0, 1]

[problem]
kind = "maximize"
outputs = [0]
"""

#: Files a campaign folder may hold: the store (+ its WAL files after a kill), its writer lock,
#: the spec. Anything else (e.g. a ``spec.json.tmp``) is a stray file.
STORE_FILES = {"results.sqlite", "results.sqlite.lock", "spec.json"}
WAL_FILES = {"results.sqlite-wal", "results.sqlite-shm"}


# ------------------------------------------------------------------------------------ helpers
def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.add(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _stored(db: Path) -> dict[str, tuple]:
    """key -> the whole row, read with a plain SQLite connection (closed again)."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0]: r for r in con.execute("SELECT * FROM results")}
    except sqlite3.OperationalError:  # the table does not exist yet
        return {}
    finally:
        con.close()


def _check_store(db: Path, keys: set[str]) -> dict[str, tuple]:
    """The store is sound: intact file, one row per key, every row whole and of this campaign."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n, distinct = con.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM results").fetchone()
        assert n == distinct
        cols = [r[1] for r in con.execute("PRAGMA table_info(results)")]
        rows = {r[0]: r for r in con.execute("SELECT * FROM results")}
    finally:
        con.close()
    assert set(rows) <= keys
    for r in rows.values():
        row = dict(zip(cols, r, strict=True))
        assert row["status"] == "ok", row["error"]
        record = json.loads(row["record"])  # whole JSON, the full record
        assert record["kind"] == "maximization" and record["status"] in ("time_limit", "optimal")
        assert row["outcome"] == outcome_of_record(record) == "incumbent"
        assert row["finished_at"] >= row["started_at"] and row["wall_s"] > 0
    return rows


def _bench_cmd(spec: Path, out: Path, jobs: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "surrogate",
        "bench",
        "run",
        str(spec),
        "--out",
        str(out),
        "--jobs",
        str(jobs),
        "--quiet",
    ]


def _kill_and_resume(tmp_path: Path, *, seed: int, kills: int, max_rows_step: int) -> dict:
    """Kill a campaign ``kills`` times at seeded random points, resuming each time; then finish it.

    A kill point: wait until ``0..max_rows_step`` more rows are stored, then ``0..0.7`` s more.
    Returns counters for the caller's assertions."""
    rng = random.Random(seed)
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(RESUME_SWEEP)
    keys = {t.key for t in expand_tasks(load_spec(spec_path))}
    out = tmp_path / "out"
    db = out / "results.sqlite"
    cmd = _bench_cmd(spec_path, out)
    stats = {"kills": 0, "mid_kills": 0, "orphans_seen": 0, "report_mid": False}
    before: dict[str, tuple] = {}
    for _ in range(kills):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        target = len(before) + rng.randint(0, max_rows_step)
        extra = rng.uniform(0.0, 0.7)
        deadline = time.monotonic() + 120
        while len(_stored(db)) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(extra)
        kids = _children(proc.pid)  # the pool's workers (and multiprocessing's helpers)
        if proc.poll() is not None:  # it finished before the kill point: nothing left to kill
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            before = _check_store(db, keys)
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        stats["kills"] += 1
        stats["orphans_seen"] += len(kids)
        # the killed driver's workers end with it: none goes on computing (or could store)
        left = _wait_gone(kids, 3.0)
        assert not left, f"worker(s) {sorted(left)} outlived their killed driver"
        if db.exists():
            after = _check_store(db, keys)
            # rows stored before the kill are still there, unchanged (never rerun or rewritten)
            assert all(after[k] == v for k, v in before.items())
            assert {p.name for p in out.iterdir()} <= STORE_FILES | WAL_FILES | {"spec.json.tmp"}
            if 0 < len(after) < len(keys) and not stats["report_mid"]:
                _check_report(out, tmp_path / "report-mid", len(after))  # a killed store reads
                stats["report_mid"] = True
            before = after
        stats["mid_kills"] += len(before) < len(keys)
    # the last run finishes the campaign
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (
        f"{len(keys)} tasks: {len(before)} already stored, {len(keys) - len(before)} run now"
        in done.stdout
    )
    final = _check_store(db, keys)
    assert set(final) == keys  # none missing, none extra, each once (checked in _check_store)
    assert all(final[k] == v for k, v in before.items())
    assert {p.name for p in out.iterdir()} == STORE_FILES  # no WAL left, no temporary file
    _check_report(out, tmp_path / "report", len(keys))
    return stats


def _check_report(run_dir: Path, out: Path, n: int) -> None:
    """The report reads the store: one csv row and one counted run per stored task."""
    from surrogate.report import write_report

    files = write_report(run_dir, out)
    lines = files.csv.read_text().strip().splitlines()
    assert len(lines) == 1 + n
    md = files.markdown.read_text()
    summary = md.split("## Summary per configuration")[1].split("\n## ")[0]
    runs = [
        int(line.split("|")[2])
        for line in summary.splitlines()
        if line.startswith("| dense |") or line.startswith("| magnitude-global@")
    ]
    assert sum(runs) == n


# -------------------------------------------------------------------------------- kill + resume
def test_sigkill_at_random_points_then_resume_stores_every_task_exactly_once(
    tmp_path: Path,
) -> None:
    stats = _kill_and_resume(tmp_path, seed=20261128, kills=4, max_rows_step=6)
    assert stats["mid_kills"] >= 3, stats  # the campaign was really cut off, several times
    assert stats["orphans_seen"] >= 2, stats  # kills hit running pools, whose workers then died
    assert stats["report_mid"], stats


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_sigkills_at_random_points_then_resume(tmp_path: Path, seed: int) -> None:
    stats = _kill_and_resume(tmp_path, seed=seed, kills=12, max_rows_step=3)
    assert stats["mid_kills"] >= 6, stats


# ------------------------------------------------------------------------------ the store itself
_WRITER = textwrap.dedent(
    """
    import sys
    from surrogate.bench import ResultStore, expand_tasks, parse_sweep
    from surrogate.bench.worker import Outcome

    spec_text, db, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    tasks = expand_tasks(parse_sweep(spec_text))
    store = ResultStore(db)
    big = {"trace": [{"time_s": i * 0.001, "dense_objective": i / 7} for i in range(200)]}
    def outcome(t):
        return Outcome(t.key, "ok", "incumbent", None, {**big, "key": t.key}, "a", "b", 0.5, "w")
    if mode == "open-transaction":  # a row written but never committed
        store._db.execute("BEGIN")
        store._db.execute(
            "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (tasks[0].key, "sweep", "n", "dense", 0.0, "dense", "i", 0, 1.0, "ok", "x", None,
             "{}", "a", "b", 0.0, "w"),
        )
        print("ready", flush=True)
    else:  # commit rows as fast as possible until killed
        print("ready", flush=True)
        for t in tasks:
            store.put(t, outcome(t))
    import time
    time.sleep(60)
    """
)

#: 2 networks x 5000 images x (dense + 1 sparsity) = 20000 tasks (only their keys are used): more
#: than a writer commits before it is killed.
_MANY = """
[sweep]
name = "many"
time_limit_s = 1
networks = ["digits-2x32", "digits-4x32"]
methods = ["magnitude"]
sparsities = [0.0, 0.5]

[problem]
kind = "robustness"
norm = "linf"
eps = 0.05
images = [{}]
""".format(", ".join(str(i) for i in range(5000)))


def _writer(db: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, _MANY, str(db), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_row_written_but_not_committed_when_killed_is_not_stored(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    proc = _writer(db, "open-transaction")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with ResultStore(db) as store:  # the lock died with the writer; the store opens cleanly
        assert store.count() == 0
        task = expand_tasks(parse_sweep(_MANY))[0]
        rec = {"x": 1}
        assert store.put(task, Outcome(task.key, "ok", "none", None, rec, "a", "b", 1.0, "w"))
        assert [r["record"] for r in store.rows()] == [rec]


@pytest.mark.parametrize("delay_s", [0.05, 0.3, 0.8])
def test_rows_committed_until_a_sigkill_are_whole_and_in_order(
    tmp_path: Path, delay_s: float
) -> None:
    db = tmp_path / "results.sqlite"
    proc = _writer(db, "commit-loop")
    time.sleep(delay_s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    keys = [t.key for t in expand_tasks(parse_sweep(_MANY))]
    with ResultStore(db) as store:
        rows = store.rows()
    assert 0 < len(rows) < len(keys), "the writer must be killed mid-way"
    # a prefix of the tasks in the order they were put, each row whole
    assert sorted(r["key"] for r in rows) == sorted(keys[: len(rows)])
    for r in rows:
        assert r["record"]["key"] == r["key"] and len(r["record"]["trace"]) == 200


def test_one_writer_at_a_time_and_a_killed_writer_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    with ResultStore(db):
        with pytest.raises(InputError, match=rf"being written by another .*\(pid {os.getpid()}\)"):
            ResultStore(db)
        with ResultStore(db, readonly=True) as reader:  # readers take no lock
            assert reader.count() == 0
    with ResultStore(db):  # released on close
        pass
    proc = _writer(db, "commit-loop")
    try:
        deadline = time.monotonic() + 10
        while not _stored(db) and time.monotonic() < deadline:  # it is writing
            time.sleep(0.01)
        with pytest.raises(InputError, match=rf"\(pid {proc.pid}\)"):
            ResultStore(db)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with ResultStore(db) as store:  # the kernel dropped the dead writer's lock
        assert store.count() > 0


def test_a_second_run_into_a_folder_being_written_stops_before_any_work(tmp_path: Path) -> None:
    spec = parse_sweep(RESUME_SWEEP)
    out = tmp_path / "out"
    with ResultStore(out / "results.sqlite"):  # as a running campaign holds it
        with pytest.raises(InputError, match="being written by another `surrogate bench run`"):
            run_campaign(spec, out, jobs=1)
    assert not (out / "spec.json").exists()  # nothing written by the refused run


# ------------------------------------------------------------------------------- one key per task
def test_values_that_print_alike_still_get_their_own_task_and_row() -> None:
    text = RESUME_SWEEP.replace("[0.0, 0.3, 0.6]", "[0.0, 0.5, 0.5000001]")
    tasks = expand_tasks(parse_sweep(text))
    keys = [t.key for t in tasks]
    assert len(set(keys)) == len(tasks) == 5 * 2 * 3
    assert "random:20-30-30-1:seed=1|magnitude-global@0.5|out=0|seed=0" in keys  # short if exact
    assert "random:20-30-30-1:seed=1|magnitude-global@0.5000001|out=0|seed=0" in keys
    rob = parse_sweep(
        RESUME_SWEEP.split("[problem]")[0].replace("random:20-30-30-1", "random:64-8-2")
        + '[problem]\nkind = "robustness"\nnorm = "linf"\neps = [0.05, 0.0500000001]\nimages = [0]\n'
    )
    insts = {t.instance for t in expand_tasks(rob)}
    assert insts == {"img=0:eps=0.05", "img=0:eps=0.0500000001"}


def test_an_instances_list_with_a_repeated_row_is_refused() -> None:
    row = InstanceRow("/a/n.onnx", "/a/p.vnnlib", 60.0, "n.onnx", "p.vnnlib", 2)
    again = InstanceRow("/a/n.onnx", "/a/p.vnnlib", 30.0, "n.onnx", "p.vnnlib", 5)
    other = InstanceRow("/a/n.onnx", "/a/q.vnnlib", 60.0, "n.onnx", "q.vnnlib", 3)
    ok = InstancesSpec("x", "x/instances.csv", (row, other))
    assert len(expand_tasks(ok)) == 2
    bad = InstancesSpec("x", "x/instances.csv", (row, other, again))
    with pytest.raises(InputError, match=r"task 'n.onnx\|p.vnnlib\|dense\|seed=0' twice .*lines 2, 5"):
        expand_tasks(bad)


# ------------------------------------------------------------------------- a worker that dies
def test_a_worker_killed_mid_campaign_loses_no_finished_result(tmp_path: Path) -> None:
    """SIGKILL one pool worker while it runs a task: the campaign stops with a clear error, every
    result that came back is stored, and the rerun does only the rest."""
    spec = parse_sweep(RESUME_SWEEP)
    out = tmp_path / "out"
    seen: list[str] = []

    def progress(prog) -> None:  # called after each stored task: kill the other worker once
        if prog.done == 2 and not seen:
            for pid in _children(os.getpid()):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
                    seen.append(str(pid))
                    os.kill(pid, signal.SIGKILL)
                    break

    with pytest.raises(SolverError, match=r"a worker process died .*rerun the same command"):
        run_campaign(spec, out, jobs=2, limit=12, progress=progress)
    assert seen
    with ResultStore(out / "results.sqlite", readonly=True) as store:
        stored = store.count()
    assert 2 <= stored < 12
    again = run_campaign(spec, out, jobs=2, limit=12)
    assert (again.skipped, again.ran, again.stored_ok) == (stored, 12 - stored, 12)


def test_a_moved_campaign_keeps_its_keys_so_a_resume_does_not_run_everything_again(
    tmp_path: Path,
) -> None:
    """.onnx networks are named relative to the sweep file: keys (and the ``network`` column) do
    not change when the campaign folder moves, e.g. to a cluster's shared disk."""
    import shutil

    from surrogate.bench.worker import error_outcome

    repo = Path(__file__).resolve().parents[2]
    first = tmp_path / "here" / "campaign"
    (first / "nets").mkdir(parents=True)
    shutil.copy(repo / "models" / "digits-2x32.onnx", first / "nets" / "a.onnx")
    text = RESUME_SWEEP.replace(
        '"random:20-30-30-1:seed=1", "random:20-30-30-1:seed=2"', '"nets/a.onnx"'
    )
    (first / "sweep.toml").write_text(text)
    tasks = expand_tasks(load_spec(first / "sweep.toml"))
    assert tasks[0].key == "nets/a.onnx|dense|out=0|seed=0"
    assert tasks[0].network == str((first / "nets" / "a.onnx").resolve())  # what the worker loads
    with ResultStore(first / "out" / "results.sqlite") as store:
        store.put(tasks[0], error_outcome(tasks[0], "RuntimeError: placeholder"))
    moved = tmp_path / "elsewhere" / "campaign2"
    moved.parent.mkdir()
    first.rename(moved)
    again = expand_tasks(load_spec(moved / "sweep.toml"))
    assert [t.key for t in again] == [t.key for t in tasks]
    assert again[0].network == str((moved / "nets" / "a.onnx").resolve())
    with ResultStore(moved / "out" / "results.sqlite", readonly=True) as store:
        (row,) = store.rows()
    assert (row["key"], row["network"]) == (again[0].key, "nets/a.onnx")

"""The Ray backend (the cluster path), run for real on a local Ray instance.

Ray is an optional extra (``pip install 'surrogate[ray]'``): without it these tests skip, saying
so; CI (``.ci/run``) installs it and sets ``SURROGATE_REQUIRE_RAY=1``, so there they fail instead.
Each campaign runs in its own driver process (as ``surrogate bench run --backend ray`` does) with
Ray's files under a fresh ``RAY_TMPDIR``, so the tests can check that every Ray process it started
is gone afterwards, and the pytest process never imports Ray's runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from surrogate.bench import ResultStore, expand_tasks, load_spec, run_campaign

#: 1 digits net x 3 images x 2 eps x (dense + magnitude@0.5): 12 tasks whose verdicts do not depend
#: on timing (each run ends well within its limit: proof, first adversarial, or surrogate optimum).
SAME_SWEEP = """
[sweep]
name = "ray-vs-local"
time_limit_s = 20
networks = ["digits-2x32"]
methods = ["magnitude"]
sparsities = [0.0, 0.5]

[problem]
kind = "robustness"
norm = "linf"
eps = [0.002, 0.3]
target = "top2"
images = [0, 1, 2]
"""

#: 3 random nets x 2 seeds x 3 configurations: 18 tasks of ~0.3 s each (to be cut off mid-way).
KILL_SWEEP = """
[sweep]
name = "ray-kill"
time_limit_s = 0.3
networks = ["random:20-30-30-1:seed=1", "random:20-30-30-1:seed=2", "random:20-30-30-1:seed=3"]
methods = ["magnitude-global"]
sparsities = [0.0, 0.3, 0.6]
seeds = [0, 1]

[problem]
kind = "maximize"
outputs = [0]
"""

#: A driver process: the campaign on Ray, then what is left of Ray once run_campaign returned.
_DRIVER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from surrogate.bench import load_spec, run_campaign

    s = run_campaign(load_spec(sys.argv[1]), sys.argv[2], jobs=2, backend="ray")
    import ray

    def live_children(pid):
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(f[1]) == pid and f[0] not in ("Z", "X"):
                out.append(int(d.name))
        return out

    print(json.dumps({
        "pid": os.getpid(),
        "ray_initialized": ray.is_initialized(),
        "live_children": live_children(os.getpid()),
        "ran": s.ran, "failed": s.failed, "stored_ok": s.stored_ok,
    }))
    """
)


@pytest.fixture(scope="module")
def ray_installed() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        reason = "Ray is not installed (pip install 'surrogate[ray]'): the Ray backend is optional"
        if os.environ.get("SURROGATE_REQUIRE_RAY") == "1":
            pytest.fail(reason + ", but SURROGATE_REQUIRE_RAY=1 (CI) requires it")
        pytest.skip(reason)


@pytest.fixture
def ray_tmpdir() -> Iterator[Path]:
    """A fresh, short ``RAY_TMPDIR`` (Ray's socket paths must stay under ~100 characters)."""
    d = Path(tempfile.mkdtemp(prefix="sray", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _ray_env(tmpdir: Path) -> dict[str, str]:
    return {**os.environ, "RAY_TMPDIR": str(tmpdir)}


def _ray_processes(tmpdir: Path) -> set[int]:
    """Live processes whose command line names ``tmpdir`` (Ray's daemons and workers)."""
    key = str(tmpdir).encode()
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if key not in (d / "cmdline").read_bytes():
                continue
            state = (d / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in ("Z", "X"):
            out.add(int(d.name))
    return out


def _wait_no_ray(tmpdir: Path, timeout_s: float) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (left := _ray_processes(tmpdir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _rows(db: Path) -> dict[str, dict]:
    with ResultStore(db, readonly=True) as store:
        rows = store.rows()
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys))
    return {r["key"]: r for r in rows}


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def test_ray_campaign_stores_the_same_results_as_the_local_pool(
    ray_installed: None, ray_tmpdir: Path, tmp_path: Path
) -> None:
    spec_path = tmp_path / "same.toml"
    spec_path.write_text(SAME_SWEEP)
    keys = {t.key for t in expand_tasks(load_spec(spec_path))}
    assert len(keys) == 12
    local = run_campaign(load_spec(spec_path), tmp_path / "local", jobs=2)
    assert (local.ran, local.failed, local.stored_ok) == (12, 0, 12)

    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(spec_path), str(tmp_path / "ray")],
        capture_output=True,
        text=True,
        timeout=240,
        env=_ray_env(ray_tmpdir),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (info["ran"], info["failed"], info["stored_ok"]) == (12, 0, 12)
    # the backend shut down the Ray instance it started: nothing of it outlives run_campaign
    assert not info["ray_initialized"]
    assert info["live_children"] == [], "Ray processes left running after run_campaign"
    assert not _wait_no_ray(ray_tmpdir, 10.0)

    loc, ray = _rows(tmp_path / "local" / "results.sqlite"), _rows(tmp_path / "ray" / "results.sqlite")
    assert set(loc) == set(ray) == keys  # same tasks, each stored once
    verdicts = {r["outcome"] for r in loc.values()}
    assert {"sat", "unsat", "unknown"} <= verdicts  # the comparison covers every kind of answer
    for key in keys:
        a, b = loc[key], ray[key]
        assert (b["status"], b["outcome"]) == (a["status"], a["outcome"]), key
        ra, rb = a["record"], b["record"]
        assert (rb["status"], rb["verdict"], rb["label_class"]) == (
            ra["status"],
            ra["verdict"],
            ra["label_class"],
        ), key
        if ra["status"] == "optimal":  # solved to the end: the same optimum, same bound
            assert rb["best_dense_objective"] == pytest.approx(ra["best_dense_objective"], rel=1e-9)
            assert rb["bound"] == pytest.approx(ra["bound"], rel=1e-9)
        assert {k: a[k] for k in ("network", "config", "instance", "seed", "time_limit_s")} == {
            k: b[k] for k in ("network", "config", "instance", "seed", "time_limit_s")
        }
    # Ray ran the tasks in its own worker processes, not in the driver
    assert all(int(r["worker"].rsplit(":", 1)[1]) != info["pid"] for r in ray.values())


def test_ray_driver_killed_with_sigkill_takes_ray_down_and_resumes_on_ray(
    ray_installed: None, ray_tmpdir: Path, tmp_path: Path
) -> None:
    spec_path = tmp_path / "kill.toml"
    spec_path.write_text(KILL_SWEEP)
    keys = {t.key for t in expand_tasks(load_spec(spec_path))}
    out = tmp_path / "out"
    db = out / "results.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "surrogate",
        "bench",
        "run",
        str(spec_path),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--backend",
        "ray",
        "--quiet",
    ]
    env = _ray_env(ray_tmpdir)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 180
    while _count(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the Ray campaign ended before it could be killed"
    assert _ray_processes(ray_tmpdir), "no Ray process found under RAY_TMPDIR"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # Ray's daemons and workers share the driver's fate: none goes on running
    left = _wait_no_ray(ray_tmpdir, 15.0)
    assert not left, f"Ray processes {sorted(left)} outlived their killed driver"
    before = _rows(db)
    assert 3 <= len(before) < len(keys)
    assert all(r["status"] == "ok" for r in before.values())

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        f"{len(keys)} tasks: {len(before)} already stored, {len(keys) - len(before)} run now"
        in done.stdout
    )
    after = _rows(db)
    assert set(after) == keys and all(r["status"] == "ok" for r in after.values())
    assert all(after[k] == v for k, v in before.items())  # stored rows kept, not rerun
    assert not _wait_no_ray(ray_tmpdir, 10.0)

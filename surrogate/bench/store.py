"""The results store: one SQLite file, one row per finished task, safe against a killed run.

* WAL journal and one transaction per row: a run killed at any moment (Ctrl-C, SIGKILL) keeps
  every row committed before it, and SQLite never leaves half a row (a row is there whole or not
  at all). After a power loss (``synchronous=NORMAL``) the last few commits may be rolled back:
  those tasks are simply not stored and the next run does them again.
* ``key`` is the table's primary key: a task is never stored twice. A row with status ``"ok"`` is
  never overwritten; a row with status ``"error"`` is replaced when the task is retried.
* One writer at a time: a writable store holds an exclusive lock on ``results.sqlite.lock``
  (``flock``; the kernel drops it when its process dies, even by SIGKILL), so a second run into
  the same folder stops at once instead of running the same tasks again. Readers (the report)
  take no lock and may read at any time.

Stdlib only (``sqlite3``, ``json``): the report reads the store without torch or Pyomo.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from surrogate.errors import InputError, ModelFileError

if TYPE_CHECKING:
    from surrogate.bench.tasks import Task
    from surrogate.bench.worker import Outcome

__all__ = ["COLUMNS", "LOCK_SUFFIX", "STORE_NAME", "ResultStore"]

STORE_NAME = "results.sqlite"
#: The writer's lock file is the store's path with this suffix (``results.sqlite.lock``).
LOCK_SUFFIX = ".lock"
SCHEMA_VERSION = 1

#: Columns of the ``results`` table, in order (``record`` holds the full JSON record).
COLUMNS = (
    "key",
    "campaign",
    "network",
    "method",
    "sparsity",
    "config",
    "instance",
    "seed",
    "time_limit_s",
    "status",
    "outcome",
    "error",
    "record",
    "started_at",
    "finished_at",
    "wall_s",
    "worker",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key          TEXT PRIMARY KEY NOT NULL,
    campaign     TEXT NOT NULL,
    network      TEXT NOT NULL,
    method       TEXT NOT NULL,
    sparsity     REAL NOT NULL,
    config       TEXT NOT NULL,
    instance     TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    time_limit_s REAL NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    outcome      TEXT NOT NULL,
    error        TEXT,
    record       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    wall_s       REAL NOT NULL,
    worker       TEXT NOT NULL
)
"""

_INSERT = f"""
INSERT INTO results ({", ".join(COLUMNS)}) VALUES ({", ".join("?" * len(COLUMNS))})
ON CONFLICT(key) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "key")}
WHERE results.status = 'error'
"""


class ResultStore:
    """``DIR/results.sqlite``. ``readonly=True`` opens an existing store for reading only."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self._lock: IO[str] | None = None
        self._writer = not readonly
        if readonly:
            if not self.path.is_file():
                raise ModelFileError(
                    f"no results store at {self.path}; "
                    "run `surrogate bench run SPEC --out DIR` first"
                )
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0)
            self._check_schema()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_writer(self.path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
        except BaseException:
            self._release()
            raise
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        self._db.commit()

    def _check_schema(self) -> None:
        try:
            cols = [r[1] for r in self._db.execute("PRAGMA table_info(results)")]
        except sqlite3.DatabaseError as exc:
            raise ModelFileError(f"{self.path} is not a results store ({exc})") from None
        if tuple(cols) != COLUMNS:
            raise ModelFileError(
                f"{self.path} is not a results store of this version (columns {cols}); "
                "rerun the campaign into a new folder"
            )

    # ------------------------------------------------------------------------------ writing
    def put(self, task: Task, outcome: Outcome) -> bool:
        """Store a finished task (one commit). False when an ``"ok"`` row already held its key."""
        if outcome.key != task.key:
            raise ValueError(f"outcome for {outcome.key!r} given with task {task.key!r}")
        values = (
            task.key,
            task.campaign,
            task.network_name,
            task.method,
            float(task.sparsity),
            task.config,
            task.instance,
            int(task.seed),
            float(task.time_limit_s),
            outcome.status,
            outcome.outcome,
            outcome.error,
            json.dumps(outcome.record),
            outcome.started_at,
            outcome.finished_at,
            float(outcome.wall_s),
            outcome.worker,
        )
        with self._db:  # one transaction, committed on exit
            cur = self._db.execute(_INSERT, values)
        return cur.rowcount > 0

    # ------------------------------------------------------------------------------ reading
    def keys(self, status: str | None = None) -> set[str]:
        """Keys of stored tasks (all, or those with the given status)."""
        if status is None:
            return {r[0] for r in self._db.execute("SELECT key FROM results")}
        return {
            r[0] for r in self._db.execute("SELECT key FROM results WHERE status = ?", (status,))
        }

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def rows(self) -> list[dict[str, Any]]:
        """Every row as a dict of its columns, ``record`` parsed from JSON, in finishing order."""
        cur = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY finished_at, key"
        )
        out = []
        for r in cur:
            row = dict(zip(COLUMNS, r, strict=True))
            row["record"] = json.loads(row["record"])
            out.append(row)
        return out

    # ---------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close; a writer first leaves WAL mode, so a closed store is one self-contained file
        that any reader opens read-only without creating ``-wal``/``-shm`` files (also in a
        read-only folder). The next writer turns WAL on again."""
        try:
            if self._writer:
                try:
                    self._db.execute("PRAGMA busy_timeout=2000")  # don't wait long on readers
                    self._db.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.OperationalError:  # a reader is busy: it stays WAL, still sound
                    pass
            self._db.close()
        finally:
            self._release()

    def _release(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.close()  # closing the file drops the flock

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _lock_writer(path: Path) -> IO[str] | None:
    """Take the store's writer lock (``PATH.lock``), or InputError naming the run that holds it.

    ``flock`` locks belong to the open file: they vanish when the holder closes it or dies, so a
    killed run never leaves a stale lock. The file itself stays (removing it could let two runs
    lock two different files). Without ``fcntl`` (not POSIX) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    f = open(path.with_name(path.name + LOCK_SUFFIX), "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "?"
        f.close()
        raise InputError(
            f"{path} is being written by another `surrogate bench run` (pid {holder}); "
            "wait for it to end (or stop it) before running into this folder again"
        ) from None
    except OSError:  # a file system without flock: run unguarded rather than not at all
        return f
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f

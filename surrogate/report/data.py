"""Stored results as report-ready data: one :class:`Run` per stored row, and the derived figures
the tables and plots share (solved / time / objective, pairing with the dense run).

Definitions (also in docs/benchmarks.md):

* sweep, verification: a run *solves* its instance when it found a dense adversarial; its time is
  ``time_to_first_success_s`` (setup and pruning included).
* sweep, maximisation: a run *solves* its instance when its best dense objective reaches the best
  any run found on that instance (same network, problem and seed) up to :data:`OBJ_RTOL`; its
  time is the first trace time at that level.
* instances.csv: a run *solves* its instance with a ``sat`` or ``unsat`` answer; its time is the
  verifier's ``wall_s``.

Stdlib and the store only: no numpy-heavy work, no torch, no Pyomo.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from surrogate.bench.store import COLUMNS, STORE_NAME, ResultStore
from surrogate.errors import ModelFileError

__all__ = ["OBJ_RTOL", "Campaign", "Run", "better", "load_campaign", "median"]

#: Relative tolerance when comparing dense objectives (``|a - b| <= OBJ_RTOL * max(1, |a|, |b|)``).
OBJ_RTOL = 1e-6


@dataclass
class Run:
    """One stored row with the figures the report needs."""

    key: str
    campaign: str
    network: str
    method: str
    sparsity: float
    config: str
    instance: str
    seed: int
    time_limit_s: float
    status: str
    outcome: str
    error: str | None
    wall_s: float
    record: dict[str, Any] = field(repr=False)
    started_at: str = ""
    finished_at: str = ""
    worker: str = ""

    @property
    def kind(self) -> str:
        """``"instances"``, ``"verification"``, ``"maximization"`` or ``"build"`` (``"error"``
        if unknown)."""
        if self.campaign == "instances":
            return "instances"
        return str(self.record.get("kind", "error"))

    @property
    def pipeline(self) -> str:
        """What ran the task (:mod:`surrogate.bench.pipelines`): ``ours`` unless the record says."""
        return str(self.record.get("pipeline") or "ours")

    @property
    def base_config(self) -> str:
        """The pruning configuration whatever the pipeline: ``dense`` or ``method@sparsity``."""
        return "dense" if self.sparsity == 0 else f"{self.method}@{self.sparsity:g}"

    @property
    def group(self) -> tuple[str, str, int]:
        """What pairs runs of different configurations: (network, instance, seed)."""
        return (self.network, self.instance, self.seed)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def maximize(self) -> bool:
        return bool(self.record.get("maximize", True))

    @property
    def objective(self) -> float | None:
        v = self.record.get("best_dense_objective")
        return None if v is None else float(v)

    @property
    def elapsed_s(self) -> float:
        """The run's own time: the verifier's ``wall_s`` or the MILP run's ``total_s``."""
        rec = self.record
        v = rec.get("wall_s") if self.campaign == "instances" else rec.get("total_s")
        return float(v) if v is not None else self.wall_s

    def value_at(self, time_s: float) -> float | None:
        """The best dense objective found by ``time_s`` seconds into the run (None: nothing)."""
        best = None
        for t, v in self.anytime():
            if t <= time_s:
                best = v
        return best

    def anytime(self) -> list[tuple[float, float]]:
        """``(time_s, best dense objective so far)`` at every improving incumbent."""
        sign = 1.0 if self.maximize else -1.0
        out: list[tuple[float, float]] = []
        for e in self.record.get("trace") or []:
            t, v = float(e["time_s"]), float(e["dense_objective"])
            if not out or sign * v > sign * out[-1][1]:
                out.append((t, v))
        return out


def better(a: float, b: float, maximize: bool) -> bool:
    """``a`` beats ``b`` by more than the tolerance."""
    tol = OBJ_RTOL * max(1.0, abs(a), abs(b))
    return a > b + tol if maximize else a < b - tol


@dataclass
class Campaign:
    """All runs of a results folder and its ``spec.json`` (empty dict if absent)."""

    path: Path
    spec: dict[str, Any]
    runs: list[Run]

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.path.name)

    @property
    def kind(self) -> str:
        """The campaign's kind: the kind of its successful runs (``"empty"`` if none)."""
        kinds = {r.kind for r in self.runs if r.ok}
        if not kinds:
            return "empty"
        return sorted(kinds)[0] if len(kinds) == 1 else "mixed"

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def configs(self) -> list[str]:
        """Configurations in a natural order: dense first, then by method and sparsity."""
        seen = {(r.pipeline != "ours", r.sparsity > 0, r.method, r.sparsity, r.config)
                for r in self.runs}
        return [t[-1] for t in sorted(seen)]

    @cached_property
    def best_known(self) -> dict[tuple[str, str, int], float]:
        """Maximisation: the best dense objective any run found, per instance group."""
        best: dict[tuple[str, str, int], float] = {}
        for r in self.ok_runs():
            v = r.objective
            if r.kind != "maximization" or v is None:
                continue
            g = r.group
            if g not in best or better(v, best[g], r.maximize):
                best[g] = v
        return best

    def solved_time(self, run: Run) -> float | None:
        """Time at which ``run`` solved its instance (see the module docstring), else None."""
        if not run.ok:
            return None
        if run.kind == "instances":
            return run.elapsed_s if run.outcome in ("sat", "unsat") else None
        if run.kind == "verification":
            t = run.record.get("time_to_first_success_s")
            return None if t is None else float(t)
        target = self.best_known.get(run.group)
        if target is None:
            return None
        for t, v in run.anytime():
            if not better(target, v, run.maximize):
                return t
        return None


def load_campaign(run_dir: str | Path) -> Campaign:
    """Read ``run_dir/results.sqlite`` (and ``spec.json`` when present)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ModelFileError(f"results folder {d} not found (the --out of `surrogate bench run`)")
    with ResultStore(d / STORE_NAME, readonly=True) as store:
        rows = store.rows()
    spec: dict[str, Any] = {}
    if (d / "spec.json").is_file():
        try:
            spec = json.loads((d / "spec.json").read_text())
        except json.JSONDecodeError:
            spec = {}
    return Campaign(d, spec, [_run(r) for r in rows])


def _run(row: dict[str, Any]) -> Run:
    """A :class:`Run` from a store row (every column of the ``results`` table)."""
    return Run(**{k: row[k] for k in COLUMNS})


def median(values: Iterable[float | None]) -> float | None:
    """The median (mean of the middle two for an even count); None for no values."""
    v = sorted(float(x) for x in values if x is not None and not math.isnan(float(x)))
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0

"""Run a campaign: expand the spec, skip what the store already holds, run the rest, store each
result as it finishes.

Backends: ``local`` (a ``concurrent.futures.ProcessPoolExecutor`` of ``jobs`` spawned worker
processes, one solver thread each) and ``ray`` (:mod:`surrogate.bench.ray_backend`). Either way the
driver alone writes the store, one committed row per finished task, so a killed run loses nothing
that finished, and the next run resumes with the tasks not yet stored.

``DIR/spec.json`` holds the resolved spec. A rerun into the same folder must keep the settings
that change what a result means (time limit, problem kind and parameters other than the lists of
instances, bounds, pruning data and options); the lists (networks, methods, sparsities, images,
eps, outputs, seeds, csv rows) may grow, so a campaign can be extended in place.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surrogate.bench.local_backend import run_local
from surrogate.bench.networks import resolve_network
from surrogate.bench.ray_backend import run_ray
from surrogate.bench.spec import CampaignSpec, SweepSpec
from surrogate.bench.store import STORE_NAME, ResultStore
from surrogate.bench.tasks import Task, expand_tasks
from surrogate.bench.worker import Outcome
from surrogate.data import load_digits
from surrogate.errors import InputError
from surrogate.vnnlib.images import property_images

__all__ = [
    "BACKENDS",
    "CampaignSummary",
    "Progress",
    "check_sweep",
    "run_campaign",
    "stderr_progress",
]

BACKENDS = ("local", "ray")
SPEC_NAME = "spec.json"
#: Spec fields that may differ between runs into one folder (lists that only add tasks).
_GROWABLE = {
    "name",
    "path",
    "networks",
    "methods",
    "sparsities",
    "seeds",
    "rows",
    "images",
    "eps",
    "outputs",
    "balls",
    "pipelines",
}


@dataclass
class Progress:
    """Counters of a running campaign (handed to the progress callback after every task)."""

    total: int
    skipped: int
    to_run: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def eta_s(self) -> float | None:
        """Remaining time at the mean pace of this session's finished tasks."""
        if self.done == 0:
            return None
        return self.elapsed_s / self.done * (self.to_run - self.done)

    def line(self) -> str:
        eta = "?" if self.eta_s is None else _clock(self.eta_s)
        return (
            f"[bench] {self.skipped + self.done}/{self.total} done "
            f"({self.done}/{self.to_run} this run), {self.failed} failed, "
            f"elapsed {_clock(self.elapsed_s)}, ETA {eta}"
        )


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class CampaignSummary:
    """What one ``run_campaign`` call did."""

    out_dir: str
    total: int
    skipped: int
    ran: int
    failed: int
    stored_ok: int
    stored_errors: int
    elapsed_s: float


def run_campaign(
    spec: CampaignSpec,
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    backend: str = "local",
    limit: int | None = None,
    retry_errors: bool = False,
    ray_address: str | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> CampaignSummary:
    """Run every task of ``spec`` not yet stored in ``out_dir/results.sqlite``.

    ``limit``: only the first ``limit`` tasks of the campaign (in expansion order).
    ``retry_errors``: also rerun tasks stored with status ``"error"``.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    jobs = _jobs(jobs)
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    _check_spec_file(out / SPEC_NAME, spec)
    tasks = expand_tasks(spec)
    if limit is not None:
        tasks = tasks[:limit]
    if isinstance(spec, SweepSpec):
        check_sweep(spec, tasks)
    with ResultStore(out / STORE_NAME) as store:  # takes the folder's writer lock
        _write_spec(out / SPEC_NAME, spec)
        ok, errors = store.keys("ok"), store.keys("error")
        pending = [t for t in tasks if t.key not in ok and (retry_errors or t.key not in errors)]
        prog = Progress(total=len(tasks), skipped=len(tasks) - len(pending), to_run=len(pending))

        def on_outcome(task: Task, outcome: Outcome) -> None:
            store.put(task, outcome)
            prog.done += 1
            prog.failed += outcome.status == "error"
            if progress:
                progress(prog)

        if progress:
            progress(prog)
        if pending:
            if backend == "local":
                run_local(pending, jobs, on_outcome)
            else:
                run_ray(pending, jobs, on_outcome, address=ray_address)
        keys = {t.key for t in tasks}
        stored_ok = len(keys & store.keys("ok"))
        stored_err = len(keys & store.keys("error"))
    return CampaignSummary(
        str(out),
        len(tasks),
        prog.skipped,
        prog.done,
        prog.failed,
        stored_ok,
        stored_err,
        prog.elapsed_s,
    )


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        return max(
            1,
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1),
        )
    if jobs < 1:
        raise InputError(f"--jobs must be >= 1, got {jobs}")
    return int(jobs)


def check_sweep(spec: SweepSpec, tasks: Sequence[Task]) -> None:
    """Before running anything: every network loads and fits the problem (InputError if not)."""
    prob = spec.problem
    images = property_images(prob.centres) if prob.kind == "robustness" and prob.centres else []
    for name in dict.fromkeys(t.network for t in tasks):
        net = resolve_network(name)
        if images:
            if net.n_inputs != images[0][1].size:
                raise InputError(
                    f"network {name} takes {net.n_inputs} inputs but the properties under "
                    f"{prob.centres} are centred on images of {images[0][1].size} pixels"
                )
            bad = [i for i in prob.images if i >= len(images)]
            if bad:
                raise InputError(
                    f"images {bad} out of range: the properties under {prob.centres} are "
                    f"centred on {len(images)} distinct images (0..{len(images) - 1})"
                )
            if net.n_outputs < 2:
                raise InputError(
                    f"network {name} has {net.n_outputs} output; robustness needs classes"
                )
        elif prob.kind == "robustness":
            data = load_digits()
            if net.n_inputs != data.n_features:
                raise InputError(
                    f"network {name} takes {net.n_inputs} inputs but the robustness problem uses "
                    f"digits test images ({data.n_features} pixels): use 64-input networks"
                )
            if net.n_outputs < 2:
                raise InputError(
                    f"network {name} has {net.n_outputs} output; robustness needs classes"
                )
            bad = [i for i in prob.images if i >= len(data.y_test)]
            if bad:
                raise InputError(
                    f"images {bad} out of range: the digits test split has "
                    f"{len(data.y_test)} images (0..{len(data.y_test) - 1})"
                )
        else:
            bad = [k for k in prob.outputs if k >= net.n_outputs]
            if bad:
                raise InputError(
                    f"outputs {bad} out of range: network {name} has {net.n_outputs} output(s)"
                )


# ------------------------------------------------------------------------------ spec.json
def _spec_dict(spec: CampaignSpec) -> dict[str, Any]:
    return json.loads(json.dumps(spec.to_dict()))


def _settings(d: dict[str, Any]) -> dict[str, Any]:
    """The parts of a spec dict that must not change between runs into one folder (a setting
    that is None is left out: it reads the same as one a spec.json written before it existed)."""
    out = {}
    for k, v in d.items():
        if k in _GROWABLE or v is None:
            continue
        out[k] = _settings(v) if isinstance(v, dict) and k == "problem" else v
    return out


def _check_spec_file(path: Path, spec: CampaignSpec) -> None:
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise InputError(f"{path} is not valid JSON; delete it or use a new --out folder") from None
    a, b = _settings(old), _settings(_spec_dict(spec))
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        detail = "; ".join(f"{k}: stored {a.get(k)!r}, now {b.get(k)!r}" for k in diff)
        raise InputError(
            f"{path.parent} holds results of a different campaign setting ({detail}); "
            "use a new --out folder (or the same settings to resume)"
        )


def _write_spec(path: Path, spec: CampaignSpec) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_spec_dict(spec), indent=2) + "\n")
    tmp.replace(path)


def stderr_progress(prog: Progress) -> None:
    """A progress line on stderr: rewritten in place on a terminal, one per task otherwise."""
    tty = sys.stderr.isatty()
    end = "" if tty and prog.done < prog.to_run else "\n"
    print(("\r" if tty else "") + prog.line(), end=end, file=sys.stderr, flush=True)

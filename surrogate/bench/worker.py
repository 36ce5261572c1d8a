"""Running one task (in a worker process or a Ray task): :func:`execute` never raises.

A sweep task builds its problem on the dense network (:mod:`surrogate.app.problems`), prunes
(when ``sparsity > 0``, :func:`surrogate.app.run.make_surrogate`) and runs it
(:func:`surrogate.app.run.run_problem`) with the problem's warm start (``x0`` for robustness,
the box centre for maximisation); every incumbent is judged on the dense network. An instances
task calls :func:`surrogate.app.verify.verify_instance`. The worker adds nothing of its own to
these use cases: what a campaign measures is what the library ships. Tasks on another pipeline
(:mod:`surrogate.bench.pipelines`) run the stock OMLT pipeline (:mod:`surrogate.bench.stock`) or
``run_problem`` with a candidate HiGHS preset; build tasks time a build
(:mod:`surrogate.bench.builds`). Every record says its ``pipeline`` and the task's process CPU
time (``task_cpu_s``). Any exception becomes an
outcome with status ``"error"`` and the message (``Type: message``), so a campaign never loses a
task to a crash of its code and never shows a traceback.

Within one worker process, networks, the digits data and pruned surrogates are cached; a cached
surrogate reports the pruning time measured when it was first built, so every run's times still
include its pruning.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np

from surrogate.app.maximize import maximize
from surrogate.app.portfolio import portfolio
from surrogate.app.problems import box_maximization, digits, digits_robustness
from surrogate.app.run import make_surrogate, run_problem
from surrogate.bench.builds import run_build
from surrogate.bench.networks import resolve_network
from surrogate.bench.pipelines import STOCK, preset_name, registered_preset, strategy_name
from surrogate.bench.stock import run_stock, run_stock_instance
from surrogate.bench.tasks import Task
from surrogate.problems import robustness_problem
from surrogate.prune.registry import finetuned_method
from surrogate.sets import Box
from surrogate.vnnlib.images import property_images

__all__ = ["Outcome", "build_problem", "error_outcome", "execute", "outcome_of_record",
           "task_surrogate"]


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back for one task; the driver stores it."""

    key: str
    status: str  # "ok" | "error"
    outcome: str  # sat | unsat | unknown | timeout (verification); incumbent | none; error
    error: str | None
    record: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str = ""
    wall_s: float = 0.0
    worker: str = ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def execute(task: Task) -> Outcome:
    """Run ``task``; exceptions are caught and returned as an ``"error"`` outcome."""
    started, t0, c0 = _now(), time.perf_counter(), time.process_time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        record = _run(task)
        record["pipeline"] = task.pipeline
        record["task_cpu_s"] = time.process_time() - c0
        record = json.loads(json.dumps(record, default=_json_default))
        status, outcome, error = "ok", outcome_of_record(record), None
    except Exception as exc:  # a task's failure is data: stored, never lost
        record, status, outcome = {}, "error", "error"
        error = f"{type(exc).__name__}: {exc}".strip()
    return Outcome(
        task.key, status, outcome, error, record, started, _now(), time.perf_counter() - t0, worker
    )


def error_outcome(task: Task, message: str) -> Outcome:
    """An ``"error"`` outcome made by the driver (e.g. a Ray worker that died)."""
    now = _now()
    return Outcome(task.key, "error", "error", message, {}, now, now, 0.0, "")


def outcome_of_record(record: dict[str, Any]) -> str:
    """The one-word outcome of a finished record (see :class:`Outcome`)."""
    if "result" in record:  # VerifyResult
        return str(record["result"])
    if record.get("verdict"):
        return str(record["verdict"])
    if record.get("kind") == "build":
        return "built"
    return "incumbent" if record.get("best_dense_objective") is not None else "none"


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    raise TypeError(f"cannot store a {type(v).__name__} in a result record")


def _run(task: Task) -> dict[str, Any]:
    if task.campaign != "sweep":
        return _run_stock_instance(task) if task.pipeline == STOCK else _run_instance(task)
    if task.params["problem"]["kind"] == "build":
        return _run_build(task)
    return _run_sweep(task)


# ------------------------------------------------------------------------------------ sweeps
def build_problem(task: Task) -> tuple[Any, np.ndarray]:
    """The task's problem on the dense network, and its warm start."""
    net = resolve_network(task.network)
    prob, inst = task.params["problem"], task.params["instance"]
    if prob["kind"] == "robustness":
        norm = inst.get("norm", prob["norm"])
        if prob.get("centres"):
            name, x0 = _images(prob["centres"])[int(inst["image"])]
            rob = robustness_problem(net, x0, float(inst["eps"]), norm=norm,
                                     target=prob["target"], name=name)
        else:
            rob = digits_robustness(net, int(inst["image"]), float(inst["eps"]), norm=norm,
                                    target=prob["target"])
        return rob, np.asarray(rob.x0)
    problem = box_maximization(net, int(inst["output"]), lower=prob["lower"],
                               upper=prob["upper"], minimize=prob["minimize"])
    return problem, np.asarray(problem.input_set.lower + problem.input_set.upper) / 2.0


@lru_cache(maxsize=4)
def _images(folder: str) -> list[tuple[str, np.ndarray]]:
    """The images the properties under ``folder`` are centred on (read once per worker)."""
    return property_images(folder)


@lru_cache(maxsize=64)  # a sweep's configurations per (network, instance, seed) all fit
def _pruned(network: str, method: str, sparsity: float, options_json: str,
            data: str | None) -> Any:
    """The pruned surrogate (cached per worker: a cached one keeps the pruning time measured
    when it was built, so every run's times still include its pruning; ``M+finetune``: ``M``
    inside finetuning with rewinding, whose time is the pruning time)."""
    base, kw = finetuned_method(method, json.loads(options_json))
    if kw.get("finetune"):
        import torch  # noqa: F401  (once per process: torch's import is not the finetuning's time)
    if data == "digits":
        d = digits()
        kw["data"] = (d.x_train, d.y_train)
    return make_surrogate(resolve_network(network), base, sparsity, **kw)


def task_surrogate(task: Task) -> Any:
    """The task's pruned surrogate (None at sparsity 0)."""
    if task.sparsity == 0:
        return None
    return _pruned(
        task.network,
        task.method,
        float(task.sparsity),
        json.dumps(task.params.get("prune_options", {}), sort_keys=True),
        task.params.get("prune_data"),
    )


def _run_sweep(task: Task) -> dict[str, Any]:
    problem, warm = build_problem(task)
    surrogate = task_surrogate(task)
    strategy = strategy_name(task.pipeline)
    if strategy is not None and problem.kind == "verification":
        # the portfolio with its defaults: the counterexample search of `surrogate verify`
        found = portfolio(problem, time_limit_s=task.time_limit_s, seed=task.seed)
        record = found.as_run(problem, task.time_limit_s, label=task.config).to_dict()
        record["components"], record["found_by"] = found.components, found.found_by
    elif strategy is not None:
        res = maximize(problem.network, output=problem.output, minimize=not problem.maximize,
                       lower=problem.input_set.lower, upper=problem.input_set.upper,
                       time_limit_s=task.time_limit_s, strategy=strategy, seed=task.seed)
        record = res.to_run_record(task.config)
    elif task.pipeline == STOCK:
        record = run_stock(problem, task.time_limit_s,
                           None if surrogate is None else surrogate.network)
        record["sparsity"] = float(task.sparsity)
    else:
        extra = {"cutoff": True} if preset_name(task.pipeline) == "cutoff" else {}
        with registered_preset(task.pipeline) as preset:
            run = run_problem(
                problem,
                surrogate,
                label=task.config,
                time_limit_s=task.time_limit_s,
                bounds=task.params.get("bounds", "symbolic"),
                warm_start=warm if task.params.get("warm_start", True) else None,
                stop_on_success=bool(task.params["problem"].get("stop_on_success", True)),
                seed=task.seed,
                preset=preset,
                **extra,
            )
        record = run.to_dict()
    record["prune"] = {} if surrogate is None else surrogate.info
    record["label_class"] = getattr(problem, "label", None)
    record["maximize"] = bool(problem.maximize)
    return record


def _run_instance(task: Task) -> dict[str, Any]:
    # lazy: pulls in onnx; surrogate.bench stays light (the report imports it)
    from surrogate.app.verify import verify_instance

    res = verify_instance(
        task.params["onnx"],
        task.params["vnnlib"],
        time_limit_s=task.time_limit_s,
        prune_method=None if task.sparsity == 0 else task.method,
        sparsity=task.sparsity,
        bounds=task.params["bounds"],
        seed=task.seed,
    )
    record = res.to_dict()
    record["time_limit_s"] = task.time_limit_s
    record["csv_timeout_s"] = task.params.get("csv_timeout_s")
    return record


def _run_stock_instance(task: Task) -> dict[str, Any]:
    if task.sparsity > 0:
        raise ValueError("the stock pipeline runs instances.csv rows on the dense network only")
    record = run_stock_instance(task.params["onnx"], task.params["vnnlib"], task.time_limit_s)
    record["time_limit_s"] = task.time_limit_s
    record["csv_timeout_s"] = task.params.get("csv_timeout_s")
    return record


def _run_build(task: Task) -> dict[str, Any]:
    net = resolve_network(task.network)
    surrogate = task_surrogate(task)
    if surrogate is not None:
        net = surrogate.network
    prob = task.params["problem"]
    n = net.n_inputs
    box = Box(np.full(n, float(prob["lower"])), np.full(n, float(prob["upper"])))
    record = run_build(net, box, task.pipeline, bounds=task.params.get("bounds", "symbolic"),
                       repeats=int(prob.get("repeats") or 3))
    record["prune"] = {} if surrogate is None else surrogate.info
    return record

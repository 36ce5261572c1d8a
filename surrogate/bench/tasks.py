"""A campaign's unit of work (:class:`Task`) and the expansion of a spec into tasks.

Task keys are stable strings built from the task's coordinates, so a rerun of the same (or an
extended) spec finds the tasks it already stored:

* sweep:     ``{network}|{config}|{instance}|seed={seed}`` with ``config`` = ``dense`` or
  ``{method}@{sparsity}`` and ``instance`` e.g. ``img=3:eps=5`` or ``out=0``; an ``.onnx`` network
  is named relative to the sweep file's folder (``nets/a.onnx``);
* instances: ``{onnx}|{vnnlib}|{config}|seed={seed}`` (paths as written in the csv).

A task runs one pipeline (:mod:`surrogate.bench.pipelines`); ``config`` names it when it is not
``ours`` (``stock-omlt``, ``stock-omlt/magnitude@0.9``), so tasks of campaigns without the axis
keep their keys. Pipelines vary fastest: the tasks of one instance are next to each other.

So keys (and the store's ``network`` column) do not depend on where the campaign sits: a campaign
moved to another folder or machine resumes instead of running (and storing) everything again.

Numbers are written short (``0.5``) when that is exact and in full otherwise (``0.5000001``), so
two different tasks never share a key (the store keeps one row per key: a shared key would drop
a result). :func:`expand_tasks` refuses a campaign that lists one task twice.

Nothing here imports torch or Pyomo.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from surrogate.bench.pipelines import DEFAULT as DEFAULT_PIPELINE
from surrogate.bench.pipelines import config_with_pipeline, strategy_name
from surrogate.bench.spec import CampaignSpec, InstancesSpec, SweepSpec, number_label
from surrogate.errors import InputError

__all__ = ["Task", "config_label", "expand_tasks", "network_name"]


def config_label(method: str, sparsity: float) -> str:
    """``"dense"`` at sparsity 0, else ``"method@sparsity"`` (the report's configurations)."""
    return "dense" if sparsity == 0 else f"{method}@{number_label(sparsity)}"


@dataclass(frozen=True)
class Task:
    """One run: its key, its coordinates (stored as columns) and what the worker needs."""

    key: str
    campaign: str  # "sweep" | "instances"
    network: str
    method: str  # "dense" at sparsity 0
    sparsity: float
    instance: str
    seed: int
    time_limit_s: float
    params: dict[str, Any] = field(default_factory=dict)
    pipeline: str = DEFAULT_PIPELINE

    @property
    def config(self) -> str:
        return config_with_pipeline(config_label(self.method, self.sparsity), self.pipeline)

    @property
    def network_name(self) -> str:
        """The network as the key and the store name it (``network`` is what the worker loads:
        for an ``.onnx`` file of a sweep, its absolute path)."""
        return str(self.params.get("network_name", self.network))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _configs(methods: tuple[str, ...], sparsities: tuple[float, ...]) -> list[tuple[str, float]]:
    """``("dense", 0.0)`` once if 0 is asked for, then every method x nonzero sparsity."""
    out: list[tuple[str, float]] = [("dense", 0.0)] if 0.0 in sparsities else []
    out += [(m, p) for m in methods for p in sparsities if p > 0]
    return out


def expand_tasks(spec: CampaignSpec) -> list[Task]:
    """Every task of ``spec`` in a fixed order (network, instance, seed, configuration).

    InputError when two tasks share a key (e.g. an instances.csv that lists a row twice): the
    store keeps one row per key, so one of the two results would be dropped."""
    tasks = _expand_sweep(spec) if isinstance(spec, SweepSpec) else _expand_instances(spec)
    seen: set[str] = set()
    for t in tasks:
        if t.key in seen:
            what = "the sweep lists it twice"
            if isinstance(spec, InstancesSpec):
                lines = [
                    str(r.line)
                    for r in spec.rows
                    if (r.onnx_rel, r.vnnlib_rel) == (t.network_name, t.instance)
                ]
                what = f"{spec.path or 'instances.csv'} lists it on lines {', '.join(lines)}"
            raise InputError(
                f"the campaign holds task {t.key!r} twice ({what}); "
                "remove the duplicate so that every task is stored once"
            )
        seen.add(t.key)
    return tasks


def network_name(network: str, sweep_path: str) -> str:
    """An ``.onnx`` network relative to the sweep file's folder (POSIX separators); others as is."""
    if not network.endswith(".onnx") or not sweep_path or not os.path.isabs(network):
        return network
    try:
        rel = os.path.relpath(network, Path(sweep_path).resolve().parent)
    except ValueError:  # pragma: no cover - another drive (Windows)
        return network
    return Path(rel).as_posix()


def _expand_sweep(spec: SweepSpec) -> list[Task]:
    prob = spec.problem
    base: dict[str, Any] = {
        "problem": asdict(prob),
        "bounds": spec.bounds,
        "prune_data": spec.prune_data,
    }
    if spec.warm_start is False:  # (left out otherwise: old stores' task params stay the same)
        base["warm_start"] = False
    tasks = []
    for net in spec.networks:
        name = network_name(net, spec.path)
        for inst, inst_params in prob.instances():
            for seed in spec.seeds:
                for (method, p), pipe in _with_pipelines(spec.methods, spec.sparsities,
                                                         spec.pipelines, spec.pruned_pipelines):
                    params = {
                        **base,
                        "instance": inst_params,
                        "prune_options": dict(spec.prune_options.get(method, {})),
                    }
                    if name != net:
                        params["network_name"] = name
                    config = config_with_pipeline(config_label(method, p), pipe)
                    tasks.append(
                        Task(
                            key=f"{name}|{config}|{inst}|seed={seed}",
                            campaign="sweep",
                            network=net,
                            method=method,
                            sparsity=p,
                            instance=inst,
                            seed=seed,
                            time_limit_s=spec.time_limit_s,
                            params=params,
                            pipeline=pipe,
                        )
                    )
    return tasks


def _with_pipelines(
    methods: tuple[str, ...], sparsities: tuple[float, ...], pipelines: tuple[str, ...],
    pruned: tuple[str, ...] | None = None,
) -> list[tuple[tuple[str, float], str]]:
    """Every configuration on every pipeline (pipelines varying fastest); pruned configurations
    only on the ``pruned`` pipelines (all when None), never on a ``strategy:NAME`` pipeline (the
    portfolio prunes by itself)."""
    return [(c, pipe) for c in _configs(methods, sparsities) for pipe in pipelines
            if c[1] == 0 or (strategy_name(pipe) is None and (pruned is None or pipe in pruned))]


def _expand_instances(spec: InstancesSpec) -> list[Task]:
    tasks = []
    for row in spec.rows:
        limit = (
            row.timeout_s if spec.time_limit_s is None else min(row.timeout_s, spec.time_limit_s)
        )
        for seed in spec.seeds:
            for (method, p), pipe in _with_pipelines(spec.methods, spec.sparsities,
                                                     spec.pipelines):
                config = config_with_pipeline(config_label(method, p), pipe)
                tasks.append(
                    Task(
                        key=f"{row.onnx_rel}|{row.vnnlib_rel}|{config}|seed={seed}",
                        campaign="instances",
                        network=row.onnx_rel,
                        method=method,
                        sparsity=p,
                        instance=row.vnnlib_rel,
                        seed=seed,
                        time_limit_s=limit,
                        params={
                            "onnx": row.onnx,
                            "vnnlib": row.vnnlib,
                            "bounds": spec.bounds,
                            "csv_timeout_s": row.timeout_s,
                        },
                        pipeline=pipe,
                    )
                )
    return tasks

"""Build tasks: how long building the MILP of a network takes, by pipeline (no solve).

* ``ours``: :func:`surrogate.app.build.build_milp` -- bounds (the campaign's method, symbolic by
  default) and the matrix model our runs hand to HiGHS -- of a box maximisation over the network
  (an objective and no extra row: the network's encoding is what is timed);
* ``ours-pyomo``: :func:`surrogate.encode.add_network` into a fresh Pyomo ``ConcreteModel`` (the
  embedding API; bounds included);
* ``stock-omlt``: OMLT's ``ReluBigMFormulation`` on an OMLT ``NetworkDefinition`` with OMLT's
  interval bounds (:func:`surrogate.encode.stock.add_stock_network`).

Each task first builds a tiny network the same way (imports and first calls are not timed), then
times ``repeats`` builds -- at least :data:`FAST_REPEATS` when the first takes less than
:data:`FAST_S` (milliseconds are noisy) --, the garbage collector run before each one (outside the
timing: a Pyomo build leaves many objects behind). The record holds every timing, their median
(``total_s``) and the model's size.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from surrogate.app.build import build_milp
from surrogate.app.problems import box_maximization
from surrogate.bench.networks import random_mlp
from surrogate.bench.stock import quiet_pyomo
from surrogate.network.spec import Network
from surrogate.sets import Box

__all__ = ["FAST_REPEATS", "FAST_S", "run_build"]

#: Builds faster than this (seconds) are timed at least :data:`FAST_REPEATS` times.
FAST_S = 0.5
FAST_REPEATS = 15


def _ours(network: Network, box: Box, bounds: str) -> Callable[[], tuple[dict[str, int], dict]]:
    problem = box_maximization(network, 0, lower=box.lower, upper=box.upper)

    def build() -> tuple[dict[str, int], dict]:
        built = build_milp(problem, network, bounds)
        return built.size(), {"bounds_s": built.bounds_s, "build_s": built.build_s,
                              "neurons": built.neurons()}

    return build


def _ours_pyomo(network: Network, box: Box,
                bounds: str) -> Callable[[], tuple[dict[str, int], dict]]:
    def build() -> tuple[dict[str, int], dict]:
        import pyomo.environ as pyo

        # lazy: pulls in pyomo; surrogate.bench stays light (the report imports it)
        from surrogate.encode import add_network

        emb = add_network(pyo.ConcreteModel(), network, box, bounds=bounds)
        size = {k: int(emb.stats[k]) for k in ("variables", "binaries", "constraints",
                                                "nonzeros")}
        return size, {"bounds_s": emb.bounds_time_s, "build_s": emb.build_time_s}

    return build


def _stock(network: Network, box: Box, _bounds: str) -> Callable[[], tuple[dict[str, int], dict]]:
    def build() -> tuple[dict[str, int], dict]:
        import pyomo.environ as pyo

        # lazy: pulls in pyomo, omlt; surrogate.bench stays light (the report imports it)
        from surrogate.encode.stock import add_stock_network

        m = pyo.ConcreteModel()
        with quiet_pyomo():
            add_stock_network(m, network, box)
        return _pyomo_size(m), {}

    return build


def _pyomo_size(m: Any) -> dict[str, int]:
    import pyomo.environ as pyo

    variables = list(m.component_data_objects(pyo.Var, descend_into=True))
    return {
        "variables": len(variables),
        "binaries": sum(1 for v in variables if v.is_binary()),
        "constraints": sum(1 for _ in m.component_data_objects(pyo.Constraint, active=True,
                                                                descend_into=True)),
    }


def _wanted(times: list[float], repeats: int) -> int:
    """How many timings: ``repeats``, or :data:`FAST_REPEATS` once the first was fast."""
    return repeats if not times or times[0] >= FAST_S else max(repeats, FAST_REPEATS)


_BUILDERS = {"ours": _ours, "ours-pyomo": _ours_pyomo, "stock-omlt": _stock}


def run_build(network: Network, box: Box, pipeline: str, *, bounds: str = "symbolic",
              repeats: int = 3) -> dict[str, Any]:
    """Time ``repeats`` builds of ``network`` over ``box`` by ``pipeline`` (see the module
    docstring); the size is measured outside the timings."""
    make = _BUILDERS[pipeline]
    tiny = random_mlp((4, 3, 2), seed=0)
    make(tiny, Box(np.zeros(4), np.ones(4)), bounds)()  # warm-up: imports and first calls
    build = make(network, box, bounds)
    times: list[float] = []
    parts: list[dict] = []
    size: dict[str, int] = {}
    while len(times) < _wanted(times, repeats):
        gc.collect()
        t0 = time.perf_counter()
        size, part = build()
        times.append(time.perf_counter() - t0)
        parts.append(part)
    record: dict[str, Any] = {
        "pipeline": pipeline,
        "kind": "build",
        "bounds_method": bounds if pipeline != "stock-omlt" else "interval (OMLT)",
        "repeats": len(times),
        "times_s": times,
        "total_s": statistics.median(times),
        "size": size,
        "nonzeros": network.nonzeros,
        "sparsity": network.sparsity,
        "relus": network.relu_count(),
    }
    for key in ("bounds_s", "build_s"):
        if parts and key in parts[0]:
            record[key] = statistics.median(p[key] for p in parts)
    if parts and "neurons" in parts[-1]:
        record["neurons"] = parts[-1]["neurons"]
    return record

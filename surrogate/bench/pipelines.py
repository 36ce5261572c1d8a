"""Pipelines: the campaign axis that says *what* solves a task (stdlib only).

Every task of a campaign runs one pipeline:

* ``ours`` (the default): the library as shipped -- :func:`surrogate.app.run.run_problem` for a
  sweep task, :func:`surrogate.app.verify.verify_instance` for an instances.csv row,
  :func:`surrogate.app.build.build_milp` for a build task -- with the library's defaults;
* ``stock-omlt``: the peers' pipeline (:mod:`surrogate.bench.stock`): a Pyomo model holding OMLT's
  ``ReluBigMFormulation``, solved through Pyomo's HiGHS interface with HiGHS's defaults;
* ``ours-pyomo`` (build tasks only): our encoding written into a Pyomo model
  (:func:`surrogate.encode.add_network`, the embedding API);
* ``highs:NAME`` (sweep tasks only): ``ours`` with a candidate HiGHS option set
  (:data:`PRESET_CANDIDATES`), to measure which options pay;
* ``strategy:NAME`` (maximisation sweeps, dense network only): the library's maximisation use
  case (:func:`surrogate.app.maximize.maximize`) with strategy ``NAME``: ``portfolio`` (what
  ``surrogate maximize`` runs by default), ``milp``, ``gradient``, ``local`` or ``lp`` (one
  generator alone), to compare the portfolio with each of its parts in one campaign; on
  robustness sweeps ``strategy:portfolio`` runs the portfolio
  (:func:`surrogate.app.portfolio.portfolio`, its defaults: the counterexample search of
  ``surrogate verify``) on the dense network.

Task keys and configuration labels of ``ours`` are those of campaigns without the axis (so old
stores resume); any other pipeline's configuration label is the pipeline's name (``stock-omlt``),
followed by the pruning configuration on a pruned network (``stock-omlt/magnitude@0.9``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from surrogate.app.maximize import STRATEGIES
from surrogate.errors import InputError
from surrogate.solve import highs

__all__ = [
    "DEFAULT",
    "PRESET_CANDIDATES",
    "STOCK",
    "STRATEGIES",
    "check_pipelines",
    "config_with_pipeline",
    "preset_name",
    "registered_preset",
    "strategy_name",
]

DEFAULT = "ours"
STOCK = "stock-omlt"
PYOMO = "ours-pyomo"
_PRESET_PREFIX = "highs:"
_STRATEGY_PREFIX = "strategy:"

#: HiGHS option sets measured by the presets suite (``highs:NAME``; ``default`` is ``ours``).
PRESET_CANDIDATES: dict[str, dict[str, object]] = {
    "default": {},
    "heuristics-0.2": {"mip_heuristic_effort": 0.2},
    "heuristics-0.01": {"mip_heuristic_effort": 0.01},
    "heuristics-0.5": {"mip_heuristic_effort": 0.5},
    "cutpool-1000": {"mip_pool_soft_limit": 1000},
    "presolve-off": {"presolve": "off"},
    "no-symmetry": {"mip_detect_symmetry": False},
    "no-node-cuts": {"mip_allow_cut_separation_at_nodes": False},
    "lp-age-20": {"mip_lp_age_limit": 20},
    "no-restart": {"mip_allow_restart": False},
    "threads-2": {"threads": 2},
    # HiGHS's cutoff: only solutions with t <= margin count, so a verification MILP without one
    # ends infeasible -- a proof. It is run_milp's own option (cutoff=True), which reads that proof.
    "cutoff": {"objective_bound": 1e-6},
}

#: Pipelines each campaign kind accepts (``highs:NAME`` is checked on its own).
_ALLOWED = {
    "robustness": (DEFAULT, STOCK),
    "maximize": (DEFAULT, STOCK),
    "build": (DEFAULT, PYOMO, STOCK),
    "instances": (DEFAULT, STOCK),
}


def strategy_name(pipeline: str) -> str | None:
    """``"strategy:portfolio"`` -> ``"portfolio"``; None for other pipelines."""
    return (pipeline[len(_STRATEGY_PREFIX):] if pipeline.startswith(_STRATEGY_PREFIX)
            else None)


def preset_name(pipeline: str) -> str | None:
    """``"highs:cutoff"`` -> ``"cutoff"``; None for a pipeline that is not a preset."""
    return pipeline[len(_PRESET_PREFIX):] if pipeline.startswith(_PRESET_PREFIX) else None


def check_pipelines(
    pipelines: Sequence[str], kind: str, sparsities: Sequence[float] = (0.0,)
) -> tuple[str, ...]:
    """The pipelines of a campaign of ``kind`` (``robustness``, ``maximize``, ``build`` or
    ``instances``), checked: known names, no repeats, presets only on sweeps, the cutoff only on
    dense robustness runs. InputError (with the allowed names) otherwise."""
    allowed = _ALLOWED[kind]
    out = tuple(pipelines)
    if not out:
        raise InputError(f"pipelines must name at least one of {', '.join(allowed)}")
    if len(set(out)) != len(out):
        raise InputError(f"pipelines lists a pipeline twice: {list(out)}")
    sweep = kind in ("robustness", "maximize")
    if kind == "instances" and STOCK in out and any(s > 0 for s in sparsities):
        raise InputError("pipeline 'stock-omlt' runs instances on the dense network only: give "
                         "sparsities [0] (or run the pruned configurations in another campaign)")
    for p in out:
        strategy = strategy_name(p)
        if strategy is not None:
            ok = ((kind == "maximize" and strategy in STRATEGIES)
                  or (kind == "robustness" and strategy == "portfolio"))
            if not ok:
                raise InputError(f"pipeline {p!r}: strategy:NAME runs maximisation sweeps, with "
                                 f"NAME in {', '.join(STRATEGIES)}, and robustness sweeps with "
                                 "NAME portfolio")
            if 0.0 not in sparsities:
                raise InputError(f"pipeline {p!r} runs on the dense network only (the "
                                 "portfolio prunes by itself): list sparsity 0.0")
            continue
        name = preset_name(p)
        if name is None and p in allowed:
            continue
        if name is not None and sweep and name in PRESET_CANDIDATES:
            if name == "cutoff" and (kind != "robustness" or any(s > 0 for s in sparsities)):
                raise InputError(
                    "pipeline 'highs:cutoff' is a proof cutoff for verification MILPs of the "
                    "dense network: use it in a robustness sweep whose sparsities are [0.0]"
                )
            continue
        presets = f", highs:NAME with NAME in {', '.join(PRESET_CANDIDATES)}" if sweep else ""
        if kind == "maximize":
            presets += f", strategy:NAME with NAME in {', '.join(STRATEGIES)}"
        raise InputError(f"unknown pipeline {p!r} for a {kind} campaign; choose from "
                         f"{', '.join(allowed)}{presets}")
    return out


def config_with_pipeline(config: str, pipeline: str) -> str:
    """A configuration label on ``pipeline``: ``ours`` keeps ``config`` (``dense``,
    ``magnitude@0.9``); others are named by the pipeline, with the pruning when there is some."""
    if pipeline == DEFAULT:
        return config
    return pipeline if config == "dense" else f"{pipeline}/{config}"


@contextmanager
def registered_preset(pipeline: str) -> Iterator[str]:
    """For the block, the HiGHS preset of a ``highs:NAME`` pipeline, registered for
    :func:`surrogate.app.run.run_milp` (``preset=`` the yielded key); ``"default"`` for others.
    The cutoff is not a preset option (the caller passes ``cutoff=True``)."""
    name = preset_name(pipeline)
    if name is None or name == "default":
        yield "default"
        return
    key = f"perf:{name}"
    highs.PRESETS[key] = {k: v for k, v in PRESET_CANDIDATES[name].items()
                          if k != "objective_bound"}
    try:
        yield key
    finally:
        highs.PRESETS.pop(key, None)

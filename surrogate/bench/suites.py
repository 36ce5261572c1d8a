"""The performance suites of ``surrogate perf``: campaigns like any other (docs/performance.md).

* ``build``, ``digits``, ``maximize``, ``presets``: the shipped sweeps ``problems/perf-*.toml``;
* ``mnist_fc``: generated from the VNN-COMP folder: the rows of ``mnist_fc/instances_2022.csv``
  on ``mnist-net_256x2.onnx`` (30 properties, 120 s each), on ``ours`` and ``stock-omlt``.

:func:`suite_spec` also takes a path to any sweep ``.toml`` or ``instances.csv``. ``quick`` makes a
few-second version of a suite: a 5 s limit (at most), and for build suites a 64-32-32-10 network
timed once. :func:`first_instances` turns "the first K instances" into a task count for
:func:`surrogate.bench.runner.run_campaign` (the tasks of one instance -- its configurations
and pipelines -- are next to each other).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from surrogate.bench.pipelines import DEFAULT, STOCK
from surrogate.bench.spec import CampaignSpec, SweepSpec, load_spec, parse_instances_csv
from surrogate.bench.tasks import expand_tasks
from surrogate.errors import InputError, ModelFileError

__all__ = ["PROBLEMS_DIR", "QUICK_LIMIT_S", "SUITES", "first_instances", "suite_spec"]

#: The repository's ``problems/`` folder (the shipped sweeps).
PROBLEMS_DIR = Path(__file__).resolve().parents[2] / "problems"
SUITES = ("build", "mnist_fc", "digits", "maximize", "presets")
#: ``quick``: at most this time limit per run.
QUICK_LIMIT_S = 5.0
QUICK_BUILD_NETWORK = "random:64-32-32-10:seed=0"
MNIST_FC_CSV = Path("mnist_fc") / "instances_2022.csv"
MNIST_FC_NETWORK = "mnist-net_256x2"


def suite_spec(
    suite: str, *, vnncomp: str | Path, time_limit_s: float | None = None, quick: bool = False
) -> CampaignSpec:
    """The campaign of ``suite`` (a name of :data:`SUITES` or a spec file)."""
    if quick:
        time_limit_s = min(time_limit_s or QUICK_LIMIT_S, QUICK_LIMIT_S)
    if suite == "mnist_fc":
        csv = Path(vnncomp) / MNIST_FC_CSV
        if not csv.is_file():
            raise ModelFileError(f"no {MNIST_FC_CSV} under {vnncomp}: pass --vnncomp DIR (the "
                                 "VNN-COMP folder holding mnist_fc/)")
        spec = parse_instances_csv(csv, time_limit_s=time_limit_s, select=MNIST_FC_NETWORK,
                                   pipelines=(DEFAULT, STOCK))
        return replace(spec, name="perf-mnist_fc")
    if suite in SUITES:
        path = PROBLEMS_DIR / f"perf-{suite}.toml"
    else:
        path = Path(suite)
        if path.suffix not in (".toml", ".csv"):
            raise InputError(f"--suite {suite}: give one of {', '.join(SUITES)}, all, or a sweep "
                             ".toml / instances.csv")
    found = load_spec(path)
    if not (isinstance(found, SweepSpec) and found.problem.kind == "build"):
        return load_spec(path, time_limit_s=time_limit_s)
    if quick:  # a build task solves nothing: no time limit to shrink
        found = replace(found, networks=(QUICK_BUILD_NETWORK,),
                        problem=replace(found.problem, repeats=1))
    return found


def first_instances(spec: CampaignSpec, k: int | None) -> int | None:
    """How many tasks (in expansion order) hold the first ``k`` instances; None for all."""
    if k is None:
        return None
    seen: set[tuple[str, str, int]] = set()
    for n, t in enumerate(expand_tasks(spec)):
        seen.add((t.network_name, t.instance, t.seed))
        if len(seen) > k:
            return n
    return None

"""Benchmark campaigns: sweeps (networks x pruning x problems x seeds) and VNN-COMP instance lists,
run in a local process pool or on Ray, results in a crash-safe SQLite store.

Importing this package loads no torch and no Pyomo (workers load them when they run a task).
"""

from surrogate.bench.runner import BACKENDS, CampaignSummary, Progress, run_campaign
from surrogate.bench.spec import (
    CampaignSpec,
    InstanceRow,
    InstancesSpec,
    ProblemSpec,
    SweepSpec,
    load_spec,
    parse_instances_csv,
    parse_sweep,
)
from surrogate.bench.store import STORE_NAME, ResultStore
from surrogate.bench.tasks import Task, config_label, expand_tasks

__all__ = [
    "BACKENDS",
    "STORE_NAME",
    "CampaignSpec",
    "CampaignSummary",
    "InstanceRow",
    "InstancesSpec",
    "ProblemSpec",
    "Progress",
    "ResultStore",
    "SweepSpec",
    "Task",
    "config_label",
    "expand_tasks",
    "load_spec",
    "parse_instances_csv",
    "parse_sweep",
    "run_campaign",
]

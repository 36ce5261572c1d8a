"""The use cases, each written once: build the MILP of (problem, network, bounds), run a problem
on the dense network or a pruned surrogate, verify an instance, compare dense against pruned, the
pruning study. The command line, the benchmark workers, the performance suites and the Python API
call these; nothing else builds a model or runs prune -> solve.

Submodules are imported on first use (``surrogate.app.verify`` pulls in onnxruntime, the study
matplotlib)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BuiltMilp",
    "RunResult",
    "Surrogate",
    "VerifyResult",
    "box_maximization",
    "build_milp",
    "compare",
    "digits_robustness",
    "format_table",
    "make_surrogate",
    "pruning_study",
    "run_milp",
    "run_problem",
    "verify_instance",
]

_WHERE = {
    "BuiltMilp": "build", "build_milp": "build",
    "RunResult": "run", "Surrogate": "run", "make_surrogate": "run", "run_milp": "run",
    "run_problem": "run",
    "VerifyResult": "verify", "verify_instance": "verify",
    "compare": "compare", "format_table": "compare",
    "box_maximization": "problems", "digits_robustness": "problems",
    "pruning_study": "study",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"surrogate.app.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'surrogate.app' has no attribute {name!r}")

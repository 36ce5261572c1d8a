"""Where a benchmark ran: cores, load, versions, BLAS thread pools (``DIR/machine.json``).

``surrogate perf`` appends one *session* (the command, the start time, :func:`machine_info`) to
``DIR/machine.json`` each time it runs into ``DIR``, so a store filled over several sessions (a
resumed campaign) keeps the conditions of each; the perf report quotes them.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from surrogate._highs import new_highs

__all__ = ["machine_info", "now", "record_session"]

MACHINE_NAME = "machine.json"  # the name surrogate.report.perf reads


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def machine_info() -> dict[str, Any]:
    """Cores, load average, versions of the numeric stack and the solver, BLAS threads."""
    import numpy as np
    import omlt
    import pyomo.version
    import scipy

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    h = new_highs()
    return {
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pyomo": pyomo.version.version,
        "omlt": getattr(omlt, "__version__", "?"),
        "highs": f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}",
        "blas_threads_env": {k: os.environ.get(k) for k in
                             ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "threadpools": _threadpools(),
    }


def _threadpools() -> list[dict[str, Any]]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return []
    return [{"api": i.get("internal_api"), "threads": i.get("num_threads")}
            for i in threadpool_info()]


def record_session(run_dir: str | Path, command: str, started: str,
                   machine: dict[str, Any]) -> dict[str, Any]:
    """Append this session (``command``, its start time, ``machine``: :func:`machine_info` taken
    when it started) to ``run_dir/machine.json``."""
    path = Path(run_dir) / MACHINE_NAME
    sessions: list[Any] = []
    if path.is_file():
        try:
            old = json.loads(path.read_text())
            sessions = old if isinstance(old, list) else []
        except ValueError:
            sessions = []
    entry = {"started": started, "command": command, "machine": machine}
    sessions.append(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(sessions, indent=2) + "\n")
    tmp.replace(path)
    return entry

"""The Ray backend: the same tasks as :mod:`surrogate.bench.local_backend`, as Ray tasks.

``ray.init(address=...)`` joins an existing cluster (``address="auto"``, ``"ray://host:10001"``,
or the ``RAY_ADDRESS`` environment variable); without an address a local Ray instance with
``jobs`` CPUs is started. Each task asks for one CPU and runs :func:`surrogate.bench.worker.execute`
with one thread per numeric library; the driver (this process) stores every result as it comes
back, exactly as with the local backend. Every node must have ``surrogate`` installed (same
version) and, for shipped or file networks, the same paths.

Ray is an optional dependency (``pip install surrogate[ray]``); it is imported here only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from surrogate.bench.local_backend import THREAD_ENV
from surrogate.bench.tasks import Task
from surrogate.bench.worker import Outcome, error_outcome, execute
from surrogate.errors import InputError

__all__ = ["import_ray", "run_ray"]


def import_ray() -> Any:
    """The ``ray`` module, or InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(
            "the ray backend needs Ray, which is not installed: pip install ray "
            "(or pip install 'surrogate[ray]'), or use --backend local"
        ) from None
    return ray


def _execute_single_threaded(task: Task) -> Outcome:
    os.environ.update(THREAD_ENV)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    return execute(task)


def run_ray(
    tasks: Sequence[Task],
    jobs: int,
    on_outcome: Callable[[Task, Outcome], None],
    *,
    address: str | None = None,
) -> None:
    """Run ``tasks`` as Ray tasks; ``on_outcome`` is called in this process as each ends."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        kw: dict[str, Any] = {"runtime_env": {"env_vars": dict(THREAD_ENV)}, "log_to_driver": False}
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is None:  # a local instance (options a cluster connection must not get)
            kw.update(num_cpus=jobs, include_dashboard=False)
        ray.init(address=address, **kw)
    remote = ray.remote(num_cpus=1, max_retries=0)(_execute_single_threaded)
    pending = {remote.remote(t): t for t in tasks}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # the Ray worker died or the task could not run
                    msg = str(exc).strip().splitlines()
                    outcome = error_outcome(task, f"{type(exc).__name__}: {msg[0] if msg else ''}")
                on_outcome(task, outcome)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()

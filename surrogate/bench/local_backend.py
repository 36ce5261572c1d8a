"""The local backend: a pool of ``jobs`` spawned worker processes on this machine.

Workers are started with the ``spawn`` method (a fresh interpreter: no forked solver or OpenMP
state) and limit every numeric library to one thread, so ``jobs`` runs share the cores without
oversubscription (HiGHS itself runs single-threaded, see :func:`surrogate.solve.highs.
solve_matrix`). Workers ignore Ctrl-C (the driver stops them) and end when the driver dies, even
by SIGKILL: on Linux the kernel kills them at once (``PR_SET_PDEATHSIG``), elsewhere a watcher
thread ends them within half a second of their next chance to run Python. Only the driver writes
the store, so a worker that outlives its driver could never store anything anyway.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from surrogate.bench.tasks import Task
from surrogate.bench.worker import Outcome, error_outcome, execute
from surrogate.errors import SolverError

__all__ = ["THREAD_ENV", "run_local"]

#: Environment set in every worker before numeric libraries load: one thread each.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)  # the driver is gone: nobody will store our result


def _die_with_parent(parent: int) -> None:
    """Linux: ask the kernel to SIGKILL this process when its parent ends.

    The watcher thread alone is not enough: a solver call that holds the GIL (or a long C loop)
    keeps it from running, so an orphaned worker could compute on for its whole time limit."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no prctl: the watcher still runs
        return
    if os.getppid() != parent:  # the driver died before prctl took effect
        os._exit(1)


def init_worker() -> None:
    """Pool initializer: one thread per library, ignore SIGINT, die with the driver.

    The environment comes too late for the libraries already loaded while the initializer was
    unpickled (numpy's OpenBLAS started with 2 threads in a spawned worker), so the thread pools
    are also capped at run time (threadpoolctl)."""
    os.environ.update(THREAD_ENV)
    from threadpoolctl import threadpool_limits  # lazy: keeps the driver's import light

    threadpool_limits(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    _die_with_parent(parent)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass


def run_local(
    tasks: Sequence[Task], jobs: int, on_outcome: Callable[[Task, Outcome], None]
) -> None:
    """Run ``tasks`` on ``jobs`` processes; ``on_outcome`` runs in this process as each ends."""
    ctx = mp.get_context("spawn")
    with _quiet_resource_tracker():  # the tracker starts with the pool
        ex = ProcessPoolExecutor(
            max_workers=max(1, min(jobs, len(tasks))), mp_context=ctx, initializer=init_worker
        )
    try:
        with _quiet_resource_tracker():  # the workers start on submit
            futures: dict[Future[Outcome], Task] = {ex.submit(execute, t): t for t in tasks}
        broken = 0
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                outcome = fut.result()
            except BrokenProcessPool:
                broken += 1  # not run to the end: not stored, so the next run does it again
                continue  # but first store every result that did come back
            except Exception as exc:  # e.g. a task that cannot be sent to a worker
                outcome = error_outcome(task, f"{type(exc).__name__}: {exc}")
            on_outcome(task, outcome)
        if broken:
            raise SolverError(
                f"a worker process died (killed, or out of memory) while running tasks; {broken} "
                "task(s) did not finish; the results finished so far are stored: rerun the same "
                "command to resume"
            )
    except BaseException:
        _stop(ex)
        raise
    ex.shutdown(wait=True)


@contextmanager
def _quiet_resource_tracker() -> Iterator[None]:
    """Processes started in this block do not warn about "leaked semaphore objects": workers ended
    on Ctrl-C leave their queue semaphores to multiprocessing's resource tracker, which removes
    them (correctly) but would print a warning that reads like a bug."""
    old = os.environ.get("PYTHONWARNINGS")
    rule = "ignore:resource_tracker:UserWarning"
    os.environ["PYTHONWARNINGS"] = f"{old},{rule}" if old else rule
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = old


def _stop(ex: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now (their runs would be lost anyway)."""
    workers = list((getattr(ex, "_processes", None) or {}).values())  # no public accessor
    ex.shutdown(wait=False, cancel_futures=True)
    for p in workers:
        if p.is_alive():
            p.terminate()
    for p in workers:
        p.join(timeout=5)
    ex.shutdown(wait=True)  # the pool notices its dead workers and releases its queues

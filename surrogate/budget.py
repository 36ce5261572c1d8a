"""One wall-clock budget, created where the user's time limit arrives and passed down.

Every phase of a run (attack, bounds, model build, HiGHS) takes what remains of the same
:class:`Budget`, so a command's total time is its limit plus only what a phase overruns between
two checks. A budget is a point in time (``time.perf_counter`` seconds), never a duration that
each phase would restart.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from surrogate.errors import InputError

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    """The time left until ``deadline`` (a ``time.perf_counter()`` value; ``inf``: no limit), or
    until ``cancel`` is set (another component answered: every phase below stops at its next
    check)."""

    deadline: float
    started: float
    cancel: threading.Event | None = field(default=None, compare=False)

    @classmethod
    def of(cls, seconds: float, *, what: str = "time limit") -> Budget:
        """A budget of ``seconds`` from now; ``math.inf`` means no limit. Anything else than a
        number > 0 is an :class:`InputError` naming ``what``."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or math.isnan(
            seconds
        ) or seconds <= 0:
            raise InputError(f"{what} must be a number of seconds > 0, got {seconds!r}")
        now = time.perf_counter()
        return cls(now + float(seconds), now)

    @classmethod
    def since(cls, start: float, seconds: float, *, what: str = "time limit") -> Budget:
        """A budget of ``seconds`` counted from the earlier moment ``start``."""
        cls.of(seconds, what=what)  # validates
        return cls(start + float(seconds), start)

    def remaining(self) -> float:
        """Seconds left (never negative; 0 once cancelled)."""
        if self.cancel is not None and self.cancel.is_set():
            return 0.0
        return max(self.deadline - time.perf_counter(), 0.0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def total(self) -> float:
        return self.deadline - self.started

    def expired(self) -> bool:
        return (time.perf_counter() >= self.deadline
                or (self.cancel is not None and self.cancel.is_set()))

    def cancelled_by(self, event: threading.Event) -> Budget:
        """This budget, ending early once ``event`` is set."""
        return Budget(self.deadline, self.started, event)

    def share(self, fraction: float) -> Budget:
        """A sub-budget ending after ``fraction`` of what remains (never after this one)."""
        now = time.perf_counter()
        left = max(self.deadline - now, 0.0)
        return Budget(now + fraction * left if math.isfinite(left) else math.inf, now,
                      self.cancel)

    def until(self, deadline: float) -> Budget:
        """A sub-budget ending at ``deadline`` or at this budget's end, whichever comes first."""
        return Budget(min(self.deadline, deadline), time.perf_counter(), self.cancel)

"""Counterexamples in the VNN-COMP result format.

A verifier that finds a counterexample writes (VNN-COMP 2022 rules)::

    sat
    ((X_0 0.12)
     (X_1 -0.5)
     (Y_0 3.25))

the input ``x`` first, then the network's output ``y`` at ``x``. Values are written with
``repr`` (the shortest text that reads back to the same float64), so a round trip is exact.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from surrogate.errors import InputError, ModelFileError, ParseError

__all__ = ["format_counterexample", "read_counterexample", "write_counterexample"]

_ASSIGNMENT_RE = re.compile(r"\(\s*([^\s()]+)\s+([^\s()]+)\s*\)")
_NAME_RE = re.compile(r"([XY])_(0|[1-9]\d*)\Z")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _vector(name: str, v: ArrayLike) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise InputError(f"{name} is empty: a counterexample needs at least one {name} value")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(
            f"{name}[{bad}] is {float(arr[bad])!r}: a counterexample must be finite"
        )
    return arr


def format_counterexample(x: ArrayLike, y: ArrayLike) -> str:
    """The VNN-COMP text of the counterexample ``x`` (inputs) with outputs ``y``."""
    xs, ys = _vector("x", x), _vector("y", y)
    pairs = [f"(X_{i} {float(v)!r})" for i, v in enumerate(xs)]
    pairs += [f"(Y_{j} {float(v)!r})" for j, v in enumerate(ys)]
    return "sat\n(" + "\n ".join(pairs) + ")\n"


def write_counterexample(path: str | Path, x: ArrayLike, y: ArrayLike) -> None:
    """Write :func:`format_counterexample` ``(x, y)`` to ``path`` (replacing the file)."""
    text = format_counterexample(x, y)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(f"cannot write the counterexample to {path}: {exc}") from exc


def read_counterexample(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``sat`` result file back into ``(x, y)`` (float64 arrays).

    The indices of ``X_i`` and ``Y_j`` must each run ``0..n-1`` (in any order)."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"counterexample file not found: {p} (check the path)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"cannot read counterexample file {p} as text: {exc}") from exc
    return _parse(text, str(p))


def _parse(text: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    verdict = text.split(None, 1)
    if not verdict or verdict[0] != "sat":
        first = verdict[0] if verdict else "nothing"
        raise ParseError(
            f"expected 'sat' as the first word of a counterexample file, got '{first}' "
            "(only 'sat' results carry a counterexample)",
            path=path,
            line=1,
        )
    values: dict[str, dict[int, float]] = {"X": {}, "Y": {}}
    for m in _ASSIGNMENT_RE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        name, number = m[1], m[2]
        nm = _NAME_RE.match(name)
        if nm is None:
            raise ParseError(f"expected a variable X_<i> or Y_<j>, got '{name}'",
                             path=path, line=line)
        if not _NUMBER_RE.match(number):
            raise ParseError(f"bad number '{number}' for {name}", path=path, line=line)
        index = int(nm[2])
        if index in values[nm[1]]:
            raise ParseError(f"{name} is given twice", path=path, line=line)
        values[nm[1]][index] = float(number)
    return _dense(values["X"], "X", path), _dense(values["Y"], "Y", path)


def _dense(values: dict[int, float], prefix: str, path: str) -> np.ndarray:
    n = max(values, default=-1) + 1
    missing = sorted(set(range(n)) - set(values))
    if n == 0 or missing:
        what = f"{prefix}_{missing[0]} is missing" if missing else f"no {prefix}_ value is given"
        raise ParseError(f"{what}: a counterexample lists {prefix}_0 .. {prefix}_<n-1>",
                         path=path)
    return np.array([values[i] for i in range(n)], dtype=np.float64)

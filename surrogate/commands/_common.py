"""Argument helpers shared by the CLI subcommands.

Every check a command can make on its arguments happens before its work starts (before a model is
trained, a network pruned, a MILP solved or a header printed): a bad argument then costs nothing
and nothing is half-written. The helpers here check input files (:func:`check_input_file`), output
files (:func:`check_output_file`) and output folders (:func:`check_output_dir`), and write files
atomically (:func:`write_json`, :func:`write_bytes_atomic`).

Output paths follow one rule in every command: missing parent folders are created (as
``mkdir -p`` would); a path that is a folder where a file is expected (or a file where a folder is
expected), a file used as a folder, and a place where we cannot write are refused before any work.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from surrogate.errors import InputError, ModelFileError
from surrogate.files import write_bytes_atomic, write_json
from surrogate.prune.checks import check_sparsity as sparsity_rule

__all__ = [
    "check_input_file",
    "clear_interrupt",
    "check_interrupt",
    "check_output_dir",
    "check_output_file",
    "check_positive",
    "check_sparsity",
    "float_list",
    "interrupted",
    "load_x0",
    "note_interrupt",
    "stderr_progress",
    "write_bytes_atomic",
    "write_json",
]


def float_list(text: str) -> list[float]:
    """``"0.3,0.5"`` -> ``[0.3, 0.5]`` (for argparse ``type=``)."""
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def check_positive(value: float | None, arg: str, what: str = "seconds") -> None:
    """``value`` (when given) must be a finite number > 0 (NaN and inf are refused)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InputError(f"{arg} must be a finite number of {what} > 0, got {value:g}")


def check_sparsity(value: float, arg: str, *, allow_zero: bool = True) -> None:
    """``value`` must lie in ``[0, 1)`` (``(0, 1)`` without ``allow_zero``): the rule of
    :func:`surrogate.prune.check_sparsity`, worded for the command line."""
    try:
        sparsity_rule(value, name=arg, allow_zero=allow_zero)
    except InputError as e:
        raise InputError(f"{e}: give e.g. 0.5 for 50%") from None


def check_input_file(path: str | Path, arg: str, what: str, example: str = "") -> Path:
    """An existing, readable file: not missing, not a folder."""
    p = Path(path)
    if p.is_dir():
        hint = f" (e.g. {p / example})" if example else ""
        raise ModelFileError(f"{arg} {p} is a directory, not {what}: give the file's path{hint}")
    if not p.exists():
        raise ModelFileError(f"{arg} {p} not found: check the path of {what}")
    if not os.access(p, os.R_OK):
        raise ModelFileError(f"{arg} {p} cannot be read (permission denied): make it readable")
    return p


def _first_existing(p: Path) -> Path:
    """``p`` or its nearest ancestor that exists."""
    q = p
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _writable_dir(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried for real: ``os.access`` says yes to
    root on read-only file systems)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".surrogate-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _check_parents(p: Path, arg: str) -> None:
    """The folder that will hold ``p`` exists or can be created, and can be written to."""
    base = _first_existing(p.parent)
    if not base.is_dir():
        raise InputError(
            f"{arg} {p}: {base} is a file, not a folder, so nothing can be written under it: "
            "choose another path"
        )
    if not _writable_dir(base):
        raise InputError(
            f"{arg} {p}: cannot write in {base} (read-only or permission denied): choose a "
            "writable place"
        )


def check_output_file(path: str | Path, arg: str, example: str = "out.json") -> Path:
    """A file a command will write: not a folder; its folder exists or can be created (missing
    folders are created when the file is written) and is writable."""
    p = Path(path)
    if p.is_dir():
        raise InputError(
            f"{arg} {p} is a directory: give a file name instead, e.g. {p / example}"
        )
    if str(path).endswith(("/", os.sep)):
        raise InputError(f"{arg} {path} ends in '/': give a file name, e.g. {p / example}")
    _check_parents(p, arg)
    return p


def check_output_dir(path: str | Path, arg: str) -> Path:
    """A folder a command will write into: not a file; it exists or can be created; writable."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(
            f"{arg} {p} is a file, not a folder: give a folder (it is created when missing)"
        )
    if p.is_dir():
        if not _writable_dir(p):
            raise InputError(
                f"{arg} {p}: cannot write in this folder (read-only or permission denied): "
                "choose a writable place"
            )
        return p
    _check_parents(p, arg)
    return p


def load_x0(path: str, n_inputs: int) -> np.ndarray:
    """An input point from ``.npy`` or a text file of numbers (whitespace/comma separated)."""
    p = check_input_file(path, "--x0", "an input point file (.npy or text)")
    try:
        x = np.load(p) if p.suffix == ".npy" else np.array(p.read_text().replace(",", " ").split(), float)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"--x0 {path}: cannot read an input point ({exc}): give a .npy array or a text file "
            "of numbers"
        ) from None
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size != n_inputs:
        raise InputError(
            f"--x0 {path} holds {x.size} numbers, the network takes {n_inputs} inputs: give "
            f"{n_inputs} numbers"
        )
    if not np.all(np.isfinite(x)):
        raise InputError(f"--x0 {path} holds NaN or inf values: give finite numbers")
    return x


class _Interrupt:
    """Whether Ctrl-C (SIGINT) was seen during this command (set by :mod:`surrogate.cli`)."""

    seen = False


def note_interrupt() -> None:
    _Interrupt.seen = True


def clear_interrupt() -> None:
    _Interrupt.seen = False


def interrupted() -> bool:
    return _Interrupt.seen


def check_interrupt(message: str = "") -> None:
    """A progress callback that prints nothing: raises KeyboardInterrupt once Ctrl-C was seen.

    Library code that catches an interruption halfway (a solver stopped by Ctrl-C may report a
    failure of its own) still calls its progress callback before the next step: the command then
    stops there instead of starting the next solve."""
    if _Interrupt.seen:
        raise KeyboardInterrupt


def stderr_progress(message: str) -> None:
    check_interrupt()
    print(message, file=sys.stderr, flush=True)

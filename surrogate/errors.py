"""One exception family for the whole library.

Every error subclasses :class:`SurrogateError` *and* the matching builtin, so callers may catch
either. Messages say what was wrong (with shapes and numbers) and what to do next. The CLI maps
``SurrogateError`` to exit status 2 and prints the message without a traceback.
"""

from __future__ import annotations

__all__ = [
    "SurrogateError",
    "InputError",
    "ModelFileError",
    "UnsupportedModelError",
    "ParseError",
    "SolverError",
]


class SurrogateError(Exception):
    """Base class of every error raised on purpose by ``surrogate``."""


class InputError(SurrogateError, ValueError):
    """A value given by the caller is out of range, of the wrong shape, or inconsistent."""


class ModelFileError(SurrogateError, FileNotFoundError):
    """A file is missing or cannot be read as what it should be (ONNX, VNN-LIB, results)."""


class UnsupportedModelError(SurrogateError, ValueError):
    """A network uses an operator or structure that ``surrogate`` does not encode."""


class ParseError(SurrogateError, ValueError):
    """A text file (VNN-LIB, sweep spec) has a syntax error; the message names the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:"
        if line is not None:
            where += f"{line}:"
        super().__init__(f"{where} {message}" if where else message)
        self.path = path
        self.line = line


class SolverError(SurrogateError, RuntimeError):
    """The MILP solver failed in a way that is not a normal outcome (a time limit is normal)."""

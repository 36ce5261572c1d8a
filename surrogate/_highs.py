"""A quiet ``highspy.Highs`` factory.

HiGHS prints a copyright banner on standard output (from C++, before any option can be set). That
would corrupt machine-readable output such as ``surrogate verify --json``, so every HiGHS object in
the project is made by :func:`new_highs`, which silences file descriptor 1 while it is constructed.
"""

from __future__ import annotations

import os
import sys
import threading

import highspy

__all__ = ["new_highs"]

_lock = threading.Lock()


def new_highs() -> highspy.Highs:
    """A ``highspy.Highs`` with ``output_flag`` off and nothing printed."""
    with _lock:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 1)
                h = highspy.Highs()
                h.setOptionValue("output_flag", False)
            finally:
                os.dup2(saved, 1)
                os.close(devnull)
        finally:
            os.close(saved)
    return h

"""A quiet ``highspy.Highs`` factory.

HiGHS prints a copyright banner on standard output (from C++, before any option can be set). That
would corrupt machine-readable output such as ``surrogate verify --json``, so every HiGHS object in
the project is made by :func:`new_highs`, which silences file descriptor 1 while it is constructed.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import highspy
import numpy as np

__all__ = ["highs_lp", "new_highs"]

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


def highs_lp(
    cost: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray, a: Any,
    row_lower: np.ndarray, row_upper: np.ndarray, *, integer: np.ndarray | None = None,
    offset: float = 0.0, maximize: bool = False,
) -> highspy.HighsLp:
    """A ``highspy.HighsLp`` of ``min/max cost.x + offset`` s.t. ``row_lower <= a x <=
    row_upper``, ``col_lower <= x <= col_upper`` (``a`` any scipy sparse matrix; ``integer``
    marks the integer columns). The one place the project builds a HiGHS model."""
    csc = a.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = int(csc.shape[1]), int(csc.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(row_upper, dtype=np.float64)
    lp.offset_ = float(offset)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = csc.indices.astype(np.int32)
    lp.a_matrix_.value_ = csc.data.astype(np.float64)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    if integer is not None and np.any(integer):
        lp.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                           for v in integer]
    return lp

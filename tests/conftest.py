"""Shared fixtures. ``../shared`` (benchmarks) is read in place, never copied into the repo.

The tests are grouped by layer, one folder each (``tests/network``, ``tests/bounds``, ...). The
helper modules they import by name are put on ``sys.path`` here, so any folder can import them and
a single folder can be run on its own: ``factories`` (seeded random networks and the small
hand-made ones, shared by every layer) and, in ``tests/soundness``, ``exact_oracle`` and
``soundness_cases``. Fixtures: ``vnncomp`` (the benchmark folder), ``mnist`` (VNN-COMP's
mnist_fc 256x2 and one of its boxes) and ``digits`` (the built-in data set).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from surrogate.network.spec import Network
from surrogate.sets import Box

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
for _helpers in (TESTS, TESTS / "soundness"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))
SHARED = Path(os.environ.get("SURROGATE_SHARED", REPO.parent / "shared"))
VNNCOMP = SHARED / "bench" / "vnncomp"


@pytest.fixture(scope="session")
def vnncomp() -> Path:
    """The VNN-COMP benchmark folder; tests that need it skip (with the reason) where absent.

    ``.ci/run`` fails outright when it is absent, so CI never passes by skipping these."""
    if not VNNCOMP.is_dir():
        reason = f"VNN-COMP benchmarks not found at {VNNCOMP} (set SURROGATE_SHARED)"
        if os.environ.get("SURROGATE_REQUIRE_SHARED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return VNNCOMP


def vnnlib_box(path: Path, n: int) -> Box:
    """The X bounds of a VNN-LIB file (``(assert (<= X_i v))`` / ``(>= X_i v)``), read with a
    regular expression, independently of the library's VNN-LIB reader."""
    text = path.read_text()
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    for op, i, v in re.findall(r"\(\s*(<=|>=)\s*X_(\d+)\s+([-+0-9.eE]+)\s*\)", text):
        (hi if op == "<=" else lo)[int(i)] = float(v)
    return Box(lo, hi)


@pytest.fixture(scope="session")
def mnist(vnncomp: Path) -> tuple[Network, Box]:
    """VNN-COMP's mnist_fc 256x2 network and the L-inf box of its property ``prop_0_0.03``."""
    from surrogate.network.onnx_io import read_onnx

    net = read_onnx(vnncomp / "mnist_fc" / "onnx" / "mnist-net_256x2.onnx")
    return net, vnnlib_box(vnncomp / "mnist_fc" / "vnnlib_2022" / "prop_0_0.03.vnnlib", 784)


@pytest.fixture(scope="session")
def digits():
    from surrogate.data import load_digits

    return load_digits()

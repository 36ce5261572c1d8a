"""Shared fixtures. ``../shared`` (benchmarks) is read in place, never copied into the repo.

The tests are grouped by layer, one folder each (``tests/network``, ``tests/bounds``, ...). The
helper modules they import by name (``exact_oracle`` and ``soundness_cases`` in
``tests/soundness``) are put on ``sys.path`` here, so any folder can import them and a single
folder can be run on its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def digits():
    from surrogate.data import load_digits

    return load_digits()

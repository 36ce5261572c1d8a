"""Shared fixtures. ``../shared`` (benchmarks) is read in place, never copied into the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
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

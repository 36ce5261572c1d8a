#!/usr/bin/env bash
# Set up (a virtual environment in .venv) and run the checks: ruff, mypy, pytest.
# Usage: bash scripts/test.sh [extra pytest args]      (e.g. -m slow for the long tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0 -e '.[test]'
echo "== ruff"
.venv/bin/python -m ruff check .
echo "== mypy"
.venv/bin/python -m mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"

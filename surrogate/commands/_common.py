"""Argument helpers shared by the CLI subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from surrogate.errors import InputError, ModelFileError

__all__ = ["float_list", "load_x0", "stderr_progress", "write_json"]


def float_list(text: str) -> list[float]:
    """``"0.3,0.5"`` -> ``[0.3, 0.5]`` (for argparse ``type=``)."""
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def load_x0(path: str, n_inputs: int) -> np.ndarray:
    """An input point from ``.npy`` or a text file of numbers (whitespace/comma separated)."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"input point file not found: {path}")
    try:
        x = np.load(p) if p.suffix == ".npy" else np.array(p.read_text().replace(",", " ").split(), float)
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot read an input point from {path}: {exc}") from None
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.size != n_inputs:
        raise InputError(f"{path} holds {x.size} numbers, the network takes {n_inputs} inputs")
    return x


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_json(path: str, payload: object) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    tmp.replace(p)

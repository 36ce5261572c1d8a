"""The images that local-robustness properties are centred on (VNN-COMP mnist_fc, eran).

A robustness property's input box is ``[max(lo, x - e), min(hi, x + e)]`` around an image ``x``
(pixels in ``[lo, hi] = [0, 1]``): its centre is not ``x`` where the box is clipped. The image is
recovered exactly instead: ``e`` is half the widest side, and each pixel is ``lower + e`` where
the box is not clipped below, else ``upper - e`` (a pixel at 0 has the box ``[0, e]``).
These images give the paper's Task 1 real MNIST inputs without downloading MNIST.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from surrogate.errors import InputError
from surrogate.vnnlib.parser import read_vnnlib

__all__ = ["SAME_IMAGE_TOL", "image_of_box", "property_images"]

#: Two recovered images closer than this (max abs pixel difference) are the same image.
SAME_IMAGE_TOL = 1e-5


def image_of_box(lower: np.ndarray, upper: np.ndarray, *, lo: float = 0.0,
                 hi: float = 1.0) -> np.ndarray:
    """The image ``x`` a box ``[max(lo, x - e), min(hi, x + e)]`` was made from (see the module
    docstring); InputError when the box is not of that form."""
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    width = upper - lower
    e = float(width.max()) / 2.0
    if not e > 0 or np.any(width < 0) or lower.min() < lo - 1e-9 or upper.max() > hi + 1e-9:
        raise InputError("the input box is not an L-inf ball around an image in "
                         f"[{lo:g}, {hi:g}]^n")
    x = np.where(lower > lo, lower + e, upper - e)
    return np.clip(x, lo, hi)


def property_images(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """The distinct images the ``.vnnlib`` properties under ``folder`` are centred on (the first
    input box of each), as ``(file name, image)`` in file-name order; an image two properties
    share (the same image at two radii) is listed once, under its first file."""
    root = Path(folder)
    files = sorted(root.rglob("*.vnnlib"), key=lambda p: p.relative_to(root).as_posix())
    if not files:
        raise InputError(f"no .vnnlib file under {folder}")
    out: list[tuple[str, np.ndarray]] = []
    for f in files:
        box = read_vnnlib(f).cases[0].box
        x = image_of_box(box.lower, box.upper)
        # boxes written in float32: the same image at two radii agrees to ~1e-7
        if not any(np.max(np.abs(x - y)) <= SAME_IMAGE_TOL for _, y in out):
            out.append((f.relative_to(root).as_posix(), x))
    return out

"""The argument checks of pruning, one copy each: sparsity, integers, floats, options, data.

:func:`check_sparsity` is *the* sparsity rule of the whole library (the CLI, benchmark specs,
``compare`` and ``verify`` call it too): a real number (numpy scalars included, ``bool`` refused)
in ``[0, 1)``, or in ``(0, 1)`` with ``allow_zero=False``. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral, Real

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network

__all__ = [
    "check_float",
    "check_int",
    "check_options",
    "check_rounds",
    "check_sparsity",
    "require_data",
]


def _shown(value: object) -> object:
    """``value`` as the user wrote it: numpy scalars as the Python number they hold."""
    return value.item() if isinstance(value, np.generic) else value


def check_sparsity(sparsity: object, *, name: str = "sparsity", allow_zero: bool = True) -> float:
    """``sparsity`` as a float in ``[0, 1)`` (``(0, 1)`` without ``allow_zero``).

    Raises InputError ``NAME must be a number in [0, 1), got X`` otherwise (NaN, inf, ``bool``
    and non-numbers included).
    """
    ok = (
        not isinstance(sparsity, bool)
        and isinstance(sparsity, Real)
        and (0.0 <= float(sparsity) if allow_zero else 0.0 < float(sparsity))
        and float(sparsity) < 1.0
    )
    if not ok:
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise InputError(f"{name} must be a number in {interval}, got {_shown(sparsity)!r}")
    return float(sparsity)  # type: ignore[arg-type]


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an int (``>= minimum`` when given); InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{name} must be an integer, got {_shown(value)!r}")
    if minimum is not None and int(value) < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {int(value)}")
    return int(value)


def check_rounds(rounds: object) -> int:
    """The number of pruning rounds: an integer >= 1."""
    return check_int("rounds", rounds, minimum=1)


def check_float(name: str, value: object, low: float, high: float = np.inf) -> float:
    """A float in ``[low, high]``; InputError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(f"{name} must be a number, got {_shown(value)!r}")
    if not (low <= float(value) <= high):
        raise InputError(f"{name} must be in [{low}, {high}], got {_shown(value)!r}")
    return float(value)


def check_options(owner: str, options: Mapping[str, object], known: Iterable[str]) -> None:
    """InputError when ``options`` hold names not in ``known`` (instead of a bare TypeError).

    ``owner`` names who refuses them, e.g. ``"pruning method 'bandit'"`` or ``"finetuning"``.
    """
    known = sorted(known)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(
            f"{owner} does not take option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(known)}"
        )


def require_data(method: str, data: object, network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``data = (x, y)`` for ``network``: ``x`` float ``(N, n_inputs)``, ``y`` int labels.

    Raises InputError (``method ... needs training data``) when ``data`` is None.
    """
    how = (
        f"pass data=(x, y) with x of shape (N, {network.n_inputs}) and integer class labels "
        f"y of shape (N,) in [0, {network.n_outputs})"
    )
    if data is None:
        raise InputError(f"method {method!r} needs training data: {how}")
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise InputError(f"method {method!r}: data must be a pair (x, y); {how}")
    x = np.asarray(data[0], dtype=np.float64)
    y = np.asarray(data[1])
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[1] != network.n_inputs or x.shape[0] == 0:
        raise InputError(f"method {method!r}: x has shape {x.shape}; {how}")
    if y.shape != (x.shape[0],):
        raise InputError(f"method {method!r}: y has shape {y.shape} for {x.shape[0]} inputs; {how}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"method {method!r}: x contains NaN or inf")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))):
            raise InputError(f"method {method!r}: y must hold integer class labels; {how}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= network.n_outputs:
        raise InputError(
            f"method {method!r}: labels range over [{y.min()}, {y.max()}] but the network has "
            f"{network.n_outputs} outputs; {how}"
        )
    return x, y

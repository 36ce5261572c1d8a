"""Built-in data: scikit-learn's 8x8 digits (ships with scikit-learn, works offline).

Images are scaled to ``[0, 1]`` and flattened to 64 features. The split is fixed by ``seed`` so
shipped models and tests agree on which images are test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_digits"]


@dataclass(frozen=True)
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = "digits"

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """The digits set, pixels in ``[0, 1]`` (64 features, 10 classes), split reproducibly."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test])


def accuracy(network: object, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a :class:`~surrogate.network.Network` on ``(x, y)``."""
    pred = network.predict(x)  # type: ignore[attr-defined]
    return float(np.mean(pred == y))

"""Evaluating an ONNX file with onnxruntime, as VNN-COMP does to confirm a counterexample.

This runs the file itself, independently of our reader (:mod:`surrogate.network.onnx_read`):
a counterexample found on the float64 :class:`~surrogate.network.spec.Network` is checked
against what the original model computes. onnxruntime is imported on first use only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import InputError, ModelFileError, UnsupportedModelError

__all__ = ["onnxruntime_forward"]

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
}


def _new_session(model: str | bytes, label: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's pybind errors share no public base class
        raise ModelFileError(f"{label} is not a valid ONNX model: {exc}") from exc


@functools.lru_cache(maxsize=64)
def _file_session(resolved: str, mtime_ns: int, size: int) -> Any:
    return _new_session(resolved, resolved)


@functools.lru_cache(maxsize=8)
def _bytes_session(data: bytes) -> Any:
    return _new_session(data, "<ONNX bytes>")


def _session(model: str | Path | bytes) -> tuple[Any, str]:
    if isinstance(model, bytes):
        return _bytes_session(model), "<ONNX bytes>"
    path = Path(model).resolve()
    if not path.is_file():
        raise ModelFileError(f"ONNX file not found: {path}")
    stat = path.stat()
    return _file_session(str(path), stat.st_mtime_ns, stat.st_size), str(path)


def onnxruntime_forward(model: str | Path | bytes, x: np.ndarray | Sequence[float]) -> np.ndarray:
    """Evaluate an ONNX model with onnxruntime on flattened inputs.

    ``x`` is one input ``(n_in,)`` or a batch ``(N, n_in)``; each sample is reshaped (C order) to
    the file's input shape and cast to its dtype. A symbolic batch axis takes the whole batch in one
    run; otherwise samples run one by one (e.g. a batch axis fixed at 1). Returns float64
    ``(N, n_out)``, or ``(n_out,)`` for one input. Sessions are cached per resolved path and
    modification time (one intra-op thread each).
    """
    session, label = _session(model)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"{label}: has {len(inputs)} inputs and {len(outputs)} outputs; exactly one of "
            "each is needed"
        )
    spec = inputs[0]
    dtype = _ORT_DTYPES.get(spec.type)
    if dtype is None:
        raise UnsupportedModelError(f"{label}: input '{spec.name}' has type {spec.type}, not float")
    dims = [d if isinstance(d, int) and d > 0 else None for d in spec.shape]
    batched = bool(dims) and dims[0] is None
    sample_dims = dims[1:] if batched else dims
    if any(d is None for d in sample_dims):
        raise UnsupportedModelError(
            f"{label}: input '{spec.name}' has shape {spec.shape}; only the batch axis may be "
            "symbolic"
        )
    sample_shape = tuple(int(d) for d in sample_dims if d is not None)
    n_in = math.prod(sample_shape)
    batch = np.asarray(x, dtype=np.float64)
    single = batch.ndim == 1
    batch = batch.reshape(1, -1) if single else batch
    if batch.ndim != 2 or batch.shape[1] != n_in:
        raise InputError(
            f"input of shape {np.shape(x)} does not fit {label}: it takes {n_in} values per sample "
            f"(input '{spec.name}' of shape {spec.shape}); pass (n_in,) or (N, n_in)"
        )
    feed = batch.astype(dtype)
    if batched:
        result = session.run(None, {spec.name: feed.reshape((len(feed),) + sample_shape)})[0]
        out = np.asarray(result, dtype=np.float64).reshape(len(feed), -1)
    else:
        runs = [session.run(None, {spec.name: row.reshape(sample_shape)})[0] for row in feed]
        out = np.stack([np.asarray(r, dtype=np.float64).reshape(-1) for r in runs])
    return out[0] if single else out

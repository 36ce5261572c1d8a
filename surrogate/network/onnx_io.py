"""ONNX in one import: the reader, the writer and onnxruntime evaluation.

A facade kept for the names users and tests import from here; each part lives in its own module:

- :mod:`surrogate.network.onnx_read`: :func:`read_onnx`, :func:`network_from_onnx`,
  :data:`SUPPORTED_OPS` (the graph walk; the op handlers are in :mod:`surrogate.network.onnx_ops`)
- :mod:`surrogate.network.onnx_write`: :func:`write_onnx`, :func:`network_to_onnx`,
  :func:`network_to_onnx_bytes`
- :mod:`surrogate.network.onnx_runtime`: :func:`onnxruntime_forward`

Code inside the package imports from those modules directly.
"""

from __future__ import annotations

from surrogate.network.onnx_read import SUPPORTED_OPS, network_from_onnx, read_onnx
from surrogate.network.onnx_runtime import onnxruntime_forward
from surrogate.network.onnx_write import network_to_onnx, network_to_onnx_bytes, write_onnx

__all__ = [
    "SUPPORTED_OPS",
    "network_from_onnx",
    "network_to_onnx",
    "network_to_onnx_bytes",
    "onnxruntime_forward",
    "read_onnx",
    "write_onnx",
]

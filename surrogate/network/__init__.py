"""Framework-free networks: the data model, ONNX and torch I/O."""

from surrogate.network.spec import Activation, DenseLayer, Network

__all__ = ["Activation", "DenseLayer", "Network", "read_onnx", "write_onnx"]


def __getattr__(name: str) -> object:
    # ONNX I/O is imported lazily so ``import surrogate.network`` stays light.
    if name in ("read_onnx", "write_onnx"):
        from surrogate.network import onnx_io

        return getattr(onnx_io, name)
    raise AttributeError(name)

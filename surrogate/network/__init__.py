"""Framework-free networks: the data model, ONNX and torch I/O."""

from surrogate.network.spec import Activation, DenseLayer, Network

__all__ = ["Activation", "DenseLayer", "Network", "read_onnx", "write_onnx"]


def __getattr__(name: str) -> object:
    # ONNX I/O is imported lazily so ``import surrogate.network`` stays light.
    if name == "read_onnx":
        from surrogate.network.onnx_read import read_onnx

        return read_onnx
    if name == "write_onnx":
        from surrogate.network.onnx_write import write_onnx

        return write_onnx
    raise AttributeError(name)

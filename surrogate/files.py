"""Writing files whole or not at all: a temporary file beside the target, renamed over it.

Every file the library or the commands write for a user goes through these, so a crash or Ctrl-C
never leaves a half-written file (the temporary file is removed) and a missing parent folder is
created.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_bytes_atomic", "write_json"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file beside ``path``, then rename it over ``path``; on any
    failure (or Ctrl-C) the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (missing parent folders are created)."""
    p = Path(path)
    _atomic(p, lambda tmp: tmp.write_bytes(data))
    return p


def write_json(path: str | Path, payload: object) -> Path:
    """Write ``payload`` as indented JSON, atomically (missing parent folders are created)."""
    text = json.dumps(payload, indent=2, default=float)
    p = Path(path)
    _atomic(p, lambda tmp: tmp.write_text(text))
    return p

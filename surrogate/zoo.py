"""The small trained networks shipped in ``models/``, by name or by path.

``models/models.json`` is a JSON list with one record per model: ``name``, ``file`` (the ONNX file
beside it), ``hidden`` (widths), ``seed``, ``epochs``, ``lr``, ``weight_decay``, ``batch_size`` and
the ``test_accuracy`` the model reaches on the digits test split. ``surrogate train --all``
rebuilds every file from these records and checks the accuracy, within
:data:`ACCURACY_TOLERANCE`: training is deterministic on one machine, but another CPU (other
BLAS / SIMD kernels, other summation orders) ends with slightly different weights, so a rebuild is
judged by what the model does, not by its bits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from surrogate.errors import InputError, ModelFileError
from surrogate.network.spec import Network

__all__ = [
    "ACCURACY_TOLERANCE",
    "MODELS_DIR",
    "ModelRecord",
    "accuracy_matches",
    "list_models",
    "load_model",
    "read_records",
    "write_records",
]

#: Where the shipped models live (the repository's ``models/`` folder).
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"

#: How far a rebuilt model's test accuracy may be from its record and still match it (0.01 is
#: 4.5 of the 449 test images). Retraining on another CPU moved the weights by up to 0.0063 but
#: left the accuracy equal; a wrong recipe (e.g. other epochs) moves it by several points.
ACCURACY_TOLERANCE = 0.01


def accuracy_matches(accuracy: float, recorded: float | None,
                     tolerance: float = ACCURACY_TOLERANCE) -> bool:
    """Whether ``accuracy`` matches the ``recorded`` one within ``tolerance`` (never for
    ``None``)."""
    return recorded is not None and abs(float(accuracy) - float(recorded)) <= tolerance + 1e-12

@dataclass(frozen=True)
class ModelRecord:
    """One entry of ``models.json``: how to rebuild a shipped model and what it must reach."""

    name: str
    hidden: tuple[int, ...]
    seed: int
    epochs: int
    test_accuracy: float | None
    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 64
    file: str = ""

    @property
    def filename(self) -> str:
        return self.file or f"{self.name}.onnx"

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["file"] = self.filename
        return out


_REQUIRED = ("name", "hidden", "seed", "epochs", "test_accuracy")


def read_records(models_dir: Path | str = MODELS_DIR) -> list[ModelRecord]:
    """The records of ``models_dir/models.json`` (ModelFileError if missing or malformed)."""
    path = Path(models_dir) / "models.json"
    if not path.is_file():
        raise ModelFileError(f"no model list at {path}; expected a models.json in {models_dir}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ModelFileError(f"{path} must hold a JSON list of model records (objects)")
    return [_record(rec, path, i) for i, rec in enumerate(raw)]


def write_records(records: list[ModelRecord], models_dir: Path | str = MODELS_DIR) -> Path:
    """Write ``models_dir/models.json`` (indented JSON list)."""
    import os
    import tempfile

    path = Path(models_dir) / "models.json"
    text = json.dumps([r.to_json() for r in records], indent=2) + "\n"
    fd, name = tempfile.mkstemp(prefix=".models.json.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(name, 0o644)
        os.replace(name, path)  # whole or not at all
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def _record(rec: dict[str, object], path: Path, i: int) -> ModelRecord:
    missing = [k for k in _REQUIRED if k not in rec]
    unknown = sorted(set(rec) - {f.name for f in fields(ModelRecord)})
    if missing or unknown:
        raise ModelFileError(
            f"{path}: record {i} lacks {missing} / has unknown keys {unknown}; "
            f"keys are {[f.name for f in fields(ModelRecord)]}"
        )
    try:
        acc = rec["test_accuracy"]
        return ModelRecord(
            name=str(rec["name"]),
            hidden=tuple(int(w) for w in rec["hidden"]),  # type: ignore[attr-defined]
            seed=int(rec["seed"]),  # type: ignore[call-overload]
            epochs=int(rec["epochs"]),  # type: ignore[call-overload]
            test_accuracy=None if acc is None else float(acc),  # type: ignore[arg-type]
            lr=float(rec.get("lr", 1e-3)),  # type: ignore[arg-type]
            weight_decay=float(rec.get("weight_decay", 1e-3)),  # type: ignore[arg-type]
            batch_size=int(rec.get("batch_size", 64)),  # type: ignore[call-overload]
            file=str(rec.get("file", "")),
        )
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: record {i} has a value of the wrong type ({exc})") from None


def list_models(models_dir: Path | str = MODELS_DIR) -> list[dict[str, object]]:
    """The shipped models' records as dicts, with ``path`` (the ONNX file's path) added."""
    return [
        {**rec.to_json(), "path": str(Path(models_dir) / rec.filename)}
        for rec in read_records(models_dir)
    ]


def model_path(name_or_path: str | Path, models_dir: Path | str = MODELS_DIR) -> Path:
    """The ONNX file behind a shipped model name, or the given path (checked to exist)."""
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.is_dir():
        raise ModelFileError(
            f"model {text} is a directory, not an ONNX file: give the path of an .onnx file or a "
            "shipped model name (digits-2x32, ...)"
        )
    if isinstance(name_or_path, Path) or candidate.is_file() or text.endswith(".onnx"):
        if not candidate.is_file():
            raise ModelFileError(
                f"model file {text} not found: check the path (or give a shipped model name)"
            )
        return candidate
    by_name = {str(rec["name"]): rec for rec in list_models(models_dir)}
    if text not in by_name:
        raise InputError(
            f"unknown model {text!r}; shipped models: {', '.join(sorted(by_name))} "
            "(or give the path of an .onnx file)"
        )
    return Path(str(by_name[text]["path"]))


def load_model(name_or_path: str | Path, models_dir: Path | str = MODELS_DIR) -> Network:
    """A shipped model by name (``"digits-2x32"``) or any ONNX file by path.

    A string naming an existing file, or ending in ``.onnx``, is read as a path; anything else
    must be the name of a shipped model (InputError listing the names otherwise).
    """
    from surrogate.network.onnx_read import read_onnx  # lazy: pulls in onnx (the CLI imports zoo at start-up)

    return read_onnx(model_path(name_or_path, models_dir))

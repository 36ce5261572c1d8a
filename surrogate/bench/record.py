"""The soundness regression record: the answers ``surrogate verify`` gives on the shared VNN-COMP
instances, kept in the repository so that a later change that flips one is caught.

A record is built from campaign stores (``surrogate bench run instances.csv --out DIR``): every
instance answered ``sat`` or ``unsat`` within the campaign's limit, with the counterexample of each
``sat`` (re-checked with float64 and onnxruntime when the record is built and whenever it is
checked). Paths are relative to the VNN-COMP folder, so the record is the same on every machine.

Checking a record (:func:`check_record`): every ``sat`` point is re-validated (no solving), and,
with ``rerun``, instances are verified again with the record's limit: a ``sat`` that becomes
``unsat`` or the reverse is a **flip** (one of the two answers is wrong); an answer that becomes
``timeout``/``unknown`` is only **lost** (reported, e.g. after a change that made a case slower or
a proof stricter).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.app.verify import check_counterexample, verify_instance
from surrogate.errors import InputError, ModelFileError
from surrogate.files import write_bytes_atomic
from surrogate.network.onnx_io import read_onnx
from surrogate.vnnlib.parser import read_vnnlib

__all__ = ["CheckReport", "RecordEntry", "build_record", "check_record", "read_record",
           "write_record"]


@dataclass(frozen=True)
class RecordEntry:
    benchmark: str  # the csv's folder, e.g. "acasxu"
    onnx: str  # relative to the VNN-COMP folder
    vnnlib: str
    result: str  # "sat" | "unsat"
    wall_s: float
    time_limit_s: float
    x: tuple[float, ...] | None = None  # the counterexample of a sat


@dataclass
class CheckReport:
    checked_sat: int = 0
    bad_sat: list[str] = field(default_factory=list)  # sat points that no longer check out
    rerun: int = 0
    flips: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.bad_sat or self.flips)


def _rel(path: str, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise InputError(
            f"{path} is not inside the VNN-COMP folder {root}: build the record from campaigns "
            "over that folder's instances.csv files"
        ) from None


def _rows(store: Path) -> Iterable[dict[str, Any]]:
    db = store / "results.sqlite"
    if not db.is_file():
        raise ModelFileError(f"{store} holds no results.sqlite: give folders written by "
                             "`surrogate bench run instances.csv --out DIR`")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for (record,) in con.execute(
            "SELECT record FROM results WHERE status = 'ok' AND config = 'dense' "
            "AND outcome IN ('sat', 'unsat') ORDER BY key"
        ):
            yield json.loads(record)
    finally:
        con.close()


def build_record(stores: Sequence[str | Path], vnncomp: str | Path) -> list[RecordEntry]:
    """Entries for every dense ``sat``/``unsat`` answer in the campaign ``stores``; every ``sat``
    is re-checked (:func:`check_sat`) and left out, loudly, if it does not hold."""
    root = Path(vnncomp)
    entries: dict[tuple[str, str], RecordEntry] = {}
    for store in stores:
        for rec in _rows(Path(store)):
            details = rec["details"]
            onnx, vnnlib = _rel(details["onnx"], root), _rel(details["vnnlib"], root)
            x = rec.get("counterexample_x")
            entry = RecordEntry(
                benchmark=onnx.split("/")[0], onnx=onnx, vnnlib=vnnlib, result=rec["result"],
                wall_s=float(rec["wall_s"]), time_limit_s=float(details["time_limit_s"]),
                x=None if x is None else tuple(float(v) for v in x),
            )
            if entry.result == "sat" and not check_sat(entry, root):
                raise InputError(f"{onnx} {vnnlib}: the stored counterexample does not check out")
            key = (onnx, vnnlib)
            if key in entries and entries[key].result != entry.result:
                raise InputError(f"{onnx} {vnnlib}: answered both {entries[key].result} and "
                                 f"{entry.result} in the stores given")
            entries[key] = entry
    return sorted(entries.values(), key=lambda e: (e.benchmark, e.onnx, e.vnnlib))


def write_record(entries: Sequence[RecordEntry], path: str | Path) -> Path:
    """The record as gzip'd JSON (sorted, one entry per instance)."""
    payload = {"format": "surrogate soundness record 1",
               "entries": [asdict(e) for e in entries]}
    data = gzip.compress(json.dumps(payload, indent=0).encode(), mtime=0)
    return write_bytes_atomic(path, data)


def read_record(path: str | Path) -> list[RecordEntry]:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"record {p} not found: build one with `surrogate bench record`")
    try:
        payload = json.loads(gzip.decompress(p.read_bytes()))
        return [RecordEntry(**{**e, "x": None if e["x"] is None else tuple(e["x"])})
                for e in payload["entries"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{p} is not a soundness record ({exc})") from None


def check_sat(entry: RecordEntry, vnncomp: Path) -> bool:
    """Does the entry's point still meet the property on float64 and onnxruntime, in some case?"""
    if entry.x is None:
        return False
    net = read_onnx(vnncomp / entry.onnx)
    prop = read_vnnlib(vnncomp / entry.vnnlib, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    x = np.asarray(entry.x, dtype=np.float64)
    for case in prop.cases:
        if case.box.contains(x, tol=0.0):
            ok, _, _ = check_counterexample(vnncomp / entry.onnx, net, case, x)
            if ok:
                return True
    return False


def check_record(
    entries: Sequence[RecordEntry], vnncomp: str | Path, *, rerun: bool = False,
    select: Callable[[RecordEntry], bool] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CheckReport:
    """Re-validate every ``sat`` point; with ``rerun``, verify the (selected) instances again with
    their recorded limit and report flips and lost answers (see the module docstring)."""
    root = Path(vnncomp)
    report = CheckReport()
    for e in entries:
        if e.result == "sat":
            report.checked_sat += 1
            if not check_sat(e, root):
                report.bad_sat.append(f"{e.onnx} {e.vnnlib}")
    if not rerun:
        return report
    chosen = [e for e in entries if select is None or select(e)]
    for i, e in enumerate(chosen):
        res = verify_instance(root / e.onnx, root / e.vnnlib, time_limit_s=e.time_limit_s)
        report.rerun += 1
        name = f"{e.onnx} {e.vnnlib}"
        if res.result in ("sat", "unsat") and res.result != e.result:
            report.flips.append(f"{name}: recorded {e.result}, now {res.result}")
        elif res.result != e.result:
            report.lost.append(f"{name}: recorded {e.result}, now {res.result}")
        if progress is not None:
            progress(f"[{i + 1}/{len(chosen)}] {name}: {res.result} (recorded {e.result})")
    return report

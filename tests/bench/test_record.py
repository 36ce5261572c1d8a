"""The soundness regression record (tests/data/vnncomp_record.json.gz): the answers `surrogate
verify` gave on the shared VNN-COMP instances. Every sat point is re-checked on every run; a
sample of instances is verified again by default and all of them with ``-m slow``: a flipped
answer (sat <-> unsat) fails. See docs/verify.md, "The soundness regression record"."""

from __future__ import annotations

from pathlib import Path

import pytest

from surrogate.bench.record import RecordEntry, check_record, read_record

RECORD = Path(__file__).resolve().parents[1] / "data" / "vnncomp_record.json.gz"


@pytest.fixture(scope="module")
def entries() -> list[RecordEntry]:
    return read_record(RECORD)


def test_the_record_covers_every_benchmark_folder(entries: list[RecordEntry], vnncomp: Path
                                                  ) -> None:
    folders = {p.name for p in vnncomp.iterdir() if p.is_dir()}
    assert {e.benchmark for e in entries} == folders
    assert {e.result for e in entries} == {"sat", "unsat"}
    assert len({(e.onnx, e.vnnlib) for e in entries}) == len(entries)  # one answer per instance
    for e in entries:
        assert (vnncomp / e.onnx).is_file() and (vnncomp / e.vnnlib).is_file()
        assert (e.x is not None) == (e.result == "sat")


def test_every_sat_point_in_the_record_still_checks_out(entries: list[RecordEntry],
                                                        vnncomp: Path) -> None:
    report = check_record(entries, vnncomp)
    assert report.bad_sat == []
    assert report.checked_sat == sum(e.result == "sat" for e in entries) > 100


def _sample(entries: list[RecordEntry]) -> set[tuple[str, str]]:
    """Per benchmark, the two quickest unsat and the quickest sat answers (seconds each)."""
    chosen: set[tuple[str, str]] = set()
    for bench in sorted({e.benchmark for e in entries}):
        for result, k in (("unsat", 2), ("sat", 1)):
            mine = sorted((e for e in entries if e.benchmark == bench and e.result == result),
                          key=lambda e: (e.wall_s, e.vnnlib))
            chosen.update((e.onnx, e.vnnlib) for e in mine[:k])
    return chosen


def test_a_sample_of_the_record_is_answered_the_same_way(entries: list[RecordEntry],
                                                         vnncomp: Path) -> None:
    chosen = _sample(entries)
    report = check_record(entries, vnncomp, rerun=True,
                          select=lambda e: (e.onnx, e.vnnlib) in chosen)
    assert report.rerun == len(chosen) >= 12
    assert report.flips == []
    assert len(report.lost) <= 1, report.lost  # quick answers stay answered (one spare: load)


@pytest.mark.slow
def test_every_recorded_answer_is_given_again(entries: list[RecordEntry], vnncomp: Path) -> None:
    report = check_record(entries, vnncomp, rerun=True, progress=print)
    print(f"{report.rerun} re-run: {len(report.flips)} flips, {len(report.lost)} lost")
    for line in report.lost:
        print("lost", line)
    assert report.flips == []

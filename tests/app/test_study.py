"""The pruning study reports real accuracies and MILP sizes."""

from __future__ import annotations

import numpy as np

from surrogate.app.study import live_neurons, pruning_study, write_study
from surrogate.zoo import load_model


def test_study_rows_and_files(tmp_path, digits) -> None:
    rows = pruning_study(["digits-2x32"], methods=["magnitude", "structured"], sparsities=[0.9])
    by = {r["method"]: r for r in rows}
    assert set(by) == {"dense", "exact", "magnitude", "structured"}
    dense = load_model("digits-2x32")
    assert by["dense"]["accuracy"] == float(np.mean(dense.predict(digits.x_test) == digits.y_test))
    # exact compression never changes accuracy; pruning shrinks the MILP
    assert by["exact"]["accuracy"] == by["dense"]["accuracy"]
    assert by["magnitude"]["nonzeros"] < by["dense"]["nonzeros"]
    assert by["structured"]["binaries"] < by["dense"]["binaries"]
    assert by["structured"]["neurons"] == 64 - 2 * round(0.9 * 32)
    path = write_study(rows, tmp_path)
    text = path.read_text()
    assert "| structured | 0.9 |" in text
    assert (tmp_path / "pruning-study-digits-2x32.png").stat().st_size > 1000
    assert len((tmp_path / "pruning-study.csv").read_text().splitlines()) == len(rows) + 1


def test_live_neurons_counts_removed_ones() -> None:
    net = load_model("digits-2x32")
    assert live_neurons(net) == 64

"""Training digits MLPs, the shipped models, and ``surrogate train``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from surrogate.cli import main
from surrogate.data import Dataset
from surrogate.errors import InputError, ModelFileError
from surrogate.network.onnx_io import onnxruntime_forward, read_onnx
from surrogate.train import DATASET_DESCRIPTION, EpochStats, model_name, train_mlp
from surrogate.zoo import (
    ACCURACY_TOLERANCE,
    MODELS_DIR,
    accuracy_matches,
    list_models,
    load_model,
    read_records,
)

RECORDS = json.loads((MODELS_DIR / "models.json").read_text())


def _accuracy(network: object, data: Dataset) -> float:
    return float(np.mean(network.predict(data.x_test) == data.y_test))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------- train_mlp
def test_train_mlp_learns_digits_in_a_few_epochs(digits: Dataset) -> None:
    net = train_mlp([64, 64], digits, epochs=5, lr=1e-2)
    assert net.widths == [64, 64, 64, 10]
    assert [lay.activation for lay in net.layers] == ["relu", "relu", "linear"]
    acc = _accuracy(net, digits)
    assert acc > 0.9
    assert net.name == "digits-2x64"
    assert net.metadata == {
        "architecture": [64, 64, 64, 10],
        "seed": 0,
        "epochs": 5,
        "lr": 1e-2,
        "weight_decay": 1e-3,
        "batch_size": 64,
        "test_accuracy": acc,
        "dataset": DATASET_DESCRIPTION,
        "input_domain": [0.0, 1.0],
    }


def test_train_mlp_is_deterministic_per_seed_and_leaves_torch_state(digits: Dataset) -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a = train_mlp([16], digits, epochs=2, seed=5)
    assert torch.equal(torch.rand(3), expected_draw)  # the caller's RNG stream is untouched
    assert torch.get_num_threads() == threads
    b = train_mlp([16], digits, epochs=2, seed=5)
    c = train_mlp([16], digits, epochs=2, seed=6)
    for la, lb in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
    assert not np.array_equal(a.layers[0].weight, c.layers[0].weight)


def test_train_mlp_reports_progress_each_epoch(digits: Dataset) -> None:
    seen: list[EpochStats] = []
    train_mlp([8], digits, epochs=3, progress=seen.append)
    assert [(s.epoch, s.epochs) for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(s.mean_loss > 0 and 0 <= s.train_accuracy <= 1 for s in seen)
    assert seen[-1].mean_loss < seen[0].mean_loss


def test_train_mlp_rejects_bad_arguments(digits: Dataset) -> None:
    with pytest.raises(InputError, match=r"hidden must be one or more positive integer widths"):
        train_mlp([], digits)
    with pytest.raises(InputError, match=r"hidden must be one or more .* got \[32, 0\]"):
        train_mlp([32, 0], digits)
    with pytest.raises(InputError, match=r"epochs must be >= 1, got 0"):
        train_mlp([8], digits, epochs=0)
    with pytest.raises(InputError, match=r"lr must be a positive number, got -0.1"):
        train_mlp([8], digits, lr=-0.1)
    with pytest.raises(InputError, match=r"batch_size must be an integer, got 6.4"):
        train_mlp([8], digits, batch_size=6.4)  # type: ignore[arg-type]


def test_model_names() -> None:
    assert model_name([32, 32]) == "digits-2x32"
    assert model_name([64, 32]) == "digits-64-32"


# ---------------------------------------------------------------------------- shipped models
@pytest.mark.parametrize("record", RECORDS, ids=[r["name"] for r in RECORDS])
def test_shipped_model_loads_and_reaches_its_recorded_accuracy(
    record: dict[str, object], digits: Dataset
) -> None:
    net = load_model(str(record["name"]))
    assert net.widths == [64, *record["hidden"], 10]  # type: ignore[misc]
    # fixed weights, but the float64 forward pass sums through BLAS: allow one test image of
    # difference (a near-tie decided the other way on another CPU), not more
    assert abs(_accuracy(net, digits) - record["test_accuracy"]) <= 1 / len(digits.y_test) + 1e-12
    assert net.metadata["test_accuracy"] == record["test_accuracy"]
    assert net.metadata["seed"] == record["seed"] and net.metadata["epochs"] == record["epochs"]
    # the file computes what the Network computes (float32 file vs float64 forward pass)
    path = MODELS_DIR / str(record["file"])
    np.testing.assert_allclose(
        onnxruntime_forward(path, digits.x_test), net.forward(digits.x_test), atol=1e-4
    )


def test_shipped_set_is_the_paper_grid() -> None:
    assert sorted(r["name"] for r in RECORDS) == [
        "digits-2x32",
        "digits-2x64",
        "digits-4x32",
        "digits-4x64",
    ]
    assert [m["name"] for m in list_models()] == [r["name"] for r in RECORDS]
    assert all(Path(str(m["path"])).is_file() for m in list_models())


def test_load_model_by_path_and_errors(tmp_path: Path) -> None:
    by_path = load_model(MODELS_DIR / "digits-2x32.onnx")
    by_name = load_model("digits-2x32")
    np.testing.assert_array_equal(by_path.layers[0].weight, by_name.layers[0].weight)
    with pytest.raises(
        InputError,
        match=r"unknown model 'digits-3x3'; shipped models: digits-2x32, digits-2x64, "
        r"digits-4x32, digits-4x64 \(or give the path of an .onnx file\)",
    ):
        load_model("digits-3x3")
    with pytest.raises(ModelFileError, match=r"model file .*missing.onnx not found"):
        load_model(str(tmp_path / "missing.onnx"))
    (tmp_path / "models.json").write_text('[{"name": "x", "hidden": [4]}]')
    with pytest.raises(ModelFileError, match=r"record 0 lacks \['seed', 'epochs', 'test_acc"):
        read_records(tmp_path)


# ----------------------------------------------------------------------------------- the CLI
def test_cli_rebuild_reproduces_a_shipped_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], digits: Dataset
) -> None:
    """By behaviour, not bits (bit-identical weights are not portable across CPUs: another CPU
    moved 1947 of 2048 weights by up to 0.0063 at equal accuracy): the same architecture, the
    recorded accuracy within the tolerance, and the same result twice on this machine."""
    record = next(r for r in RECORDS if r["name"] == "digits-2x32")
    rebuilt = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        shutil.copy(MODELS_DIR / "models.json", folder / "models.json")
        code = main(["train", "--all", "--models-dir", str(folder), "--only", "digits-2x32"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert re.search(r"digits-2x32: test accuracy 0\.\d{4} \(matches the record", out), out
        assert "digits-2x32 epoch 20/100: loss" in out
        assert not (folder / "digits-4x64.onnx").exists()  # --only
        rebuilt.append(read_onnx(folder / "digits-2x32.onnx"))
    shipped = load_model("digits-2x32")
    for net in rebuilt:
        assert net.widths == shipped.widths == [64, 32, 32, 10]
        assert [la.activation for la in net.layers] == [la.activation for la in shipped.layers]
        assert abs(_accuracy(net, digits) - float(record["test_accuracy"])) <= ACCURACY_TOLERANCE
        assert net.metadata["test_accuracy"] == _accuracy(net, digits)
    for a, b in zip(*(net.layers for net in rebuilt), strict=True):  # deterministic here
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_rebuild_judgement_uses_the_accuracy_tolerance() -> None:
    assert ACCURACY_TOLERANCE == 0.01
    assert accuracy_matches(0.9577, 0.9577)
    assert accuracy_matches(0.9577 - 0.0099, 0.9577) and accuracy_matches(0.9677, 0.9577)
    assert not accuracy_matches(0.9577 - 0.0111, 0.9577)
    assert not accuracy_matches(0.9577, None)


def test_cli_rebuild_within_tolerance_matches_and_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record off by less than the tolerance (as on another CPU) still matches: exit 0."""
    rec = next(r for r in RECORDS if r["name"] == "digits-2x32")
    shifted = float(rec["test_accuracy"]) - 0.005
    (tmp_path / "models.json").write_text(json.dumps([{**rec, "test_accuracy": shifted}]))
    assert main(["train", "--all", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"(matches the record {shifted:.4f} within 0.01)" in out
    assert (tmp_path / "digits-2x32.onnx").is_file()
    assert read_records(tmp_path)[0].test_accuracy == shifted  # the record is left as it was


def test_cli_rebuild_flags_a_mismatch_and_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{**RECORDS[0], "epochs": 2}]  # the record no longer matches its accuracy
    (tmp_path / "models.json").write_text(json.dumps(records))
    assert main(["train", "--all", "--models-dir", str(tmp_path)]) == 1
    assert "MISMATCH, file left unchanged" in capsys.readouterr().out
    assert not (tmp_path / str(RECORDS[0]["file"])).exists()
    assert main(["train", "--all", "--models-dir", str(tmp_path), "--record"]) == 0
    recorded = read_records(tmp_path)[0]
    assert recorded.test_accuracy == _accuracy(read_onnx(tmp_path / recorded.filename), _digits())


def _digits() -> Dataset:
    from surrogate.data import load_digits

    return load_digits()


def test_cli_train_one_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    assert (
        main(["train", "--hidden", "16", "8", "--epochs", "2", "--seed", "3", "-o", str(out)]) == 0
    )
    net = read_onnx(out)
    assert net.widths == [64, 16, 8, 10]
    assert (net.metadata["epochs"], net.metadata["seed"]) == (2, 3)
    assert f"digits-16-8: test accuracy {net.metadata['test_accuracy']:.4f} -> {out}" in (
        capsys.readouterr().out
    )
    assert main(["train", "--hidden", "16"]) == 2
    assert "give --hidden W [W ...] and -o OUT.onnx (or --all)" in capsys.readouterr().err
    assert main(["train", "--all", "--hidden", "16"]) == 2
    assert "--all rebuilds the listed models" in capsys.readouterr().err

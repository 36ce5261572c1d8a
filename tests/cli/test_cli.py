"""The `surrogate` command line: the compare report, JSON records, one-line errors (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from surrogate.cli import main


def test_compare_prints_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "runs.json"
    rc = main([
        "compare", "--model", "digits-2x32", "--norm", "linf", "--eps", "0.3", "--target", "any",
        "--sparsities", "0.5", "--time-limit", "20", "--json-out", str(out),
    ])
    assert rc == 0
    text = capsys.readouterr().out
    assert "variant" in text and "magnitude@0.5" in text and "dense" in text
    # the legend under the table
    assert "  t_adv_s       time to the first dense adversarial" in text
    assert "  best_dense    lowest MILP objective found, evaluated on the dense network: the margin" in text
    assert "sat needs any class change" in text
    assert "for a pruned row it bounds the SURROGATE" in text
    assert "stopped (ended early on purpose" in text
    runs = json.loads(out.read_text())["runs"]
    assert [r["label"] for r in runs] == ["dense", "magnitude@0.5", "portfolio"]
    # eps 0.3 in L-inf is far beyond this model's robustness: the dense MILP and the portfolio
    # find a dense adversarial
    from surrogate.data import load_digits
    from surrogate.zoo import load_model

    net = load_model("digits-2x32")
    x0 = load_digits().x_test[0]
    for r in (runs[0], runs[2]):
        assert r["verdict"] == "sat"
        x = np.array(r["counterexample_x"])
        assert np.max(np.abs(x - x0)) <= 0.3 + 1e-9 and x.min() >= 0 and x.max() <= 1
        assert int(np.argmax(net.forward(x))) != int(np.argmax(net.forward(x0)))
    assert "portfolio: first dense adversarial after" in text
    for r in runs:
        assert r["size"]["binaries"] <= r["neurons"]["relus"]
        assert r["total_s"] >= r["setup_s"]


def test_compare_maximize_task(capsys) -> None:
    rc = main(["compare", "--model", "digits-2x32", "--task", "maximize", "--output", "2",
               "--sparsities", "0.8", "--time-limit", "3"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "best dense objective" in text
    assert "  best_dense    best objective found, evaluated on the dense network" in text
    assert "portfolio" in text.split("columns")[0]  # its row in the table
    assert "t_adv_s" not in text


def test_compare_json_flag_prints_one_object_and_json_out_writes_it(tmp_path, capfd) -> None:
    """--json: one JSON object on stdout (no table); --json-out FILE: the same object in a file."""
    out = tmp_path / "sub" / "runs.json"
    rc = main(["compare", "--model", "digits-2x32", "--task", "maximize", "--sparsities", "0.8",
               "--time-limit", "1", "--json", "--json-out", str(out), "--no-portfolio"])
    assert rc == 0
    stdout, stderr = capfd.readouterr()
    record = json.loads(stdout)  # stdout is exactly one JSON object
    assert json.loads(out.read_text()) == record
    assert [r["label"] for r in record["runs"]] == ["dense", "magnitude@0.8"]
    assert record["task"] == "maximize" and record["model"] == "digits-2x32"
    assert record["conclusion"].startswith("best dense objective")
    assert "network: digits-2x32" in stderr  # the header goes to stderr with --json


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "surrogate", *args], capture_output=True, text=True,
                          timeout=120)


def test_errors_are_one_line_with_exit_2(tmp_path) -> None:
    missing = run_cli("compare", "--model", str(tmp_path / "nope.onnx"))
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("surrogate compare: error:")
    assert "nope.onnx" in missing.stderr

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model at all")
    r = run_cli("compare", "--model", str(bad))
    assert r.returncode == 2 and "is not a valid ONNX model" in r.stderr and "Traceback" not in r.stderr

    r = run_cli("compare", "--eps", "-1")
    assert r.returncode == 2 and "--eps must be a finite number >= 0, got -1" in r.stderr

    r = run_cli("compare", "--sparsities", "0.5,1.5")
    assert r.returncode == 2 and "--sparsities must be a number in [0, 1), got 1.5" in r.stderr

    r = run_cli("compare", "--image", "100000")
    assert r.returncode == 2 and "--image must be in [0, 449), got 100000" in r.stderr

    r = run_cli("compare", "--time-limit", "0")
    assert r.returncode == 2 and "--time-limit must be a finite number of seconds > 0" in r.stderr


def test_no_command_prints_help() -> None:
    r = run_cli()
    assert r.returncode == 2
    assert "compare" in r.stdout


# ----------------------------------------------------------------------------------- Ctrl-C
def _interrupt_after(args: list[str], ready: str, stream: str, delay_s: float):
    """Start ``surrogate ARGS``, wait for a line holding ``ready`` on ``stream``, wait ``delay_s``,
    send SIGINT; returns (exit status, stdout, stderr, seconds from SIGINT to exit)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "surrogate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    pipe = proc.stderr if stream == "stderr" else proc.stdout
    assert pipe is not None
    try:
        for line in pipe:
            seen.append(line)
            if ready in line:
                break
        else:
            raise AssertionError(f"never saw {ready!r}: {''.join(seen)}")
        time.sleep(delay_s)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.perf_counter() - t0
    finally:
        proc.kill()
    if stream == "stderr":
        err = "".join(seen) + err
    else:
        out = "".join(seen) + out
    return proc.returncode, out, err, waited


def test_ctrl_c_during_compare_solve_exits_130() -> None:
    """SIGINT while HiGHS solves the dense MILP (20 s limit): 'interrupted', exit 130, at once,
    no table, no traceback, no solver error."""
    code, out, err, waited = _interrupt_after(
        ["compare", "--sparsities", "0.5", "--time-limit", "20"], "[1/3] dense: solving",
        "stderr", 1.0)
    assert code == 130, err
    assert err.rstrip().splitlines()[-1] == "surrogate compare: interrupted"
    assert "Traceback" not in err and "HiGHS failed" not in err and "error" not in err
    assert "variant" not in out  # no table of half the runs
    assert "[2/3]" not in err and waited < 5  # the next run was not started


def test_ctrl_c_during_training_exits_130(tmp_path) -> None:
    out_file = tmp_path / "m.onnx"
    code, out, err, _ = _interrupt_after(
        ["train", "--hidden", "64", "64", "--epochs", "500", "-o", str(out_file)], "epoch",
        "stdout", 0.2)
    assert code == 130, err
    assert err.strip() == "surrogate train: interrupted"
    assert not out_file.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


def test_ctrl_c_during_the_verify_portfolio_exits_130(vnncomp) -> None:
    """SIGINT while the portfolio runs (the dense MILP in its own thread, the local search in the
    main one): 'interrupted', exit 130, no traceback, no verdict."""
    net = vnncomp / "mnist_fc/onnx/mnist-net_256x4.onnx"
    prop = vnncomp / "mnist_fc/vnnlib_2022/prop_0_0.05.vnnlib"  # no answer within seconds
    code, out, err, waited = _interrupt_after(
        ["verify", str(net), str(prop), "--time-limit", "30"], "portfolio (budget", "stderr", 2.0)
    assert code == 130, err
    assert err.rstrip().splitlines()[-1] == "surrogate verify: interrupted"
    assert "Traceback" not in err and "Fatal" not in err
    assert out == "" and waited < 5

"""``verify_instance`` and ``surrogate verify`` on real VNN-COMP instances.

Known answers (``KNOWN``) are the VNN-COMP 2022 verdicts (alpha-beta-CROWN's ``results.csv`` for
``mnist_fc`` and ``rl_benchmarks`` in the competition's published results repository); the
``test/`` folder's answers are derived in the tests themselves (file names ``test_sat`` /
``test_unsat``, and independent arguments for ``test_nano``, ``test_tiny`` and ``test_small``).
Every ``sat`` is re-checked here with onnxruntime against the property.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from surrogate.app.verify import (
    MILP_MAX_UNSTABLE,
    VerifyResult,
    check_counterexample,
    verify_instance,
)
from surrogate.cli import main
from surrogate.errors import InputError, ModelFileError, UnsupportedModelError
from surrogate.network.onnx_io import onnxruntime_forward, read_onnx
from surrogate.network.spec import Network
from surrogate.problems.vnnlib_problem import problems_from_property
from surrogate.vnnlib import read_counterexample, read_vnnlib

MNIST_NET = "mnist_fc/onnx/mnist-net_256x2.onnx"
CARTPOLE = "rl_benchmarks/onnx/cartpole.onnx"

# (network, property) -> VNN-COMP 2022 verdict
KNOWN = {
    (MNIST_NET, "mnist_fc/vnnlib_2022/prop_0_0.03.vnnlib"): "unsat",
    (MNIST_NET, "mnist_fc/vnnlib_2022/prop_1_0.03.vnnlib"): "sat",
    (MNIST_NET, "mnist_fc/vnnlib_2022/prop_2_0.03.vnnlib"): "sat",
    (CARTPOLE, "rl_benchmarks/vnnlib/cartpole_case_unsafe_0.vnnlib"): "unsat",
    (CARTPOLE, "rl_benchmarks/vnnlib/cartpole_case_safe_9.vnnlib"): "unsat",
    (CARTPOLE, "rl_benchmarks/vnnlib/cartpole_case_unsafe_29.vnnlib"): "sat",
}


def assert_checked_sat(res: VerifyResult, onnx: Path, vnnlib: Path) -> None:
    """The counterexample is in a box of the property (tolerance 0), its y is onnxruntime's own
    output, and that output lies in the unsafe set."""
    assert res.result == "sat"
    assert res.counterexample_x is not None and res.counterexample_y is not None
    x = np.array(res.counterexample_x)
    y_ort = onnxruntime_forward(onnx, x)
    np.testing.assert_array_equal(np.array(res.counterexample_y), y_ort)
    prop = read_vnnlib(vnnlib)
    assert prop.cases_containing(x, tol=0.0), "the counterexample lies outside every input box"
    assert prop.is_counterexample(x, y_ort, tol=1e-6)


# ------------------------------------------------------------------ problems_from_property
def test_acas_prop6_gives_one_problem_per_input_box(vnncomp: Path) -> None:
    net = read_onnx(vnncomp / "acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx")
    prop = read_vnnlib(vnncomp / "acasxu/vnnlib/prop_6.vnnlib")
    problems = problems_from_property(net, prop)
    assert len(prop.cases) == 2 and len(problems) == 2
    for case, problem in zip(prop.cases, problems, strict=True):
        np.testing.assert_array_equal(problem.input_set.lower, case.box.lower)
        np.testing.assert_array_equal(problem.input_set.upper, case.box.upper)
        assert problem.judge == "unsafe"
        assert len(problem.unsafe) == len(case.unsafe)
        for conj, out in zip(problem.unsafe, case.unsafe, strict=True):
            np.testing.assert_array_equal(conj.C, out.C)
            np.testing.assert_array_equal(conj.d, out.d)


def test_problems_from_property_rejects_a_property_of_another_size(vnncomp: Path) -> None:
    net = read_onnx(vnncomp / "test/test_nano.onnx")
    prop = read_vnnlib(vnncomp / "test/test_prop.vnnlib")
    with pytest.raises(InputError, match="declares 5 inputs and 5 outputs, the network takes 1"):
        problems_from_property(net, prop)


def test_an_output_free_case_makes_every_box_point_a_counterexample(
    vnncomp: Path, tmp_path: Path
) -> None:
    prop_file = tmp_path / "always.vnnlib"
    prop_file.write_text(
        "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n"
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
    )
    onnx = vnncomp / "test/test_nano.onnx"
    (problem,) = problems_from_property(read_onnx(onnx), read_vnnlib(prop_file))
    np.testing.assert_array_equal(problem.unsafe[0].C, np.zeros((1, 1)))
    res = verify_instance(onnx, prop_file, time_limit_s=10)
    assert_checked_sat(res, onnx, prop_file)


# ------------------------------------------------------------------ the test/ folder
def _lipschitz_upper_bound(onnx: Path, lo: float, hi: float, n: int = 20001) -> float:
    """A rigorous upper bound of a 1-input network's output on [lo, hi]: the maximum on a grid
    plus (Lipschitz constant) x (half the grid step); ReLU is 1-Lipschitz."""
    net = read_onnx(onnx)
    assert net.n_inputs == 1 and net.n_outputs == 1
    grid = np.linspace(lo, hi, n)
    lipschitz = float(np.prod([np.linalg.norm(layer.weight, 2) for layer in net.layers]))
    return float(net.forward(grid[:, None]).max()) + lipschitz * (hi - lo) / (n - 1) / 2


@pytest.mark.parametrize("strategy", ["bab", "milp"])
def test_test_folder_nano_is_unsat_because_its_output_is_a_relu(vnncomp: Path,
                                                                  strategy: str) -> None:
    onnx, vnnlib = vnncomp / "test/test_nano.onnx", vnncomp / "test/test_nano.vnnlib"
    # unsafe: Y_0 <= -1; the output layer is a ReLU, so Y_0 >= 0 everywhere (both proof routes
    # must know it: the MILP's output rows and the branch and bound's output relaxation)
    assert read_onnx(onnx).layers[-1].activation == "relu"
    res = verify_instance(onnx, vnnlib, time_limit_s=30, strategy=strategy)
    assert (res.result, res.method, res.cases) == ("unsat", strategy, 1)
    assert res.counterexample_x is None


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_test_folder_tiny_and_small_are_unsat(vnncomp: Path, name: str) -> None:
    onnx, vnnlib = vnncomp / f"test/test_{name}.onnx", vnncomp / f"test/test_{name}.vnnlib"
    # unsafe: Y_0 >= 100 for X_0 in [-1, 1]
    assert _lipschitz_upper_bound(onnx, -1.0, 1.0) < 100.0
    res = verify_instance(onnx, vnnlib, time_limit_s=30)
    assert res.result == "unsat"


def test_test_folder_sat_and_unsat(vnncomp: Path) -> None:
    prop = vnncomp / "test/test_prop.vnnlib"
    sat = verify_instance(vnncomp / "test/test_sat.onnx", prop, time_limit_s=30)
    assert_checked_sat(sat, vnncomp / "test/test_sat.onnx", prop)
    unsat = verify_instance(vnncomp / "test/test_unsat.onnx", prop, time_limit_s=30,
                            strategy="milp")
    assert unsat.result == "unsat"
    runs = unsat.details["per_case"][0]["runs"]
    assert [r["label"] for r in runs] == ["dense"] and runs[0]["verdict"] == "unsat"
    # 5 inputs: "auto" runs a short MILP, then splits the input box; pure splitting proves it
    auto = verify_instance(vnncomp / "test/test_unsat.onnx", prop, time_limit_s=30)
    assert auto.result == "unsat" and auto.details["strategy"]["chosen"] == "milp+bab"
    bab = verify_instance(vnncomp / "test/test_unsat.onnx", prop, time_limit_s=30,
                          strategy="bab")
    assert (bab.result, bab.method) == ("unsat", "bab")
    assert bab.details["per_case"][0]["bab"]["open"] == 0


def _split_property(vnncomp: Path, tmp_path: Path) -> Path:
    """test_prop.vnnlib with its box cut in two along X_3: the same unsafe set as two cases."""
    case = read_vnnlib(vnncomp / "test/test_prop.vnnlib").cases[0]
    lo, hi = case.box.lower.tolist(), case.box.upper.tolist()
    mid = (lo[3] + hi[3]) / 2

    def box(lo3: float, hi3: float) -> str:
        atoms = [f"(>= X_{i} {lo[i]!r}) (<= X_{i} {hi[i]!r})" for i in range(5) if i != 3]
        return f"(and {' '.join(atoms)} (>= X_3 {lo3!r}) (<= X_3 {hi3!r}))"

    text = "".join(f"(declare-const X_{i} Real)\n" for i in range(5))
    text += "".join(f"(declare-const Y_{j} Real)\n" for j in range(5))
    text += f"(assert (or {box(lo[3], mid)} {box(mid, hi[3])}))\n"
    text += "".join(f"(assert (<= Y_0 Y_{j}))\n" for j in range(1, 5))
    path = tmp_path / "split.vnnlib"
    path.write_text(text)
    return path


def test_a_property_with_two_input_boxes_needs_every_case_proved(
    vnncomp: Path, tmp_path: Path
) -> None:
    prop = _split_property(vnncomp, tmp_path)
    for strategy in ("bab", "milp"):
        unsat = verify_instance(vnncomp / "test/test_unsat.onnx", prop, time_limit_s=30,
                                strategy=strategy)
        assert (unsat.result, unsat.cases) == ("unsat", 2)
        assert [c["verdict"] for c in unsat.details["per_case"]] == ["unsat", "unsat"]
        sat = verify_instance(vnncomp / "test/test_sat.onnx", prop, time_limit_s=30,
                              attack=False, strategy=strategy, search="milp")
        assert sat.method == strategy
        assert_checked_sat(sat, vnncomp / "test/test_sat.onnx", prop)
    # the default search: the portfolio's local search may answer before the MILP
    sat = verify_instance(vnncomp / "test/test_sat.onnx", prop, time_limit_s=30, attack=False,
                          strategy="milp")
    assert sat.method in ("portfolio", "milp")
    assert_checked_sat(sat, vnncomp / "test/test_sat.onnx", prop)


# ------------------------------------------------------------------ known VNN-COMP answers
@pytest.mark.parametrize(("net", "prop"), sorted(KNOWN), ids=lambda p: Path(p).stem)
def test_known_vnncomp_answers(vnncomp: Path, net: str, prop: str) -> None:
    res = verify_instance(vnncomp / net, vnncomp / prop, time_limit_s=60)
    assert res.result == KNOWN[(net, prop)]
    if res.result == "sat":
        assert_checked_sat(res, vnncomp / net, vnncomp / prop)
    else:  # proved by the dense MILP or by input splitting (auto on <= 16 inputs)
        low_dim = res.details["strategy"]["inputs"] <= 16
        assert res.method in (("milp", "bab") if low_dim else ("milp",))
        assert all(c["verdict"] == "unsat" for c in res.details["per_case"])


def test_milp_finds_the_counterexample_without_the_attack(vnncomp: Path) -> None:
    net, prop = vnncomp / MNIST_NET, vnncomp / "mnist_fc/vnnlib_2022/prop_2_0.03.vnnlib"
    res = verify_instance(net, prop, time_limit_s=60, attack=False, search="milp")
    assert res.method == "milp"
    assert_checked_sat(res, net, prop)
    run = res.details["per_case"][0]["runs"][0]
    assert run["verdict"] == "sat" and "trace" not in run
    assert run["bounds"]["method"] == "lp"


def test_a_hard_unsat_instance_times_out_within_the_limit(vnncomp: Path) -> None:
    # prop_6_0.03 is unsat (VNN-COMP 2022) but takes the dense MILP tens of seconds
    net, prop = vnncomp / MNIST_NET, vnncomp / "mnist_fc/vnnlib_2022/prop_6_0.03.vnnlib"
    res = verify_instance(net, prop, time_limit_s=3.0)
    assert (res.result, res.method) == ("timeout", "none")
    assert res.counterexample_x is None and res.counterexample_y is None
    # the limit is honoured: HiGHS stops a little before the deadline (a reserve for its last
    # uncallable step), and the whole run ends within limit + max(10 %, 2 s)
    assert 2.5 <= res.wall_s <= 3.0 + 2.0


def test_the_portfolio_finds_a_counterexample_the_attack_misses(vnncomp: Path) -> None:
    # mnist_fc 256x4, prop_6 at eps 0.05 is sat; the PGD attack misses it and the MILP alone ran
    # 60 s without an answer (VNN-COMP sample, 2026-11); the portfolio's local search over the
    # dense network's linear regions, started from the LP-relaxation point, walks to it
    net = vnncomp / "mnist_fc/onnx/mnist-net_256x4.onnx"
    prop = vnncomp / "mnist_fc/vnnlib_2022/prop_6_0.05.vnnlib"
    res = verify_instance(net, prop, time_limit_s=30, strategy="milp")
    assert_checked_sat(res, net, prop)
    case = res.details["per_case"][0]
    assert case["attack"]["confirmed"] is False
    assert "relu_probe" not in case  # strategy "milp": the MILP phase alone
    assert res.method == "portfolio"
    assert case["portfolio"]["found_by"].startswith("local search")
    assert res.details["search"] == "portfolio"


def test_the_relu_probe_finds_a_counterexample_the_milp_phase_misses(vnncomp: Path) -> None:
    # mnist_fc 256x6, prop_1 at eps 0.05 is sat; the attack and the MILP phase (the portfolio)
    # left it unanswered at 60 s; the corner minimising the ReLU-splitting probe's optimised
    # bound of one of its first two domains is a counterexample
    net = vnncomp / "mnist_fc/onnx/mnist-net_256x6.onnx"
    prop = vnncomp / "mnist_fc/vnnlib_2022/prop_1_0.05.vnnlib"
    res = verify_instance(net, prop, time_limit_s=30)
    assert_checked_sat(res, net, prop)
    case = res.details["per_case"][0]
    assert case["attack"]["confirmed"] is False
    assert res.method == "relu-split"
    assert case["relu_probe"]["verdict"] == "sat" and case["relu_probe"]["nodes"] <= 8
    assert case["relu_probe"]["bounds"]["method"] == "symbolic"
    assert case["relu_probe"]["branching"] == "output"
    assert res.details["strategy"]["chosen"] == "milp"


def test_relu_splitting_gets_the_case_where_the_milp_cannot_start(vnncomp: Path) -> None:
    # eran 9x200 idx_3539 (eps 0.015): after optimised back-substitution ~750 neurons stay
    # unstable, more than MILP_MAX_UNSTABLE (the MILP did not finish its root node in 60 s
    # there), so no LP runs (it tightened at most one neuron more on eran); the ReLU
    # splitting on those bounds (its probe before the refinement), each domain's intermediate
    # bounds recomputed under its splits with the root's optimised slopes and branching in
    # layer order, proves it in ~20-70 domains (5 s); the first probe (branching near the
    # output, symbolic bounds) does not
    net = vnncomp / "eran_mnist_relu_9_200/onnx/mnist_relu_9_200.onnx"
    prop = vnncomp / "eran_mnist_relu_9_200/vnnlib/mnist_spec_idx_3539_eps_0.01500.vnnlib"
    res = verify_instance(net, prop, time_limit_s=60)
    assert (res.result, res.method) == ("unsat", "relu-split")
    case = res.details["per_case"][0]
    assert case["relu_probe"]["verdict"] == "unknown"
    assert case["relu_probe"]["branching"] == "output"
    assert case["relu_probe"]["bounds"]["method"] == "symbolic"
    split = case["relu_bounds_probe"]
    assert split["verdict"] == "unsat" and split["branching"] == "layers"
    assert split["bounds"]["method"] == "alpha"
    assert split["bounds"]["unstable"] > MILP_MAX_UNSTABLE
    assert "relu_split" not in case and "runs" not in case  # no refinement, no MILP
    assert res.wall_s <= 60 + 2.0


def _refined_route(res) -> dict:
    case = res.details["per_case"][0]
    assert case["relu_bounds_probe"]["verdict"] == "unknown"
    assert case["relu_bounds_probe"]["bounds"]["method"] == "alpha"
    split = case["relu_split"]
    bounds = split["bounds"]
    assert bounds["method"] == "refined" and bounds["start"]["method"] == "alpha"
    assert bounds["start"]["unstable"] > MILP_MAX_UNSTABLE
    assert bounds["refine"]["stable"] > 0 and bounds["refine"]["searches"] > 0
    assert bounds["unstable"] < bounds["start"]["unstable"] - bounds["refine"]["stable"] // 2
    assert bounds["unstable"] == bounds["refine"]["unstable_after"]
    assert "runs" not in case  # no MILP
    return split


def test_bounds_refined_neuron_by_neuron_after_the_probe(vnncomp: Path) -> None:
    # eran 9x200 idx_225 (unsat): its probe on the alpha-CROWN bounds (519 unstable neurons
    # after refinement, ~750 before) ends open; the refinement makes neurons of the second and
    # third ReLU layers stable by small ReLU-splitting searches, and the later layers follow
    net = vnncomp / "eran_mnist_relu_9_200/onnx/mnist_relu_9_200.onnx"
    prop = vnncomp / "eran_mnist_relu_9_200/vnnlib/mnist_spec_idx_225_eps_0.01500.vnnlib"
    res = verify_instance(net, prop, time_limit_s=20)
    assert res.result in ("unsat", "timeout")
    _refined_route(res)
    assert res.wall_s <= 20 + 2.0


@pytest.mark.slow
def test_bounds_refined_neuron_by_neuron_prove_what_the_splitting_alone_does_not(
        vnncomp: Path) -> None:
    # eran 9x200 idx_2954 (unsat): open at 60 s on the alpha-CROWN bounds (lowest bound -0.99),
    # proved after the refinement (~40 s, two instances at a time, in ~40 domains)
    net = vnncomp / "eran_mnist_relu_9_200/onnx/mnist_relu_9_200.onnx"
    prop = vnncomp / "eran_mnist_relu_9_200/vnnlib/mnist_spec_idx_2954_eps_0.01500.vnnlib"
    res = verify_instance(net, prop, time_limit_s=60)
    assert (res.result, res.method) == ("unsat", "relu-split")
    assert _refined_route(res)["verdict"] == "unsat"
    assert res.wall_s <= 60 + 2.0


def test_the_milp_after_the_probes_reuses_the_case_bounds(vnncomp: Path) -> None:
    # mnist_fc 256x4 prop_10_0.05 is hard (open at 60 s): its LP bounds leave 161 unstable
    # neurons, few enough for the MILP; both probes end without an answer, and the portfolio's
    # dense MILP is built on the bounds the second probe had (not computed again)
    net = vnncomp / "mnist_fc/onnx/mnist-net_256x4.onnx"
    prop = vnncomp / "mnist_fc/vnnlib_2022/prop_10_0.05.vnnlib"
    res = verify_instance(net, prop, time_limit_s=12)
    assert res.result == "timeout"
    case = res.details["per_case"][0]
    probe = case["relu_bounds_probe"]
    assert probe["verdict"] == "unknown" and probe["bounds"]["method"] == "lp"
    assert probe["bounds"]["unstable"] <= MILP_MAX_UNSTABLE and "relu_split" not in case
    assert probe["bounds"]["time_s"] > 0.5  # the LP tightening ran once, here
    # from what it starts from (alpha-CROWN), computed first and recorded with it
    assert probe["bounds"]["start"]["method"] == "alpha"
    assert probe["bounds"]["start"]["unstable"] >= probe["bounds"]["unstable"]
    dense = [r for r in case["runs"] if r["label"] == "dense"]
    assert dense and dense[0]["bounds"]["time_s"] < 0.1
    assert dense[0]["bounds"]["unstable"] == probe["bounds"]["unstable"]
    assert res.wall_s <= 12 + 2.0


# ------------------------------------------------------------------ surrogate runs
@pytest.mark.parametrize(
    ("net", "prop"),
    [
        ("test/test_unsat.onnx", "test/test_prop.vnnlib"),
        (CARTPOLE, "rl_benchmarks/vnnlib/cartpole_case_unsafe_0.vnnlib"),
        (MNIST_NET, "mnist_fc/vnnlib_2022/prop_0_0.03.vnnlib"),
    ],
    ids=["test_unsat", "cartpole_0", "mnist_prop_0"],
)
def test_a_surrogate_never_answers_unsat(vnncomp: Path, net: str, prop: str) -> None:
    res = verify_instance(
        vnncomp / net, vnncomp / prop, time_limit_s=3, prune_method="magnitude", sparsity=0.5,
        fallback_dense=False,
    )
    assert res.result in ("sat", "timeout", "unknown")
    if res.result == "sat":
        assert_checked_sat(res, vnncomp / net, vnncomp / prop)
    if res.result == "unknown":  # the surrogate's MILP ended early: it says why nothing is proved
        assert res.reason is not None and "without the dense MILP" in res.reason
    labels = [r["label"] for c in res.details["per_case"] for r in c.get("runs", [])]
    assert set(labels) <= {"surrogate"}
    assert res.details["prune"]["method"] == "magnitude"


def test_the_dense_fallback_proves_what_the_surrogate_cannot(vnncomp: Path) -> None:
    res = verify_instance(
        vnncomp / "test/test_unsat.onnx", vnncomp / "test/test_prop.vnnlib", time_limit_s=8,
        prune_method="magnitude", sparsity=0.5,
    )
    assert (res.result, res.method) == ("unsat", "milp")
    runs = res.details["per_case"][0]["runs"]
    assert [r["label"] for r in runs] == ["surrogate", "dense"]
    assert runs[0]["verdict"] != "unsat" and runs[0]["sparsity"] == 0.5


def test_a_surrogate_counterexample_is_checked_on_the_dense_network(vnncomp: Path) -> None:
    net, prop = vnncomp / "test/test_sat.onnx", vnncomp / "test/test_prop.vnnlib"
    res = verify_instance(net, prop, time_limit_s=30, sparsity=0.3, attack=False, search="milp")
    assert res.details["prune"]["method"] == "magnitude"  # sparsity alone means magnitude
    assert res.method in ("milp-surrogate", "milp")
    assert_checked_sat(res, net, prop)


# ------------------------------------------------------------------ checks and errors
def test_check_counterexample_clips_into_the_box_and_uses_onnxruntime(vnncomp: Path) -> None:
    onnx = vnncomp / "test/test_sat.onnx"
    net = read_onnx(onnx)
    case = read_vnnlib(vnncomp / "test/test_prop.vnnlib").cases[0]
    res = verify_instance(onnx, vnncomp / "test/test_prop.vnnlib", time_limit_s=30)
    x = np.array(res.counterexample_x)
    outside = x + np.where(x >= case.box.upper, 1.0, 0.0)  # pushed out where x sits on the top
    ok, xc, y = check_counterexample(onnx, net, case, outside)
    assert case.box.contains(xc, tol=0.0)
    np.testing.assert_array_equal(y, onnxruntime_forward(onnx, xc))
    assert ok == case.output_unsafe(y, tol=1e-6) == case.output_unsafe(net.forward(xc))
    ok_centre, _, y_centre = check_counterexample(onnx, net, case, case.box.center())
    assert ok_centre is case.output_unsafe(y_centre, tol=1e-6)


def test_errors_name_what_is_wrong(vnncomp: Path, tmp_path: Path) -> None:
    nano, prop = vnncomp / "test/test_nano.onnx", vnncomp / "test/test_nano.vnnlib"
    with pytest.raises(ModelFileError, match="ONNX file not found"):
        verify_instance(tmp_path / "missing.onnx", prop)
    with pytest.raises(ModelFileError, match="VNN-LIB file not found"):
        verify_instance(nano, tmp_path / "missing.vnnlib")
    with pytest.raises(InputError, match="declares 5 inputs"):
        verify_instance(nano, vnncomp / "test/test_prop.vnnlib")
    with pytest.raises(InputError, match="time_limit_s must be a finite number of seconds > 0"):
        verify_instance(nano, prop, time_limit_s=0)
    with pytest.raises(InputError, match="sparsity must be a number in \\[0, 1\\), got 1.5"):
        verify_instance(nano, prop, sparsity=1.5)
    with pytest.raises(InputError, match="'magnitude' was given with sparsity 0"):
        verify_instance(nano, prop, prune_method="magnitude")
    with pytest.raises(InputError, match="unknown bounds method 'exact'"):
        verify_instance(nano, prop, bounds="exact")
    with pytest.raises(InputError, match="unknown pruning method 'nope'"):
        verify_instance(nano, prop, prune_method="nope", sparsity=0.5)


def test_a_network_read_differently_from_onnxruntime_is_refused(
    vnncomp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import surrogate.app.verify as verify_module

    def misread(path: Path) -> Network:
        net = read_onnx(path)
        last = net.layers[-1]
        return net.with_layers([*net.layers[:-1], last.replace(bias=last.bias + 0.5)])

    monkeypatch.setattr(verify_module, "read_onnx", misread)
    with pytest.raises(UnsupportedModelError, match="largest output difference 0.5"):
        verify_instance(vnncomp / "test/test_unsat.onnx", vnncomp / "test/test_prop.vnnlib")


def test_to_dict_is_plain_json(vnncomp: Path) -> None:
    res = verify_instance(vnncomp / "test/test_sat.onnx", vnncomp / "test/test_prop.vnnlib")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["result"] == "sat" and d["counterexample_x"] == list(res.counterexample_x or ())
    assert d["details"]["per_case"][0]["attack"]["confirmed"] is True
    assert 0.0 <= d["details"]["onnxruntime_max_abs_diff"] < 1e-5
    assert "_best" not in d["details"]["per_case"][0]


# ------------------------------------------------------------------ CLI
def test_cli_sat_prints_the_verdict_first_and_writes_the_counterexample(
    vnncomp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx, prop = vnncomp / "test/test_sat.onnx", vnncomp / "test/test_prop.vnnlib"
    ce = tmp_path / "ce.txt"
    code = main(["verify", str(onnx), str(prop), "--counterexample", str(ce)])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sat"
    assert lines[1].startswith("wall time ") and "method attack" in lines[1]
    assert "counterexample x (5 values)" in out
    assert "PGD counterexample" in err and "PGD" not in out
    x, y = read_counterexample(ce)
    np.testing.assert_array_equal(y, onnxruntime_forward(onnx, x))
    assert read_vnnlib(prop).is_counterexample(x, y, tol=1e-6)


def test_cli_json(vnncomp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx, prop = vnncomp / "test/test_sat.onnx", vnncomp / "test/test_prop.vnnlib"
    ce = tmp_path / "ce.txt"
    code = main(["verify", str(onnx), str(prop), "--json", "--counterexample", str(ce),
                 "--seed", "3"])
    out, _ = capsys.readouterr()
    assert code == 0 and len(out.strip().splitlines()) == 1
    d = json.loads(out)
    assert {"result", "wall_s", "method", "cases", "counterexample", "details"} <= set(d)
    assert d["result"] == "sat"
    x, y = read_counterexample(ce)
    assert d["counterexample"] == {"x": x.tolist(), "y": y.tolist()}


def test_cli_unsat_and_timeout_exit_zero(vnncomp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", str(vnncomp / "test/test_unsat.onnx"),
                 str(vnncomp / "test/test_prop.vnnlib"), "--bounds", "lp", "--quiet"])
    out, err = capsys.readouterr()
    assert (code, out.splitlines()[0], err) == (0, "unsat", "")
    code = main(["verify", str(vnncomp / MNIST_NET),
                 str(vnncomp / "mnist_fc/vnnlib_2022/prop_6_0.03.vnnlib"),
                 "--time-limit", "1.5", "--no-attack", "--json"])
    out, _ = capsys.readouterr()
    d = json.loads(out)
    assert (code, d["result"], d["counterexample"]) == (0, "timeout", None)


def test_cli_stdout_starts_with_the_verdict_in_a_fresh_process(vnncomp: Path) -> None:
    # a fresh process: nothing (e.g. a solver banner) may be printed before the verdict
    proc = subprocess.run(
        [sys.executable, "-m", "surrogate", "verify", str(vnncomp / "test/test_unsat.onnx"),
         str(vnncomp / "test/test_prop.vnnlib"), "--bounds", "lp", "--strategy", "milp"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "unsat"
    assert "dense MILP" in proc.stderr and "MILP" not in proc.stdout


def test_cli_surrogate_without_fallback_never_answers_unsat(
    vnncomp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", str(vnncomp / "test/test_unsat.onnx"),
                 str(vnncomp / "test/test_prop.vnnlib"), "--prune", "magnitude",
                 "--sparsity", "0.5", "--no-fallback", "--time-limit", "3", "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.splitlines()[0] in ("sat", "timeout", "unknown")


def test_cli_missing_file_exits_2_with_one_line(
    vnncomp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", str(tmp_path / "nope.onnx"), str(vnncomp / "test/test_prop.vnnlib")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("surrogate verify: error: ONNX file not found:") and "nope.onnx" in err

"""The public API: the top-level exports (and that importing them is light), and the Pyomo
embedding handle ``add_network`` returns: exact at fixed inputs through Pyomo's HiGHS interfaces,
user variables, the error messages, and stats equal to the matrix path's."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pyomo.environ as pyo
import pytest
from factories import random_net, tiny_net

import surrogate
from surrogate import Box, InputError, L1Ball, MaximizationProblem, Network, add_network, run_milp
from surrogate.bounds import compute_bounds
from surrogate.encode.inputs import add_input_set
from surrogate.encode.matrix import MatrixBuilder
from surrogate.encode.network import encode_network
from surrogate.prune import apply

HEAVY = ("torch", "pyomo", "omlt", "onnxruntime")


# ----------------------------------------------------------------------------- the package
def test_import_surrogate_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, surrogate\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import surrogate imported {out.stdout.strip()}"


def test_every_export_resolves_and_is_the_library_object() -> None:
    code = (
        "import sys, surrogate\n"
        "for name in surrogate.__all__:\n"
        "    getattr(surrogate, name)\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & {'omlt', 'torch'})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""  # nothing the user did not ask for: no OMLT, no torch
    from surrogate.app.compare import compare
    from surrogate.app.verify import verify_instance
    from surrogate.network.onnx_io import read_onnx
    from surrogate.sets import linf_ball

    assert surrogate.read_onnx is read_onnx and surrogate.linf_ball is linf_ball
    assert surrogate.compare is compare and surrogate.verify_instance is verify_instance
    assert surrogate.prune_network is surrogate.prune.apply
    assert "magnitude" in surrogate.pruning_methods()
    assert set(surrogate.__all__) <= set(dir(surrogate))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        surrogate.nope  # noqa: B018


def test_encode_exports_only_the_embedding_api() -> None:
    import surrogate.encode as enc

    assert enc.__all__ == ["NetworkEmbedding", "STATS_KEYS", "add_network"]
    assert enc.add_network is add_network
    for internal in ("MatrixBuilder", "encode_network", "omlt_definition", "SparseBigMFormulation"):
        assert not hasattr(enc, internal)


def test_no_private_omlt_names_in_the_library() -> None:
    from pathlib import Path

    root = Path(surrogate.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "_PyomoFormulation" not in text, path
        for line in text.splitlines():
            if "omlt" in line and "import" in line:
                assert " _" not in line.split("import", 1)[1], f"{path}: {line}"


# ----------------------------------------------------------------------------- exactness
def _solve(m: pyo.ConcreteModel, interface: str) -> None:
    if interface == "appsi":
        res = pyo.SolverFactory("appsi_highs").solve(m)
        assert str(res.solver.termination_condition) == "optimal"
    else:
        from pyomo.contrib.solver.common.factory import SolverFactory

        res = SolverFactory("highs").solve(m)
        assert str(res.termination_condition).endswith("convergenceCriteriaSatisfied")


@pytest.mark.parametrize("interface", ["appsi", "contrib"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_fixed_inputs_outputs_equal_the_float64_forward_pass(sparsity: float, interface: str) -> None:
    """The key test: fix the inputs of the embedded network (dense or pruned) at several points,
    solve through Pyomo, and the MILP's outputs are the forward pass."""
    rng = np.random.default_rng(7)
    dense = random_net([6, 16, 12, 4], rng)
    net = dense if sparsity == 0 else apply(dense, "magnitude", sparsity).network
    box = Box(-np.ones(6), np.ones(6))
    m = pyo.ConcreteModel()
    nn = add_network(m, net, box)
    m.obj = pyo.Objective(expr=nn.output[0], sense=pyo.maximize)
    for x in rng.uniform(-1.0, 1.0, size=(5, 6)):
        for i in range(6):
            nn.input[i].fix(float(x[i]))
        _solve(m, interface)
        np.testing.assert_array_equal(nn.input_values, x)
        assert nn.get_error() < 1e-6
        np.testing.assert_allclose(nn.output_values, net.forward(x), atol=1e-6)
        if sparsity:  # against the dense network: the surrogate's own error at x
            gap = float(np.max(np.abs(net.forward(x) - dense.forward(x))))
            assert nn.get_error(reference=dense) == pytest.approx(gap, abs=1e-6)


def test_fixed_inputs_on_a_shipped_model_with_user_variables(digits) -> None:
    from surrogate.zoo import load_model

    net = load_model("digits-2x32")
    m = pyo.ConcreteModel()
    m.img = pyo.Var(range(8), range(8))
    nn = add_network(m, net, Box(np.zeros(64), np.ones(64)), input_vars=m.img)
    m.obj = pyo.Objective(expr=nn.output[0])
    for x in digits.x_test[:3]:
        for (r, c), v in m.img.items():
            v.fix(float(x[8 * r + c]))  # the index order of m.img is the C order of the image
        _solve(m, "appsi")
        np.testing.assert_array_equal(nn.input_values, x)
        assert nn.get_error() < 1e-6


# ----------------------------------------------------------------------------- user variables
def test_user_variables_in_the_objective_reach_run_milps_optimum() -> None:
    rng = np.random.default_rng(11)
    net = random_net([3, 8, 6, 2], rng)
    box = Box(np.zeros(3), np.ones(3))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(3))  # no bounds of its own: the input set bounds it through the links
    m.y = pyo.Var(["a", "b"])
    nn = add_network(m, net, box, input_vars=m.x, output_vars=m.y)
    assert nn.input is m.x and nn.output is m.y and nn.inputs_linked and nn.outputs_linked
    assert m.x[0].lb is None  # the user's variables are not modified
    m.obj = pyo.Objective(expr=m.y["b"], sense=pyo.maximize)
    _solve(m, "appsi")
    ours = run_milp(MaximizationProblem(net, box, output=1), time_limit_s=30)
    assert ours.status == "optimal"
    assert pyo.value(m.obj) == pytest.approx(ours.surrogate_objective, abs=1e-6)
    assert nn.get_error() < 1e-6
    assert net.forward(nn.input_values)[1] == pytest.approx(pyo.value(m.obj), abs=1e-6)


def test_input_set_from_the_user_variables_bounds_and_from_a_pair() -> None:
    net = tiny_net()
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0.0, 1.0))
    nn = add_network(m, net, None, input_vars=[m.x[0], m.x[1]])
    np.testing.assert_array_equal(nn.input_set.lower, [0.0, 0.0])
    np.testing.assert_array_equal(nn.input_set.upper, [1.0, 1.0])
    m.obj = pyo.Objective(expr=nn.output[0], sense=pyo.maximize)
    _solve(m, "appsi")
    assert pyo.value(m.obj) == pytest.approx(5.5, abs=1e-6)  # y = relu(x0+x1-.5) + 2(x0+1)

    m2 = pyo.ConcreteModel()
    nn2 = add_network(m2, net, (0.0, [1.0, 0.5]), name="net")
    assert m2.net is nn2.block
    np.testing.assert_array_equal(nn2.input_set.upper, [1.0, 0.5])


def test_l1_ball_with_user_variables() -> None:
    rng = np.random.default_rng(4)
    net = random_net([5, 8, 2], rng)
    ball = L1Ball(np.full(5, 0.5), 0.3, Box(np.zeros(5), np.ones(5)))
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(5))
    nn = add_network(m, net, ball, input_vars=m.x)
    m.obj = pyo.Objective(expr=nn.output[0], sense=pyo.maximize)
    _solve(m, "appsi")
    assert np.abs(nn.input_values - 0.5).sum() <= 0.3 + 1e-6
    assert nn.get_error() < 1e-6


BAD_VARS = [
    ("short", "input_vars has 1 variables, the network has 2 inputs; pass one variable per input "
              "(flattened in C order), e.g. m.i = pyo.Var(range(2))"),
    ("values", "input_vars[0] is a float, not a Pyomo variable; pass variables (e.g. m.i[0]), not "
               "values or expressions"),
    ("expression", "input_vars[1] is a MonomialTermExpression, not a Pyomo variable; pass variables "
                   "(e.g. m.i[1]), not values or expressions"),
    ("dict", "input_vars must be a Pyomo Var (indexed, one entry per network input) or a list of "
             "Pyomo variables, got dict"),
    ("other model", "input_vars[0] (x[0]) is not a variable of the model the network is added to; "
                    "create it on that model"),
    ("unconstructed", "input_vars is not part of a model yet; add it to the model first "
                      "(e.g. m.i = pyo.Var(range(2)))"),
    ("unordered", "input_vars is indexed by an unordered set; index it by an ordered set "
                  "(e.g. m.i = pyo.Var(range(2)))"),
    ("unbounded", "input_set is None and input variable z[1] has no upper bound; give every input "
                  "variable finite bounds or pass input_set=Box(lower, upper)"),
    ("outputs", "output_vars has 2 variables, the network has 1 outputs; pass one variable per output "
                "(flattened in C order), e.g. m.o = pyo.Var(range(1))"),
    ("same", "input_vars[1] is also output_vars[0] (x[1]); an input and an output need different "
             "variables"),
]


@pytest.mark.parametrize(("case", "message"), BAD_VARS, ids=[c for c, _ in BAD_VARS])
def test_bad_user_variables_are_refused_with_the_fix(case: str, message: str) -> None:
    net = tiny_net()
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0.0, 1.0))
    m.z = pyo.Var(range(2))
    m.u = pyo.Var(pyo.Set(initialize=[1, 0], ordered=False))
    other = pyo.ConcreteModel()
    other.x = pyo.Var(range(2))
    box: object = Box(np.zeros(2), np.ones(2))
    kw: dict[str, object] = {
        "short": {"input_vars": [m.x[0]]},
        "values": {"input_vars": [0.5, m.x[1]]},
        "expression": {"input_vars": [m.x[0], 2 * m.x[1]]},
        "dict": {"input_vars": {0: m.x[0], 1: m.x[1]}},
        "other model": {"input_vars": other.x},
        "unconstructed": {"input_vars": pyo.Var(range(2))},
        "unordered": {"input_vars": m.u},
        "unbounded": {"input_vars": [m.x[0], m.z[1]]},
        "outputs": {"input_vars": m.x, "output_vars": m.z},
        "same": {"input_vars": m.x, "output_vars": [m.x[1]]},
    }[case]
    if case == "unbounded":
        m.z[1].setlb(0.0)  # a lower bound, no upper one
        box = None
    with pytest.raises(InputError) as err:
        add_network(m, net, box, **kw)  # type: ignore[arg-type]
    assert str(err.value) == message
    assert m.component("nn") is None  # nothing was added


def test_other_refusals() -> None:
    net = tiny_net()
    m = pyo.ConcreteModel()
    box = Box(np.zeros(2), np.ones(2))
    reserved = r"^'name' is a reserved attribute of a Pyomo block; pass another name=$"
    with pytest.raises(InputError, match=reserved):
        add_network(m, net, box, name="name")
    with pytest.raises(InputError, match=r"^the model must be a Pyomo model or block"):
        add_network("model", net, box)
    with pytest.raises(InputError, match=r"^network must be a surrogate Network"):
        add_network(m, "net.onnx", box)  # type: ignore[arg-type]
    m.y = pyo.Var(range(1))
    with pytest.raises(InputError, match=r"output_vars\[1\] and output_vars\[0\] are the same variable"):
        add_network(m, random_net([2, 3, 2], np.random.default_rng(0)), box, output_vars=[m.y[0], m.y[0]])
    nn = add_network(m, net, box)
    with pytest.raises(InputError, match=r"^input variable nn.inputs\[0\] has no value: solve the model"):
        nn.get_error()
    with pytest.raises(InputError, match="reference takes 3 inputs and gives 2 outputs"):
        nn.get_error(reference=random_net([3, 4, 2], np.random.default_rng(0)))


# ----------------------------------------------------------------------------- the handle
def _matrix_path(net: Network, input_set: object, bounds: str) -> dict[str, int]:
    b = compute_bounds(net, input_set, bounds)  # type: ignore[arg-type]
    builder = MatrixBuilder()
    cols = add_input_set(builder, input_set)  # type: ignore[arg-type]
    enc = encode_network(builder, net, cols.x, b.lower, b.upper)
    return {**builder.build().size(), **enc.stats(), "relus": net.relu_count()}


def _pyomo_count(block: pyo.Block) -> tuple[int, int, int]:
    variables = list(block.component_data_objects(pyo.Var, descend_into=True))
    constraints = list(block.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return len(variables), sum(v.is_binary() for v in variables), len(constraints)


@pytest.mark.parametrize("bounds", ["interval", "symbolic"])
@pytest.mark.parametrize("sparsity", [0.0, 0.8])
def test_stats_are_the_matrix_paths_and_the_blocks_size(sparsity: float, bounds: str) -> None:
    dense = random_net([8, 20, 20, 3], np.random.default_rng(2))
    net = dense if sparsity == 0 else apply(dense, "magnitude", sparsity).network
    box = Box(np.zeros(8), np.ones(8))
    for input_set in (box, L1Ball(np.full(8, 0.5), 0.5, box)):
        m = pyo.ConcreteModel()
        nn = add_network(m, net, input_set, bounds=bounds)
        assert dict(nn.stats) == _matrix_path(net, input_set, bounds)
        size = (nn.stats["variables"], nn.stats["binaries"], nn.stats["constraints"])
        assert _pyomo_count(nn.block) == size
        m.x = pyo.Var(range(8))
        m.y = pyo.Var(range(3))
        linked = add_network(m, net, input_set, bounds=bounds, input_vars=m.x, output_vars=m.y, name="nn2")
        assert linked.stats == nn.stats  # the links are not part of the encoding ...
        n_vars, n_bin, n_rows = _pyomo_count(linked.block)
        assert (n_vars, n_bin, n_rows - 8 - 3) == size  # ... but in the block
    # the neuron counts are run_milp's for the same network and bounds
    run = run_milp(MaximizationProblem(net, box), time_limit_s=10, bounds=bounds)
    nn = add_network(pyo.ConcreteModel(), net, box, bounds=bounds)
    assert run.neurons == {k: nn.stats[k] for k in run.neurons}
    assert set(run.size) | set(run.neurons) == set(nn.stats)


def test_precomputed_bounds_are_used() -> None:
    net = tiny_net()
    box = Box(np.zeros(2), np.ones(2))
    b = compute_bounds(net, box, "interval")
    nn = add_network(pyo.ConcreteModel(), net, box, bounds=b)
    assert nn.bounds is b
    assert nn.stats["binaries"] == 1 and nn.stats["active"] == 1 and nn.stats["inactive"] == 1


def test_handle_is_immutable_and_prints_its_stats() -> None:
    net = tiny_net()
    m = pyo.ConcreteModel()
    nn = add_network(m, net, Box(np.zeros(2), np.ones(2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        nn.block = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        nn.stats["binaries"] = 0  # type: ignore[index]
    buf = io.StringIO()
    nn.print_stats(file=buf)
    text = buf.getvalue()
    assert "variables 7 (binaries 1), constraints 6, nonzeros 15" in text
    assert "neurons: 1 unstable, 1 active, 1 inactive, 0 unneeded (of 3 ReLUs)" in text
    assert text.strip() == nn.summary()
    assert repr(nn) == ("NetworkEmbedding(block='nn', inputs=2, outputs=1, variables=7, binaries=1, "
                        "constraints=6)")


def test_networks_chain_through_the_handles() -> None:
    """One network's outputs as another's inputs: the second input set comes from the bounds
    of the first one's output variables, and the pair computes the composition."""
    rng = np.random.default_rng(5)
    first, second = random_net([3, 6, 4], rng), random_net([4, 5, 2], rng)
    m = pyo.ConcreteModel()
    a = add_network(m, first, Box(np.zeros(3), np.ones(3)), name="a")
    b = add_network(m, second, None, input_vars=a.output, name="b")
    m.obj = pyo.Objective(expr=b.output[1], sense=pyo.maximize)
    for x in rng.random((3, 3)):
        for i in range(3):
            a.input[i].fix(float(x[i]))
        _solve(m, "appsi")
        assert a.get_error() < 1e-6 and b.get_error() < 1e-6
        np.testing.assert_allclose(b.output_values, second.forward(first.forward(x)), atol=1e-6)

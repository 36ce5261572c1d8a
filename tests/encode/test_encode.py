"""The encoding is exact: MILP outputs equal the forward pass at fixed inputs (dense and pruned),
and it is pruning-aware: no term for a zero weight, no binary for a stable neuron."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import pytest
from factories import random_net, tiny_net

from surrogate import DenseLayer, InputError, Network
from surrogate.bounds import compute_bounds
from surrogate.encode import add_network
from surrogate.encode.inputs import add_input_set
from surrogate.encode.matrix import MatrixBuilder
from surrogate.encode.network import encode_network
from surrogate.encode.stock import add_stock_network
from surrogate.prune import apply
from surrogate.sets import Box, L1Ball
from surrogate.solve import solve_matrix


def fixed_input_outputs(net: Network, x: np.ndarray, bounds_on: Box) -> np.ndarray:
    """Solve the MILP with the inputs fixed at ``x`` (bounds computed on ``bounds_on``)."""
    b = compute_bounds(net, bounds_on, method="symbolic")
    builder = MatrixBuilder()
    cols = add_input_set(builder, Box(x, x))
    enc = encode_network(builder, net, cols.x, b.lower, b.upper)
    builder.set_objective({int(enc.output_cols[0]): 1.0})
    res = solve_matrix(builder.build(), time_limit_s=30)
    assert res.status == "optimal"
    return res.x[enc.output_cols]


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_milp_outputs_equal_forward_pass_at_fixed_inputs(sparsity: float) -> None:
    rng = np.random.default_rng(1)
    dense = random_net([6, 12, 10, 4], rng)
    net = dense if sparsity == 0 else apply(dense, "magnitude", sparsity).network
    box = Box(np.zeros(6), np.ones(6))
    for x in rng.random((6, 6)):
        np.testing.assert_allclose(fixed_input_outputs(net, x, box), net.forward(x), atol=1e-6)


def test_shipped_model_outputs_equal_forward_pass(digits) -> None:
    from surrogate.zoo import load_model

    net = load_model("digits-2x32")
    box = Box(np.zeros(64), np.ones(64))
    for x in digits.x_test[:3]:
        np.testing.assert_allclose(fixed_input_outputs(net, x, box), net.forward(x), atol=1e-6)


def test_structure_no_binary_for_stable_neurons_no_term_for_zero_weights() -> None:
    net = tiny_net()
    box = Box(np.zeros(2), np.ones(2))
    b = compute_bounds(net, box, method="interval")
    builder = MatrixBuilder()
    cols = add_input_set(builder, box)
    enc = encode_network(builder, net, cols.x, b.lower, b.upper)
    model = builder.build()
    assert enc.layer_stats[0] == {"unneeded": 0, "active": 1, "inactive": 1, "unstable": 1}
    # columns: 2 inputs; active h1; unstable z0, h0, d0; output y
    assert model.n_cols == 7
    assert model.n_integer == 1
    # rows: h1 = x0 + 1 (2 terms); z0 = x0 + x1 - .5 (3); h0 >= z0 (2); h0 <= z0 - l(1-d) (3);
    # h0 <= u d (2); y = h0 + 2 h1 (3; no term for the inactive h2)
    assert model.n_rows == 6
    assert model.nnz == 2 + 3 + 2 + 3 + 2 + 3
    assert enc.post_cols[0][2] == -1  # stably inactive: no variable at all


def test_unneeded_neurons_get_no_variables() -> None:
    net = tiny_net()
    w2 = np.array([[1.0, 0.0, 3.0]])  # h1's outgoing weight pruned: h1 is not needed
    net = net.with_layers([net.layers[0], DenseLayer(w2, np.zeros(1), "linear")])
    b = compute_bounds(net, Box(np.zeros(2), np.ones(2)), method="interval")
    builder = MatrixBuilder()
    cols = add_input_set(builder, Box(np.zeros(2), np.ones(2)))
    enc = encode_network(builder, net, cols.x, b.lower, b.upper)
    assert enc.layer_stats[0]["unneeded"] == 1
    assert enc.post_cols[0][1] == -1


def test_pruned_build_has_fewer_nonzeros() -> None:
    rng = np.random.default_rng(0)
    dense = random_net([30, 40, 40, 5], rng)
    box = Box(np.zeros(30), np.ones(30))
    sizes = []
    for p in (0.0, 0.9):
        net = dense if p == 0 else apply(dense, "magnitude", p).network
        b = compute_bounds(net, box, method="interval")
        builder = MatrixBuilder()
        cols = add_input_set(builder, box)
        encode_network(builder, net, cols.x, b.lower, b.upper)
        sizes.append(builder.build().nnz)
    assert sizes[1] < 0.3 * sizes[0]


def _pyomo_max(net: Network, input_set, formulation: str) -> float:
    m = pyo.ConcreteModel()
    if formulation == "sparse-bigm":
        blk = add_network(m, net, input_set, bounds="interval").block
    else:
        blk = add_stock_network(m, net, input_set)
    m.obj = pyo.Objective(expr=blk.outputs[0], sense=pyo.maximize)
    res = pyo.SolverFactory("appsi_highs").solve(m)
    assert str(res.solver.termination_condition) == "optimal"
    return pyo.value(m.obj), np.array([pyo.value(blk.inputs[i]) for i in range(net.n_inputs)])


@pytest.mark.parametrize("formulation", ["sparse-bigm", "omlt-bigm"])
def test_pyomo_block_optimum_is_attained_by_the_network(formulation: str) -> None:
    """The Pyomo block's (ours and stock OMLT's) optimum equals the network's output at the
    optimal inputs, and no random point of the box beats it."""
    rng = np.random.default_rng(3)
    net = random_net([4, 8, 8, 2], rng)
    box = Box(np.zeros(4), np.ones(4))
    best, x = _pyomo_max(net, box, formulation)
    assert net.forward(x)[0] == pytest.approx(best, abs=1e-6)
    assert net.forward(rng.random((20000, 4)))[:, 0].max() <= best + 1e-6


def test_pyomo_block_enforces_l1_ball() -> None:
    rng = np.random.default_rng(4)
    net = random_net([5, 8, 2], rng)
    ball = L1Ball(np.full(5, 0.5), 0.3, Box(np.zeros(5), np.ones(5)))
    for form in ("sparse-bigm", "omlt-bigm"):
        best, x = _pyomo_max(net, ball, form)
        assert np.abs(x - 0.5).sum() <= 0.3 + 1e-6
        assert net.forward(x)[0] == pytest.approx(best, abs=1e-6)
    assert _pyomo_max(net, ball, "sparse-bigm")[0] == pytest.approx(
        _pyomo_max(net, ball, "omlt-bigm")[0], abs=1e-6
    )


def test_user_model_around_the_network() -> None:
    """A user's own variables and constraints tied to the block's inputs and outputs."""
    net = tiny_net()
    m = pyo.ConcreteModel()
    nn = add_network(m, net, Box(np.zeros(2), np.ones(2)))
    assert m.nn is nn.block and nn.input is m.nn.inputs and nn.output is m.nn.outputs
    m.budget = pyo.Constraint(expr=nn.input[0] + nn.input[1] <= 1.0)
    m.obj = pyo.Objective(expr=nn.output[0], sense=pyo.maximize)
    pyo.SolverFactory("appsi_highs").solve(m)
    x = nn.input_values
    # y = relu(x0+x1-.5) + 2(x0+1) is maximal at x0 = 1, x1 = 0: 0.5 + 4
    assert pyo.value(m.obj) == pytest.approx(4.5, abs=1e-6)
    np.testing.assert_allclose(x, [1.0, 0.0], atol=1e-6)


def test_add_network_errors() -> None:
    net = tiny_net()
    m = pyo.ConcreteModel()
    inverted = r"inverted input bounds: lower > upper at 1 entries, first at index 1"
    with pytest.raises(InputError, match=inverted):
        add_network(m, net, Box([0.0, 1.0], [1.0, 0.0]))
    with pytest.raises(InputError, match="input bounds must be finite"):
        add_network(m, net, Box([0.0, -np.inf], [1.0, 1.0]))
    with pytest.raises(InputError, match="the input set has 3 entries, the network takes 2"):
        add_network(m, net, Box(np.zeros(3), np.ones(3)))
    with pytest.raises(InputError, match="input_set must be a surrogate.sets.Box or L1Ball"):
        add_network(m, net, "unit box")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"no input set: pass input_set \(a Box"):
        add_network(m, net, None)
    add_network(m, net, Box(np.zeros(2), np.ones(2)))
    with pytest.raises(InputError, match="already has a component named 'nn'"):
        add_network(m, net, Box(np.zeros(2), np.ones(2)))


def test_bounds_inverted_by_rounding_are_accepted_but_real_inversions_are_not() -> None:
    net = tiny_net()
    box = Box(np.zeros(2), np.ones(2))
    b = compute_bounds(net, box, method="interval")
    lower = [np.array(v) for v in b.lower]
    upper = [np.array(v) for v in b.upper]
    upper[1] = lower[1] - 1e-17  # a constant output whose bounds crossed by float rounding
    enc = encode_network(MatrixBuilder(), net, np.arange(2), lower, upper)
    assert enc.output_cols.size == 1
    upper[1] = lower[1] - 0.5
    with pytest.raises(InputError, match="bounds of layer 1 are inverted at neuron 0"):
        encode_network(MatrixBuilder(), net, np.arange(2), lower, upper)


def test_fortran_ordered_weights_prune_like_c_ordered() -> None:
    rng = np.random.default_rng(0)
    w = np.asfortranarray(rng.standard_normal((8, 6)))
    out = DenseLayer(rng.standard_normal((2, 8)), np.zeros(2), "linear")
    net = Network((DenseLayer(w, np.zeros(8)), out))
    assert apply(net, "magnitude", 0.5).network.sparsity == pytest.approx(0.5, abs=0.01)


def test_layer_csr_is_the_weight_and_cannot_go_stale() -> None:
    from surrogate.network.spec import DenseLayer

    w = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 0.25]])
    layer = DenseLayer(w, np.zeros(2))
    assert layer.csr is layer.csr  # computed once
    np.testing.assert_array_equal(layer.csr.toarray(), w)
    assert layer.nonzeros == 3 and layer.density == pytest.approx(0.5)
    w[0, 0] = 9.0  # the layer copied its input
    assert layer.csr.nnz == 3
    with pytest.raises(ValueError, match="read-only"):
        layer.weight[0, 0] = 9.0


def test_pyomo_build_restores_the_garbage_collector_state() -> None:
    import gc

    net = random_net([3, 4, 2], np.random.default_rng(5))
    box = Box(np.zeros(3), np.ones(3))
    assert gc.isenabled()
    add_network(pyo.ConcreteModel(), net, box)
    assert gc.isenabled()  # paused during the build only
    gc.disable()
    try:
        add_network(pyo.ConcreteModel(), net, box)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    # a build that fails midway still gives the collector back
    m = pyo.ConcreteModel()
    bad = compute_bounds(net, box, "interval")
    inverted = type(bad)(tuple(bad.upper), tuple(bad.lower), "interval", 0.0)
    with pytest.raises(InputError, match="inverted"):
        add_network(m, net, box, bounds=inverted)
    assert gc.isenabled()

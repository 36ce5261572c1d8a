"""Problems (``surrogate.problems``): ``VerificationProblem``, ``MaximizationProblem``,
``robustness_problem`` and ``problems_from_property``.

The objective rows each problem adds to a MILP (their shape, and their optimum equal to the
objective of the outputs when the outputs are fixed), ``fill_objective`` agreeing with the dense
forward pass (a feasible warm start whose objective is ``objective_of_outputs(f(x))``),
``is_success`` / ``proves``, and the exact messages of every refusal."""

from __future__ import annotations

import numpy as np
import pytest
from factories import random_net

from surrogate.app.build import build_milp
from surrogate.encode.matrix import MatrixBuilder, MatrixModel
from surrogate.errors import InputError
from surrogate.network.spec import DenseLayer, Network
from surrogate.problems import (
    Conjunction,
    MaximizationProblem,
    VerificationProblem,
    robustness_problem,
)
from surrogate.problems.vnnlib_problem import conjunction_of, problems_from_property
from surrogate.sets import Box, L1Ball
from surrogate.solve import solve_matrix
from surrogate.vnnlib import parse_vnnlib
from surrogate.vnnlib.spec import Case, OutputConstraint, Property

UNIT2 = Box(np.zeros(2), np.ones(2))


def three_class_net() -> Network:
    """y = (x0, x1, 0.5) on 2 inputs: class 0 if x0 is largest, 1 if x1, else 2."""
    w = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    return Network((DenseLayer(w, np.array([0.0, 0.0, 0.5]), "linear"),))


def objective_rows(problem, out_lower: np.ndarray, out_upper: np.ndarray
                   ) -> tuple[MatrixModel, np.ndarray, object]:
    """Only the problem's objective over output columns bounded by ``[out_lower, out_upper]``."""
    builder = MatrixBuilder()
    out = builder.add_columns(out_lower, out_upper, name="y")
    handle = problem.add_objective(builder, out, out_lower, out_upper)
    return builder.build(), out, handle


def filled(model: MatrixModel, out: np.ndarray, handle: object, problem, y: np.ndarray) -> np.ndarray:
    values = np.zeros(model.n_cols)
    values[out] = y
    problem.fill_objective(handle, y, values)
    return values


def with_fixed_outputs(model: MatrixModel, out: np.ndarray, y: np.ndarray) -> MatrixModel:
    lower, upper = model.col_lower.copy(), model.col_upper.copy()
    lower[out], upper[out] = y, y
    return MatrixModel(lower, upper, model.integer, model.A, model.row_lower, model.row_upper,
                       model.c, model.offset, model.maximize, model.col_names)


# ----------------------------------------------------------------------------- Conjunction
def test_conjunction_violation_and_shape_check() -> None:
    conj = Conjunction([[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]], [0.0, 1.0])
    assert conj.C.shape == (2, 3) and conj.d.tolist() == [0.0, 1.0]
    # rows: y0 - y1 - 0 and 2 y2 - 1; the violation is the larger one, <= 0 iff both hold
    assert conj.violation(np.array([1.0, 3.0, 0.25])) == pytest.approx(-0.5)
    assert conj.violation(np.array([4.0, 3.0, 0.0])) == pytest.approx(1.0)
    assert Conjunction([1.0, 2.0], [3.0]).C.shape == (1, 2)  # one row may be given flat
    with pytest.raises(InputError) as err:
        Conjunction(np.ones((2, 3)), np.zeros(1))
    assert str(err.value) == "unsafe conjunction: C has 2 rows but d has 1"


# ----------------------------------------------------------------------- VerificationProblem
def two_disjuncts(net: Network, input_set=UNIT2) -> VerificationProblem:
    """Unsafe: (y1 >= y0 and y2 >= y0) or y2 >= 0.7."""
    return VerificationProblem(
        net, input_set,
        (Conjunction([[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]], [0.0, 0.0]),
         Conjunction([[0.0, 0.0, -1.0]], [-0.7])),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unsafe": ()}, "a verification problem needs at least one unsafe conjunction"),
        ({"unsafe": (Conjunction(np.ones((1, 2)), np.zeros(1)),)},
         "unsafe conjunction has 2 columns, the network has 3 outputs"),
        ({"input_set": Box(np.zeros(3), np.ones(3))},
         "input set has 3 entries, the network takes 2"),
        ({"judge": "maybe"}, "judge must be 'unsafe' or 'argmax', got 'maybe'"),
        ({"judge": "argmax"}, "judge='argmax' needs the label"),
    ],
)
def test_verification_problem_refusals(kwargs: dict, message: str) -> None:
    args: dict = {"network": three_class_net(), "input_set": UNIT2,
                  "unsafe": (Conjunction(np.ones((1, 3)), np.zeros(1)),)}
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        VerificationProblem(**args)
    assert str(err.value) == message


def test_verification_objective_rows_shape() -> None:
    net = three_class_net()
    lo, hi = np.array([0.0, 0.0, 0.5]), np.array([1.0, 1.0, 0.5])
    one = VerificationProblem(net, UNIT2, (Conjunction([[1.0, -1.0, 0.0]], [0.0]),))
    model, out, handle = objective_rows(one, lo, hi)
    t_col, sel = handle  # type: ignore[misc]
    assert sel is None  # one disjunct: no selector binary
    assert model.n_cols == 4 and model.n_integer == 0 and model.n_rows == 1
    assert not model.maximize and model.c.tolist() == [0.0, 0.0, 0.0, 1.0]  # min t
    # t ranges over the row's values on the output box: y0 - y1 in [-1, 1]
    assert (model.col_lower[t_col], model.col_upper[t_col]) == (-1.0, 1.0)

    two = two_disjuncts(net)
    model, out, handle = objective_rows(two, lo, hi)
    t_col, sel = handle  # type: ignore[misc]
    assert len(sel) == 2 and model.integer[sel].all() and model.n_integer == 2
    assert model.n_rows == 2 + 1 + 1  # the rows of each disjunct and sum(s) = 1
    assert (model.row_lower[-1], model.row_upper[-1]) == (1.0, 1.0)
    # t_lo: the smallest disjunct's largest row lower bound; t_hi: the largest row upper bound
    assert model.col_lower[t_col] == pytest.approx(min(max(-1.0, -0.5), -0.5 + 0.7))
    assert model.col_upper[t_col] == pytest.approx(max(1.0, 0.5, -0.5 + 0.7))


@pytest.mark.parametrize("seed", range(4))
def test_objective_rows_are_exact_at_fixed_outputs(seed: int) -> None:
    """With the outputs fixed at ``y``, the MILP's optimum is ``min_k max_r (C_k y - d_k)_r``:
    the big-M rows neither cut off the true value nor let ``t`` go below it; and the warm start
    ``fill_objective`` writes is feasible with that value."""
    rng = np.random.default_rng(seed)
    n_out = 4
    lo, hi = -rng.uniform(1, 3, n_out), rng.uniform(1, 3, n_out)
    conjs = tuple(Conjunction(rng.choice([-1.0, 0.0, 0.5, 1.0], size=(m, n_out)),
                              rng.uniform(-0.5, 0.5, m)) for m in (1, 2, 3))
    net = Network((DenseLayer(np.eye(n_out), np.zeros(n_out), "linear"),))
    problem = VerificationProblem(net, Box(lo, hi), conjs)
    model, out, handle = objective_rows(problem, lo, hi)
    for _ in range(3):
        y = rng.uniform(lo, hi)
        truth = min(float(np.max(c.C @ y - c.d)) for c in conjs)
        assert problem.objective_of_outputs(y) == pytest.approx(truth, abs=1e-12)
        values = filled(model, out, handle, problem, y)
        assert model.max_violation(values) <= 1e-12
        assert model.objective_value(values) == pytest.approx(truth, abs=1e-12)
        res = solve_matrix(with_fixed_outputs(model, out, y), time_limit_s=10)
        assert res.status == "optimal"
        assert res.objective == pytest.approx(truth, abs=1e-6)


def test_fill_objective_matches_the_forward_pass_in_the_whole_milp() -> None:
    """The warm start of the full model (input, network, objective) at ``x`` is feasible and its
    objective is the problem's objective of the dense outputs ``f(x)``."""
    net = random_net([2, 6, 5, 3], seed=8)
    rng = np.random.default_rng(8)
    problems = [
        two_disjuncts(net),
        robustness_problem(net, [0.4, 0.6], 0.2, target="any"),
        robustness_problem(net, [0.4, 0.6], 0.3, norm="l1"),
        MaximizationProblem(net, UNIT2, output=2),
        MaximizationProblem(net, UNIT2, output=1, maximize=False),
    ]
    for problem in problems:
        built = build_milp(problem, net, "interval")
        for x in problem.input_set.sample(5, rng):
            values = built.warm_start(problem, x)
            assert built.model.max_violation(values) <= 1e-9
            expected = problem.objective_of_outputs(net.forward(x))
            assert built.model.objective_value(values) == pytest.approx(expected, abs=1e-9)


def test_is_success_needs_the_input_in_the_set_and_an_unsafe_output() -> None:
    net = three_class_net()
    problem = two_disjuncts(net)
    # x = (0.2, 0.8): y = (0.2, 0.8, 0.5), first disjunct holds (y1, y2 >= y0)
    assert problem.is_success(np.array([0.2, 0.8]), net.forward([0.2, 0.8]))
    # x = (0.9, 0.1): y0 largest and y2 = 0.5 < 0.7: safe
    assert not problem.is_success(np.array([0.9, 0.1]), net.forward([0.9, 0.1]))
    # on the boundary t = 0 counts as a success (<= 0)
    assert problem.is_success(np.array([0.5, 0.5]), net.forward([0.5, 0.5]))
    # unsafe outputs, but the input is outside the set
    assert not problem.is_success(np.array([-0.1, 0.8]), np.array([0.0, 1.0, 1.0]))
    assert problem.is_success(np.array([1e-10, 0.8]) - 2e-10, np.array([0.0, 1.0, 1.0]))


def test_proves_only_on_a_positive_bound() -> None:
    problem = two_disjuncts(three_class_net())
    assert problem.proves(1e-9) and problem.proves(3.0)
    assert not problem.proves(0.0) and not problem.proves(-1.0)
    assert not problem.proves(None)  # type: ignore[arg-type]
    assert problem.describe() == "verification (2 unsafe disjuncts)"
    named = VerificationProblem(three_class_net(), UNIT2, problem.unsafe, name="mine")
    assert named.describe() == "mine" and named.kind == "verification" and not named.maximize


# ----------------------------------------------------------------------- MaximizationProblem
def test_maximization_problem() -> None:
    net = three_class_net()
    problem = MaximizationProblem(net, UNIT2, output=1)
    model, out, handle = objective_rows(problem, np.zeros(3), np.ones(3))
    assert handle is None and model.maximize and model.n_rows == 0
    assert model.c.tolist() == [0.0, 1.0, 0.0]
    y = np.array([0.25, 0.75, 0.5])
    assert problem.objective_of_outputs(y) == 0.75
    values = filled(model, out, handle, problem, y)
    assert values.tolist() == y.tolist()  # no columns of its own to fill
    assert not problem.is_success(np.zeros(2), y) and not problem.proves(1e9)
    assert problem.describe() == "max output 1" and problem.kind == "maximization"
    low = MaximizationProblem(net, UNIT2, maximize=False)
    assert not objective_rows(low, np.zeros(3), np.ones(3))[0].maximize
    assert low.describe() == "min output 0"
    assert MaximizationProblem(net, UNIT2, name="peak").describe() == "peak"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": 3}, "output index 3 out of range: the network has 3 outputs"),
        ({"output": -1}, "output index -1 out of range: the network has 3 outputs"),
        ({"input_set": L1Ball(np.zeros(3), 1.0, Box(-np.ones(3), np.ones(3)))},
         "input set has 3 entries, the network takes 2"),
    ],
)
def test_maximization_refusals(kwargs: dict, message: str) -> None:
    args: dict = {"network": three_class_net(), "input_set": UNIT2}
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        MaximizationProblem(**args)
    assert str(err.value) == message


# ------------------------------------------------------------------------ robustness_problem
def test_robustness_label_targets_and_sets() -> None:
    net = three_class_net()
    x0 = [0.8, 0.6]  # y = (0.8, 0.6, 0.5): label 0, runner-up 1
    top2 = robustness_problem(net, x0, 0.1)
    assert top2.label == 0 and top2.judge == "argmax" and top2.x0.tolist() == x0
    assert top2.meta == {"eps": 0.1, "norm": "linf", "target": "top2", "targets": [1]}
    assert top2.name == "linf eps=0.1 target=top2"
    (conj,) = top2.unsafe  # y0 - y1 <= 0: class 1 at least as high as the label
    assert conj.C.tolist() == [[1.0, -1.0, 0.0]] and conj.d.tolist() == [0.0]
    assert isinstance(top2.input_set, Box)
    np.testing.assert_allclose(top2.input_set.lower, [0.7, 0.5])
    np.testing.assert_allclose(top2.input_set.upper, [0.9, 0.7])

    every = robustness_problem(net, x0, 0.5, target="any", name="all")
    assert every.meta["targets"] == [1, 2] and every.name == "all"
    assert [c.C.tolist() for c in every.unsafe] == [[[1.0, -1.0, 0.0]], [[1.0, 0.0, -1.0]]]
    np.testing.assert_allclose(every.input_set.lower, [0.3, 0.1])  # cut by the [0, 1] domain
    np.testing.assert_allclose(every.input_set.upper, [1.0, 1.0])

    chosen = robustness_problem(net, x0, 0.2, target=2, norm="l1",
                                domain=Box(np.full(2, -5.0), np.full(2, 5.0)))
    assert chosen.meta["targets"] == [2]
    assert isinstance(chosen.input_set, L1Ball) and chosen.input_set.eps == 0.2
    assert chosen.input_set.box.lower.tolist() == [-5.0, -5.0]
    # ties: the label is the lowest index among the top scores (a stable sort)
    assert robustness_problem(net, [0.5, 0.5], 0.1).label == 0
    assert robustness_problem(net, [0.5, 0.5], 0.1).meta["targets"] == [1]


def test_robustness_success_is_the_dense_argmax_changing() -> None:
    net = three_class_net()
    problem = robustness_problem(net, [0.8, 0.6], 0.25, target=2)
    # the MILP targets class 2, but any other dense argmax counts
    assert problem.is_success(np.array([0.6, 0.85]), net.forward([0.6, 0.85]))  # class 1 wins
    assert not problem.is_success(np.array([0.8, 0.6]), net.forward([0.8, 0.6]))
    assert not problem.is_success(np.array([0.2, 0.9]), net.forward([0.2, 0.9]))  # outside
    assert problem.proves(0.1) and not problem.proves(0.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0.5, 0.5, 0.5], 0.1), {}, "x0 has 3 entries, the network takes 2"),
        (([0.5, 0.5], -0.1), {}, "eps must be a finite number >= 0, got -0.1"),
        (([0.5, 0.5], float("inf")), {}, "eps must be a finite number >= 0, got inf"),
        (([0.5, 0.5], "0.1"), {}, "eps must be a finite number >= 0, got '0.1'"),
        (([0.8, 0.6], 0.1), {"norm": "l2"}, "norm must be 'linf' or 'l1', got 'l2'"),
        (([0.8, 0.6], 0.1), {"target": 0},
         "target class must be in [0, 3) and differ from the label 0, got 0"),
        (([0.8, 0.6], 0.1), {"target": 3},
         "target class must be in [0, 3) and differ from the label 0, got 3"),
        (([0.8, 0.6], 0.1), {"target": "all"},
         "target must be 'top2', 'any' or a class index, got 'all'"),
        (([0.8, 0.6], 0.1), {"target": True},
         "target must be 'top2', 'any' or a class index, got True"),
        (([0.8, 1.6], 0.1), {}, "the L-inf ball's center lies outside its input domain box"),
        (([0.8, 1.6], 0.1), {"norm": "l1"},
         "the L1 ball's center lies outside its input domain box"),
    ],
)
def test_robustness_refusals(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        robustness_problem(three_class_net(), *args, **kwargs)
    assert str(err.value) == message


def test_robustness_needs_two_classes() -> None:
    single = random_net([2, 3, 1], seed=0)
    with pytest.raises(InputError) as err:
        robustness_problem(single, [0.5, 0.5], 0.1)
    assert str(err.value) == "a robustness problem needs a network with at least 2 outputs (classes)"


# -------------------------------------------------------------------- problems_from_property
TOY = """
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(declare-const Y_2 Real)
(assert (or (and (>= X_0 0.0) (<= X_0 0.5) (>= X_1 -1.0) (<= X_1 1.0))
            (and (>= X_0 0.5) (<= X_0 1.0) (>= X_1 -1.0) (<= X_1 0.0))))
(assert (or (and (<= Y_0 Y_1) (<= Y_0 Y_2)) (and (>= Y_2 0.25))))
"""


def test_one_problem_per_case_with_the_files_constraints() -> None:
    net = random_net([2, 5, 3], seed=6)
    prop = parse_vnnlib(TOY, path="toy.vnnlib")
    problems = problems_from_property(net, prop)
    assert [p.name for p in problems] == ["toy.vnnlib case 1/2", "toy.vnnlib case 2/2"]
    assert [p.meta for p in problems] == [{"case": 0, "cases": 2}, {"case": 1, "cases": 2}]
    for problem, case in zip(problems, prop.cases, strict=True):
        assert problem.judge == "unsafe" and problem.label is None
        assert problem.input_set is case.box
        assert [c.C.tolist() for c in problem.unsafe] == [
            [[1.0, -1.0, 0.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, -1.0]]]
        assert [c.d.tolist() for c in problem.unsafe] == [[0.0, 0.0], [-0.25]]
    # is_success agrees with the property itself on points of each box
    rng = np.random.default_rng(0)
    agree = {True: 0, False: 0}
    for k, problem in enumerate(problems):
        for x in problem.input_set.sample(300, rng):
            y = net.forward(x)
            expected = prop.cases[k].output_unsafe(y)
            assert problem.is_success(x, y) == expected
            agree[expected] += 1
    assert agree[True] and agree[False]  # both answers were exercised
    assert [p.name for p in problems_from_property(net, prop, name="mine")] == [
        "mine case 1/2", "mine case 2/2"]


def test_a_single_case_is_named_after_the_file_or_vnnlib() -> None:
    net = random_net([2, 4, 3], seed=1)
    case = Case(UNIT2, (OutputConstraint(np.array([[1.0, 0.0, -1.0]]), np.zeros(1)),))
    (named,) = problems_from_property(net, Property(2, 3, (case,), path="p.vnnlib"))
    assert named.name == "p.vnnlib" and named.meta == {"case": 0, "cases": 1}
    (bare,) = problems_from_property(net, Property(2, 3, (case,)))
    assert bare.name == "vnnlib"


def test_an_empty_output_constraint_makes_every_box_point_unsafe() -> None:
    empty = OutputConstraint(np.zeros((0, 3)), np.zeros(0))
    conj = conjunction_of(empty)
    assert conj.C.tolist() == [[0.0, 0.0, 0.0]] and conj.d.tolist() == [0.0]
    net = random_net([2, 4, 3], seed=2)
    (problem,) = problems_from_property(net, Property(2, 3, (Case(UNIT2, (empty,)),)))
    for x in UNIT2.sample(20, np.random.default_rng(2)):
        assert problem.is_success(x, net.forward(x))
    assert not problem.is_success(np.array([1.5, 0.5]), net.forward([1.5, 0.5]))


def test_a_property_of_another_network_is_refused_with_the_fix() -> None:
    net = random_net([2, 4, 3], seed=3)
    case = Case(Box(np.zeros(3), np.ones(3)), (OutputConstraint(np.ones((1, 3)), np.zeros(1)),))
    with pytest.raises(InputError) as err:
        problems_from_property(net, Property(3, 3, (case,), path="other.vnnlib"))
    assert str(err.value) == (
        "the property (other.vnnlib) declares 3 inputs and 3 outputs, the network takes 2 inputs "
        "and gives 3 outputs: check that the .vnnlib file belongs to this .onnx network"
    )
    wrong_outputs = Case(UNIT2, (OutputConstraint(np.ones((1, 2)), np.zeros(1)),))
    with pytest.raises(InputError) as err:
        problems_from_property(net, Property(2, 2, (wrong_outputs,)))
    assert str(err.value).startswith("the property declares 2 inputs and 2 outputs, the network")

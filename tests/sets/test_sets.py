"""Input sets: ``Box``, ``L1Ball``, ``linf_ball``, ``l1_ball``. Validation messages, membership,
projection (exact onto the L1 ball: checked by its optimality condition at every vertex and on
hand-solved cases), samples inside the set, read-only copies of the caller's arrays."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.errors import InputError, SurrogateError
from surrogate.sets import Box, L1Ball, l1_ball, linf_ball


def unit(n: int) -> Box:
    return Box(np.zeros(n), np.ones(n))


def wide(n: int) -> Box:
    """A box so large that it never binds: the set is the plain L1 ball."""
    return Box(np.full(n, -1e6), np.full(n, 1e6))


# ------------------------------------------------------------------------------------ Box
def test_box_copies_and_freezes_its_bounds() -> None:
    lo, hi = np.array([0.0, -1.0]), np.array([1.0, 2.0])
    box = Box(lo, hi)
    lo[0] = 5.0  # the caller's array is copied
    assert box.lower.tolist() == [0.0, -1.0]
    assert box.lower.dtype == np.float64 and not box.lower.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        box.upper[0] = 3.0
    assert box.dim == 2 and box.box is box
    assert box.center().tolist() == [0.5, 0.5]
    # lists, ints and 2-D arrays are read as flat float vectors
    grid = Box([[0, 0], [0, 0]], [[1, 2], [3, 4]])
    assert grid.dim == 4 and grid.upper.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("lower", "upper", "message"),
    [
        ([0.0, 0.0], [1.0, 1.0, 1.0], "upper bound has 3 entries, expected 2"),
        ([0.0, np.nan], [1.0, 1.0], "lower bound contains NaN"),
        ([0.0, 0.0], [np.nan, 1.0], "upper bound contains NaN"),
        ([0.0, -np.inf], [1.0, 1.0], "input bounds must be finite: give a lower and an upper bound "
                                     "for every input (MILP big-M constants come from them)"),
        ([0.0, 0.0], [1.0, np.inf], "input bounds must be finite"),
        ([0.0, 3.0, 5.0], [1.0, 2.0, 4.5],
         "inverted input bounds: lower > upper at 2 entries, first at index 1 (3 > 2)"),
    ],
)
def test_box_refuses_bad_bounds_with_the_reason(lower, upper, message: str) -> None:
    with pytest.raises(InputError) as err:
        Box(np.array(lower), np.array(upper))
    assert message in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, SurrogateError)


def test_box_of_zero_width_is_a_point() -> None:
    box = Box([0.5, 0.25], [0.5, 0.25])
    assert box.contains([0.5, 0.25])
    assert not box.contains([0.5, 0.25 + 1e-6])
    assert box.sample(3, np.random.default_rng(0)).tolist() == [[0.5, 0.25]] * 3


def test_box_contains_with_tolerance_and_projects_by_clipping() -> None:
    box = Box([0.0, -1.0], [1.0, 1.0])
    assert box.contains([1.0, -1.0])  # the boundary is in
    assert box.contains([1.0 + 5e-10, 0.0])  # default tolerance 1e-9
    assert not box.contains([1.0 + 2e-9, 0.0])
    assert not box.contains([1.0 + 1e-3, 0.0], tol=1e-4)
    assert box.contains([1.0 + 1e-3, 0.0], tol=1e-2)
    assert box.project([2.0, -3.0]).tolist() == [1.0, -1.0]
    assert box.project([0.3, 0.2]).tolist() == [0.3, 0.2]
    assert box.project(np.array([[5.0], [0.5]])).shape == (2,)  # flattened


def test_box_samples_stay_inside_and_cover_it() -> None:
    box = Box([-1.0, 0.0, 10.0], [1.0, 0.001, 20.0])
    pts = box.sample(4000, np.random.default_rng(3))
    assert pts.shape == (4000, 3)
    assert all(box.contains(p) for p in pts)
    width = box.upper - box.lower
    assert np.all(pts.min(axis=0) < box.lower + 0.01 * width)  # uniform: reaches both ends
    assert np.all(pts.max(axis=0) > box.upper - 0.01 * width)
    again = box.sample(4000, np.random.default_rng(3))
    np.testing.assert_array_equal(pts, again)  # reproducible from the generator


# --------------------------------------------------------------------------------- L1Ball
def test_l1_ball_fields_bounds_and_membership() -> None:
    ball = L1Ball([0.5, 0.5, 0.9], 0.25, unit(3))
    assert ball.dim == 3 and ball.eps == 0.25 and isinstance(ball.eps, float)
    assert not ball.center.flags.writeable
    # entrywise bounds: the box clipped to center -+ eps
    np.testing.assert_allclose(ball.lower, [0.25, 0.25, 0.65])
    np.testing.assert_allclose(ball.upper, [0.75, 0.75, 1.0])
    assert ball.contains([0.5, 0.5, 0.9])
    assert ball.contains([0.6, 0.4, 0.95])  # |0.1| + |0.1| + |0.05| = 0.25: on the sphere
    assert not ball.contains([0.6, 0.4, 0.8 - 1e-3])  # 0.1 + 0.1 + 0.101 > 0.25
    assert not ball.contains([0.5, 0.5, 1.05])  # in the L1 ball but outside the box
    assert not ball.contains([0.76, 0.5, 0.9])  # outside the L1 ball, inside the box


@pytest.mark.parametrize(
    ("center", "eps", "message"),
    [
        ([0.5, 0.5], 0.1, "center has 2 entries, expected 3"),
        ([0.5, np.nan, 0.5], 0.1, "center contains NaN"),
        ([0.5, 0.5, 0.5], -0.1, "eps must be a finite number >= 0, got -0.1"),
        ([0.5, 0.5, 0.5], np.inf, "eps must be a finite number >= 0, got inf"),
        ([0.5, 0.5, 0.5], np.nan, "eps must be a finite number >= 0, got nan"),
        ([0.5, 1.5, 0.5], 0.1, "the L1 ball's center lies outside its input domain box"),
    ],
)
def test_l1_ball_refuses_bad_arguments_with_the_reason(center, eps: float, message: str) -> None:
    with pytest.raises(InputError) as err:
        L1Ball(np.array(center), eps, unit(3))
    assert message in str(err.value)


def test_l1_projection_known_cases() -> None:
    ball = L1Ball(np.zeros(2), 2.0, wide(2))
    # (3, 1): soft threshold 1 -> (2, 0); (2, 2): threshold 1 -> (1, 1); signs are kept
    np.testing.assert_allclose(ball.project([3.0, 1.0]), [2.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(ball.project([2.0, 2.0]), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(ball.project([-2.0, 2.0]), [-1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(ball.project([0.0, -5.0]), [0.0, -2.0], atol=1e-12)
    # around another center, in 3-D: d = (4, -1, 0.5), eps 3 -> threshold 1 -> (3, 0, 0)
    shifted = L1Ball(np.array([1.0, 2.0, 3.0]), 3.0, wide(3))
    np.testing.assert_allclose(shifted.project([5.0, 1.0, 3.5]), [4.0, 2.0, 3.0], atol=1e-12)
    # ties: (1, 1, 1) onto eps 1 is (1/3, 1/3, 1/3)
    tie = L1Ball(np.zeros(3), 1.0, wide(3))
    np.testing.assert_allclose(tie.project([1.0, 1.0, 1.0]), [1 / 3] * 3, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_l1_projection_is_the_euclidean_projection(seed: int) -> None:
    """``y`` is the projection of ``x`` onto the convex set ``K`` iff ``y`` is in ``K`` and
    ``(x - y) . (z - y) <= 0`` for every ``z`` in ``K``; the left side is linear in ``z``, so for
    the L1 ball (a polytope) it is enough to check the ``2n`` vertices ``c -+ eps e_i``."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    center = rng.normal(size=n)
    eps = float(rng.uniform(0.05, 3.0))
    ball = L1Ball(center, eps, wide(n))
    vertices = np.vstack([center + eps * np.eye(n), center - eps * np.eye(n)])
    for _ in range(40):
        x = center + rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0]) * (rng.random(n) < 0.7)
        y = ball.project(x)
        assert ball.contains(y, tol=1e-9)
        if np.abs(x - center).sum() <= eps:
            np.testing.assert_array_equal(y, x)  # a point of the set is its own projection
            continue
        assert np.abs(y - center).sum() == pytest.approx(eps, rel=1e-9)  # lands on the sphere
        assert np.max((vertices - y) @ (x - y)) <= 1e-9 * max(1.0, float(np.abs(x).max()))
        # and no vertex or sampled point of the ball is closer to x
        others = np.vstack([vertices, ball.sample(200, rng)])
        assert np.linalg.norm(x - y) <= np.linalg.norm(others - x, axis=1).min() + 1e-9


def test_l1_projection_with_a_binding_box_stays_in_the_set() -> None:
    """With the box binding the projection is clip, L1-shrink, clip: a point of the set (the
    callers only need membership), and a point of the set is left where it is."""
    rng = np.random.default_rng(7)
    ball = L1Ball(np.full(5, 0.9), 1.5, unit(5))
    for _ in range(200):
        x = rng.uniform(-2.0, 3.0, size=5)
        y = ball.project(x)
        assert ball.contains(y)
        z = ball.sample(1, rng)[0]
        np.testing.assert_array_equal(ball.project(z), z)


@pytest.mark.parametrize("eps", [0.0, 0.01, 0.7, 5.0])
def test_l1_samples_stay_inside_and_move(eps: float) -> None:
    ball = L1Ball(np.array([0.2, 0.5, 0.95, 0.0]), eps, unit(4))
    pts = ball.sample(500, np.random.default_rng(1))
    assert pts.shape == (500, 4)
    assert all(ball.contains(p) for p in pts)
    spread = np.abs(pts - ball.center).sum(axis=1)
    if eps == 0.0:
        assert spread.max() == 0.0
    else:
        assert spread.max() > 0.3 * min(eps, 1.0)  # not stuck at the center


# --------------------------------------------------------------------- linf_ball, l1_ball
def test_linf_ball_is_the_box_around_the_center_cut_by_the_domain() -> None:
    free = linf_ball([0.5, -2.0], 0.25)
    assert isinstance(free, Box)
    assert free.lower.tolist() == [0.25, -2.25] and free.upper.tolist() == [0.75, -1.75]
    cut = linf_ball(np.array([0.1, 0.5, 0.95]), 0.2, unit(3))
    np.testing.assert_allclose(cut.lower, [0.0, 0.3, 0.75])
    np.testing.assert_allclose(cut.upper, [0.3, 0.7, 1.0])
    point = linf_ball([0.3, 0.4], 0.0, unit(2))
    assert point.lower.tolist() == point.upper.tolist() == [0.3, 0.4]


@pytest.mark.parametrize(
    ("center", "eps", "domain", "message"),
    [
        ([0.5, 0.5], -1.0, None, "eps must be a finite number >= 0, got -1.0"),
        ([0.5, 0.5], float("nan"), None, "eps must be a finite number >= 0, got nan"),
        ([0.5, 0.5, 0.5], 0.1, unit(2), "center has 3 entries, the domain 2"),
        ([0.5, 1.2], 0.1, unit(2), "the L-inf ball's center lies outside its input domain box"),
        ([0.5, np.nan], 0.1, None, "center contains NaN"),
    ],
)
def test_linf_ball_refuses_bad_arguments(center, eps: float, domain, message: str) -> None:
    with pytest.raises(InputError) as err:
        linf_ball(np.array(center), eps, domain)
    assert message in str(err.value)


def test_l1_ball_helper_builds_the_l1_ball() -> None:
    ball = l1_ball([0.5, 0.5], 1, unit(2))
    assert isinstance(ball, L1Ball)
    assert ball.eps == 1.0 and ball.center.tolist() == [0.5, 0.5]
    assert ball.box.lower.tolist() == [0.0, 0.0] and ball.box.upper.tolist() == [1.0, 1.0]
    with pytest.raises(InputError, match="the L1 ball's center lies outside its input domain box"):
        l1_ball([0.5, -0.5], 0.1, unit(2))

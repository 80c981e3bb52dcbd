"""The linear_regression solver: normal equation, autograd gradient and Hessian against their closed
forms under each loss convention, the Newton step, and the errors an instructor can make."""

import numpy as np
import pytest
from pydantic import ValidationError

import reference
from grader.rubric import load_rubric
from tests.conftest import rubric_problems

# J(b) = c_J ||y - X b||^2; the gradient is -2 c_J X^T (y - X b) and the Hessian 2 c_J X^T X
SCALE = {"half_sum": lambda n: 0.5, "half_mean": lambda n: 0.5 / n, "mean": lambda n: 1.0 / n}


def solve(**params):
    cls = reference.get("linear_regression")
    return cls(cls.Params.model_validate(params)).solve()


def data(n=7, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=n)


def test_normal_equation_matches_least_squares_with_an_intercept_column():
    features, y = data()
    out = solve(features=features.tolist(), targets=y.tolist(), loss="half_sum")
    X = np.column_stack([np.ones(len(y)), features])
    np.testing.assert_array_equal(out["X"], X)
    expected, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(out["beta_hat"], expected, rtol=1e-12, atol=1e-12)
    assert [out[f"beta_hat[{j}]"] for j in range(4)] == out["beta_hat"]
    np.testing.assert_allclose(out["fitted"], X @ expected, atol=1e-12)
    assert out["loss.beta_hat"] == pytest.approx(0.5 * np.sum((y - X @ expected) ** 2), rel=1e-12)


@pytest.mark.parametrize("loss", sorted(SCALE))
def test_gradient_and_hessian_are_the_closed_forms(loss):
    features, y = data(seed=1)
    beta = np.random.default_rng(2).normal(size=4)
    out = solve(features=features.tolist(), targets=y.tolist(), loss=loss, beta=beta.tolist())
    X = np.column_stack([np.ones(len(y)), features])
    c = SCALE[loss](len(y))
    np.testing.assert_allclose(out["grad"], -2 * c * X.T @ (y - X @ beta), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["hessian"], 2 * c * X.T @ X, rtol=1e-12, atol=1e-12)
    assert out["loss.beta"] == pytest.approx(c * np.sum((y - X @ beta) ** 2), rel=1e-12)
    assert out["grad[2]"] == out["grad"][2]


def test_the_quiz_conventions_gradient_and_hessian():
    """The quiz's q2 criteria: for 1/(2N) ||y - X theta||^2, grad = -(1/N) X^T (y - X theta), H = (1/N) X^T X."""
    features, y = data(n=5, d=2, seed=3)
    theta = [0.5, -1.0, 2.0]
    out = solve(features=features.tolist(), targets=y.tolist(), loss="half_mean", beta=theta)
    X, n = np.column_stack([np.ones(5), features]), 5
    np.testing.assert_allclose(out["grad"], -(1 / n) * X.T @ (y - X @ theta), atol=1e-12)
    np.testing.assert_allclose(out["hessian"], (1 / n) * X.T @ X, atol=1e-12)


@pytest.mark.parametrize("loss", sorted(SCALE))
@pytest.mark.parametrize("start", [0, 1, 2, 3])
def test_one_newton_step_lands_on_the_normal_equation_from_any_start(loss, start):
    features, y = data(seed=4)
    beta = np.random.default_rng(start).normal(scale=10.0 ** start, size=4)
    out = solve(features=features.tolist(), targets=y.tolist(), loss=loss, beta=beta.tolist())
    np.testing.assert_allclose(out["newton.beta"], out["beta_hat"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.add(beta, out["newton.step"]), out["newton.beta"], atol=1e-12)


def test_gradient_vanishes_at_the_normal_equation_solution():
    features, y = data(seed=5)
    beta_hat = solve(features=features.tolist(), targets=y.tolist(), loss="half_sum")["beta_hat"]
    out = solve(features=features.tolist(), targets=y.tolist(), loss="half_sum", beta=beta_hat)
    np.testing.assert_allclose(out["grad"], 0.0, atol=1e-12)


def test_design_given_whole_and_single_features():
    features, y = data(d=1, seed=6)
    column = features[:, 0].tolist()
    with_intercept = solve(features=column, targets=y.tolist(), loss="mean")
    as_rows = solve(features=[[v] for v in column], targets=y.tolist(), loss="mean")
    whole = solve(design=[[1.0, v] for v in column], targets=y.tolist(), loss="mean")
    assert with_intercept["beta_hat"] == as_rows["beta_hat"] == whole["beta_hat"]
    through_origin = solve(features=column, intercept=False, targets=y.tolist(), loss="mean")
    assert through_origin["beta_hat"][0] == pytest.approx(np.dot(column, y) / np.dot(column, column), rel=1e-12)


@pytest.mark.parametrize("params, message", [
    ({"features": [[1, 2], [2, 4], [3, 6]], "targets": [1, 2, 3]},
     "X^T X is singular: X is 3 x 3 with rank 2, because some column is a combination of the others"),
    ({"features": [1, 1, 1], "targets": [1, 2, 3]}, "X is 3 x 2 with rank 1"),
    ({"features": [[1, 2], [3, 4]], "targets": [1, 2]},
     "X is 2 x 3 with rank 2, because fewer observations (2) than columns"),
    ({"features": [[1, 2], [3, 4], [5]], "targets": [1, 2, 3]},
     "features[2]: expected 2 values like features[0], got 1"),
    ({"features": [1, 2, 3], "targets": [1, 2]}, "targets: expected 3 values (one per row of features), got 2"),
    ({"features": [1, 2, 3], "targets": [1, 2, 4], "beta": [1]},
     "beta: expected 2 coefficients (the intercept first), one per column of X, got 1"),
    ({"design": [[1, 2], [1, 3], [1, 5]], "targets": [1, 2, 4], "intercept": False}, "intercept applies to features"),
    ({"targets": [1, 2]}, "exactly one of features"),
    ({"features": [1, 2, 3], "design": [[1], [2], [3]], "targets": [1, 2, 3]}, "exactly one of features"),
    ({"features": [1, 2, float("nan")], "targets": [1, 2, 3]}, "finite number"),
])
def test_bad_parameters_say_what_is_wrong(params, message):
    with pytest.raises(ValidationError) as info:
        solve(loss="half_sum", **params)
    assert message in str(info.value)


def test_a_singular_design_fails_at_rubric_load_with_file_and_line(write):
    text = """\
    id: r
    solvers:
      fit:
        solver: linear_regression
        params: {features: [2, 2, 2], targets: [1, 2, 3], loss: half_sum}
    questions:
      - id: q1
        parts:
          - {id: a, kind: vector, marks: 1, solution: fit.beta_hat}
    """
    problems = rubric_problems(write("r.yaml", text))
    assert any(p.endswith(":5: solvers.fit.params: X^T X is singular: X is 3 x 2 with rank 1, because some column "
                          "is a combination of the others (a repeated feature, or a constant one next to the "
                          "intercept); the normal equation has no unique solution") for p in problems), problems
    fixed = load_rubric(write("r.yaml", text.replace("[2, 2, 2]", "[1, 2, 4]")))
    expected = solve(features=[1, 2, 4], targets=[1, 2, 3], loss="half_sum")["beta_hat"]
    assert fixed.references[("a", "answer")] == pytest.approx(expected)

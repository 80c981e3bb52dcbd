"""The solvers the exam added: gradient descent, the polynomial kernel, cross-entropy, Bayes' rule and
the weighted distance, each held to an independent computation and to its error messages."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from pydantic import ValidationError

import reference
from grader import mathexpr
from reference.gradient_descent import _torch_functions
from tests.conftest import rubric_problems


def solve(name: str, **params) -> dict:
    cls = reference.get(name)
    return cls(cls.Params.model_validate(params)).solve()


def invalid(name: str, message: str, **params) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        solve(name, **params)


# ---------------------------------------------------------------- gradient_descent


def test_gradient_descent_on_the_exams_quadratic():
    out = solve("gradient_descent", function="w^2 + 2w + 1", variable="w", start=5, learning_rate=0.1, steps=2)
    w = [5.0]
    for _ in range(2):
        w.append(w[-1] - 0.1 * (2 * w[-1] + 2))
    assert out["iterates"] == pytest.approx(w) and out["x[2]"] == pytest.approx(2.84)
    assert [out[f"grad[{k}]"] for k in range(3)] == pytest.approx([2 * x + 2 for x in w])
    assert [out[f"f[{k}]"] for k in range(3)] == pytest.approx([(x + 1) ** 2 for x in w])
    assert out["quadratic"] == "yes" and out["second_derivative"] == 2
    assert out["one_step.rate"] == 0.5 and out["one_step.x"] == -1  # the minimiser of (w + 1)^2
    assert out["contraction"] == pytest.approx(0.8) and out["diverging_rate"] == 1
    assert out["faster_rates"] == pytest.approx([0.1, 0.9])


@pytest.mark.parametrize("rate, faster", [(0.05, False), (0.1, False), (0.3, True), (0.89, True), (0.9, False), (0.95, False)])
def test_faster_rates_are_exactly_the_rates_that_get_closer_in_the_same_steps(rate, faster):
    """A rate in faster_rates ends nearer the minimum -1 after 3 steps than 0.1 does; others do not."""
    reference_run = solve("gradient_descent", function="w^2 + 2w + 1", variable="w", start=5, learning_rate=0.1, steps=3)
    low, high = reference_run["faster_rates"]
    run = solve("gradient_descent", function="w^2 + 2w + 1", variable="w", start=5, learning_rate=rate, steps=3)
    nearer = abs(run["x[3]"] + 1) < abs(reference_run["x[3]"] + 1) - 1e-12
    assert (low < rate < high) == faster == nearer


def test_derivatives_come_from_autograd_for_non_polynomials():
    text = "exp(x) - 2x + sigmoid(x) + x*log(1 + x^2) + tanh(x)/2"
    out = solve("gradient_descent", function=text, start=0.3, learning_rate=0.05, steps=3)
    node = mathexpr.parse(text, ("x",)).node

    def f(x: float) -> float:
        return float(mathexpr.evaluate(node, {"x": np.array([x])})[0])

    h = 1e-5
    for k in range(4):
        x = out[f"x[{k}]"]
        assert out[f"f[{k}]"] == pytest.approx(f(x), rel=1e-12)
        assert out[f"grad[{k}]"] == pytest.approx((f(x + h) - f(x - h)) / (2 * h), rel=1e-8)
    curvature = (f(0.3 + h) - 2 * f(0.3) + f(0.3 - h)) / h**2
    assert out["second_derivative"] == pytest.approx(curvature, rel=1e-4)
    assert out["quadratic"] == "no" and out["one_step.rate"] == pytest.approx(1 / out["second_derivative"])
    assert "faster_rates" not in out  # only a quadratic has a fixed contraction


def test_a_line_has_no_one_step_rate_and_a_cubic_is_not_quadratic():
    line = solve("gradient_descent", function="3x - 1", start=2, learning_rate=0.1)
    assert line["second_derivative"] == 0 and "one_step.rate" not in line and line["quadratic"] == "yes"
    cubic = solve("gradient_descent", function="(x - 1)^2*(x + 3)/4", start=2, learning_rate=0.1)
    assert cubic["quadratic"] == "no"


def test_every_built_in_function_has_a_torch_form():
    assert set(_torch_functions()) == set(mathexpr.BUILTINS)


@pytest.mark.parametrize("params, message", [
    ({"function": "w^2 +", "variable": "w"}, "function: 'w^2 +' cannot be read: the expression ends too early"),
    ({"function": "y^2"}, "function: 'y^2' cannot be read: unknown name 'y'"),
    ({"function": "log(x)", "start": -1}, "function: f is undefined at start = -1"),
    ({"function": "__import__('os')"}, "cannot be read"),
])
def test_bad_functions_are_refused(params, message):
    invalid("gradient_descent", message, **{"start": 1, "learning_rate": 0.1, **params})


def test_diverging_iterates_fail_at_rubric_load(write):
    path = write("r.yaml", """\
        id: r
        solvers:
          gd: {solver: gradient_descent, params: {function: "x^4", start: 10, learning_rate: 1, steps: 50}}
        questions:
          - id: q1
            parts:
              - {id: a, kind: number, marks: 1, solution: "gd.x[1]"}
        """)
    problems = rubric_problems(path)
    assert any(":3: solvers.gd.params: the gradient_descent solver cannot solve these: f or f' is not finite at x[4]"
               in p for p in problems), problems


# ---------------------------------------------------------------- polynomial_kernel


@pytest.mark.parametrize("n, degree, c", [(2, 3, 0), (2, 2, 1), (3, 2, 0.5), (1, 4, 2), (3, 3, 0.25)])
def test_the_feature_map_reproduces_the_kernel(n, degree, c):
    names = [f"x{i + 1}" for i in range(n)]
    out = solve("polynomial_kernel", variables=names, degree=degree, c=c)
    rng = np.random.default_rng(n * 10 + degree)
    p, q = rng.uniform(-2, 2, (30, n)), rng.uniform(-2, 2, (30, n))
    phi = [mathexpr.parse(text, names).node for text in out["feature_map"]]

    def features(points):
        env = dict(zip(names, points.T))
        return np.stack([np.broadcast_to(mathexpr.evaluate(node, env), (len(points),)) for node in phi], axis=1)

    np.testing.assert_allclose((features(p) * features(q)).sum(axis=1), ((p * q).sum(axis=1) + c) ** degree,
                               rtol=1e-10, atol=1e-10)
    expected_dimension = math.comb(n + degree, degree) if c else math.comb(n + degree - 1, degree)
    assert out["feature_dimension"] == len(out["feature_map"]) == expected_dimension


def test_the_exams_cubic_feature_map_is_the_textbooks():
    out = solve("polynomial_kernel", variables=["p1", "p2"], degree=3)
    assert out["feature_map"] == ["p1^3", "sqrt(3)*p1^2*p2", "sqrt(3)*p1*p2^2", "p2^3"]
    with_constant = solve("polynomial_kernel", variables=["x"], degree=2, c=0.5)
    assert with_constant["feature_map"] == ["x^2", "x", "(1/2)"]  # (x y + 1/2)^2 = x^2 y^2 + x y + 1/4


def test_gram_matrix_eigenvalues_and_psd():
    points = [[1, 2], [0, -1], [3, 1], [-2, 0.5]]
    out = solve("polynomial_kernel", variables=["x1", "x2"], degree=2, c=1, points=points)
    x = np.array(points)
    gram = (x @ x.T + 1) ** 2
    np.testing.assert_allclose(out["gram"], gram)
    np.testing.assert_allclose(out["eigenvalues"], np.linalg.eigvalsh(gram), rtol=1e-10)
    assert out["psd"] == "yes" and out["min_eigenvalue"] > 0


@pytest.mark.parametrize("params, message", [
    ({"c": -1}, "c\n  Input should be greater than or equal to 0"),
    ({"points": [[1, 2], [1, 2, 3]]}, "points[1]: expected 2 coordinates (one per variable p1, p2), got 3"),
    ({"variables": ["p1", "p1"]}, "the names must be distinct"),
    ({"variables": ["p 1", "p2"]}, "'p 1' is not a variable name"),
])
def test_bad_kernel_parameters_are_refused(params, message):
    invalid("polynomial_kernel", message, **{"variables": ["p1", "p2"], "degree": 3, **params})


# ---------------------------------------------------------------- cross_entropy


def test_cross_entropy_of_given_probabilities():
    out = solve("cross_entropy", probabilities=[0.2, 0.1, 0.7, 0.0], target=[0, 0, 1, 0])
    assert out["loss"] == pytest.approx(-math.log(0.7)) and out["terms"][3] == 0 and out["predicted_class"] == 2
    assert solve("cross_entropy", probabilities=[0.2, 0.1, 0.7, 0.0], target=2)["loss"] == out["loss"]
    bits = solve("cross_entropy", probabilities=[0.5, 0.25, 0.25], target=1, log_base="2")
    assert bits["loss"] == pytest.approx(2.0)
    soft = solve("cross_entropy", probabilities=[0.5, 0.5], target=[0.25, 0.75])
    assert soft["loss"] == pytest.approx(math.log(2))


@pytest.mark.parametrize("params, message", [
    ({"target": 3}, "target: class 3 has target 1 but probability 0, so the loss is infinite"),
    ({"target": 4}, "target: class index 4 is out of range for 4 classes"),
    ({"probabilities": [0.2, 0.1, 0.6, 0.0]}, "probabilities: expected non-negative values summing to 1"),
    ({"target": [0, 1, 0]}, "target: expected 4 values, one per class, got 3"),
])
def test_bad_cross_entropy_parameters_are_refused(params, message):
    invalid("cross_entropy", message, **{"probabilities": [0.2, 0.1, 0.7, 0.0], "target": 2, **params})


# ---------------------------------------------------------------- bayes

BAGS = {
    "hypotheses": ["bag1", "bag2"], "priors": ["1/2", "1/2"], "likelihoods": ["w1/(w1 + b1)", "w2/(w2 + b2)"],
    "variables": ["w1", "b1", "w2", "b2"],
}


def test_bayes_posterior_formula_and_the_matching_choice():
    choices = {"a": "w1/(w1 + b1)", "c": "w1*(b1 + b2)/(w1*(b1 + b2) + w2*(b1 + b2))",
               "d": "w1*(w2 + b2)/(w1*(w2 + b2) + w2*(w1 + b1))"}
    out = solve("bayes", **BAGS, choices=choices, none_of_the_above="e")
    assert out["choice.bag1"] == "d" and out["choice.bag2"] == "e"
    node = mathexpr.parse(out["posterior.bag1"], BAGS["variables"]).node
    w1, b1, w2, b2 = 3, 5, 4, 1
    value = mathexpr.evaluate(node, {"w1": np.array([w1]), "b1": np.array([b1]), "w2": np.array([w2]), "b2": np.array([b2])})
    assert value[0] == pytest.approx((w1 / 8) / (w1 / 8 + w2 / 5))


def test_bayes_with_numbers_gives_values():
    out = solve("bayes", hypotheses=["sick", "well"], priors=[0.01, 0.99], likelihoods=[0.9, 0.05])
    assert out["posterior_value.sick"] == pytest.approx(0.009 / (0.009 + 0.0495))
    assert out["posterior_value.sick"] + out["posterior_value.well"] == pytest.approx(1)


@pytest.mark.parametrize("params, message", [
    ({"priors": ["1/2", "1/3"]}, "priors: they must sum to 1, but sum to 0.833333"),
    ({"likelihoods": ["w1", "w2/(w2 + b2)"]}, "likelihoods[0]: 'w1' must be a probability in [0, 1]"),
    ({"likelihoods": ["w1/(w1 + b1)"]}, "likelihoods: expected 2 values, one per hypothesis, got 1"),
    ({"choices": {"a": "w1 +"}}, "choices.a: 'w1 +' cannot be read"),
    ({"choices": {"a": "w1"}, "none_of_the_above": None}, None),
])
def test_bad_bayes_parameters_are_refused(params, message):
    if message is None:  # no choice matches and there is no "none of the above": a solve error
        with pytest.raises(ValueError, match="no choice equals the posterior of bag1"):
            solve("bayes", **{**BAGS, **params})
        return
    invalid("bayes", message, **{**BAGS, **params})


# ---------------------------------------------------------------- weighted_distance

POINTS = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 2, -1]]


def test_weighted_distance_facts():
    x = np.array(POINTS, dtype=float)
    diagonal = solve("weighted_distance", A=[[1, 0, 0], [0, 4, 0], [0, 0, 1]], points=POINTS)
    d = x[:, None] - x[None]
    np.testing.assert_allclose(diagonal["distances"], (d**2 * [1, 4, 1]).sum(axis=2))
    assert diagonal["euclidean_multiple"] == "no" and "euclidean_factor" not in diagonal
    scaled = solve("weighted_distance", A=[[3, 0, 0], [0, 3, 0], [0, 0, 3]], points=POINTS)
    assert scaled["euclidean_multiple"] == "yes" and scaled["euclidean_factor"] == pytest.approx(3)
    low_rank = solve("weighted_distance", A=[[0.36, 0.48, 0], [0.48, 0.64, 0], [0, 0, 1]], points=POINTS,
                     projection=[[0.6, 0.8, 0], [0, 0, 1]])
    assert low_rank["rank"] == 2 and low_rank["equals_projection"] == "yes"
    wrong_projection = solve("weighted_distance", A=[[0.36, 0.48, 0], [0.48, 0.64, 0], [0, 0, 1]], points=POINTS,
                             projection=[[0.8, 0.6, 0], [0, 0, 1]])
    assert wrong_projection["equals_projection"] == "no"
    lopsided = solve("weighted_distance", A=[[1, 2, 0], [0, 1, 0], [0, 0, 1]], points=POINTS)
    assert lopsided["symmetric_matrix"] == "no" and lopsided["symmetric_in_arguments"] == "yes"


def test_bad_distance_parameters_are_refused():
    invalid("weighted_distance", "A: must be square (2 x 2, as it has 2 rows), got 3 columns in row 0",
            A=[[1, 0, 0], [0, 1, 0]], points=POINTS)
    invalid("weighted_distance", "points[1]: expected 3 coordinates (A is 3 x 3), got 2",
            A=np.eye(3).tolist(), points=[[0, 0, 0], [1, 0]])
    invalid("weighted_distance", "projection: expected 3 columns (W maps R^3), got 2 in row 0",
            A=np.eye(3).tolist(), points=POINTS, projection=[[1, 0]])

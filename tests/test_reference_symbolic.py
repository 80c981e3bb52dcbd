"""The derivatives solver (chain rule through named intermediates, emitted in our grammar) and the
activation_gradients solver (autograd derivatives, searched maxima)."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

import reference
from grader import mathexpr
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT, rubric_problems

NET = ["x", "w1", "b1", "w2", "b2", "y"]
FORWARD = {"z1": "w1*x + b1", "a1": "sigmoid(z1)", "z2": "w2*a1 + b2", "a2": "sigmoid(z2)"}
BCE = {**FORWARD, "L": "-(y*log(a2) + (1 - y)*log(1 - a2))"}


def solve(name, **params):
    cls = reference.get(name)
    return cls(cls.Params.model_validate(params)).solve()


def values(text, variables, definitions, env):
    """The emitted expression's values at the points in `env`, read with our own parser and evaluator."""
    names = (*variables, *definitions)
    parsed = mathexpr.parse_definitions(tuple(definitions.items()), variables)
    node = mathexpr.parse(text, names).node
    return mathexpr.evaluate(node, mathexpr.compile_definitions(parsed)(env))


def central_difference(f, env, name, h=1e-6):
    up, down = dict(env), dict(env)
    up[name], down[name] = env[name] + h, env[name] - h
    return (f(up) - f(down)) / (2 * h)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def bce_loss(v):
    """The Q2 network and loss, written independently of the solver."""
    a2 = sigmoid(v["w2"] * sigmoid(v["w1"] * v["x"] + v["b1"]) + v["b2"])
    return -(v["y"] * np.log(a2) + (1 - v["y"]) * np.log(1 - a2))


def random_env(names, low=-1.5, high=1.5, n=12, seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(low, high, n) for name in names}


# --- derivatives ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bce():
    return solve("derivatives", variables=NET, definitions=BCE,
                 derivatives={"dL_dw2": ["L", "w2"], "dL_db2": ["L", "b2"], "dL_dw1": ["L", "w1"],
                              "dL_db1": ["L", "b1"], "dL_dz2": ["L", "z2"], "dL_dx": ["L", "x"]})


def test_bce_gradients_are_written_as_a_person_writes_them(bce):
    assert bce["dL_dw2"] == "(a2 - y)*a1"
    assert bce["dL_db2"] == "a2 - y"
    assert bce["dL_dw1"] == "(a2 - y)*w2*a1*(1 - a1)*x"
    assert bce["dL_db1"] == "(a2 - y)*w2*a1*(1 - a1)"


def test_with_respect_to_an_intermediate_is_the_assignments_hint(bce):
    """Assignment 1's hint: dL/dz2 = a2 - y (z2 varied, everything before it held)."""
    assert bce["dL_dz2"] == "a2 - y"


@pytest.mark.parametrize("output, wrt", [("dL_dw2", "w2"), ("dL_db2", "b2"), ("dL_dw1", "w1"), ("dL_db1", "b1"),
                                         ("dL_dx", "x")])
def test_bce_gradients_match_finite_differences_of_an_independent_forward_pass(bce, output, wrt):
    env = random_env(NET)
    env["y"] = np.random.default_rng(1).uniform(0, 1, 12)
    np.testing.assert_allclose(values(bce[output], NET, BCE, env), central_difference(bce_loss, env, wrt),
                               rtol=1e-6, atol=1e-9)


def test_tanh_derivative_through_its_output():
    out = solve("derivatives", variables=["z"], definitions={"h": "tanh(z)"}, derivatives={"dh_dz": ["h", "z"]},
                domain={"z": [-3, 3]})
    assert out["dh_dz"] == "1 - h^2"
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(values(out["dh_dz"], ["z"], {"h": "tanh(z)"}, {"z": z}), 1 / np.cosh(z) ** 2, rtol=1e-12)


def test_elu_derivative_for_negative_inputs():
    definitions = {"a": "alpha*(exp(z) - 1)"}
    out = solve("derivatives", variables=["z", "alpha"], definitions=definitions, derivatives={"da_dz": ["a", "z"]},
                domain={"z": [-4, -0.01], "alpha": [0.1, 2]})
    assert out["da_dz"] == "alpha*exp(z)"
    env = {"z": np.linspace(-4, -0.01, 9), "alpha": np.linspace(0.1, 2, 9)}
    elu = lambda v: np.where(v["z"] > 0, v["z"], v["alpha"] * (np.exp(v["z"]) - 1))  # noqa: E731
    np.testing.assert_allclose(values(out["da_dz"], ["z", "alpha"], definitions, env),
                               central_difference(elu, env, "z"), rtol=1e-6)


SOFTMAX = {"Z": "exp(z1) + exp(z2) + exp(z3)", "s1": "exp(z1)/Z", "s2": "exp(z2)/Z", "s3": "exp(z3)/Z"}


def test_softmax_jacobian_entries_are_s_i_times_delta_ij_minus_s_j():
    pairs = {f"ds{i}_dz{j}": [f"s{i}", f"z{j}"] for i in (1, 2, 3) for j in (1, 2, 3)}
    out = solve("derivatives", variables=["z1", "z2", "z3"], definitions=SOFTMAX, derivatives=pairs,
                domain={f"z{j}": [-2, 2] for j in (1, 2, 3)})
    assert out["ds1_dz1"] == "s1*(1 - s1)" and out["ds3_dz3"] == "s3*(1 - s3)"
    assert out["ds1_dz2"] == "-s1*s2"
    env = random_env(["z1", "z2", "z3"], seed=2)
    logits = np.stack([env["z1"], env["z2"], env["z3"]])
    s = np.exp(logits) / np.exp(logits).sum(axis=0)
    for i in range(3):
        for j in range(3):
            expected = s[i] * ((i == j) - s[j])
            got = values(out[f"ds{i + 1}_dz{j + 1}"], ["z1", "z2", "z3"], SOFTMAX, env)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_a_quantity_reached_along_two_paths_sums_them():
    """x feeds two hidden sigmoids; dL/dx adds both paths."""
    definitions = {"h1": "sigmoid(u*x)", "h2": "sigmoid(v*x)", "L": "(h1 + h2 - y)^2/2"}
    variables = ["x", "u", "v", "y"]
    out = solve("derivatives", variables=variables, definitions=definitions, derivatives={"dL_dx": ["L", "x"]})
    env = random_env(variables, seed=3)
    loss = lambda e: (sigmoid(e["u"] * e["x"]) + sigmoid(e["v"] * e["x"]) - e["y"]) ** 2 / 2  # noqa: E731
    np.testing.assert_allclose(values(out["dL_dx"], variables, definitions, env), central_difference(loss, env, "x"),
                               rtol=1e-6, atol=1e-9)


def test_latex_style_names_are_normalized():
    out = solve("derivatives", variables=["z_1", r"\theta"], definitions={"a_{1}": r"\sigma(\theta z_1)"},
                derivatives={"da_dtheta": ["a_1", r"\theta"]})
    env = random_env(["z1", "theta"], seed=4)
    expected = CLOSED_FORMS["sigmoid"](env["theta"] * env["z1"]) * env["z1"]
    np.testing.assert_allclose(values(out["da_dtheta"], ["z1", "theta"], {"a1": "sigmoid(theta*z1)"}, env), expected,
                               rtol=1e-12)


@pytest.mark.parametrize("params, field, message", [
    ({"definitions": {"a": "sigmoid(z)", "z": "w*x"}}, "definitions", "a: uses z, defined after it"),
    ({"definitions": {"z": "w*x + z"}}, "definitions", "z: its definition uses z itself"),
    ({"definitions": {"z": "w*q"}}, "definitions", "z: unknown name 'q'"),
    ({"definitions": {"x": "w*x"}}, "definitions", "x: a definition cannot have the name of a variable"),
    ({"definitions": {"exp": "w*x"}}, "definitions", "exp: a definition cannot have the name of a function"),
    ({"definitions": {"z": "w*x", "z_{}": "w"}}, "definitions", "z_{} and another definition are both named z"),
    ({"derivatives": {"d": ["L", "w"]}}, "derivatives", "d: L is neither a variable nor a definition (known: w, x, z)"),
    ({"derivatives": {"d": ["x", "w"]}}, "derivatives", "d: differentiate a defined name, not the variable x"),
    ({"definitions": {"z": "w + 1"}}, "derivatives", "d: z does not depend on x, so the derivative is 0"),
    ({"derivatives": {"d/dw": ["z", "w"]}}, "derivatives", "d/dw: an output name is letters"),
    ({"domain": {"z": [0, 1]}}, "domain", "z: not one of the variables (w, x)"),
    ({"domain": {"x": [1, 0]}}, "domain", "x: need finite low < high"),
    ({"variables": ["w", "x", "2x"]}, "variables", "'2x' is not a usable name"),
])
def test_bad_parameters_say_which_entry_is_wrong(params, field, message):
    base = {"variables": ["w", "x"], "definitions": {"z": "w*x"}, "derivatives": {"d": ["z", "x"]}}
    with pytest.raises(ValidationError) as info:
        solve("derivatives", **{**base, **params})
    assert f"{field}\n  Value error, {message}" in str(info.value)


RUBRIC = """\
id: r
solvers:
  chain:
    solver: derivatives
    params:
      variables: [x, w]
      definitions: {z: w*x, a: sigmoid(z)}
      derivatives: {da_dw: [a, w]}
questions:
  - id: q1
    parts:
      - id: a
        kind: expression
        marks: 1
        options: {variables: [x, w], definitions: {z: w*x, a: sigmoid(z)}}
        solution: chain.da_dw
"""


def test_solver_output_is_an_expression_parts_reference(write):
    rubric = load_rubric(write("r.yaml", RUBRIC))
    assert rubric.references[("a", "answer")] == "a*(1 - a)*x"


@pytest.mark.parametrize("edit, expected", [
    (("{z: w*x, a: sigmoid(z)}\n      derivatives", "{a: sigmoid(z), z: w*x}\n      derivatives"),
     ":7: solvers.chain.params.definitions: a: uses z, defined after it"),
    (("{da_dw: [a, w]}", "{da_dw: [a, v]}"), ":8: solvers.chain.params.derivatives: da_dw: v is neither"),
    (("sigmoid(z)}\n      derivatives", "relu(z)}\n      derivatives"),
     ":5: solvers.chain.params: the derivatives solver cannot solve these: derivatives.da_dw: Heaviside"),
    (("options: {variables: [x, w], definitions: {z: w*x, a: sigmoid(z)}}", "options: {variables: [x, w]}"),
     ":16: questions[0].parts[0].solution: the expression 'a*(1 - a)*x' cannot be used: unknown name 'a'"),
])
def test_bad_derivatives_fail_at_load_with_file_and_line(write, edit, expected):
    problems = rubric_problems(write("r.yaml", RUBRIC.replace(*edit)))
    assert any(expected in p for p in problems), problems


# --- activation_gradients ------------------------------------------------------------------------

def normal_pdf(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def normal_cdf(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


CLOSED_FORMS = {  # derivatives written out by hand, independently of torch
    "sigmoid": lambda z: sigmoid(z) * (1 - sigmoid(z)),
    "tanh": lambda z: 1 - math.tanh(z) ** 2,
    "relu": lambda z: float(z > 0),
    "leaky_relu": lambda z: 1.0 if z > 0 else 0.1,
    "elu": lambda z: 1.0 if z > 0 else 2.0 * math.exp(z),
    "linear": lambda z: 1.0,
    "softplus": lambda z: sigmoid(z),
    "silu": lambda z: sigmoid(z) * (1 + z * (1 - sigmoid(z))),
    "gelu": lambda z: normal_cdf(z) + z * normal_pdf(z),
}
SPECS = ["sigmoid", "tanh", "relu", {"name": "leaky_relu", "negative_slope": 0.1}, {"name": "elu", "alpha": 2.0},
         "linear", "softplus", "silu", "gelu"]
POINTS = [-2.5, -0.3, 0.7, 3.0]


@pytest.fixture(scope="module")
def activations():
    return solve("activation_gradients", activations=SPECS, points=POINTS)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_derivatives_at_points_are_the_closed_forms(activations, name):
    expected = [CLOSED_FORMS[name](z) for z in POINTS]
    assert activations[f"{name}.derivative"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert activations[f"{name}.at[0.7].derivative"] == pytest.approx(CLOSED_FORMS[name](0.7), rel=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_searched_maximum_matches_the_closed_forms_maximum(activations, name):
    """The reported maximum is the hand-written derivative at the reported point, and no point of a
    fine grid (nor one just either side of 0, where the kinks are) does better."""
    found, where = activations[f"{name}.max_derivative"], activations[f"{name}.argmax"]
    assert CLOSED_FORMS[name](where) == pytest.approx(found, rel=1e-12)
    grid = np.concatenate([np.linspace(-50, 50, 200_001), np.linspace(-1e-6, 1e-6, 2001)])
    assert max(CLOSED_FORMS[name](z) for z in grid) <= found * (1 + 1e-12)


def test_the_quiz_facts_come_out_of_the_search(activations):
    """Sigmoid's gradient peaks at 1/4 where its output is 1/2; GELU's peak is at sqrt(2)."""
    assert activations["sigmoid.max_derivative"] == pytest.approx(0.25, abs=1e-15)
    assert sigmoid(activations["sigmoid.argmax"]) == pytest.approx(0.5, abs=1e-7)
    assert activations["gelu.argmax"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert activations["relu.at[3].value"] == 3.0 and activations["relu.at[3].derivative"] == 1.0


def test_the_quiz_q6_answers_come_from_the_solver():
    rubric = load_rubric(ROOT / "rubrics" / "dl-quiz.yaml")
    entries = {(e.part, e.criterion): e for e in build_key(rubric).entries}
    sigmoid_max, relu = entries[("q6", "sigmoid_max")], entries[("q6", "relu")]
    assert sigmoid_max.source == relu.source == "solver"
    assert sigmoid_max.value == pytest.approx(CLOSED_FORMS["sigmoid"](0.0), abs=1e-15)
    assert relu.value == CLOSED_FORMS["relu"](2.0)


def test_labels_tell_two_settings_of_one_activation_apart():
    out = solve("activation_gradients", points=[-1], activations=[
        {"name": "elu", "alpha": 0.5, "label": "elu_half"}, {"name": "elu", "alpha": 1.0}])
    assert out["elu_half.at[-1].derivative"] == pytest.approx(0.5 * math.exp(-1), rel=1e-12)
    assert out["elu.at[-1].derivative"] == pytest.approx(math.exp(-1), rel=1e-12)
    assert out["elu_half.max_derivative"] == pytest.approx(1.0) and out["elu.max_derivative"] == pytest.approx(1.0)


def test_elu_with_alpha_one_is_differentiable_at_zero():
    out = solve("activation_gradients", activations=["elu"], points=[0])
    assert out["elu.at[0].derivative"] == 1.0


@pytest.mark.parametrize("params, message", [
    ({"activations": ["relu"], "points": [0]}, "relu has no derivative at z = 0 (a kink)"),
    ({"activations": [{"name": "leaky_relu", "negative_slope": 0.2}], "points": [1, 0]},
     "leaky_relu has no derivative"),
    ({"activations": [{"name": "elu", "alpha": 2}], "points": [0]}, "elu has no derivative at z = 0"),
    ({"activations": ["tanh", "tanh"]}, "activations[1]: tanh is used twice; give one a label"),
    ({"activations": [{"name": "tanh", "alpha": 2}]}, "alpha applies only to elu, not tanh"),
    ({"activations": ["swish"]}, "Input should be"),
    ({"activations": []}, "at least 1 item"),
    ({"activations": ["tanh"], "points": [float("inf")]}, "finite number"),
])
def test_bad_activation_parameters(params, message):
    with pytest.raises(ValidationError) as info:
        solve("activation_gradients", **params)
    assert message in str(info.value)


def test_a_kink_fails_at_rubric_load_with_file_and_line(write):
    path = write("r.yaml", """\
    id: r
    solvers:
      act:
        solver: activation_gradients
        params: {activations: [relu], points: [0]}
    questions:
      - id: q1
        parts:
          - {id: a, kind: number, marks: 1, solution: "act.relu.at[0].derivative"}
    """)
    assert any(":5: solvers.act.params: points: relu has no derivative at z = 0" in p for p in rubric_problems(path))

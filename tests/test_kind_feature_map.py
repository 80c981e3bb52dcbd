"""The `feature_map` kind: any valid feature map passes (reordered, sign-flipped, rotated, split),
wrong coefficients fail, unreadable components are reported, and the reference is checked at load."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from grader.batch import grade_file
from grader.key import build_key
from grader.kinds import InvalidAnswer, get, names
from grader.rubric import load_rubric
from tests.conftest import make, rubric_problems

CUBIC = ["p1^3", "sqrt(3)*p1^2*p2", "sqrt(3)*p1*p2^2", "p2^3"]
# (x.y)^2 in 2-D: phi = [x1^2, sqrt(2) x1 x2, x2^2]
QUADRATIC = ["x1^2", "sqrt(2)*x1*x2", "x2^2"]


@pytest.fixture(scope="module")
def cubic():
    comparator = make("feature_map", variables=["p1", "p2"], kernel={"polynomial": {"degree": 3}})
    return comparator, comparator.reference(CUBIC)


@pytest.fixture(scope="module")
def quadratic():
    comparator = make("feature_map", variables=["x1", "x2"], kernel="(x1*y1 + x2*y2)^2", second_point=["y1", "y2"])
    return comparator, comparator.reference(QUADRATIC)


def status(pair, answer) -> str:
    comparator, reference = pair
    return comparator.check(answer, reference).status


def test_registered_and_the_reference_is_canonical(cubic):
    assert "feature_map" in names()
    comparator, reference = cubic
    assert reference == CUBIC
    assert comparator.show(reference).startswith("[p1^3, sqrt(3)*p1^2*p2")
    assert comparator.reference([r"\sqrt{3}p_1^2p_2", "p_1^3", "p2^3", "sqrt(3) p1 p2^2"]) == [
        "sqrt(3)*p1^2*p2", "p1^3", "p2^3", "sqrt(3)*p1*p2^2"]


@pytest.mark.parametrize("answer", [
    CUBIC,
    ["p2^3", "sqrt(3)*p1*p2^2", "p1^3", "sqrt(3)*p1^2*p2"],  # another order
    ["-p1^3", "sqrt(3)*p1^2*p2", "-sqrt(3)*p1*p2^2", "p2^3"],  # components negated
    ["p1^3", "p1^2*p2", "p1^2*p2", "p1^2*p2", "p1*p2^2", "p1*p2^2", "p1*p2^2", "p2^3"],  # 3 x^2y split in three
    "[p1^3, sqrt(3) p1^2 p2, sqrt(3) p1 p2^2, p2^3]",  # one string, unquoted components
    json.dumps(CUBIC),  # one string holding a JSON list
    ["p1^3", "3^(1/2)*p1^2*p2", "sqrt(3)*p1*p2*p2", "p2*p2^2", 0],  # other forms, and a zero component
])
def test_any_valid_feature_map_passes(cubic, answer):
    assert status(cubic, answer) == "correct"


def test_a_rotation_of_a_valid_map_passes(quadratic):
    """phi' = R phi for an orthogonal R keeps phi'(p).phi'(q) = phi(p).phi(q)."""
    rotated = ["(x1^2 + x2^2)/sqrt(2)", "(x1^2 - x2^2)/sqrt(2)", "sqrt(2)*x1*x2"]
    assert status(quadratic, rotated) == "correct"
    assert status(quadratic, ["0.6*x1^2 + 0.8*x2^2", "0.8*x1^2 - 0.6*x2^2", "sqrt(2)*x2*x1"]) == "correct"


@pytest.mark.parametrize("answer", [
    ["p1^3", "3*p1^2*p2", "3*p1*p2^2", "p2^3"],  # coefficients 3 instead of sqrt(3)
    ["p1^3", "p1^2*p2", "p1*p2^2", "p2^3"],  # coefficients left out
    ["p1^3", "sqrt(3)*p1^2*p2", "p2^3"],  # a component missing
    ["abs(p1)^3", "sqrt(3)*p1^2*p2", "sqrt(3)*p1*p2^2", "p2^3"],  # right only for p1 >= 0
    ["p1^3", "sqrt(3)*p1^2*p2", "sqrt(3)*p1*p2^2", "p2^3", "p1"],  # an extra component
])
def test_wrong_feature_maps_fail_with_a_point_that_shows_it(cubic, answer):
    comparator, reference = cubic
    verdict = comparator.check(answer, reference)
    assert verdict.status == "incorrect"
    assert re.search(r"at p = \(.+\), q = \(.+\), phi\(p\)\.phi\(q\) = .+ but k\(p, q\) = ", verdict.message)
    assert "sqrt(3)" not in verdict.message  # the reference map is never quoted


def test_an_undefined_component_is_wrong_not_an_error(cubic):
    verdict = cubic[0].check(["sqrt(p1)^6", "sqrt(3)*p1^2*p2", "sqrt(3)*p1*p2^2", "p2^3"], cubic[1])
    assert verdict.status == "incorrect" and verdict.message.startswith(
        "not a feature map of this kernel: component 1 is undefined at p1 = ")


@pytest.mark.parametrize("answer, message", [
    (["p1^3", "sqrt(3)*p1^2*"], "component 2 of 2 ('sqrt(3)*p1^2*') cannot be read: the expression ends too early"),
    (["x1^3"], "component 1 of 1 ('x1^3') cannot be read: unknown name 'x1' at position 1; this answer may use p1, p2"),
    (["__import__('os').system('true')"], "component 1 of 1"),
    ("p1^3 + p2^3", "expected a list of expressions (one per component of phi), got text"),
    (7, "expected a list of expressions (one per component of phi), got a number"),
    ([], "the feature map has no components"),
    (["p1"] * 101, "the feature map has 101 components; at most 100 are accepted"),
    (["p1", {"a": 1}], "component 2 should be an expression, got an object"),
    (["p1", " "], "component 2 is empty"),
])
def test_unreadable_answers_say_which_component(cubic, answer, message):
    with pytest.raises(InvalidAnswer, match=re.escape(message)):
        cubic[0].check(answer, cubic[1])


def test_numbers_as_typed_are_components():
    comparator = make("feature_map", variables=["x"], kernel={"polynomial": {"degree": 1, "c": 4}})
    reference = comparator.reference(["x", 2])
    assert reference == ["x", "2"] and comparator.check(["x", Decimal("-2.0")], reference).status == "correct"


def test_juxtaposition_readings_are_warned_per_component(cubic):
    verdict = cubic[0].check(["p1^3", "sqrt(3)*p1^2*p2", "sqrt(3)*p1p2^2", "p2^3"], cubic[1])
    assert verdict.status == "correct" and verdict.warnings == ["component 3: read 'p1p2' as p1*p2"]


def test_a_wrong_reference_fails_at_load():
    comparator = make("feature_map", variables=["p1", "p2"], kernel={"polynomial": {"degree": 3}})
    with pytest.raises(ValueError, match=r"the reference feature map does not reproduce the kernel: at p = "):
        comparator.reference(["p1^3", "3*p1^2*p2", "3*p1*p2^2", "p2^3"])
    with pytest.raises(ValueError, match="the reference feature map cannot be used: component 1 of 1"):
        comparator.reference(["q1"])


@pytest.mark.parametrize("options, message", [
    ({"kernel": "(x1*y1)^2"}, "a formula kernel needs second_point"),
    ({"kernel": "(x1*y1)^2", "second_point": ["y1", "y2"]}, "second_point has 2 coordinates but variables has 1"),
    ({"kernel": "(x1*x1)^2", "second_point": ["x1"]}, "must use different names, both have x1"),
    ({"kernel": "(x1*z1)^2", "second_point": ["y1"]}, "kernel '(x1*z1)^2' cannot be read: unknown name 'z1'"),
    ({"kernel": {"polynomial": {"degree": 2}}, "second_point": ["y1"]}, "a polynomial kernel needs none"),
    ({"kernel": {"polynomial": {"degree": 2, "c": -1}}}, "greater than or equal to 0"),
    ({"kernel": {"polynomial": {"degree": 2}}, "domain": [1, -1]}, "need finite low < high"),
    ({"kernel": {"polynomial": {"degree": 2}}, "variables": ["x1", "x_1"]}, "declared more than once: x1"),
    ({"kernel": {"polynomial": {"degree": 2}}, "pairs": 0}, "greater than or equal to 1"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        get("feature_map").Options.model_validate({"variables": ["x1"], **options})


def test_a_formula_kernel_undefined_on_the_domain_is_refused():
    comparator = make("feature_map", variables=["x"], kernel="sqrt(x*y)", second_point=["y"])
    with pytest.raises(ValueError, match="the kernel is undefined at some random points of the domain"):
        comparator.reference(["sqrt(x)"])
    positive = make("feature_map", variables=["x"], kernel="sqrt(x*y)", second_point=["y"], domain=[0.1, 4])
    assert positive.reference(["sqrt(x)"]) == ["sqrt(x)"]


RUBRIC = """\
id: kernels
solvers:
  k:
    solver: polynomial_kernel
    params: {variables: [x1, x2], degree: 2, c: 1}
questions:
  - id: q1
    parts:
      - id: phi
        kind: feature_map
        marks: 2
        options: {variables: [x1, x2], kernel: {polynomial: {degree: 2, c: 1}}}
        solution: k.feature_map
"""


def test_in_a_rubric_the_solvers_map_is_the_reference_and_students_are_graded(write):
    rubric = load_rubric(write("r.yaml", RUBRIC))
    assert rubric.references[("phi", "answer")] == ["x1^2", "sqrt(2)*x1*x2", "sqrt(2)*x1", "x2^2", "sqrt(2)*x2", "1"]
    answers = {"student_id": "s1", "answers": {"phi": ["1", "x2^2", "x1^2", "-sqrt(2)*x1", "sqrt(2)*x2", "sqrt(2)*x1*x2"]}}
    result = grade_file(rubric, build_key(rubric), write("s1.json", json.dumps(answers)))
    assert result.score == 2


def test_a_reference_that_does_not_fit_the_kernel_is_a_load_error(write):
    problems = rubric_problems(write("r.yaml", RUBRIC.replace("c: 1}}}", "c: 2}}}")))
    assert any(":13: questions[0].parts[0].solution: the reference feature map does not reproduce the kernel"
               in p for p in problems), problems

"""Reference solvers and their use in rubrics: computed answers, and load errors with file and line."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

import reference
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT, rubric_problems


def solve(name, **params):
    cls = reference.get(name)
    return cls(cls.Params.model_validate(params)).solve()


def test_softmax_with_temperature_matches_the_definition():
    out = solve("softmax", logits=[3, 2, 1, 0, -1], temperature=2, samples=10, target=0, labels=list("abcde"))
    z = [x / 2 for x in [3, 2, 1, 0, -1]]
    total = sum(math.exp(x) for x in z)
    assert out["probs"] == pytest.approx([math.exp(x) / total for x in z], abs=1e-15)
    assert out["expected_counts"] == pytest.approx([10 * p for p in out["probs"]])
    assert out["most_likely"] == "a"
    assert out["cross_entropy"] == pytest.approx(-math.log(out["probs"][0]))
    p = out["probs"]
    closed_form = [[p[i] * ((i == j) - p[j]) / 2 for j in range(5)] for i in range(5)]
    np.testing.assert_allclose(out["jacobian"], closed_form, atol=1e-15)


def test_published_softmax_rounding_differs_from_the_computation():
    """The quiz prints p_a = 0.637; the computed value is 0.63641, which rounds to 0.636."""
    p = solve("softmax", logits=[3, 2, 1, 0, -1])["probs"]
    assert round(p[0], 3) == 0.636 and p[0] == pytest.approx(0.6364086, abs=1e-7)


def test_threshold_metrics_pick_the_best_threshold():
    out = solve("threshold_metrics", scores=[0.25, 0.95, 0.10, 0.70, 0.40, 0.55, 0.30, 0.85, 0.60, 0.05],
                labels=[0, 1, 0, 1, 0, 1, 0, 1, 0, 0], thresholds=[0.2, 0.4, 0.6, 0.8], metric="precision_x_recall")
    assert out["best.threshold"] == 0.4 and out["best.value"] == pytest.approx(2 / 3)
    assert out["at[0.6].precision"] == 0.75 and out["at[0.6].recall"] == 0.75
    assert out["at[0.2].tp"] == 4 and out["at[0.2].fp"] == 4


def test_model_size_counts_parameters_and_shapes():
    out = solve("model_size", layers=[{"type": "linear", "in_features": 2, "out_features": 3},
                                      {"type": "linear", "in_features": 3, "out_features": 1}], input_shape=[4, 2])
    assert out["params.total"] == 13 and out["output_shape"] == [4, 1]
    conv = solve("model_size", layers=[{"type": "conv1d", "in_channels": 3, "out_channels": 8, "kernel_size": 5,
                                        "stride": 2, "padding": 1, "bias": False}], input_shape=[1, 3, 32])
    assert conv["params.total"] == 3 * 8 * 5 and conv["output_shape"] == [1, 8, (32 + 2 - 5) // 2 + 1]
    with pytest.raises(ValueError, match="does not fit"):
        solve("model_size", layers=[{"type": "linear", "in_features": 2, "out_features": 3}], input_shape=[4, 5])


def test_solver_parameters_are_validated():
    with pytest.raises(ValidationError, match="labels: expected 3"):
        solve("softmax", logits=[1, 2, 3], labels=["a"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        solve("softmax", logits=[1, 2], temprature=2)


def test_the_quiz_key_is_computed_by_solvers():
    key = build_key(load_rubric(ROOT / "rubrics" / "dl-quiz.yaml"))
    entries = {(e.part, e.criterion): e for e in key.entries}
    assert entries[("q3.c", "answer")].source == "solver" and entries[("q3.c", "answer")].value == 13
    assert entries[("q5.c", "answer")].solution == "softmax_t2.probs"
    assert key.solutions["softmax_t1"]["partition"] == pytest.approx(sum(math.exp(z) for z in [3, 2, 1, 0, -1]))


RUBRIC = """\
id: r
solvers:
  sm:
    solver: softmax
    params: {logits: [1, 2, 3]}
questions:
  - id: q1
    parts:
      - {id: a, kind: vector, marks: 1, solution: sm.probs}
"""


def load_problems(write, text):
    return rubric_problems(write("r.yaml", text))


def test_rubric_solution_comes_from_the_solver(write):
    rubric = load_rubric(write("r.yaml", RUBRIC))
    assert rubric.references[("a", "answer")] == pytest.approx(solve("softmax", logits=[1, 2, 3])["probs"])


@pytest.mark.parametrize("edit, expected", [
    (("solver: softmax", "solver: softmx"), ":4: solvers.sm.solver: unknown solver 'softmx'; known solvers:"),
    (("solution: sm.probs", "solution: sm.prob"), ":9: questions[0].parts[0].solution: solver 'sm' has no output 'prob'; did you mean probs"),
    (("solution: sm.probs", "solution: other.probs"), "no solver instance 'other'"),
    (("{logits: [1, 2, 3]}", "{logits: [1, 2, 3], labels: [a]}"), ":5: solvers.sm.params: labels: expected 3 names"),
    (("{logits: [1, 2, 3]}", "{logits: 7}"), ":5: solvers.sm.params.logits: Input should be a valid list"),
    (("kind: vector", "kind: matrix"), "answer must be a matrix"),
    (("solution: sm.probs", "solution: sm.probs, answer: [1, 2]"), "needs exactly one of answer"),
])
def test_bad_solver_use_fails_at_load_with_file_and_line(write, edit, expected):
    found = load_problems(write, RUBRIC.replace(*edit))
    assert any(expected in p for p in found), found

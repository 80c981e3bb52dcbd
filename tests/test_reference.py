"""Reference solvers and their use in rubrics: computed answers, and load errors with file and line."""

import math
import re

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


def test_model_size_counts_layers_too_large_to_allocate():
    out = solve("model_size", layers=[{"type": "linear", "in_features": 10**6, "out_features": 10**6},
                                      {"type": "conv1d", "in_channels": 1000, "out_channels": 1000, "kernel_size": 10**6}])
    assert out["params[0]"] == 10**12 + 10**6 and out["weights[1]"] == 10**12


def test_model_size_shape_checks_agree_with_torch():
    """The parameters are refused exactly where torch's forward pass would fail."""
    import random

    import torch

    rng = random.Random(0)

    def likely(size: int) -> int:  # mostly the size that fits, so that both outcomes are common
        return size if rng.random() < 0.8 else rng.randint(1, 4)

    for _ in range(300):
        shape = [rng.randint(1, 6) for _ in range(rng.randint(1, 4))]
        features, channels, layers = shape[-1], shape[-2] if len(shape) > 1 else 1, []
        for _ in range(rng.randint(1, 3)):
            out = rng.randint(1, 4)
            if rng.random() < 0.5:
                layers.append({"type": "linear", "in_features": likely(features), "out_features": out})
                features = out
            else:
                layers.append({"type": "conv1d", "in_channels": likely(channels), "out_channels": out,
                               "kernel_size": rng.randint(1, 4), "stride": rng.randint(1, 3),
                               "padding": rng.randint(0, 2)})
                channels = out
        model = torch.nn.Sequential(*(torch.nn.Linear(l["in_features"], l["out_features"]) if l["type"] == "linear"
                                      else torch.nn.Conv1d(l["in_channels"], l["out_channels"], l["kernel_size"],
                                                           stride=l["stride"], padding=l["padding"]) for l in layers))
        try:
            expected = list(model(torch.zeros(*shape)).shape)
        except RuntimeError:
            expected = None
        try:
            got = solve("model_size", layers=layers, input_shape=shape)["output_shape"]
        except ValidationError as exc:
            assert expected is None and "does not fit" in str(exc), (layers, shape, expected, exc)
        else:
            assert got == expected, (layers, shape)


@pytest.mark.parametrize("name, params, message", [
    ("threshold_metrics", {"scores": [0.9, 0.1], "labels": [1, 0], "thresholds": [0.5, 0.5]}, "repeats thresholds[0]"),
    ("softmax", {"logits": [800, 0]}, "span 800"),
    ("attention", {"inputs": [[1.0]], "heads": [{"W_Q": [[1.0]], "W_K": [[1.0]], "W_V": [[1.0]]}], "W_O": []},
     "at least 1 item"),
    ("model_size", {"layers": [{"type": "linear", "in_features": 2, "out_features": 3}], "input_shape": []},
     "at least 1 item"),
    ("gradient_descent", {"function": "2", "start": 1, "learning_rate": 0.1}, "does not involve x"),
    ("cross_entropy", {"probabilities": [0.5, 0.5], "target": []}, "expected 2 values"),
])
def test_parameters_a_solver_would_crash_on_are_refused(name, params, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        solve(name, **params)


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

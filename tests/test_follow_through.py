"""Follow-through marking: step graphs that reproduce autograd, and scores for answers that
follow from a student's own wrong earlier answers."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from grader.key import build_key
from grader.rubric import load_rubric
from grader.scoring import grade_submission
from grader.submission import read_answer_file
from reference import registry as solvers
from reference.dense import DenseNetwork, DenseParams
from reference.graph import StepGraph
from tests.conftest import rubric_problems


# --- the step graph -----------------------------------------------------------------------------

def _chain() -> StepGraph:
    g = StepGraph()
    g.given("x", 2.0)
    g.given("w", 3.0)
    g.step("z", ["x", "w"], lambda x, w: x * w)
    g.step("y", ["z"], lambda z: z + 1)
    g.step("q", ["x"], lambda x: -x)
    g.group("both", ["y", "q"])
    g.alias("out", "y")
    return g


def test_graph_evaluates_and_replaces_intermediates():
    g = _chain()
    assert g.evaluate()["y"] == 7.0 and g.evaluate()["both"] == [7.0, -2.0] and g.evaluate()["out"] == 7.0
    assert g.evaluate({"z": 10})["y"] == 11.0
    assert g.evaluate({"both": [0, 5]}) == g.evaluate({"y": 0, "q": 5})
    assert g.evaluate({"out": 4})["y"] == 4.0  # an alias replaces what it names


def test_graph_ancestors_cover_aliases_and_groups():
    g = _chain()
    assert g.ancestors("y") == {"z", "x", "w"}
    assert g.ancestors("out") == {"z", "x", "w"}
    assert g.ancestors("both") == {"z", "x", "w"}  # a group stands for its members: theirs
    assert "q" not in g.ancestors("y")


def test_graph_rejects_mistakes_in_its_construction():
    g = _chain()
    with pytest.raises(KeyError, match="defined twice"):
        g.given("x", 1.0)
    with pytest.raises(KeyError, match="before it is defined"):
        g.step("late", ["nope"], float)
    with pytest.raises(ValueError, match="holds 2 values"):
        g.evaluate({"both": [1.0]})


# --- the dense network's chain agrees with autograd ---------------------------------------------

@pytest.mark.parametrize("activation,loss,bias", list(itertools.product(
    ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"],
    ["mse_half", "squared_error", "mse", "bce", "cross_entropy"],
    ["shared", "per-neuron", "none"])))
def test_dense_step_graph_reproduces_autograd(activation, loss, bias):
    rng = random.Random(f"{activation}{loss}{bias}")
    sizes = [3, 4, 2]

    def bias_of(n):
        return {"shared": rng.uniform(-1, 1), "per-neuron": [rng.uniform(-1, 1) for _ in range(n)], "none": None}[bias]

    last = {"bce": "sigmoid", "cross_entropy": "linear"}.get(loss, activation)
    layers = [{"weights": [[rng.uniform(-1, 1) for _ in range(n_in)] for _ in range(n_out)], "bias": bias_of(n_out),
               "activation": act}
              for n_in, n_out, act in [(sizes[0], sizes[1], activation), (sizes[1], sizes[2], last)]]
    target = {"bce": [0.0, 1.0], "cross_entropy": 1}.get(loss, [0.3, -0.2])
    params = DenseParams.model_validate({"layers": layers, "input": [0.5, -1.5, 0.25], "target": target,
                                         "loss": loss, "learning_rate": 0.1, "neuron_names": [["h1", "h2", "h3", "h4"], ["o1", "o2"]],
                                         "names": {"w": "layers[0].weights[1][2]"}})
    solver = DenseNetwork(params)
    outputs = solver.solve()
    graph = solver.steps()
    graph.check_against(outputs)  # raises on the first disagreement
    assert set(outputs) <= set(graph.names())


def _lab8_solver() -> DenseNetwork:
    rubric = load_rubric("rubrics/lab8.yaml")
    return DenseNetwork(DenseParams.model_validate(rubric.assessment.solvers["p1"].params))


def test_lab8_published_wrong_dh1_gives_the_published_dw1():
    """The worked solution's dL/dh1 = 0.054 is wrong, but its dL/dw1 = 0.00065 follows from it."""
    graph = _lab8_solver().steps()
    carried = graph.evaluate({"grad.h1": 0.054, "grad.h2": 0.059})
    assert carried["grad.w1"] == pytest.approx(0.00065, rel=0.01)
    assert carried["grad.b1"] == pytest.approx(+0.0272, rel=0.01)  # printed as -0.0272: a sign error after
    assert graph.evaluate()["grad.w1"] == pytest.approx(0.000438568, rel=1e-6)


def test_a_step_graph_that_disagrees_with_the_solver_fails_at_load(write):
    @solvers.register
    class Broken(solvers.Solver):
        name = "broken_chain_for_test"

        def solve(self):
            return {"y": 2.0}

        def steps(self):
            g = StepGraph()
            g.given("y", 3.0)
            return g

    try:
        path = write("r.yaml", """\
            id: t
            solvers:
              s: {solver: broken_chain_for_test}
            questions:
              - id: q
                parts: [{id: q.a, kind: number, marks: 1, solution: s.y}]
            """)
        problem = rubric_problems(path)[0]
        assert "r.yaml:3" in problem and "step-by-step chain gives y = 3.0, autograd gives 2.0" in problem
    finally:
        solvers._solvers._classes.pop("broken_chain_for_test", None)


# --- scoring ------------------------------------------------------------------------------------

RUBRIC = """\
    id: ft
    follow_through: 0.5
    defaults:
      number: {rtol: 0.01}
    solvers:
      net:
        solver: dense_network
        params:
          layers:
            - {weights: [[0.15, 0.20], [0.25, 0.30]], bias: 0.35, activation: sigmoid}
            - {weights: [[0.40, 0.45], [0.50, 0.55]], bias: 0.60, activation: sigmoid}
          input: [0.05, 0.10]
          target: [0.01, 0.99]
          loss: mse_half
          learning_rate: 0.5
          names: {w1: "layers[0].weights[0][0]", b1: "layers[0].bias"}
          neuron_names: [[h1, h2], [o1, o2]]
    questions:
      - id: q1
        parts:
          - id: q1.h1
            kind: number
            marks: 1
            solution: net.forward.h1
          - id: q1.grads
            criteria:
              - {field: dh1, description: dL/dh1, marks: 1, kind: number, solution: net.grad.h1}
              - {field: dh2, description: dL/dh2, marks: 1, kind: number, solution: net.grad.h2}
              - {field: dw1, description: dL/dw1, marks: 2, kind: number, solution: net.grad.w1}
              - {field: db1, description: dL/db1, marks: 2, kind: number, solution: net.grad.b1, follow_through: 1}
          - id: q1.update
            kind: number
            marks: 1
            follow_through: 0
            solution: net.updated.b1
    """


def _grade(write, answers: dict, rubric_text: str = RUBRIC):
    rubric = load_rubric(write("ft.yaml", rubric_text))
    path = write("a.json", json.dumps({"format": "grader-answers/1", "student_id": "s", "answers": answers}))
    result = grade_submission(rubric, build_key(rubric), read_answer_file(path))
    return {(p.id, c.id): c for p in result.parts() for c in p.criteria}, result


def test_consistent_answers_earn_the_configured_share_and_say_why(write):
    checks, result = _grade(write, {"q1.h1": 0.5933,
                                    "q1.grads": {"dh1": 0.054, "dh2": 0.059, "dw1": 0.00065, "db1": 0.0272},
                                    "q1.update": 0.3364})
    dw1 = checks[("q1.grads", "dw1")]
    assert dw1.score == 1.0 and dw1.status == "partial"  # 50% of 2 marks, the assessment's share
    assert dw1.follow_through.consistent and [a.part for a in dw1.follow_through.antecedents] == ["q1.grads"]
    assert dw1.follow_through.antecedents[0].criterion == "dh1" and dw1.follow_through.antecedents[0].answer == "0.054"
    assert "follows correctly from your earlier answers (q1.grads (dh1))" in dw1.message
    assert "0.000438568" not in dw1.message  # the student's message never quotes the key
    db1 = checks[("q1.grads", "db1")]
    assert db1.score == 2.0 and db1.status == "correct"  # this criterion sets its own share: 100%
    update = checks[("q1.update", "answer")]
    assert update.score == 0.0 and update.follow_through.consistent  # share 0: recorded, not rewarded
    assert checks[("q1.grads", "dh1")].score == 0 and checks[("q1.grads", "dh1")].follow_through is None
    assert result.score == 1 + 0 + 0 + 1 + 2 + 0


def test_an_answer_that_does_not_follow_either_is_a_new_error(write):
    checks, _ = _grade(write, {"q1.grads": {"dh1": 0.054, "dh2": 0.059, "db1": -0.0272}})
    db1 = checks[("q1.grads", "db1")]
    assert db1.score == 0 and db1.status == "incorrect" and not db1.follow_through.consistent
    assert "0.0272" in db1.follow_through.recomputed and "does not follow from your earlier answers" in db1.message


def test_a_wrong_answer_after_right_ones_gets_no_follow_through(write):
    checks, _ = _grade(write, {"q1.grads": {"dh1": 0.036350, "dw1": 0.00065}})
    dw1 = checks[("q1.grads", "dw1")]
    assert dw1.score == 0 and dw1.follow_through is None


def test_right_answers_are_never_changed_and_unreadable_ones_never_used(write):
    checks, _ = _grade(write, {"q1.grads": {"dh1": "a lot", "dh2": 0.041370, "dw1": 0.000438568}})
    assert checks[("q1.grads", "dh1")].status == "invalid"
    assert checks[("q1.grads", "dw1")].status == "correct" and checks[("q1.grads", "dw1")].follow_through is None


def test_a_wrong_forward_value_carries_into_the_gradients_computed_from_it(write):
    """h1 = 0.7 (wrong) makes dL/dz_h1 = dL/dh1 * 0.7 * 0.3; with the right dL/dh1 the student's
    dL/dw1 follows from their h1."""
    wrong_h1_dw1 = 0.036350 * 0.7 * 0.3 * 0.05
    checks, _ = _grade(write, {"q1.h1": 0.7, "q1.grads": {"dh1": 0.036350, "dw1": wrong_h1_dw1}})
    dw1 = checks[("q1.grads", "dw1")]
    assert dw1.follow_through.consistent and dw1.follow_through.antecedents[0].part == "q1.h1"


def test_follow_through_share_must_be_a_fraction(write):
    bad = RUBRIC.replace("follow_through: 0.5", "follow_through: 2")
    [problem] = rubric_problems(write("ft.yaml", bad))
    assert "ft.yaml:2: follow_through:" in problem and "less than or equal to 1" in problem


def test_softmax_and_threshold_chains_agree_with_their_solvers():
    from reference.metrics import ThresholdMetrics, ThresholdParams
    from reference.softmax import Softmax, SoftmaxParams

    for solver in [Softmax(SoftmaxParams(logits=[2.0, 1.0, 0.1], temperature=0.5, samples=100, target=1)),
                   ThresholdMetrics(ThresholdParams(scores=[0.9, 0.8, 0.4, 0.3, 0.1], labels=[1, 0, 1, 1, 0],
                                                    thresholds=[0.2, 0.5], metric="precision_x_recall"))]:
        outputs = solver.solve()
        solver.steps().check_against(outputs)


def test_expected_counts_follow_from_wrong_probabilities(write):
    rubric = """\
        id: sm
        solvers:
          t2: {solver: softmax, params: {logits: [2.0, 1.0, 0.1], temperature: 2, samples: 200}}
        questions:
          - id: q
            parts:
              - {id: q.probs, kind: vector, marks: 1, solution: t2.probs, options: {rtol: 0.01}}
              - {id: q.counts, kind: vector, marks: 1, solution: t2.expected_counts, options: {rtol: 0.01}}
        """
    checks, _ = _grade(write, {"q.probs": [0.5, 0.3, 0.2], "q.counts": [100, 60, 40]}, rubric)
    assert checks[("q.probs", "answer")].score == 0
    counts = checks[("q.counts", "answer")]
    assert counts.score == 1 and counts.follow_through.antecedents[0].part == "q.probs"


def test_the_key_lists_which_checks_each_answer_is_computed_from():
    rubric = load_rubric("rubrics/lab8.yaml")
    entries = {(e.part, e.criterion): e for e in build_key(rubric).entries}
    assert "p1.hidden_grads/h1" in entries[("p1.hidden_grads", "w1")].depends_on
    assert "p1.forward/h1" in entries[("p1.hidden_grads", "w1")].depends_on
    assert "p1.hidden_grads/w3" not in entries[("p1.hidden_grads", "w1")].depends_on
    assert entries[("p1.forward", "h1")].depends_on == []


def test_gradient_descent_iterates_follow_from_a_wrong_first_gradient(write):
    """Exam: f = w^2 + 2w + 1 from w0 = 5, rate 0.1. Forgetting the +2 gives f'(w0) = 10 (not 12);
    w1 = 4.0, f'(w1) = 10 and w2 = 3.0 then follow from it (key: 3.8, 9.6, 2.84)."""
    rubric = load_rubric("rubrics/exam.yaml")
    graph = rubric.graphs["descent"]
    graph.check_against(rubric.solutions["descent"])
    path = write("a.json", json.dumps({"format": "grader-answers/1", "student_id": "s", "answers": {
        "gd.a": {"grad_w0": 10, "w1": 4.0, "grad_w1": 10, "w2": 3.0}}}))
    result = grade_submission(rubric, build_key(rubric), read_answer_file(path))
    gd = {c.id: c for p in result.parts() if p.id == "gd.a" for c in p.criteria}
    assert gd["grad_w0"].score == 0 and gd["grad_w0"].follow_through is None
    for later, source in [("w1", "grad_w0"), ("grad_w1", "w1"), ("w2", "grad_w1")]:
        assert gd[later].score == gd[later].marks and gd[later].follow_through.consistent
        assert [a.criterion for a in gd[later].follow_through.antecedents] == [source]

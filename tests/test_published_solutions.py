"""Published worked solutions graded against computed keys: the computation wins, and every
disagreement is asserted here."""

from grader.batch import grade_file
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT


def criteria_by_status(rubric_name: str, answers: str) -> dict[str, set[str]]:
    rubric = load_rubric(ROOT / "rubrics" / rubric_name)
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / answers)
    out: dict[str, set[str]] = {}
    for part in result.parts():
        for criterion in part.criteria:
            carried = criterion.follow_through is not None and criterion.follow_through.consistent
            out.setdefault("carried" if carried else criterion.status, set()).add(f"{part.id}.{criterion.id}")
    return out


def test_lab8_published_hidden_layer_gradients_are_flagged():
    status = criteria_by_status("lab8.yaml", "lab8/published-solution.json")
    # wrong at their own step: dL/dh1 and dL/dh2, and dL/db1, whose sign is wrong even given them
    assert status["incorrect"] == {"p1.hidden_grads.h1", "p1.hidden_grads.h2", "p1.hidden_grads.b1"}
    # wrong against the key but consistent with the wrong dL/dh1, dL/dh2 (and dL/db1): error carried forward
    assert status["carried"] == {"p1.hidden_grads.w1", "p1.hidden_grads.w2", "p1.hidden_grads.w3",
                                 "p1.hidden_grads.w4", "p1.updated.b1"}
    # the rest, problem 2 and the output layer included, is right within the rubric's tolerance
    assert "p1.output_grads.b2" in status["correct"] and "p2.updated.w6" in status["correct"]
    assert set(status) == {"correct", "incorrect", "carried"}


def test_lab8_db1_is_positive_not_the_published_negative_sum():
    rubric = load_rubric(ROOT / "rubrics" / "lab8.yaml")
    solved = rubric.solutions["p1"]
    assert abs(solved["grad.b1"] - 0.0187256) < 1e-6
    assert abs(solved["grad.b1"] - (solved["grad.z.h1"] + solved["grad.z.h2"])) < 1e-15
    assert abs(solved["grad.h1"] - 0.0363503) < 1e-6  # published 0.054


def test_quiz_published_roundings_pass():
    status = criteria_by_status("dl-quiz.yaml", "dl-quiz/s002-published-solution.json")
    assert "incorrect" not in status and "invalid" not in status

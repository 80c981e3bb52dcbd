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


def test_lab8_published_solution_is_flagged_exactly_where_it_is_wrong():
    rubric = load_rubric(ROOT / "rubrics" / "lab8.yaml")
    status = criteria_by_status("lab8.yaml", "lab8/published-solution.json")
    # wrong at their own step. dL/dh1: computed 0.03635, printed 0.054; dL/dh2: computed 0.04137, printed
    # 0.059 (its own formulas (1.15) and (1.18) give the computed values). dL/db1: computed +0.01873,
    # printed -0.0272: it adds two positive terms, 0.0130 + 0.0142, and prints a negative sum
    assert status["incorrect"] == {"p1.hidden_grads.h1", "p1.hidden_grads.h2", "p1.hidden_grads.b1"}
    # wrong against the key but consistent with those (error carried forward): dL/dw1..dL/dw4 computed
    # 0.000439, 0.000877, 0.000498, 0.000995, printed 0.00065, 0.0013, 0.00071, 0.0014 from the wrong
    # dL/dh; b1 after the step computed 0.3406, printed 0.3636 from the wrong-signed dL/db1
    assert status["carried"] == {"p1.hidden_grads.w1", "p1.hidden_grads.w2", "p1.hidden_grads.w3",
                                 "p1.hidden_grads.w4", "p1.updated.b1"}
    # every other checkable answer passes: the rest of problems 1-2 within the rubric's tolerance, and all of
    # problems 3-8, whose errors (4.2's notes, 6.1's reason, 7.7's dL/dW1, 7.8's underflow claim) lie in
    # parts a person marks
    checks = {f"{part.id}.{item.id}": item.manual for _, part in rubric.assessment.parts() for item in part.items()}
    assert status["correct"] == {c for c, manual in checks.items() if not manual} - status["incorrect"] - status["carried"]
    assert status["manual"] == {c for c, manual in checks.items() if manual}
    assert set(status) == {"correct", "incorrect", "carried", "manual"}


def test_lab8_db1_is_positive_not_the_published_negative_sum():
    rubric = load_rubric(ROOT / "rubrics" / "lab8.yaml")
    solved = rubric.solutions["p1"]
    assert abs(solved["grad.b1"] - 0.0187256) < 1e-6
    assert abs(solved["grad.b1"] - (solved["grad.z.h1"] + solved["grad.z.h2"])) < 1e-15
    assert abs(solved["grad.h1"] - 0.0363503) < 1e-6  # published 0.054


def test_quiz_published_roundings_pass():
    status = criteria_by_status("dl-quiz.yaml", "dl-quiz/s002-published-solution.json")
    assert "incorrect" not in status and "invalid" not in status

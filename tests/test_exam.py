"""The exam (seed 002) as a rubric: its marks, its computed key, and three answer files graded end to
end: the published worked solution (with the disagreements the computation wins), a perfect
student and a student with typical mistakes."""

from __future__ import annotations

import math

import pytest

from grader.batch import grade_file
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def rubric():
    return load_rubric(ROOT / "rubrics" / "exam.yaml")


def statuses(rubric, answers: str) -> dict[str, str]:
    """Criterion `part.criterion` -> status, for every automatic check (manual ones await a person)."""
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / "exam" / answers)
    return {f"{part.id}.{c.id}": c.status for part in result.parts() for c in part.criteria if c.status != "manual"}


def test_marks_follow_the_seed(rubric):
    assessment = rubric.assessment
    marks = {q.id: [p.total_marks for p in q.parts] for q in assessment.questions}
    assert all(marks[f"obj{i}"] == [5] for i in range(1, 13))  # Part I: 12 x 5
    assert marks["mlp"] == [4, 4, 2, 8, 2]
    assert marks["attention"] == [5, 8, 7]
    assert marks["sgd"] == [4, 2, 2, 2, 2, 4, 4]
    assert marks["loss_design"] == [5, 5, 5, 5]
    assert marks["svm"] == [20]
    assert marks["kernel"] == [2, 8, 10]
    assert marks["metric"] == [5, 5, 5, 5]
    assert marks["gd"] == [9, 2, 9]
    # the marking tables' criteria: attention (b) 4 + 4, metric learning 2+2+1 / 2+3 / 3+2 / 3+2
    parts = rubric.part_index
    assert [c.marks for c in parts["metric.a"][1].criteria] == [2, 2, 1]
    assert [c.marks for c in parts["metric.d"][1].criteria] == [3, 2]
    assert sum(q.total_marks for q in assessment.questions) == 220  # every question
    assert assessment.total_marks == 180  # the best 3 of 4 count in Parts II and III


def test_the_key_is_computed_except_for_conceptual_choices(rubric):
    key = build_key(rubric)
    literal = {f"{e.part}.{e.criterion}" for e in key.entries if e.source == "literal"}
    assert literal == {"obj4.choice", "obj10.answer", "sgd.iii.answer", "sgd.iv.initialization", "sgd.iv.learning_rate"}
    values = {f"{e.part}.{e.criterion}": e.value for e in key.entries}
    assert values["obj1.value"] == pytest.approx(0.356675, abs=1e-6)
    assert (values["obj2.answer"], values["obj7.params"], values["obj8.answer"], values["mlp.a.answer"]) == (105, 40, 50, 31)
    assert values["obj7.output_shape"] == [12, 5, 100]
    assert values["obj9.precision_0.5"] == pytest.approx(5 / 6) and values["obj9.recall_0.2"] == 1
    assert values["obj11.answer"] == "d"
    assert (values["mlp.b.answer"], values["mlp.c.answer"], values["mlp.d.dL_dv"], values["mlp.e.v"]) == (24, 81, 18, pytest.approx(-0.8))
    assert values["gd.a.w2"] == pytest.approx(2.84) and values["gd.c.eta"] == 0.5 and values["gd.c.w1"] == -1


def test_obj10s_literal_key_is_what_the_distance_solvers_show(rubric):
    """ACD is published; (a) fails on a diagonal A with unequal entries, so the key is CD."""
    solved = rubric.solutions
    statement_holds = {
        "A": solved["diagonal_weights"]["euclidean_multiple"] == "yes",
        # (b) 'A is rank deficient, so tau cannot be computed': it is computed for a rank-2 A
        "B": not all(math.isfinite(d) for row in solved["low_rank_weights"]["distances"] for d in row),
        "C": solved["low_rank_weights"]["equals_projection"] == "yes",
        "D": solved["symmetric_weights"]["symmetric_in_arguments"] == "yes",
    }
    assert solved["low_rank_weights"]["rank"] == 2 and len(solved["low_rank_weights"]["distances"]) == 4
    assert solved["symmetric_weights"]["symmetric_matrix"] == "yes"
    true = "".join(label for label, holds in statement_holds.items() if holds)
    assert true == "CD" == rubric.references[("obj10", "answer")]


def test_the_attention_note_records_the_reading(rubric):
    note = rubric.assessment.solvers["attention"].note
    assert "W_Q = J" in note and "match the paper and not the recap" in note and "R^2" in note


def test_published_solution(rubric):
    got = statuses(rubric, "published-solution.json")
    flagged = {
        # printed "log(0.7)" = -0.3567; the loss is -log(0.7) = +0.3567: the minus sign was dropped
        "obj1.value": "incorrect",
        # printed ACD; the computed key is CD ((a) is false), so 4 of the 5 options are judged right
        "obj10.answer": "partial",
    }
    passing = {
        "obj2.answer", "obj4.choice", "obj7.params", "obj7.output_shape", "obj8.answer", "obj11.answer",
        "attention.a.W_Q1", "attention.a.W_K1", "attention.a.W_V1", "attention.a.W_Q2", "attention.a.W_K2",
        "attention.a.W_V2", "attention.a.W_O", "attention.b.head1", "attention.b.head2", "attention.b.y",
        "sgd.iii.answer", "sgd.iv.initialization", "sgd.iv.learning_rate", "kernel.c.phi",
    }
    assert {k: v for k, v in got.items() if v not in ("correct", "missing")} == flagged
    assert {k for k, v in got.items() if v == "correct"} == passing
    # The worked solution prints nothing for these (obj9 is left blank; the MLP and gradient-descent
    # questions have no worked solution; attention prints formulas, not the dot products or Q, K).
    assert {k for k, v in got.items() if v == "missing"} == set(got) - passing - set(flagged)


def test_perfect_student_gets_every_automatic_mark(rubric):
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / "exam" / "s001-perfect.json")
    automatic = sum(c.marks for _, part in rubric.assessment.parts() for c in part.items() if not c.manual)
    assert set(statuses(rubric, "s001-perfect.json").values()) == {"correct"}
    assert result.score == automatic == 90 and result.manual_pending == 130
    assert result.warnings == [] and result.errors == []


def test_student_with_typical_mistakes(rubric):
    got = statuses(rubric, "s002-typical-mistakes.json")
    wrong = {
        "obj1.value": "incorrect",  # 0.155: log base 10 instead of the natural log (0.357)
        "obj2.answer": "incorrect",  # 110: five biases counted though the layer has none (105)
        "obj4.choice": "incorrect",
        "obj7.output_shape": "incorrect",  # [12, 5, 94]: padding 3 ignored (length stays 100)
        "obj8.answer": "incorrect",  # 48: the second layer's two biases forgotten (50)
        "obj9.precision_0.2": "incorrect",  # precision and recall swapped at theta = 0.2 (0.75, 1)
        "obj9.recall_0.2": "incorrect",
        "obj10.answer": "partial",  # ACD, as published (CD)
        "obj11.answer": "incorrect",  # (b) weighs each bag by its size, not by 1/2
        "mlp.a.answer": "incorrect",  # 25: biases not counted (31)
        "mlp.d.dL_dv": "incorrect",  # -18: the sign of dL/do = -2(t - o) lost (18)
        "attention.a.W_O": "incorrect",  # [4, 2]: transposed (2 x 4)
        "attention.b.head1_scores": "missing",
        "attention.b.head2_Q": "missing",
        "attention.b.head2_K": "missing",
        "attention.b.head2": "partial",  # the recap's all -J head 2: only token 4 (zero) is right
        "attention.b.y": "partial",
        "sgd.iii.answer": "incorrect",
        "sgd.iv.initialization": "incorrect",
        "kernel.c.phi": "incorrect",  # coefficients 3 instead of sqrt(3)
        "gd.a.w2": "incorrect",  # 2.88: 3.8 - 0.1 * 9.6 slipped (2.84)
        "gd.c.eta": "incorrect",  # 1 = f'' rather than 1/f'' (0.5)
        "gd.c.w1": "incorrect",  # -7, the step with that rate (-1)
    }
    assert {k: v for k, v in got.items() if v != "correct"} == wrong
    result = grade_file(rubric, build_key(rubric), ROOT / "submissions" / "exam" / "s002-typical-mistakes.json")
    earned = {"obj7": 2.5, "obj9": 2.5, "obj10": 4, "mlp.b": 4, "mlp.c": 2, "mlp.e": 1, "attention.a": 3,
              "attention.b": 3 + 2 * 2 / 8 + 1 * 2 / 8, "sgd.iv": 1, "gd.a": 6}  # head2 and y: 2 of 8 entries
    assert {p.id: p.auto_score for p in result.parts() if p.auto_score} == earned
    assert result.score == 29.75

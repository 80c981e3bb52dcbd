"""`groups` with `choose: N`: the best N questions of a group count, in totals, the gradebook, the
feedback and the assessment's total; bad groups are rubric errors with their place."""

from __future__ import annotations

import csv
import json

import pytest

from grader.cli import main
from tests.conftest import rubric_problems

RUBRIC = """
id: choose-demo
questions:
  - id: q0
    parts: [{id: q0, marks: 1, kind: number, answer: 1}]
  - id: q1
    parts: [{id: q1, marks: 4, kind: number, answer: 1}]
  - id: q2
    parts: [{id: q2, marks: 4, kind: number, answer: 2}]
  - id: q3
    parts:
      - id: q3
        criteria:
          - {description: value, marks: 2, kind: number, answer: 3}
          - {description: argument, marks: 2}
groups:
  - {id: part2, title: "answer two of three", questions: [q1, q2, q3], choose: 2}
"""


def grade(tmp_path, answers: dict) -> dict[str, str]:
    (tmp_path / "r.yaml").write_text(RUBRIC, encoding="utf-8")
    subs = tmp_path / "subs"
    subs.mkdir(exist_ok=True)
    (subs / "s.json").write_text(json.dumps({"student_id": "s", "answers": answers}), encoding="utf-8")
    assert main(["grade", str(tmp_path / "r.yaml"), str(subs), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    return next(csv.DictReader((tmp_path / "out" / "gradebook.csv").open(encoding="utf-8")))


def test_three_answered_of_which_the_best_two_count(tmp_path):
    row = grade(tmp_path, {"q0": 1, "q1": 1, "q2": 2, "q3": 3})
    assert (row["q1"], row["q2"], row["q3"]) == ("4", "4", "2")
    assert (row["total"], row["max_score"]) == ("9", "9")  # q0 + the best two (4 + 4); q3's 2 does not count
    feedback = (tmp_path / "out" / "students" / "s" / "feedback.md").read_text(encoding="utf-8")
    assert feedback.count("not counted") == 1 and "## Question q3" in feedback.split("not counted")[0]


def test_two_answered_both_count(tmp_path):
    row = grade(tmp_path, {"q0": 1, "q2": 2, "q3": 3})
    assert row["total"] == "7"  # q0 1 + q2 4 + q3 2; q1 unanswered is the one dropped


@pytest.mark.parametrize("groups, words", [
    ("[{id: g, questions: [q1, q2], choose: 2}]", "counts fewer than it has"),
    ("[{id: g, questions: [q1, q9], choose: 1}]", "does not have"),
    ("[{id: g, questions: [q1, q2], choose: 1}, {id: h, questions: [q2, q3], choose: 1}]", "one at most"),
    ("[{id: g, questions: [q1, q1, q2], choose: 1}]", "listed twice"),
    ("[{id: g, questions: [q1, q2], choose: 0}]", "greater than or equal to 1"),
])
def test_bad_groups_are_rubric_errors(tmp_path, groups, words):
    path = tmp_path / "r.yaml"
    path.write_text(RUBRIC.split("groups:")[0] + f"groups: {groups}\n", encoding="utf-8")
    problems = rubric_problems(path)
    assert any(words in p for p in problems), problems


def test_gradescope_counts_only_the_counted_questions(tmp_path):
    grade(tmp_path, {"q0": 1, "q1": 1, "q2": 2, "q3": 3})
    results = json.loads((tmp_path / "out" / "students" / "s" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == 9
    dropped = [t for t in results["tests"] if "not counted" in t["name"]]
    assert len(dropped) == 1 and dropped[0]["max_score"] == 0

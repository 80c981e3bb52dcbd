"""The bundled ML quiz 1 (rubrics/ml-quiz1.yaml): its sample notebooks graded from the values their
own code computes, keys from the reference solvers."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import main
from grader.key import build_key
from grader.rubric import load_rubric
from tests.conftest import require_bwrap

ROOT = Path(__file__).parent.parent
RUBRIC = ROOT / "rubrics" / "ml-quiz1.yaml"
SAMPLES = ROOT / "submissions" / "ml-quiz1"

# The quiz's numbers, worked by hand from the prompts (what the solvers must agree with).
BY_HAND = {"q3": 5 * 7 + 5, "q4": 4 / 6, "q5": 5 / 6, "q7": 2.84, "q9": 10 * 4 + 4 * 2 + 2, "q10": (15 - 6) ** 2}


def test_the_keys_are_the_solvers_and_agree_with_the_worked_numbers():
    key = {entry.part: entry.value for entry in build_key(load_rubric(RUBRIC)).entries}
    for part, value in BY_HAND.items():
        assert key[part] == pytest.approx(value, rel=1e-12), part
    assert key["q2"] == pytest.approx(-0.2002486747788277, rel=1e-9)  # -(1 - tanh 1)(1 - tanh^2 1) * 2
    assert sum(key["q1"]) == pytest.approx(1.0)


def test_the_sample_notebooks_are_what_their_script_writes():
    assert subprocess.run([sys.executable, str(SAMPLES / "make_samples.py"), "--check"]).returncode == 0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_bwrap("notebook cells run sandboxed")
    out = tmp_path_factory.mktemp("ml-quiz1")
    assert main(["grade", str(RUBRIC), str(SAMPLES), "--out", str(out), "--quiet"]) == 0
    rows = {row["student_id"]: row for row in csv.DictReader((out / "gradebook.csv").open(encoding="utf-8"))}
    records = {}
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "student_id" in record:
            records[record["student_id"]] = {part["id"]: part["criteria"][0] for question in record["questions"]
                                             for part in question["parts"]}
    return rows, records, out


def test_each_sample_gets_what_its_code_earns(graded):
    rows, _, _ = graded
    assert {student: rows[student]["total"] for student in rows} == {
        "s01-numpy": "20", "s02-python-and-typed": "20", "s03-mistakes": "11", "s04-errors": "9", "s05-torch": "20",
        "s06-otter": "20", "s07-nbgrader-blank": "0", "s08-hostile": "19"}


def test_mistakes_and_errors_are_told_at_their_parts(graded):
    _, records, _ = graded
    mistakes, errors = records["s03-mistakes"], records["s04-errors"]
    assert [part for part, check in mistakes.items() if check["score"] == 0] == ["q1", "q4", "q5", "q10"]
    assert "name 'softmax' is not defined (cell 4, line 1)" in errors["q1"]["message"]
    assert "UFuncTypeError" in errors["q4"]["message"]
    assert "ZeroDivisionError: division by zero" in errors["q5"]["message"]
    assert "IndexError: list index out of range" in errors["q7"]["message"]
    assert "matmul" in errors["q10"]["message"]
    blank = records["s07-nbgrader-blank"]
    assert blank["q1"]["message"] == ("`q1` is None: cell 2, which sets it, failed: NotImplementedError "
                                      "(cell 2, line 3)")


def test_a_hostile_notebook_gets_its_right_answers_and_nothing_more(graded):
    _, records, out = graded
    hostile = records["s08-hostile"]
    assert [part for part, check in hostile.items() if check["score"] == 0] == ["q8"]  # a float subclass is refused
    assert "Sure" in hostile["q8"]["message"]
    feedback = (out / "students" / "s08-hostile" / "feedback.md").read_text(encoding="utf-8")
    assert "TimeoutError: the cell took over 10 s" in feedback and "SystemExit" in feedback

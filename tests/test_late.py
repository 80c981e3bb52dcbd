"""Late hand-ins: the rubric's due date and penalty, applied from the file's time or Gradescope's
submission metadata, in totals, feedback and Gradescope's score; bad settings are rubric errors."""

from __future__ import annotations

import csv
import datetime
import json
import os

import pytest

from grader.cli import main
from tests.conftest import rubric_problems

RUBRIC = """
id: late-demo
due: 2026-11-30T23:59:00+00:00
late: {grace_minutes: 10, per_day: 0.25, max_days: 2}
questions:
  - id: q1
    parts: [{id: q1, marks: 4, kind: number, answer: 1}]
"""


def hand_in(tmp_path, when: datetime.datetime) -> dict[str, str]:
    (tmp_path / "r.yaml").write_text(RUBRIC, encoding="utf-8")
    subs = tmp_path / "subs"
    subs.mkdir(exist_ok=True)
    path = subs / "s.json"
    path.write_text(json.dumps({"student_id": "s", "answers": {"q1": 1}}), encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))
    assert main(["grade", str(tmp_path / "r.yaml"), str(subs), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    return next(csv.DictReader((tmp_path / "out" / "gradebook.csv").open(encoding="utf-8")))


DUE = datetime.datetime(2026, 11, 30, 23, 59, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("after, total", [
    (datetime.timedelta(minutes=-5), "4"),  # on time
    (datetime.timedelta(minutes=9), "4"),  # within the grace
    (datetime.timedelta(hours=2), "3"),  # a part of a day: 25% off
    (datetime.timedelta(days=1, hours=1), "2"),  # two (parts of) days: 50% off
    (datetime.timedelta(days=3), "0"),  # beyond max_days
])
def test_the_penalty_follows_the_hand_in_time(tmp_path, after, total):
    assert hand_in(tmp_path, DUE + after)["total"] == total


def test_the_feedback_says_how_late_and_what_it_cost(tmp_path):
    hand_in(tmp_path, DUE + datetime.timedelta(hours=2))
    feedback = (tmp_path / "out" / "students" / "s" / "feedback.md").read_text(encoding="utf-8")
    assert "**Late:**" in feedback and "1 day(s) after" in feedback and "25.0% off" in feedback and "4 before" in feedback


def test_gradescope_uses_its_own_submission_time(tmp_path):
    (tmp_path / "r.yaml").write_text(RUBRIC, encoding="utf-8")
    submission = tmp_path / "autograder" / "submission"
    submission.mkdir(parents=True)
    (submission / "answers.json").write_text(json.dumps({"student_id": "s", "answers": {"q1": 1}}), encoding="utf-8")
    (submission.parent / "submission_metadata.json").write_text(json.dumps(
        {"created_at": (DUE + datetime.timedelta(hours=30)).isoformat(), "assignment": {"title": "x"}}))
    results = tmp_path / "autograder" / "results" / "results.json"
    assert main(["grade", str(tmp_path / "r.yaml"), str(submission), "--out", str(tmp_path / "out"),
                 "--gradescope", str(results), "--quiet"]) == 0
    document = json.loads(results.read_text(encoding="utf-8"))
    assert document["score"] == 2 and "Late: handed in 2 day(s)" in document["output"]


@pytest.mark.parametrize("settings, words", [
    ("due: 2026-11-30T23:59:00\nlate: {per_day: 0.1}", "time zone"),
    ("due: 2026-11-30T23:59:00Z", "go together"),
    ("late: {per_day: 0.1}", "go together"),
    ("due: 2026-11-30T23:59:00Z\nlate: {per_day: 2}", "less than or equal to 1"),
    ("due: not a date\nlate: {per_day: 0.1}", "due"),
])
def test_bad_late_settings_are_rubric_errors(tmp_path, settings, words):
    path = tmp_path / "r.yaml"
    body = RUBRIC.split("questions:")[1]
    path.write_text(f"id: late-demo\n{settings}\nquestions:{body}", encoding="utf-8")
    problems = rubric_problems(path)
    assert any(words in p for p in problems), problems
